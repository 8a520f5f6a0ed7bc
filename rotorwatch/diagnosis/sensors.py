"""Temperature and pressure judged on their own: one feature record against the asset's limits.

Vibration tells *what* is wrong with a rotating machine; the two scalar sensors every device
sends tell something vibration sees late or not at all: a bearing running hot (lost or wrong
lubrication heats it hours before the vibration changes) and a pump whose discharge pressure
has fallen (a worn impeller, a blocked suction) while it still runs smoothly.

Rules (each gives a point state, a cause code from :data:`rotorwatch.diagnosis.predictions.SENSOR_CAUSES`
and a one-line reason naming the sensor, its value and the limit):

* ``overheating``: ``temperature_c`` at or above the warning limit warns, at or above the alarm
  limit alarms. Limits are the asset's (``limits`` in the asset registry, carried in the feature
  record as ``temperature_warning_c`` / ``temperature_alarm_c``), else :data:`DEFAULT_LIMITS`.
* ``pressure_low`` / ``pressure_high``: ``pressure_bar`` outside the asset's normal operating
  range (``pressure_min_bar`` / ``pressure_max_bar``) warns; beyond it by more than
  :data:`PRESSURE_ALARM_FRACTION` of the bound it alarms. There is no default range: a normal
  pressure is a fact of one machine and its process (a fan's 0.02 bar is a pump's failure), so
  without the asset's range there is no absolute pressure rule.

A missing value stays missing: no temperature, no temperature verdict (never read as 0 degC).
Nothing here raises on a record, whatever it holds. Pure Python (no numpy needed); part of the
endpoint's serving subset, so it must run on Python 3.10.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from rotorwatch.diagnosis.features.schema import number
from rotorwatch.diagnosis.predictions import SENSOR_CAUSES, STATES
from rotorwatch.diagnosis.running_stat import RunningStat, stored
from rotorwatch.diagnosis.sensor_limits import LIMIT_FIELDS, SensorLimits

__all__ = [
    "DEFAULT_LIMITS",
    "LIMIT_FIELDS",
    "SENSOR_FIELDS",
    "SensorHistory",
    "SensorLimits",
    "SensorVerdict",
    "apply_history",
    "judge",
    "limits_of",
]

HEALTHY, WARNING, ALARM = STATES
(
    OVERHEATING,
    PRESSURE_LOW,
    PRESSURE_HIGH,
    TEMPERATURE_RISE,
    TEMPERATURE_RATE,
    PRESSURE_DRIFT,
) = SENSOR_CAUSES

#: Every feature-record field the sensor rules read (the endpoint request must carry them).
SENSOR_FIELDS: Final[tuple[str, ...]] = ("temperature_c", "pressure_bar", *LIMIT_FIELDS)

#: A pressure this far beyond its bound (as a fraction of the bound: 20 % below the minimum or
#: above the maximum) alarms: the machine is no longer near its operating point, which a pump
#: curve's normal band (a few % either side of duty) never explains.
PRESSURE_ALARM_FRACTION: Final = 0.2


#: Bearing-housing temperature where a machine gives none. Common practice for rolling-element
#: bearings (Machinery Lubrication, "bearing temperature" cover story, Sept-Oct 2016; the same
#: bands in many plant guides): 180-200 degF (82-93 degC) "caution", may be normal for some
#: machines; 200-250 degF (93-121 degC) "alert": verify lubrication, load, process; 250-300 degF
#: (121-149 degC) "alarm": the bearing is likely in some stage of failure. So WARNING at the
#: start of the alert band and ALARM at the start of the alarm band; 121 degC is also just past
#: the 120 degC to which standard bearing steel is dimensionally stabilised. Machines that run
#: hotter by design (or must stop sooner) set their own limits in the asset registry.
DEFAULT_TEMPERATURE_WARNING_C: Final = 93.0
DEFAULT_TEMPERATURE_ALARM_C: Final = 121.0
DEFAULT_LIMITS: Final = SensorLimits(DEFAULT_TEMPERATURE_WARNING_C, DEFAULT_TEMPERATURE_ALARM_C)


@dataclass(frozen=True, slots=True)
class SensorVerdict:
    """A point state from the scalar sensors, its cause code and a one-line reason (both None
    when HEALTHY)."""

    state: str = HEALTHY
    cause: str | None = None
    reason: str | None = None


_RANK: Final = {s: i for i, s in enumerate(STATES)}
NO_VERDICT: Final = SensorVerdict()


def limits_of(record: Mapping[str, Any]) -> SensorLimits:
    """The limits that apply to a feature record: the asset's (carried in the record), the
    defaults for temperature where the asset gives none. A limit pair the asset leaves half
    open is completed so that warning <= alarm holds."""
    w = number(record, "temperature_warning_c")
    a = number(record, "temperature_alarm_c")
    if w is None and a is None:
        w, a = DEFAULT_TEMPERATURE_WARNING_C, DEFAULT_TEMPERATURE_ALARM_C
    elif w is None:
        assert a is not None
        w = min(DEFAULT_TEMPERATURE_WARNING_C, a)
    elif a is None:
        a = max(DEFAULT_TEMPERATURE_ALARM_C, w)
    lo = number(record, "pressure_min_bar")
    hi = number(record, "pressure_max_bar")
    if lo is not None and hi is not None and lo >= hi:
        lo = hi = None  # a contradictory range judges nothing (the registry refuses one anyway)
    return SensorLimits(min(w, a), a, lo, hi)


def _fmt(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def temperature_verdict(temperature_c: float | None, limits: SensorLimits) -> SensorVerdict:
    """``overheating`` at or above the warning (alarm) limit; nothing without a reading."""
    w, a = limits.temperature_warning_c, limits.temperature_alarm_c
    if temperature_c is None:
        return NO_VERDICT
    if a is not None and temperature_c >= a:
        return SensorVerdict(
            ALARM, OVERHEATING, f"temperature {_fmt(temperature_c)} degC >= alarm limit {a:g} degC"
        )
    if w is not None and temperature_c >= w:
        return SensorVerdict(
            WARNING,
            OVERHEATING,
            f"temperature {_fmt(temperature_c)} degC >= warning limit {w:g} degC",
        )
    return NO_VERDICT


def pressure_verdict(pressure_bar: float | None, limits: SensorLimits) -> SensorVerdict:
    """``pressure_low`` / ``pressure_high`` outside the asset's range; nothing without one."""
    lo, hi = limits.pressure_min_bar, limits.pressure_max_bar
    if pressure_bar is None:
        return NO_VERDICT
    if lo is not None and pressure_bar < lo:
        state = ALARM if pressure_bar < lo * (1.0 - PRESSURE_ALARM_FRACTION) else WARNING
        return SensorVerdict(
            state,
            PRESSURE_LOW,
            f"pressure {_fmt(pressure_bar)} bar below the normal range minimum {lo:g} bar",
        )
    if hi is not None and pressure_bar > hi:
        state = ALARM if pressure_bar > hi * (1.0 + PRESSURE_ALARM_FRACTION) else WARNING
        return SensorVerdict(
            state,
            PRESSURE_HIGH,
            f"pressure {_fmt(pressure_bar)} bar above the normal range maximum {hi:g} bar",
        )
    return NO_VERDICT


def worst(*verdicts: SensorVerdict) -> SensorVerdict:
    """The most severe verdict (the first of equals: callers list temperature first)."""
    best = NO_VERDICT
    for v in verdicts:
        if _RANK[v.state] > _RANK[best.state]:
            best = v
    return best


def judge(record: Mapping[str, Any], limits: SensorLimits | None = None) -> SensorVerdict:
    """The scalar sensors' verdict for one feature record.

    ``limits`` defaults to :func:`limits_of` the record (the asset's limits it carries, with
    the temperature defaults). Missing or non-finite readings judge nothing; never raises.
    """
    lim = limits_of(record) if limits is None else limits
    return worst(
        temperature_verdict(number(record, "temperature_c"), lim),
        pressure_verdict(number(record, "pressure_bar"), lim),
    )


# -- against the device's own history --------------------------------------------------------
#
# Absolute limits catch a bearing that is hot by any standard; a bearing running 30 degC over
# its own normal is in trouble long before that on a machine that normally runs at 40 degC. So,
# like the vibration baseline (rotorwatch.diagnosis.baseline, whose learning period and reset it shares),
# each device learns its normal temperature and pressure from windows the cold-start path calls
# HEALTHY, then is judged against it. Kept small (a few numbers and at most
# RECENT_MAX samples) because it lives in the device's state item.

#: A rise this far above the device's learned temperature warns (``temperature_rise``): "a
#: temperature change of more than 50 degF [28 degC] is of concern no matter what condition
#: range the absolute temperature falls in" (Machinery Lubrication, Sept-Oct 2016, the source of
#: the default limits above). A device whose own temperature spread is wide (load, ambient)
#: gets RISE_SPREADS of its spread instead, when that is larger.
TEMPERATURE_RISE_WARNING_C: Final = 28.0
RISE_SPREADS: Final = 4.0
#: Heating this fast (least-squares slope over the recent samples, degC per hour) while already
#: TEMPERATURE_RATE_MIN_RISE_C over its own normal warns (``temperature_rate``). A start-up or
#: a load step heats a machine quickly too, but from or towards its normal level; the rise
#: condition keeps those out. 10 degC/h is our choice: above the 8 degC/h the simulated healthy
#: fleet reaches with load swings, and a bearing heating that fast for an hour without a new
#: duty is not normal on any machine.
TEMPERATURE_RATE_WARNING_C_PER_H: Final = 10.0
TEMPERATURE_RATE_MIN_RISE_C: Final = 15.0
#: Recent samples the rate is fitted on: one kept per RECENT_SPACING_MS, back RECENT_SPAN_MS;
#: a rate needs at least RATE_MIN_SPAN_MS of them (shorter is a transient).
RECENT_SPACING_MS: Final = 9 * 60_000
RECENT_SPAN_MS: Final = 65 * 60_000
RECENT_MAX: Final = 8
RATE_MIN_SPAN_MS: Final = 45 * 60_000
#: A pump's discharge pressure this far from its own normal at the same speed warns
#: (``pressure_drift``): pressure is normalised by the affinity law (head ~ speed squared) when
#: the device reports ``rpm``, so a variable-speed pump turning slower is not a drift; without
#: ``rpm`` there is no drift rule. 15 % is our choice (no standard gives one): several times the
#: scatter a healthy pump's head shows at one speed with load (up to 8 % in the simulated
#: fleet), well before a worn impeller or a blocked suction costs the process its duty point.
PRESSURE_DRIFT_WARNING: Final = 0.15
_PRESSURE_FLOOR_BAR: Final = 1e-3


@dataclass(frozen=True, slots=True)
class SensorHistory:
    """A device's learned temperature and pressure (``count`` of ``target`` windows learned),
    and its recent temperatures ``(ts ms, degC)`` the rate is fitted on."""

    target: int
    count: int = 0
    temperature: RunningStat = field(default_factory=RunningStat)
    #: log(pressure_bar) - 2 log(rpm): pressure at the same speed (pump affinity law).
    pressure: RunningStat = field(default_factory=RunningStat)
    recent: tuple[tuple[int, float], ...] = ()

    @property
    def learned(self) -> bool:
        return self.count >= self.target

    def to_dict(self) -> dict[str, Any]:
        """A JSON/DynamoDB-safe record (finite numbers only, well under 300 bytes)."""
        return {
            "target": self.target,
            "count": self.count,
            "temperature": self.temperature.to_list(),
            "pressure": self.pressure.to_list(),
            "recent": [[ts, c] for ts, c in self.recent],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SensorHistory:
        """Rebuild from :meth:`to_dict` (numbers may come back as Decimal)."""
        t, p = d.get("temperature", (0, 0, 0)), d.get("pressure", (0, 0, 0))
        return cls(
            target=int(d["target"]),
            count=int(d.get("count", 0)),
            temperature=RunningStat.from_list(t),
            pressure=RunningStat.from_list(p),
            recent=tuple((int(ts), float(c)) for ts, c in d.get("recent", ())),
        )


def _pressure_at_speed(record: Mapping[str, Any]) -> float | None:
    p, rpm = number(record, "pressure_bar"), number(record, "rpm")
    if p is None or rpm is None or p <= _PRESSURE_FLOOR_BAR or rpm <= 0:
        return None
    return math.log(p) - 2.0 * math.log(rpm)


def _remember(h: SensorHistory, ts: int, temperature_c: float | None) -> SensorHistory:
    if temperature_c is None:
        return h
    recent = h.recent
    if recent and ts - recent[-1][0] < RECENT_SPACING_MS:
        return h  # one sample per spacing: the state stays small at any message rate
    recent = tuple(s for s in (*recent, (ts, stored(temperature_c))) if ts - s[0] <= RECENT_SPAN_MS)
    return SensorHistory(h.target, h.count, h.temperature, h.pressure, recent[-RECENT_MAX:])


def learn(h: SensorHistory, record: Mapping[str, Any]) -> SensorHistory:
    """Learn one window assumed healthy (unchanged once learned, or without a reading)."""
    if h.learned:
        return h
    t, x = number(record, "temperature_c"), _pressure_at_speed(record)
    if t is None and x is None:
        return h
    return SensorHistory(
        h.target,
        h.count + 1,
        h.temperature if t is None else h.temperature.add(t),
        h.pressure if x is None else h.pressure.add(x),
        h.recent,
    )


def temperature_rate_c_per_h(recent: tuple[tuple[int, float], ...]) -> float | None:
    """Least-squares slope of the recent temperatures, degC per hour (None: too short a span)."""
    if len(recent) < 3 or recent[-1][0] - recent[0][0] < RATE_MIN_SPAN_MS:
        return None
    hs = [(ts - recent[0][0]) / 3_600_000.0 for ts, _ in recent]
    cs = [c for _, c in recent]
    mh, mc = sum(hs) / len(hs), sum(cs) / len(cs)
    sxx = sum((h - mh) ** 2 for h in hs)
    return sum((h - mh) * (c - mc) for h, c in zip(hs, cs, strict=True)) / sxx


def history_verdict(h: SensorHistory, record: Mapping[str, Any]) -> SensorVerdict:
    """``temperature_rise`` / ``temperature_rate`` / ``pressure_drift`` against a learned
    history (nothing while learning, or for a reading the history has no statistics of)."""
    if not h.learned:
        return NO_VERDICT
    verdicts = []
    t = number(record, "temperature_c")
    if t is not None and h.temperature.n >= 2:
        normal = h.temperature.mean
        rise = t - normal
        limit = max(TEMPERATURE_RISE_WARNING_C, RISE_SPREADS * h.temperature.std)
        rate = temperature_rate_c_per_h(h.recent)
        trend = "" if rate is None else f", rising {rate:.1f} degC/h"
        if rise >= limit:
            verdicts.append(
                SensorVerdict(
                    WARNING,
                    TEMPERATURE_RISE,
                    f"temperature {_fmt(t)} degC is {rise:.1f} degC above its own normal "
                    f"{_fmt(normal)} degC (limit +{limit:.0f} degC){trend}",
                )
            )
        elif (
            rate is not None
            and rate >= TEMPERATURE_RATE_WARNING_C_PER_H
            and rise >= TEMPERATURE_RATE_MIN_RISE_C
        ):
            verdicts.append(
                SensorVerdict(
                    WARNING,
                    TEMPERATURE_RATE,
                    f"temperature rising {rate:.1f} degC/h (limit "
                    f"{TEMPERATURE_RATE_WARNING_C_PER_H:g} degC/h), {_fmt(t)} degC is "
                    f"{rise:.1f} degC above its own normal {_fmt(normal)} degC",
                )
            )
    x = _pressure_at_speed(record)
    if x is not None and h.pressure.n >= 2:
        drift = math.expm1(x - h.pressure.mean)
        limit = max(PRESSURE_DRIFT_WARNING, math.expm1(RISE_SPREADS * h.pressure.std))
        if abs(drift) >= limit:
            p = number(record, "pressure_bar")
            assert p is not None
            normal_bar = p / (1.0 + drift)
            verdicts.append(
                SensorVerdict(
                    WARNING,
                    PRESSURE_DRIFT,
                    f"pressure {_fmt(p)} bar is {abs(drift):.0%} "
                    f"{'below' if drift < 0 else 'above'} its own normal {_fmt(normal_bar)} bar "
                    f"at this speed (limit {limit:.0%})",
                )
            )
    return worst(*verdicts)


def apply_history(
    prediction: Mapping[str, Any],
    record: Mapping[str, Any],
    history: SensorHistory | None,
    *,
    learning_windows: int,
    learn_window: bool = True,
) -> tuple[dict[str, Any], SensorHistory]:
    """The prediction for one window judged also against the device's own temperature and
    pressure, and the history after it.

    ``prediction`` is :func:`rotorwatch.diagnosis.scoring.combine`'s record for ``record`` (after the
    vibration baseline). While learning, the window is learned if its point state is HEALTHY;
    once learned, the point state is at least the history verdict's, and ``sensor_cause`` /
    ``sensor_reason`` are the worse of the absolute limits' verdict and the history's (the
    absolute one on equal states: a limit is the stronger statement). ``learn_window=False``
    judges without changing the history (a window replayed after the state moved on).
    """
    h = history if history is not None else SensorHistory(target=learning_windows)
    if not h.learned and h.target != learning_windows:
        h = SensorHistory(max(learning_windows, 1), h.count, h.temperature, h.pressure, h.recent)
    if learn_window:
        if prediction.get("state") == HEALTHY:
            h = learn(h, record)
        h = _remember(h, int(record["ts"]), number(record, "temperature_c"))
    out = dict(prediction)
    verdict = history_verdict(h, record)
    if verdict.cause is None:
        return out, h
    final = worst(judge(record), verdict)
    out["state"] = STATES[max(_RANK[str(out.get("state", HEALTHY))], _RANK[final.state])]
    out["sensor_cause"], out["sensor_reason"] = final.cause, final.reason
    return out, h
