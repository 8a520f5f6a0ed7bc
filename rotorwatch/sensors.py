"""Temperature and pressure judged on their own: one feature record against the asset's limits.

Vibration tells *what* is wrong with a rotating machine; the two scalar sensors every device
sends tell something vibration sees late or not at all: a bearing running hot (lost or wrong
lubrication heats it hours before the vibration changes) and a pump whose discharge pressure
has fallen (a worn impeller, a blocked suction) while it still runs smoothly.

Rules (each gives a point state, a cause code from :data:`rotorwatch.predictions.SENSOR_CAUSES`
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
from dataclasses import dataclass
from typing import Any, Final

from rotorwatch.predictions import SENSOR_CAUSES, STATES
from rotorwatch.sensor_limits import LIMIT_FIELDS, SensorLimits

__all__ = [
    "DEFAULT_LIMITS",
    "LIMIT_FIELDS",
    "SENSOR_FIELDS",
    "SensorLimits",
    "SensorVerdict",
    "judge",
    "limits_of",
]

HEALTHY, WARNING, ALARM = STATES
OVERHEATING, PRESSURE_LOW, PRESSURE_HIGH = SENSOR_CAUSES[:3]

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


def _value(record: Mapping[str, Any], name: str) -> float | None:
    v = record.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def limits_of(record: Mapping[str, Any]) -> SensorLimits:
    """The limits that apply to a feature record: the asset's (carried in the record), the
    defaults for temperature where the asset gives none. A limit pair the asset leaves half
    open is completed so that warning <= alarm holds."""
    w = _value(record, "temperature_warning_c")
    a = _value(record, "temperature_alarm_c")
    if w is None and a is None:
        w, a = DEFAULT_TEMPERATURE_WARNING_C, DEFAULT_TEMPERATURE_ALARM_C
    elif w is None:
        assert a is not None
        w = min(DEFAULT_TEMPERATURE_WARNING_C, a)
    elif a is None:
        a = max(DEFAULT_TEMPERATURE_ALARM_C, w)
    lo = _value(record, "pressure_min_bar")
    hi = _value(record, "pressure_max_bar")
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
        temperature_verdict(_value(record, "temperature_c"), lim),
        pressure_verdict(_value(record, "pressure_bar"), lim),
    )
