"""Drills: DynamoDB conditional-write races, device clocks far off, a device that goes silent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from lambdas.common.batch import source_records
from rotorwatch.alerting.silence import NO_DATA
from tests.drills.figures import Figure, record
from tests.drills.harness import Ledger, Pipeline
from tests.drills.test_drill_aws_faults import rules  # noqa: F401  (fixture)
from tests.drills.test_drill_poison_and_duplicates import STEP_MS, TS0, ZONE_V
from tests.handlers.conftest import Aws, FakeContext
from tests.signals import message

MIN_MS = 60_000
T0_S = 1_763_900_000.0
TEN_YEARS_MS = 10 * 365 * 86_400_000


def state_write(kw: dict[str, Any]) -> dict[str, Any] | None:
    """The attributes a score_and_alert state write (an UpdateItem) sets, as attribute values;
    None for another update (the outbox being cleared)."""
    expression = kw.get("UpdateExpression", "")
    if not expression.startswith("SET ") or "ExpressionAttributeNames" not in kw:
        return None
    names, values = kw["ExpressionAttributeNames"], kw["ExpressionAttributeValues"]
    sets = expression[4:].split(" REMOVE ")[0]
    out = {}
    for part in sets.split(", "):
        name, _, value = part.partition(" = ")
        if value in values:
            out[names[name]] = values[value]
    return out


class RaceProxy:
    """The state table client of two concurrent invocations: both read the same state before
    either writes (a barrier after the first two reads), and the writes are ordered: a write for
    which ``goes_second`` holds waits until another write has completed."""

    def __init__(self, real: Any, goes_second: Callable[[dict[str, Any]], bool]) -> None:
        self.real = real
        self.goes_second = goes_second
        self.reads = 0
        self.both_read = threading.Barrier(2, timeout=20)
        self.first_written = threading.Event()
        self.conditional_failures = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def batch_get_item(self, **kw: Any) -> Any:
        response = self.real.batch_get_item(**kw)
        with self._lock:
            self.reads += 1
            wait = self.reads <= 2
        if wait:
            self.both_read.wait()
        return response

    def update_item(self, **kw: Any) -> Any:
        written = state_write(kw)
        if written is None:  # not a state write (the outbox being cleared)
            return self.real.update_item(**kw)
        if self.goes_second(written):
            assert self.first_written.wait(20)
        try:
            # DynamoDB checks a condition and writes an item atomically; moto does not lock
            # between the two, so two threads could both pass the check. Serialise the writes
            # as the service does.
            with self._write_lock:
                return self.real.update_item(**kw)
        except self.real.exceptions.ConditionalCheckFailedException:
            with self._lock:
                self.conditional_failures += 1
            raise
        finally:
            self.first_written.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def feature_payloads(
    extract_features: ModuleType,
    pipe: Pipeline,
    device: str,
    windows: list[tuple[int, int, str]],
    arrival_s: float = T0_S,
) -> list[bytes]:
    _, feats = pipe.extract(
        extract_features,
        [message(device, ts, seq, v1x_mm_s=ZONE_V[z], seed=seq) for ts, seq, z in windows],
        arrival_s=arrival_s,
    )
    return feats


def run_concurrently(
    process: Callable[..., Any], deps: Any, pipe: Pipeline, batches: list[list[bytes]]
) -> list[Any]:
    """Run one invocation per batch on its own thread; an invocation's exception is raised here,
    not lost in its thread."""
    events = [pipe.event(b, template="kinesis_features") for b in batches]
    results: list[Any] = [None] * len(events)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = process(source_records(events[i]), deps)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(events))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if errors:
        raise errors[0]
    assert all(r is not None for r in results), "an invocation did not finish in 30 s"
    return results


def series(first_seq: int, zones: str, ts0: int = TS0) -> list[tuple[int, int, str]]:
    return [(ts0 + (first_seq + i) * STEP_MS, first_seq + i, z) for i, z in enumerate(zones)]


@pytest.mark.parametrize(
    "case",
    ["same batch twice at once", "two different batches at once (loser holds the fault)"],
)
def test_conditional_write_race(
    extract_features: ModuleType,
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    from lambdas.score_and_alert import service

    pipe = Pipeline(aws, context)
    if case.startswith("same"):
        batch = feature_payloads(extract_features, pipe, "pump-01", series(0, "AADDDD"))
        batches = [batch, batch]
        proxy = RaceProxy(rules.DEPS.store._dynamodb, lambda _item: False)
    else:
        # A holds healthy windows 0-4, B the fault 5-9; A's write lands first, so B loses the
        # race with the windows that must raise the alerts.
        batches = [
            feature_payloads(extract_features, pipe, "pump-01", series(0, "AAAAA")),
            feature_payloads(extract_features, pipe, "pump-01", series(5, "DDDDD")),
        ]
        proxy = RaceProxy(rules.DEPS.store._dynamodb, lambda item: int(item["last_seq"]["N"]) > 4)
    monkeypatch.setattr(rules.DEPS.store, "_dynamodb", proxy)
    outcomes = run_concurrently(service.process, rules.DEPS, pipe, batches)
    ledger = pipe.collect()
    sent = sum(len(o.alerts) for o in outcomes)
    assert proxy.conditional_failures == 1  # the race happened: one write was refused
    assert all(o.failed_positions == [] for o in outcomes)
    assert ledger.severities == ["WARNING", "ALARM"]  # ... and still each alert exactly once
    assert ledger.duplicated_alerts == 0
    state = aws.dynamodb.get_item(
        TableName=rules.SETTINGS.state_table, Key={"device_id": {"S": "pump-01"}}
    )["Item"]
    assert int(state["last_seq"]["N"]) == max(
        s for *_, s in [ledger.window(p) for p in ledger.predictions]
    )
    n_in = sum(len(b) for b in batches)
    record(
        Figure(
            f"DynamoDB race: {case}",
            records_in=n_in,
            records_out=len(ledger.predicted_windows),
            quarantined=0,
            alerts=sent,
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note=f"{proxy.conditional_failures} conditional write refused, state re-read and "
            f"re-folded; late windows {sum(o.late_windows for o in outcomes)}",
        )
    )


def test_device_clock_far_in_the_future(
    extract_features: ModuleType,
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
) -> None:
    pipe = Pipeline(aws, context)
    windows = [*series(0, "AA"), (TS0 + TEN_YEARS_MS, 2, "A"), *series(3, "DDDDDD")]
    feats = feature_payloads(extract_features, pipe, "pump-01", windows)
    pipe.score(rules, feats[:3])  # the bad window arrives in its own batch first
    pipe.score(rules, feats[3:])
    ledger = pipe.collect()
    assert len(ledger.predicted_windows) == len(windows)  # the odd window is kept in the lake
    # One window stamped 10 years ahead must not make every later window look old.
    assert ledger.severities == ["WARNING", "ALARM"]
    record(
        Figure(
            "device clock 10 years ahead (1 window)",
            records_in=len(windows),
            records_out=len(ledger.predicted_windows),
            quarantined=0,
            alerts=len(ledger.alerts),
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note="FutureWindows=1: kept out of the device state (was: alerts silenced for good)",
        )
    )


def test_device_clock_far_in_the_past(
    extract_features: ModuleType,
    rules: ModuleType,  # noqa: F811
    watchdog: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe = Pipeline(aws, context)
    later_s = T0_S + 600
    # pump-02's clock starts in 1970 (RTC never set): its windows are still in order. Its last
    # window is received later (received_at is the stream's arrival in extract_features).
    epoch = series(0, "AADDDDD", ts0=0)
    epoch_device = feature_payloads(extract_features, pipe, "pump-02", epoch[:-1])
    epoch_device += feature_payloads(extract_features, pipe, "pump-02", epoch[-1:], later_s)
    # pump-01 is right, then its clock jumps back to 1970 while the machine develops a fault.
    jumps = [*series(0, "AAA"), *series(3, "DDDDD", ts0=0)]
    jumper = feature_payloads(extract_features, pipe, "pump-01", jumps[:3])
    jumper += feature_payloads(extract_features, pipe, "pump-01", jumps[3:], later_s)
    pipe.score(rules, epoch_device[:-1] + jumper[:3], arrival_s=T0_S)
    pipe.score(rules, jumper[3:], arrival_s=later_s)
    pipe.score(rules, epoch_device[-1:], arrival_s=later_s)  # pump-02 stays in touch
    monkeypatch.setattr(watchdog.DEPS, "clock_ms", lambda: int(later_s * 1000) + 25 * MIN_MS)
    watchdog.handler({}, context)
    ledger = pipe.collect()
    n_in = len(epoch_device) + len(jumper)
    assert len(ledger.predicted_windows) == n_in  # everything in the lake, nothing lost
    by_device: dict[str, list[str]] = {}
    for a in ledger.alerts:
        by_device.setdefault(a["attributes"]["device_id"], []).append(a["attributes"]["severity"])
    assert by_device["pump-02"] == ["WARNING", "ALARM"]  # a wrong but steady clock works
    # pump-01's backwards windows cannot be ordered after what was applied, so its health
    # alerts would stop without a sound: the watchdog sends a NO_DATA that names the clock
    # (windows still arrive, none apply), and a person looks at the device.
    assert by_device["pump-01"] == [NO_DATA]
    (clock_alert,) = [a for a in ledger.alerts if a["attributes"]["device_id"] == "pump-01"]
    assert "clock jumped" in clock_alert["body"]
    record(
        Figure(
            "device clock in 1970 (from start / jumping back)",
            records_in=n_in,
            records_out=len(ledger.predicted_windows),
            quarantined=0,
            alerts=len(ledger.alerts),
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note="steady 1970 clock: alerts as usual; clock jumping back: LateWindows=5, "
            "then one NO_DATA naming the device clock",
        )
    )


def test_device_goes_silent(
    rules: ModuleType,  # noqa: F811
    watchdog: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.handlers.test_score_and_alert import features_event

    pipe = Pipeline(aws, context)
    seq = {"pump-01": 0, "pump-02": 0, "fan-03": 0}
    records_in = 0
    runs: list[dict[str, Any]] = []

    def report(device: str, minute: int) -> None:
        nonlocal records_in
        s = seq[device]
        seq[device] += 1
        event = features_event([(TS0 + s * STEP_MS, s, "A")], device=device)
        for r in event["Records"]:
            r["kinesis"]["approximateArrivalTimestamp"] = T0_S + minute * 60
        assert rules.handler(event, context) == {"batchItemFailures": []}
        records_in += 1

    for minute in range(0, 125, 5):  # the watchdog's schedule: every 5 minutes
        if minute % 10 == 0:
            report("pump-01", minute)
            report("pump-02", minute)
        if minute in (0, 100):  # fan-03 reports, goes quiet for 100 min, comes back
            report("fan-03", minute)
        monkeypatch.setattr(
            watchdog.DEPS, "clock_ms", lambda m=minute: int((T0_S + m * 60) * 1000) + 1
        )
        runs.append(watchdog.handler({}, context))
    ledger: Ledger = pipe.collect()
    notices = [(a["attributes"]["device_id"], a["attributes"]["severity"]) for a in ledger.alerts]
    assert notices == [("fan-03", NO_DATA), ("fan-03", "DATA_RESUMED")]
    first_silent = next(i for i, r in enumerate(runs) if r["silent"])
    assert first_silent * 5 == 30  # the configured gap (default 30 min), not before
    assert sum(r["silent"] for r in runs) == (100 - 30) // 5  # silent at every run meanwhile
    record(
        Figure(
            "device silent 100 min (3 devices, 25 watchdog runs)",
            records_in=records_in,
            records_out=len(ledger.predicted_windows),
            quarantined=0,
            alerts=len(ledger.alerts),
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note="one NO_DATA at +30 min (gap 30 min), none repeated, one DATA_RESUMED on return",
        )
    )
