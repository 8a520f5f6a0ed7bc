"""Issue 26 against moto: values the contract's types accept but no machine produces, state
items of every shape a release wrote (older and newer), an outbox from a newer release, and
every interleaving of the state table's three writers. One test per class, not per instance."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from cli.baseline import reset
from lambdas.common.dynamo import from_attributes, to_attributes
from rotorwatch.alerting.alerts import Alert, DeviceState
from rotorwatch.alerting.silence import DATA_RESUMED, DEFAULT_SILENCE_AFTER_MS, NO_DATA
from rotorwatch.alerting.state_item import FORMAT_ATTRIBUTE, STATE_FORMAT, read_state
from rotorwatch.contract.telemetry import decode, encode, encode_samples
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.lake import layout as lake
from rotorwatch.lake.layout import QUARANTINE_PREFIX
from tests.events import kinesis_event
from tests.handlers.conftest import STATE_TABLE, Aws, FakeContext
from tests.handlers.test_score_and_alert import TS0, ZONE_V, features_event, zones
from tests.handlers.test_watchdog import ARRIVAL_S, feed, rules  # noqa: F401  (fixture)
from tests.signals import SITE, asset, message

OK = {"batchItemFailures": []}


def state_item(aws: Aws, device: str = "pump-01") -> dict[str, Any]:
    got = aws.dynamodb.get_item(TableName=STATE_TABLE, Key={"device_id": {"S": device}})
    return from_attributes(got["Item"])


def feature_dicts(device: str, seqs: range, zone: str = "A") -> list[dict[str, Any]]:
    msgs = [
        decode(message(device, TS0 + s * 300_000, s, v1x_mm_s=ZONE_V[zone], seed=s)) for s in seqs
    ]
    feats = compute_features(msgs, {device: asset(device)})
    for f in feats:
        f["site"] = SITE
    return feats


def score_event(feats: list[dict[str, Any]], arrival_s: float = ARRIVAL_S) -> dict[str, Any]:
    return kinesis_event(
        [json.dumps(f).encode() for f in feats],
        template="kinesis_features",
        partition_keys=[f["device_id"] for f in feats],
        arrival_s=arrival_s,
    )


# --- item 1: absurd values accepted by type ------------------------------------------------

ABSURD = [
    ("temperature_c", 1e130),  # overflowed DynamoDB's numbers: decimal.Overflow
    ("temperature_c", -1e100),  # stored, then squared by the next window's update
    ("pressure_bar", 1e120),
    ("rpm", 1e300),
    ("seq", 10**40),  # decimal.Rounded (v1 had no cap)
    ("ts", 10**40),
]


@pytest.mark.parametrize(("name", "value"), ABSURD)
def test_an_absurd_value_is_quarantined_and_its_batch_neighbours_go_on(
    extract_features: ModuleType, aws: Aws, context: FakeContext, name: str, value: float
) -> None:
    good = message("pump-01", TS0, 1)
    bad = json.loads(message("pump-02", TS0, 1))
    bad[name] = value
    event = kinesis_event([json.dumps(bad).encode(), good])
    assert extract_features.handler(event, context) == OK
    (quarantined,) = aws.objects(QUARANTINE_PREFIX).items()
    assert "reason=implausible/" in quarantined[0]
    body = json.loads(quarantined[1])
    assert body["field"] == name
    assert "not physically possible" in body["message"]
    (row,) = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert row["device_id"] == "pump-01"


@pytest.mark.parametrize(("name", "value"), ABSURD)
def test_score_and_alert_skips_an_absurd_feature_record_and_scores_the_rest(
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
    name: str,
    value: float,
) -> None:
    """A feature record from before the bounds (an older extract_features) cannot stall the
    shard: it failed the whole batch on every retry, then the failure queue took it."""
    (good,) = feature_dicts("pump-01", range(1, 2))
    (bad,) = feature_dicts("pump-02", range(1, 2))
    bad[name] = value
    assert rules.handler(score_event([bad, good]), context) == OK
    assert [p["device_id"] for p in aws.predictions()] == ["pump-01"]
    assert state_item(aws)["last_seq"] == 1


def test_a_state_that_learned_an_impossible_temperature_heals(
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
) -> None:
    """-1e100 degC was accepted and learned before the bounds: every later batch of the device
    failed (the next update squared it past DynamoDB's range) until a baseline reset."""
    assert rules.handler(score_event(feature_dicts("pump-01", range(0, 2))), context) == OK
    item = DeviceState.from_item(state_item(aws)).to_item()
    assert item["sensor_history"]["temperature"][0] == 2
    item["sensor_history"]["temperature"] = [1, -1e100, 0]
    item["sensor_history"]["recent"] = [[TS0, -1e100]]
    aws.dynamodb.put_item(TableName=STATE_TABLE, Item=to_attributes(item))
    assert rules.handler(score_event(feature_dicts("pump-01", range(2, 4))), context) == OK
    healed = read_state(state_item(aws)).state
    assert healed.window[1] == 3
    assert healed.sensor_history is not None
    assert all(abs(c) < 1000 for _, c in healed.sensor_history.recent)


# --- item 3: every shape of state item a release wrote ---------------------------------------

#: Attributes each released version wrote (rotorwatch/alerting/state_item.py's docstring, from git).
RELEASED_SHAPES: dict[str, tuple[str, ...]] = {
    "first real-time path": (
        "device_id", "site", "last_ts", "last_seq", "state", "since_ms", "points", "healthy_run",
        "velocities_mm_s", "fault", "fault_confidence", "iso_zone", "velocity_rms_mm_s",
        "degraded", "last_alert_ms", "last_alert_severity", "pending_alert",
    ),
    "watchdog": ("last_seen_ms", "no_data_for_ms"),
    "wrong clocks": ("last_received_ms",),
    "baselines": ("baseline", "baseline_resets"),
    "sensor rules": ("sensor_cause", "sensor_reason", "sensor_since_ms"),
    "sensor history": ("sensor_history",),
}  # fmt: skip


def _shapes() -> dict[str, set[str] | None]:
    shapes: dict[str, set[str] | None] = {}
    keep: set[str] = set()
    for name, attrs in RELEASED_SHAPES.items():
        keep |= set(attrs)
        shapes[name] = set(keep)
    shapes["no window yet (device_id and a reset count only)"] = {"device_id", "baseline_resets"}
    shapes["a newer release's (unknown attributes, higher format)"] = None
    return shapes


SHAPES = _shapes()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_state_item_of_every_released_shape_is_updated_again(
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
    shape: str,
) -> None:
    assert rules.handler(score_event(feature_dicts("pump-01", range(0, 3))), context) == OK
    # Every field as a release writes it (DeviceState.to_item: None is not stored).
    current = DeviceState.from_item(state_item(aws)).to_item()
    keep = SHAPES[shape]
    if keep is None:
        extra = {"rul_days": 12, "rul_model": {"v": 3}, FORMAT_ATTRIBUTE: STATE_FORMAT + 1}
        old = {**current, **extra}
    else:
        old = {k: v for k, v in current.items() if k in keep}
        if "baseline_resets" in keep and "last_ts" not in keep:
            old["baseline_resets"] = 1
    aws.dynamodb.put_item(TableName=STATE_TABLE, Item=to_attributes(old))
    rows_before = len(aws.predictions())

    assert rules.handler(score_event(feature_dicts("pump-01", range(3, 5))), context) == OK

    after = state_item(aws)
    assert (after["last_ts"], after["last_seq"]) == (TS0 + 4 * 300_000, 4)
    assert len(aws.predictions()) == rows_before + 2  # no retry wrote a row twice
    if keep is None:  # a newer release's attributes survive a write by this one (rollback)
        assert after["rul_days"] == 12
        assert after["rul_model"] == {"v": 3}
        assert after[FORMAT_ATTRIBUTE] == STATE_FORMAT + 1
    else:
        assert after[FORMAT_ATTRIBUTE] == STATE_FORMAT


# --- item 4: an alert queued by a newer release ----------------------------------------------


def test_a_rollback_sends_the_alert_a_newer_release_queued(
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
) -> None:
    assert rules.handler(score_event(feature_dicts("pump-01", range(0, 3))), context) == OK
    queued = Alert(
        kind="ALERT", device_id="pump-01", site=SITE, state="ALARM", previous_state="HEALTHY",
        ts=TS0 + 2 * 300_000, seq=2, since_ms=TS0, fault="imbalance", fault_confidence=0.8,
        iso_zone="D", velocity_rms_mm_s=6.0, trend="steady", degraded=False,
    )  # fmt: skip
    newer = dict(json.loads(queued.to_json()), runbook_url="https://example.org/rb")
    aws.dynamodb.update_item(
        TableName=STATE_TABLE,
        Key={"device_id": {"S": "pump-01"}},
        UpdateExpression="SET pending_alert = :p",
        ExpressionAttributeValues={":p": {"S": json.dumps([json.dumps(newer)])}},
    )
    aws.alerts()
    # The batch redelivered (its windows already applied) finds the outbox and sends it.
    assert rules.handler(score_event(feature_dicts("pump-01", range(0, 3))), context) == OK
    (sent,) = aws.alerts()
    assert sent["attributes"]["severity"] == "ALARM"
    assert "pending_alert" not in state_item(aws)


# --- item 5: the three writers of a state item, every interleaving ---------------------------


class Between:
    """score_and_alert's table client, running ``other`` between its read and its first state
    write (UpdateItem with SET), as a concurrent writer would land there."""

    def __init__(self, real: Any, other: Callable[[], None]) -> None:
        self.real = real
        self.other = other
        self.ran = False

    def update_item(self, **kw: Any) -> Any:
        if not self.ran and kw.get("UpdateExpression", "").startswith("SET "):
            self.ran = True
            self.other()
        return self.real.update_item(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


GAP_MS = DEFAULT_SILENCE_AFTER_MS
SILENT_S = ARRIVAL_S + 2 * GAP_MS / 1000  # when the device reports again after a silence


@pytest.mark.parametrize("when", ["before the read", "between read and write", "after the write"])
@pytest.mark.parametrize("others", [("watchdog",), ("reset",), ("watchdog", "reset")])
def test_every_interleaving_of_the_three_writers_keeps_each_ones_fields(
    rules: ModuleType,  # noqa: F811
    watchdog: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    others: tuple[str, ...],
) -> None:
    feed(rules, 0, 3, ARRIVAL_S, context)  # learned a little, last seen at ARRIVAL_S + 2 s
    aws.alerts()
    # The watchdog runs when the device has been silent for longer than the gap.
    monkeypatch.setattr(watchdog.DEPS, "clock_ms", lambda: int(SILENT_S * 1000) - 1000)

    def run_others() -> None:
        for o in others:
            if o == "watchdog":
                watchdog.handler({}, context)
            else:
                reset(aws.dynamodb, STATE_TABLE, "pump-01")

    if when == "before the read":
        run_others()
    if when == "between read and write":
        monkeypatch.setattr(rules.DEPS.store, "_dynamodb", Between(aws.dynamodb, run_others))
    feed(rules, 3, 2, SILENT_S, context)  # the device reports again
    if when == "after the write":
        run_others()
    # Later watchdog runs: tell whoever heard "no data" that data resumed, exactly once.
    for minutes in (1, 2):
        monkeypatch.setattr(
            watchdog.DEPS, "clock_ms", lambda m=minutes: int(SILENT_S * 1000) + m * 60_000
        )
        watchdog.handler({}, context)

    notices = [a["attributes"]["severity"] for a in aws.alerts()]
    claimed = "watchdog" in others and when != "after the write"
    assert notices == ([NO_DATA, DATA_RESUMED] if claimed else [])
    state = DeviceState.from_item(state_item(aws))
    assert state.window == (TS0 + 4 * 5 * 60_000, 4)  # every window applied once
    assert state.no_data_for_ms is None  # the resumed notice cleared the flag
    # A reset before the write restarts learning at this batch (its 2 windows); one after the
    # write leaves no baseline until the next window; without a reset all 5 are learned.
    learned = 5 if "reset" not in others else (None if when == "after the write" else 2)
    assert state.baseline_resets == ("reset" in others)
    assert (state.baseline and state.baseline.count) == learned


# --- item 8: the payload's received_at (and site) do not steer the pipeline ------------------


def test_a_future_received_at_in_the_payload_cannot_hide_a_silent_device(
    extract_features: ModuleType,
    rules: ModuleType,  # noqa: F811
    watchdog: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    msg = json.loads(message("pump-01", TS0, 1))
    msg["received_at"] = 4_102_444_800_000  # 2100: whichever wins, the rule's or the device's
    arrival_s = ARRIVAL_S
    event = kinesis_event([json.dumps(msg).encode()], arrival_s=arrival_s)
    assert extract_features.handler(event, context) == OK
    (row,) = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert row["received_at"] == int(arrival_s * 1000)  # the stream's arrival
    assert rules.handler(score_event([row], arrival_s=arrival_s), context) == OK
    assert state_item(aws)["last_seen_ms"] == int(arrival_s * 1000)
    monkeypatch.setattr(watchdog.DEPS, "clock_ms", lambda: int(arrival_s * 1000) + GAP_MS + 60_000)
    watchdog.handler({}, context)
    assert [a["attributes"]["severity"] for a in aws.alerts()] == [NO_DATA]


# --- item 7: a failed raw record does not write the rest of the batch twice ------------------


class FailRawOnce:
    """S3 where the first ``calls`` writes under the raw prefix fail (as S3 answers a 503);
    every other write passes."""

    def __init__(self, real: Any, calls: int) -> None:
        self.real = real
        self.left = calls

    def put_object(self, **kwargs: Any) -> Any:
        if str(kwargs["Key"]).startswith(lake.RAW_PREFIX) and self.left > 0:
            self.left -= 1
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}},
                "PutObject",
            )
        return self.real.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_failed_raw_object_puts_each_window_in_the_raw_lake_once(
    extract_features: ModuleType, aws: Aws, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raw object is written last, holding what the invocation commits; when it fails the
    batch comes again and the redelivery writes the same key. The features it had already put
    arrive twice on the features stream: analysts' queries count a window once by
    (device_id, ts, seq) (tests/unit/test_saved_queries_dedup.py; docs/architecture.md,
    "Exactly once where it counts")."""
    from tests.drills.harness import deliver

    monkeypatch.setattr(extract_features.DEPS, "s3", FailRawOnce(extract_features.DEPS.s3, 1))
    payloads = [message(f"pump-0{1 + i % 2}", TS0 + i * 300_000, i) for i in range(6)]
    redeliveries = deliver(extract_features.handler, kinesis_event(payloads), context)
    assert redeliveries == 1
    assert len(aws.objects(lake.RAW_PREFIX)) == 1
    assert sorted(r["seq"] for r in aws.raw_rows()) == list(range(6))
    stream = [json.loads(r["Data"])["seq"] for r in aws.feature_records()]
    assert set(stream) == set(range(6))
    _ = zones, features_event  # (shared helpers of the handler tests)


# --- item 9: a dead accelerometer reaches the technician ------------------------------------


def test_a_dead_sensor_is_a_warning_that_names_the_sensor_not_a_healthy_machine(
    extract_features: ModuleType,
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
) -> None:
    dead = [
        encode(
            device_id="pump-01",
            ts=TS0 + s * 300_000,
            seq=s,
            rpm=1780.0,
            temperature_c=41.5,
            vibration=encode_samples(np.zeros(4096), fs_hz=8192.0, scale=1e-4),
        )
        for s in range(3)
    ]
    assert extract_features.handler(kinesis_event(dead), context) == OK
    feats = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert {f["vibration_sensor"] for f in feats} == {"sensor_flat_line"}
    assert rules.handler(score_event(feats), context) == OK
    predictions = aws.predictions()
    assert {p["state"] for p in predictions} == {"WARNING"}  # never HEALTHY
    assert {p["sensor_cause"] for p in predictions} == {"sensor_flat_line"}
    (alert,) = aws.alerts()
    assert alert["attributes"]["severity"] == "WARNING"
    assert "sensor_flat_line" in alert["body"]
    assert "check its cable" in alert["body"]
    state = read_state(state_item(aws)).state
    assert state.baseline is None or state.baseline.count == 0  # a dead sensor is not learned
