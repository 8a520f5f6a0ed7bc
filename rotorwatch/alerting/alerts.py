"""Per-device alert state machine: a device's state, the alerts it raises and their outbox entry.

Monitron-style semantics, applied one prediction (window) at a time by :func:`step`:

* **point-by-point state**: each prediction's ``state`` (HEALTHY / WARNING / ALARM);
* **sustained state**: ALARM once ``alarm_k`` of the last ``window_n`` points are ALARM; WARNING
  once ``warning_k`` of them are not HEALTHY, and also after a single ALARM point (an occasional
  exceedance warns, it does not alarm). The sustained state only rises; it falls back to HEALTHY
  after ``recovery_m`` consecutive HEALTHY points, never to an intermediate state, so a machine
  hovering at a zone boundary does not flap between WARNING and ALARM;
* **alerts**: one on every rise (HEALTHY->WARNING, ->ALARM), one recovery notice when it falls
  back, and not before ``cooldown_ms`` after the last alert (a short dip below the boundary is
  not a recovery);
* **idempotency**: a prediction at or before the last window seen (by ``(ts, seq)``) changes
  nothing, so a redelivered batch cannot raise a second alert;
* **sensors**: when temperature or pressure raised a window (the prediction's ``sensor_cause``
  and ``sensor_reason``, see :mod:`rotorwatch.diagnosis.sensors`), the message
  (:mod:`rotorwatch.alerting.alert_messages`) names the sensor, its value, its limit and since
  when that sensor has been out of bounds in this episode.

Time is the windows' own ``ts`` (event time), so replaying the same data gives the same alerts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final, Literal

from rotorwatch.diagnosis.baseline import Baseline
from rotorwatch.diagnosis.life import LifeState
from rotorwatch.diagnosis.predictions import STATES
from rotorwatch.diagnosis.scoring import state_rank
from rotorwatch.diagnosis.sensors import SensorHistory

HEALTHY, WARNING, ALARM = STATES

#: Severity message attribute (SNS filter policies select on it): the state for a rise,
#: RECOVERY for the notice that the machine is healthy again.
RECOVERY: Final = "RECOVERY"
SEVERITIES: Final[tuple[str, ...]] = (WARNING, ALARM, RECOVERY)
#: Severities worth a text message (SMS subscription filter policy); e-mail receives all.
#: RECOVERY is included so whoever was paged for an ALARM also learns it is over.
PAGING_SEVERITIES: Final[tuple[str, ...]] = (ALARM, RECOVERY)
#: Relative velocity change over the trend history that counts as rising / falling.
TREND_REL_CHANGE: Final = 0.15

AlertKind = Literal["ALERT", "RECOVERY"]


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Thresholds of the sustained-state machine (counts are windows, times epoch ms)."""

    window_n: int = 5
    alarm_k: int = 3
    warning_k: int = 2
    recovery_m: int = 3
    cooldown_ms: int = 15 * 60 * 1000
    trend_windows: int = 12

    def __post_init__(self) -> None:
        if not 1 <= self.alarm_k <= self.window_n or not 1 <= self.warning_k <= self.window_n:
            raise ValueError("alarm_k and warning_k must be between 1 and window_n")
        if self.recovery_m < 1 or self.cooldown_ms < 0 or self.trend_windows < 2:
            raise ValueError("recovery_m >= 1, cooldown_ms >= 0 and trend_windows >= 2 required")


DEFAULT_POLICY: Final = AlertPolicy()


#: State item attributes an operator's baseline restart touches (``rotorwatch baseline reset``);
#: they are :class:`DeviceState` field names (a test keeps them so).
BASELINE_ATTRIBUTE: Final = "baseline"
BASELINE_RESETS_ATTRIBUTE: Final = "baseline_resets"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What the pipeline remembers about one machine between batches (one DynamoDB item)."""

    device_id: str
    site: str | None = None
    last_ts: int = -1
    last_seq: int = -1
    state: str = HEALTHY  # sustained state
    since_ms: int | None = None  # when the sustained state began (window ts)
    points: tuple[str, ...] = ()  # last window_n point states, oldest first
    healthy_run: int = 0
    velocities_mm_s: tuple[float, ...] = ()  # last trend_windows velocity values
    fault: str | None = None
    fault_confidence: float | None = None
    iso_zone: str | None = None
    velocity_rms_mm_s: float | None = None
    degraded: bool = False
    last_alert_ms: int | None = None
    last_alert_severity: str | None = None
    #: An alert committed with this state but not yet confirmed sent (outbox): see the handler.
    pending_alert: str | None = None
    #: When the cloud last received a window that was applied (IoT Core's clock, epoch ms; not
    #: the device's ``ts``, so a device clock far off cannot hide or fake a silence).
    last_seen_ms: int | None = None
    #: The ``last_seen_ms`` a NO_DATA alert was sent for (see :mod:`rotorwatch.alerting.silence`).
    no_data_for_ms: int | None = None
    #: When the cloud last received any window, applied or not (a window older than the last
    #: applied one, or far ahead, is not applied): tells a silent device from a wrong clock.
    last_received_ms: int | None = None
    #: The temperature/pressure cause of this episode, its latest reason and the window ts it
    #: first appeared at (kept while the episode lasts, so "since" survives a reading that dips
    #: back inside the limit for one window).
    sensor_cause: str | None = None
    sensor_reason: str | None = None
    sensor_since_ms: int | None = None
    #: The device's own temperature and pressure (:class:`rotorwatch.diagnosis.sensors.SensorHistory`),
    #: learned with the baseline and restarted with it.
    sensor_history: SensorHistory | None = None
    #: What the device has learned of its own healthy behaviour (:mod:`rotorwatch.diagnosis.baseline`);
    #: None before its first window, or after an operator restarted learning.
    baseline: Baseline | None = None
    #: How often an operator restarted the learning (``rotorwatch baseline reset``). The state
    #: is written on the condition that this is unchanged, so a restart racing a batch wins.
    baseline_resets: int = 0
    #: The health indicator's trend (:mod:`rotorwatch.diagnosis.life`), restarted with the baseline, and
    #: the remaining life it gave at the last window (seconds; None: no degradation visible).
    #: An older reader ignores these keys; a newer one reads an item without them as "not yet".
    life: LifeState | None = None
    remaining_life_s: float | None = None
    remaining_life_low_s: float | None = None
    remaining_life_high_s: float | None = None
    #: What the remaining life counts down to, as a technician reads it ("zone D").
    remaining_life_limit: str | None = None

    @property
    def window(self) -> tuple[int, int]:
        """The last window applied, as (ts, seq)."""
        return (self.last_ts, self.last_seq)

    def to_item(self) -> dict[str, Any]:
        """A JSON-compatible record (the DynamoDB adapter converts numbers)."""
        item = asdict(self)
        item["points"] = list(self.points)
        item["velocities_mm_s"] = list(self.velocities_mm_s)
        item["baseline"] = None if self.baseline is None else self.baseline.to_dict()
        item["sensor_history"] = (
            None if self.sensor_history is None else self.sensor_history.to_dict()
        )
        item["life"] = None if self.life is None else self.life.to_dict()
        return {k: v for k, v in item.items() if v is not None}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> DeviceState:
        """Rebuild from :meth:`to_item`'s record (numbers may come back as Decimal)."""

        def opt_int(name: str) -> int | None:
            v = item.get(name)
            return None if v is None else int(v)

        def opt_float(name: str) -> float | None:
            v = item.get(name)
            return None if v is None else float(v)

        return cls(
            device_id=str(item["device_id"]),
            site=item.get("site"),
            last_ts=int(item.get("last_ts", -1)),
            last_seq=int(item.get("last_seq", -1)),
            state=str(item.get("state", HEALTHY)),
            since_ms=opt_int("since_ms"),
            points=tuple(str(p) for p in item.get("points", ())),
            healthy_run=int(item.get("healthy_run", 0)),
            velocities_mm_s=tuple(float(v) for v in item.get("velocities_mm_s", ())),
            fault=item.get("fault"),
            fault_confidence=opt_float("fault_confidence"),
            iso_zone=item.get("iso_zone"),
            velocity_rms_mm_s=opt_float("velocity_rms_mm_s"),
            degraded=bool(item.get("degraded", False)),
            last_alert_ms=opt_int("last_alert_ms"),
            last_alert_severity=item.get("last_alert_severity"),
            pending_alert=item.get("pending_alert"),
            last_seen_ms=opt_int("last_seen_ms"),
            no_data_for_ms=opt_int("no_data_for_ms"),
            last_received_ms=opt_int("last_received_ms"),
            sensor_cause=item.get("sensor_cause"),
            sensor_reason=item.get("sensor_reason"),
            sensor_since_ms=opt_int("sensor_since_ms"),
            sensor_history=_stored_history(item.get("sensor_history")),
            baseline=_stored_baseline(item.get("baseline")),
            baseline_resets=int(item.get("baseline_resets", 0)),
            life=_stored_life(item.get("life")),
            remaining_life_s=opt_float("remaining_life_s"),
            remaining_life_low_s=opt_float("remaining_life_low_s"),
            remaining_life_high_s=opt_float("remaining_life_high_s"),
            remaining_life_limit=item.get("remaining_life_limit"),
        )


def _stored_history(value: Any) -> SensorHistory | None:
    """The stored sensor history, or None (learn again) when there is none or it is unreadable."""
    if not isinstance(value, Mapping):
        return None
    try:
        return SensorHistory.from_dict(value)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _stored_life(value: Any) -> LifeState | None:
    """The stored indicator trend, or None (start again) when there is none or it is unreadable."""
    if not isinstance(value, Mapping):
        return None
    try:
        return LifeState.from_dict(value)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _stored_baseline(value: Any) -> Baseline | None:
    """The stored baseline, or None (learn again) when there is none or it cannot be read."""
    if not isinstance(value, Mapping):
        return None
    try:
        return Baseline.from_dict(value)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


#: Format of an outbox entry (:meth:`Alert.to_json`, the state item's ``pending_alert``):
#: 1, every entry written before the field existed (0.1.0's 14 fields; then the sensor and
#: remaining-life fields, with defaults); 2, the field itself. The rule that keeps readers of
#: every format reading each other's: a newer format only adds fields, each with a default, so
#: an older reader ignores them and a newer one fills them in. A change an older reader would
#: misread (a field's meaning or type) is not a new format of this entry but a new outbox.
ALERT_FORMAT: Final = 2
ALERT_FORMAT_FIELD: Final = "alert_format"


@dataclass(frozen=True, slots=True)
class Alert:
    """One notification: a rise of the sustained state, or a recovery notice."""

    kind: AlertKind
    device_id: str
    site: str | None
    state: str  # the new sustained state
    previous_state: str
    ts: int  # window that triggered it
    seq: int
    since_ms: int  # when the problem began (for a recovery: when the episode began)
    fault: str | None
    fault_confidence: float | None
    iso_zone: str | None
    velocity_rms_mm_s: float | None
    trend: str
    degraded: bool
    # Defaults: an alert committed to the outbox by an earlier version still reads back.
    sensor_cause: str | None = None
    sensor_reason: str | None = None
    sensor_since_ms: int | None = None
    remaining_life_s: float | None = None
    remaining_life_low_s: float | None = None
    remaining_life_high_s: float | None = None
    remaining_life_limit: str | None = None

    @property
    def severity(self) -> str:
        return RECOVERY if self.kind == "RECOVERY" else self.state

    @property
    def alert_id(self) -> str:
        """Stable identity: the same window always yields the same id (dedupe downstream)."""
        return f"{self.device_id}:{self.ts}:{self.seq}:{self.severity}"

    def to_json(self) -> str:
        """The outbox entry: every field, and the entry's format (:data:`ALERT_FORMAT`)."""
        entry = {**asdict(self), ALERT_FORMAT_FIELD: ALERT_FORMAT}
        return json.dumps(entry, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Alert:
        """Read an outbox entry of any format, older or newer (:data:`ALERT_FORMAT`): fields a
        newer release added are ignored, so a rollback still sends the alerts that release
        queued (they carried ``runbook_url``: TypeError before); fields an older one lacked
        take their defaults. ValueError for an entry that is not one (a reader drops it)."""
        entry = json.loads(text)
        if not isinstance(entry, dict):
            raise ValueError("an outbox entry is a JSON object")
        fmt = entry.get(ALERT_FORMAT_FIELD, 1)
        if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
            raise ValueError(f"outbox entry format {fmt!r:.20} is not a format number")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in entry.items() if k in known})


def _count(points: tuple[str, ...], states: tuple[str, ...]) -> int:
    return sum(p in states for p in points)


def trend_text(velocities_mm_s: tuple[float, ...]) -> str:
    """'rising', 'falling' or 'steady' velocity over the remembered windows, with the values."""
    if len(velocities_mm_s) < 2:
        return "not enough history"
    first, last = velocities_mm_s[0], velocities_mm_s[-1]
    change = (last - first) / first if first > 0 else (1.0 if last > 0 else 0.0)
    word = (
        "rising"
        if change >= TREND_REL_CHANGE
        else "falling"
        if change <= -TREND_REL_CHANGE
        else "steady"
    )
    return f"{word}: {first:.1f} -> {last:.1f} mm/s over {len(velocities_mm_s)} windows"


def _sensor_episode(
    state: DeviceState, prediction: Mapping[str, Any], ongoing: bool, ts: int
) -> tuple[str | None, str | None, int | None]:
    """(cause, latest reason, since) of the scalar sensors after one window.

    A new cause starts at this window; the same cause keeps its start; a window inside the
    limits keeps the cause while the episode is ``ongoing`` (the sustained state or a point the
    k-of-n window still remembers is not HEALTHY: one reading just under a limit does not
    reset "since"), and forgets it once the machine is healthy again."""
    cause = prediction.get("sensor_cause")
    if isinstance(cause, str):
        reason = prediction.get("sensor_reason")
        reason = reason if isinstance(reason, str) else state.sensor_reason
        since = state.sensor_since_ms if cause == state.sensor_cause else None
        return cause, reason, since if since is not None else ts
    if not ongoing:
        return None, None, None
    return state.sensor_cause, state.sensor_reason, state.sensor_since_ms


def _opt_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def step(
    state: DeviceState, prediction: Mapping[str, Any], policy: AlertPolicy = DEFAULT_POLICY
) -> tuple[DeviceState, Alert | None]:
    """Apply one prediction record to a device's state; return the new state and any alert."""
    ts, seq = int(prediction["ts"]), int(prediction["seq"])
    if (ts, seq) <= state.window:
        return state, None  # already applied (redelivery, duplicate) or out of order
    point = str(prediction["state"])
    if point not in STATES:
        raise ValueError(f"prediction state must be one of {STATES}, got {point!r}")
    points = (*state.points, point)[-policy.window_n :]
    healthy_run = state.healthy_run + 1 if point == HEALTHY else 0
    velocity = prediction.get("velocity_rms_mm_s")
    velocities = state.velocities_mm_s
    if isinstance(velocity, int | float):
        velocities = (*velocities, float(velocity))[-policy.trend_windows :]

    alarms = _count(points, (ALARM,))
    if alarms >= policy.alarm_k:
        candidate = ALARM
    elif alarms >= 1 or _count(points, (WARNING, ALARM)) >= policy.warning_k:
        candidate = WARNING
    else:
        candidate = HEALTHY

    current = state.state
    cooled = state.last_alert_ms is None or ts - state.last_alert_ms >= policy.cooldown_ms
    new = current
    if current != HEALTHY and healthy_run >= policy.recovery_m and cooled:
        new = HEALTHY
        # The episode is over: forget its points so they cannot re-trigger a warning.
        points = points[-policy.recovery_m :]
    elif state_rank(candidate) > state_rank(current):
        new = candidate

    ongoing = new != HEALTHY or any(p != HEALTHY for p in points)
    sensor_cause, sensor_reason, sensor_since = _sensor_episode(state, prediction, ongoing, ts)
    updated = replace(
        state,
        site=prediction.get("site") or state.site,
        last_ts=ts,
        last_seq=seq,
        state=new,
        since_ms=state.since_ms if new == current else ts,
        points=points,
        healthy_run=healthy_run,
        velocities_mm_s=velocities,
        fault=prediction.get("fault"),
        fault_confidence=prediction.get("fault_confidence"),
        iso_zone=prediction.get("iso_zone"),
        velocity_rms_mm_s=velocity if isinstance(velocity, int | float) else None,
        degraded=bool(prediction.get("degraded", False)),
        remaining_life_s=_opt_float(prediction.get("remaining_life_s")),
        remaining_life_low_s=_opt_float(prediction.get("remaining_life_low_s")),
        remaining_life_high_s=_opt_float(prediction.get("remaining_life_high_s")),
        sensor_cause=sensor_cause,
        sensor_reason=sensor_reason,
        sensor_since_ms=sensor_since,
    )
    if new == current:
        return updated, None
    recovering = new == HEALTHY
    if recovering and state.last_alert_severity in (None, RECOVERY):
        return updated, None  # nobody was told about a problem: nothing to take back
    # A problem episode starts when the machine leaves HEALTHY; a rise within it keeps that start.
    episode_start = state.since_ms if current != HEALTHY and state.since_ms is not None else ts
    alert = Alert(
        kind="RECOVERY" if recovering else "ALERT",
        device_id=state.device_id,
        site=updated.site,
        state=new,
        previous_state=current,
        ts=ts,
        seq=seq,
        since_ms=episode_start,
        fault=updated.fault,
        fault_confidence=updated.fault_confidence,
        iso_zone=updated.iso_zone,
        velocity_rms_mm_s=updated.velocity_rms_mm_s,
        trend=trend_text(velocities),
        degraded=updated.degraded,
        sensor_cause=sensor_cause,
        sensor_reason=sensor_reason,
        sensor_since_ms=sensor_since,
        remaining_life_s=updated.remaining_life_s,
        remaining_life_low_s=updated.remaining_life_low_s,
        remaining_life_high_s=updated.remaining_life_high_s,
        remaining_life_limit=updated.remaining_life_limit,
    )
    updated = replace(updated, last_alert_ms=ts, last_alert_severity=alert.severity)
    return updated, alert
