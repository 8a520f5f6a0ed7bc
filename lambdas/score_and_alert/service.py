"""score_and_alert: one Kinesis features batch -> predictions, device state, alerts.

Order of work and why:

1. Parse and de-duplicate the feature records (a redelivered tail repeats windows).
2. One InvokeEndpoint per body the endpoint's 4 MB payload limit allows (one for a usual
   batch); if any fails, the rules decide (``degraded``): scoring never stops because the
   model is away.
3. Per device, fold the predictions through :func:`rotorwatch.alerting.fold.fold_window` (the device's
   baseline: learning, or scoring against the device's own history; its sensor history; its
   remaining-life trend; the alert state machine: the one copy ``rotorwatch replay`` runs too),
   and write the new state with a conditional put
   keyed on the window the state was read at and on the baseline's reset count (optimistic
   concurrency; an operator's ``rotorwatch baseline reset`` racing a batch is never overwritten).
   Alerts are committed in the same item (``pending_alert``, an outbox) BEFORE they are published
   and cleared after, so a crash between the two re-sends them on retry instead of losing them,
   and a redelivered batch (its windows already applied) changes nothing and sends nothing.
   If the conditional put loses to another writer, the state is read again and the fold redone
   (the other writer's windows are late by then), so no window is dropped. The state also
   records ``last_seen_ms`` (when the cloud received the newest applied window), which the
   watchdog (``lambdas/watchdog``) measures device silence by.
4. Predictions to Firehose (the lake keeps every window, degraded or not), as the baseline left
   them: after the fold, because the baseline lives in the state the fold reads. A window the
   state had already applied (a redelivery) is scored against the baseline but not learned
   again, so its row matches the first one. If the states cannot be read at all, the batch is
   retried before any of its rows reach the lake.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.batch import SourceRecord, put_record_batch
from lambdas.common.settings import SettingsError, optional, required
from lambdas.score_and_alert.publisher import AlertPublisher
from lambdas.score_and_alert.store import StateStore
from rotorwatch.alerting.alerts import DEFAULT_POLICY, Alert, AlertPolicy, DeviceState
from rotorwatch.alerting.fold import fold_window, sensor_history_of
from rotorwatch.contract.plausible import implausible
from rotorwatch.deployment.resources import EnvKey
from rotorwatch.diagnosis.baseline import DEFAULT_LEARNING_WINDOWS, apply_baseline
from rotorwatch.diagnosis.features import FEATURE_FIELDS
from rotorwatch.diagnosis.features.sensor_health import SENSOR_PROBLEMS
from rotorwatch.diagnosis.model.features import INPUT_FIELDS as REQUEST_FIELDS
from rotorwatch.diagnosis.scoring import (
    ACCEPT,
    CONTENT_TYPE,
    ScoringError,
    combine,
    decode_response,
    encode_requests,
)
from rotorwatch.diagnosis.sensors import apply_history
from rotorwatch.lake.layout import aggregate_lines
from rotorwatch.lake.query import AthenaTarget

#: A window stamped further ahead of the processing clock than this is not applied to the device
#: state (its prediction still reaches the lake): one window from a clock set to 2099 would
#: otherwise make every later, correct window look old and silence the device's alerts for good.
DEFAULT_MAX_FUTURE_SKEW_MS = 10 * 60 * 1000
#: Optimistic-concurrency attempts per device and batch before the device's records are retried.
STATE_ATTEMPTS = 3


class StateConflictError(RuntimeError):
    """Another writer kept moving the device's state; the records are retried by Lambda."""


@dataclass(frozen=True, slots=True)
class Settings:
    state_table: str
    alerts_topic_arn: str
    predictions_delivery_stream: str
    endpoint_name: str | None  # None: no model deployed yet, the rules score everything
    athena_workgroup: str | None
    #: The stage's Glue database and the function's own region: an alert's "Look closer"
    #: command names them, so it runs against the stage that sent it.
    glue_database: str | None = None
    region: str | None = None
    #: Windows a device's baseline learns before it scores (the learning period).
    baseline_windows: int = DEFAULT_LEARNING_WINDOWS

    @property
    def athena(self) -> AthenaTarget | None:
        """Where this stage's saved queries run (None when no workgroup is configured)."""
        if self.athena_workgroup is None or self.glue_database is None:
            return None
        return AthenaTarget(self.athena_workgroup, self.glue_database, self.region)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            state_table=required(env, EnvKey.STATE_TABLE),
            alerts_topic_arn=required(env, EnvKey.ALERTS_TOPIC_ARN),
            predictions_delivery_stream=required(env, EnvKey.PREDICTIONS_DELIVERY_STREAM),
            endpoint_name=optional(env, EnvKey.ENDPOINT_NAME),
            athena_workgroup=optional(env, EnvKey.ATHENA_WORKGROUP),
            glue_database=optional(env, EnvKey.GLUE_DATABASE),
            # Set by the Lambda runtime in every function.
            region=optional(env, "AWS_REGION"),
            baseline_windows=_positive_int(env, EnvKey.BASELINE_WINDOWS, DEFAULT_LEARNING_WINDOWS),
        )


def _positive_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"environment variable {key} must be an integer >= 1, got {raw!r}")
    return int(raw)


@dataclass
class Deps:
    settings: Settings
    sagemaker: Any
    firehose: Any
    store: StateStore
    publisher: AlertPublisher
    policy: AlertPolicy = DEFAULT_POLICY
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    sleep: Callable[[float], None] = time.sleep
    max_workers: int = 8
    max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS


@dataclass
class Outcome:
    received: int = 0
    invalid: int = 0
    duplicates: int = 0
    scored: int = 0
    degraded: bool = False
    degraded_reason: str | None = None
    predictions_put: int = 0
    #: Firehose records the predictions travelled in (newline-delimited, several rows each).
    predictions_records: int = 0
    late_windows: int = 0
    future_windows: int = 0
    state_conflicts: int = 0
    #: Windows learned into a device baseline, and devices whose learning period ended.
    baseline_learned: int = 0
    baselines_completed: int = 0
    #: Windows whose point state the baseline raised to WARNING.
    baseline_warnings: int = 0
    #: Windows whose accelerometer is dead, saturated or clipped (never scored HEALTHY).
    sensor_problems: int = 0
    alerts: list[Alert] = field(default_factory=list)
    #: Alerts a "no fault found" mute kept from being sent (rotorwatch.alerting.feedback.Mute).
    muted: list[Alert] = field(default_factory=list)
    failed_positions: list[int] = field(default_factory=list)
    timings_s: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("decode", "score", "io"), 0.0)
    )


def _conforms(value: Any, glue_type: str) -> bool:
    """A JSON value fits its feature column (None fits every nullable column)."""
    if value is None:
        return True
    if glue_type == "string":
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if glue_type in ("bigint", "int"):
        return isinstance(value, int)
    return math.isfinite(value)  # double: the feature engine never writes NaN or infinities


_FEATURE_TYPES = {f.name: f.type for f in FEATURE_FIELDS}
#: Feature-record fields with a physical bound in the telemetry contract.
_BOUNDED = ("ts", "seq", "received_at", "rpm", "temperature_c", "pressure_bar")


def _feature_record(data: bytes) -> dict[str, Any] | None:
    """The record if it has the feature schema's shape, else None (skipped and counted).

    Every column is type-checked, not only the keys: one record with, say, a list where the ISO
    zone belongs would otherwise raise inside scoring and fail the whole batch on every retry
    (found by the handler fuzz run).
    """
    try:
        rec = json.loads(data)
    except ValueError:
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("device_id"), str):
        return None
    if any(isinstance(rec.get(k), bool) or not isinstance(rec.get(k), int) for k in ("ts", "seq")):
        return None
    if not all(_conforms(rec.get(name), t) for name, t in _FEATURE_TYPES.items()):
        return None
    # The contract's physical bounds again (an older extract_features did not check them): a
    # temperature of 1e130 degC overflowed DynamoDB's numbers and failed the batch on every
    # retry; -1e100 was learned into the device's state and failed every later batch.
    if any(
        isinstance(v := rec.get(name), int | float) and implausible(name, v) is not None
        for name in _BOUNDED
    ):
        return None
    return rec


def invoke_model(
    deps: Deps, features: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Model rows for the batch, or (None, reason) when the rules must decide.

    One InvokeEndpoint per request body the endpoint's payload limit allows (one for a usual
    batch); if any part fails, the rules decide the whole batch (one consistent answer).
    """
    if deps.settings.endpoint_name is None:
        return None, "no_endpoint"
    rows: list[dict[str, Any]] = []
    try:
        for start, end, body in encode_requests(features, REQUEST_FIELDS):
            response = deps.sagemaker.invoke_endpoint(
                EndpointName=deps.settings.endpoint_name,
                ContentType=CONTENT_TYPE,
                Accept=ACCEPT,
                Body=body,
            )
            rows += decode_response(response["Body"].read(), end - start)
        return rows, None
    except (BotoCoreError, ClientError) as exc:
        return None, f"endpoint_error:{type(exc).__name__}"
    except ScoringError:
        return None, "bad_response"


def process(records: list[SourceRecord], deps: Deps) -> Outcome:
    """Run one batch; never raises for bad input, only reports failed positions."""
    out = Outcome(received=len(records))
    t0 = time.perf_counter()
    features: list[dict[str, Any]] = []
    positions: list[int] = []
    seen: set[tuple[str, int, int]] = set()
    for i, rec in enumerate(records):
        f = _feature_record(rec.data)
        if f is None:
            out.invalid += 1  # our own producer wrote it: a bug to log, not a record to retry
            continue
        key = (f["device_id"], f["ts"], f["seq"])
        if key in seen:
            out.duplicates += 1
            continue
        seen.add(key)
        features.append(f)
        positions.append(i)
    t1 = time.perf_counter()
    out.timings_s["decode"] += t1 - t0
    if not features:
        return out

    rows, reason = invoke_model(deps, features)
    out.degraded, out.degraded_reason = rows is None, reason
    scored_at = deps.clock_ms()
    predictions = [
        combine(None if rows is None else rows[j], f, scored_at_ms=scored_at)
        for j, f in enumerate(features)
    ]
    out.scored = len(predictions)
    out.sensor_problems = sum(p["sensor_cause"] in SENSOR_PROBLEMS for p in predictions)
    t2 = time.perf_counter()
    out.timings_s["score"] += t2 - t1

    by_device: dict[str, list[int]] = defaultdict(list)
    for j, p in enumerate(predictions):
        by_device[p["device_id"]].append(j)
    # When the cloud received each window (IoT Core's clock; the stream's arrival time if the
    # rule did not stamp it): what the watchdog measures silence by.
    received = [
        r if isinstance(r := f.get("received_at"), int) and not isinstance(r, bool) else a
        for f, a in zip(features, (records[i].arrival_ms for i in positions), strict=True)
    ]
    try:
        states = deps.store.load(sorted(by_device))
    except (BotoCoreError, ClientError):
        out.failed_positions.append(positions[0])  # no state, no alerts: retry the batch
        out.timings_s["io"] += time.perf_counter() - t2
        return out
    # Devices are independent: their DynamoDB/SNS round trips overlap in a few threads (boto3
    # clients are thread-safe), so a batch spanning 50 machines does not wait 50 x 3 round trips.
    with ThreadPoolExecutor(max_workers=deps.max_workers) as pool:
        futures = {
            device_id: pool.submit(
                _apply_device,
                deps,
                states.get(device_id),
                device_id,
                [Window(predictions[j], received[j], features[j]) for j in idx],
                scored_at,
            )
            for device_id, idx in by_device.items()
        }
    final = list(predictions)
    for device_id, future in futures.items():
        idx = by_device[device_id]
        try:
            result = future.result()
        except (BotoCoreError, ClientError, StateConflictError):
            out.failed_positions.append(min(positions[j] for j in idx))
            # Its windows are retried; their rows are scored against the stored baseline.
            stored = states.get(device_id)
            for j in idx:
                final[j] = score_only(predictions[j], features[j], stored, deps)
            continue
        for j in idx:
            final[j] = result.predictions.get(
                (predictions[j]["ts"], predictions[j]["seq"]), final[j]
            )
        out.late_windows += result.late_windows
        out.future_windows += result.future_windows
        out.state_conflicts += result.conflicts
        out.baseline_learned += result.baseline_learned
        out.baselines_completed += result.baselines_completed
        out.baseline_warnings += result.baseline_warnings
        out.alerts.extend(result.alerts)
        out.muted.extend(result.muted)

    lines = [
        json.dumps(p, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n" for p in final
    ]
    # Few newline-delimited records instead of one per window: Firehose bills each record as
    # at least 5 KB, and its Parquet conversion still reads one row per line (lake.aggregate_lines).
    packed = aggregate_lines(lines)
    put = put_record_batch(
        deps.firehose,
        deps.settings.predictions_delivery_stream,
        [record for record, _ in packed],
        sleep=deps.sleep,
    )
    failed_lines = [j for k in put.failed for j in packed[k][1]]
    out.predictions_put = len(lines) - len(failed_lines)
    out.predictions_records = len(packed)
    out.failed_positions.extend(positions[j] for j in failed_lines)
    out.timings_s["io"] += time.perf_counter() - t2
    return out


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a device in a batch: its prediction, when the cloud received it (epoch
    ms) and its feature record (what the baseline reads)."""

    prediction: dict[str, Any]
    received_ms: int
    features: dict[str, Any]

    @property
    def key(self) -> tuple[int, int]:
        return (int(self.prediction["ts"]), int(self.prediction["seq"]))


def score_only(
    prediction: dict[str, Any], features: dict[str, Any], state: DeviceState | None, deps: Deps
) -> dict[str, Any]:
    """The prediction against the device's baseline without learning the window (a window the
    state does not take: already applied, or stamped in the future)."""
    baseline = None if state is None else state.baseline
    if baseline is None:
        return prediction
    scored, _ = apply_baseline(
        prediction,
        features,
        baseline,
        learning_windows=deps.settings.baseline_windows,
        learn=False,
    )
    assert state is not None
    scored, _ = apply_history(
        scored,
        features,
        sensor_history_of(state),
        learning_windows=deps.settings.baseline_windows,
        learn_window=False,
    )
    return scored


@dataclass
class DeviceResult:
    late_windows: int = 0
    future_windows: int = 0
    conflicts: int = 0
    baseline_learned: int = 0
    baselines_completed: int = 0
    baseline_warnings: int = 0
    alerts: list[Alert] = field(default_factory=list)
    muted: list[Alert] = field(default_factory=list)
    #: The device's prediction records after its baseline, by window (ts, seq).
    predictions: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)


def _apply_device(
    deps: Deps,
    stored: DeviceState | None,
    device_id: str,
    windows: list[Window],
    now_ms: int,
) -> DeviceResult:
    """Fold one device's predictions into its state, commit, then publish (optimistic locking).

    Each window the state takes goes through the device's baseline first (learned while the
    baseline is learning, scored against it after), then through the alert state machine. If
    another writer moved the state between our read and our conditional write (two batches of
    the same device at once: a replay next to the live mapping, a retried batch still running;
    or an operator restarting the baseline), the state is read again and the fold redone, so
    windows only we hold are not dropped; the ones the other writer applied are late by then and
    change nothing (and are not learned twice).
    """
    out = DeviceResult()
    # Any window received, applied or not: the watchdog tells a wrong device clock (windows
    # arrive, none apply) from a silent device by it. A redelivered batch carries its original
    # receive times, so it cannot refresh this.
    newest_received = max(w.received_ms for w in windows)
    horizon = now_ms + deps.max_future_skew_ms
    usable = []
    for w in windows:
        if w.key[0] > horizon:
            out.future_windows += 1  # device clock far ahead: kept in the lake, not in the state
            out.predictions[w.key] = score_only(w.prediction, w.features, stored, deps)
        else:
            usable.append(w)
    usable.sort(key=lambda w: w.key)
    learning_windows = deps.settings.baseline_windows
    for attempt in range(STATE_ATTEMPTS):
        if attempt:
            stored = deps.store.load([device_id]).get(device_id)
        before = stored or DeviceState(device_id=device_id)
        # The outbox of the item we read: ours to re-send only on the first read. On a re-read
        # it belongs to the writer that just won, which is publishing it itself.
        resend = (
            [Alert.from_json(a) for a in json.loads(before.pending_alert)]
            if before.pending_alert and attempt == 0
            else []
        )
        state = before
        late = learned = raised = 0
        scored: dict[tuple[int, int], dict[str, Any]] = {}
        new_alerts: list[Alert] = []
        for w in usable:
            if w.key <= state.window:
                late += 1  # already applied (redelivery) or arrived after a later window
                scored[w.key] = score_only(w.prediction, w.features, state, deps)
                continue
            folded = fold_window(
                state,
                w.prediction,
                w.features,
                learning_windows=learning_windows,
                policy=deps.policy,
            )
            baseline = folded.state.baseline
            assert baseline is not None  # apply_baseline always returns one
            learned += baseline.count - (state.baseline.count if state.baseline else 0)
            raised += folded.prediction["state"] != w.prediction["state"]
            scored[w.key] = folded.prediction
            state = replace(
                folded.state,
                last_seen_ms=max(w.received_ms, state.last_seen_ms or w.received_ms),
            )
            if folded.alert is not None:
                new_alerts.append(folded.alert)
        if state.last_received_ms is None or newest_received > state.last_received_ms:
            state = replace(state, last_received_ms=newest_received)
        to_send = resend + new_alerts
        if state != before:
            outbox = json.dumps([a.to_json() for a in to_send]) if to_send else None
            state = replace(state, pending_alert=outbox)
            if not deps.store.save(state, before if stored is not None else None):
                out.conflicts += 1
                continue
        out.late_windows += late
        out.baseline_learned += learned
        out.baseline_warnings += raised
        was_learned = before.baseline is not None and before.baseline.learned
        out.baselines_completed += int(
            not was_learned and state.baseline is not None and state.baseline.learned
        )
        out.predictions.update(scored)
        for alert in to_send:
            sent = deps.publisher.publish(alert)
            (out.alerts if sent is not None else out.muted).append(alert)
        if to_send:
            deps.store.clear_pending(device_id, state.window)
        return out
    raise StateConflictError(f"state of {device_id} kept changing under {STATE_ATTEMPTS} attempts")
