"""Remaining life: how long until a machine's health indicator reaches its end-of-life limit.

Three separate parts, as nasa/progpy separates a prognostic (state estimation, prediction, the
event threshold), each small enough to live in the device's state item and cost O(1) a window:

* **State estimation** (:class:`LifeState`, :func:`update`): the device's own healthy level of
  the indicator (mean and spread of its log over the learning period, Welford), and the trend of
  the log indicator over recent windows: a least-squares line whose sums are discounted by
  :data:`HALF_LIFE_WINDOWS` (recursive least squares with forgetting). Seven numbers, no list of
  past values, so the item stays small however long the machine runs.
* **Prediction** (:func:`estimate`): the line extrapolated to the limit. A log indicator that
  rises on a straight line is an indicator growing exponentially, the usual shape of wear that
  feeds itself (a spall widens, the clearance grows, the impacts grow). The interval comes from
  the line's own uncertainty: the steepest and the flattest slope (and the highest and lowest
  current level) :data:`Z_INTERVAL` standard errors from the fit give the earliest and the latest
  time to the limit. Residuals of a real indicator are correlated, so the interval is an honest
  statement of the fit's uncertainty, not a calibrated probability; ``make eval-life`` measures
  how often it held the truth on real run-to-failure bearings.
* **Threshold** (:class:`EndOfLife`): the asset's ``end_of_life`` limit, by default the ISO
  10816-3 zone C/D boundary on velocity RMS for the asset's machine group and foundation.

No number is invented: before :data:`MIN_WINDOWS` windows, while the indicator is not clearly
above the device's healthy level, or while its rise is not distinguishable from a flat line,
:func:`estimate` returns None ("no degradation visible").

Pure: numpy-free arithmetic on floats, no I/O. This module must run on Python 3.10 like the rest
of the serving subset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

#: Version of :meth:`LifeState.to_dict`'s layout. A stored state of another version is dropped
#: (the device's trend starts again), never read as something it is not.
LIFE_FORMAT: Final = 1
#: The default indicator: ISO 10816-3 judges a machine's condition by it.
DEFAULT_INDICATOR: Final = "velocity_rms_mm_s"
#: Windows after which an old window weighs half in the trend. Long enough that the slope of a
#: noisy indicator has a usable standard error (about 2.9 x this many windows carry weight);
#: short enough that a trend which steepens is followed within a few tens of windows.
HALF_LIFE_WINDOWS: Final = 24
#: Standard errors each side of the fitted slope and level for the interval (about 90 % each
#: side for a Gaussian fit; see the module docstring on what it does not promise).
Z_INTERVAL: Final = 1.645
#: The rise must be this many standard errors of the slope above flat before anything is
#: estimated: a slope indistinguishable from zero says no degradation is visible.
Z_TREND: Final = 2.0
#: The indicator's current fitted level must be above the healthy level by at least this much
#: (log units: 0.2 is 22 %) and by :data:`LEVEL_SIGMAS` of its healthy spread: a machine that
#: drifts inside its own normal noise is not degrading.
MIN_LOG_RISE: Final = 0.2
LEVEL_SIGMAS: Final = 3.0
#: Windows seen before anything is estimated: the healthy level is the mean of the windows
#: learned so far (up to the learning period), so a machine that starts degrading during its
#: learning period still gets an estimate, judged against its first windows.
MIN_WINDOWS: Final = HALF_LIFE_WINDOWS
_H_PER_MS: Final = 1.0 / 3_600_000.0
_S_PER_H: Final = 3600.0


class EndOfLifeError(ValueError):
    """An ``end_of_life`` record that cannot be used."""


@dataclass(frozen=True, slots=True)
class EndOfLife:
    """The threshold: end of life when feature ``indicator`` reaches ``limit`` (its unit)."""

    indicator: str
    limit: float

    def to_dict(self) -> dict[str, Any]:
        return {"indicator": self.indicator, "limit": self.limit}


def iso_end_of_life(machine_group: int, foundation: str) -> EndOfLife:
    """The default threshold: velocity RMS at the ISO 10816-3 zone C/D boundary."""
    # Imported here: the feature package imports the asset registry, which imports this module.
    from rotorwatch.features.iso import zone_boundaries_mm_s

    return EndOfLife(DEFAULT_INDICATOR, zone_boundaries_mm_s(machine_group, foundation)[2])


def limit_text(indicator: str, limit: float) -> str:
    """The limit as a technician reads it: ``zone D`` for an ISO C/D boundary on velocity."""
    from rotorwatch.features.iso import ZONE_BOUNDARIES_MM_S  # see iso_end_of_life

    if indicator == DEFAULT_INDICATOR:
        if limit in {b[2] for b in ZONE_BOUNDARIES_MM_S.values()}:
            return "zone D"
        return f"velocity RMS {limit:g} mm/s"
    return f"{indicator} {limit:g}"


@dataclass(frozen=True, slots=True)
class LifeState:
    """What a device remembers of its health indicator (state estimation).

    Times of the trend sums are hours relative to ``last_ts_ms`` (the newest window is at 0), so
    the sums stay small however long the device runs; weights are discounted per window.
    """

    indicator: str
    limit: float
    #: Healthy level: windows learned, mean and Welford M2 of the log indicator.
    learned: int = 0
    level_mean: float = 0.0
    level_m2: float = 0.0
    #: Discounted sums of weight, weight^2, t, t^2, y, t*y, y^2 (t in h, y the log indicator).
    w: float = 0.0
    w2: float = 0.0
    st: float = 0.0
    stt: float = 0.0
    sy: float = 0.0
    sty: float = 0.0
    syy: float = 0.0
    last_ts_ms: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": LIFE_FORMAT,
            "indicator": self.indicator,
            "limit": self.limit,
            "learned": self.learned,
            "level": [self.level_mean, self.level_m2],
            "sums": [self.w, self.w2, self.st, self.stt, self.sy, self.sty, self.syy],
            "last_ts_ms": self.last_ts_ms,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LifeState | None:
        """The stored state; None for another format (the trend starts again)."""
        if int(d.get("format", -1)) != LIFE_FORMAT:
            return None
        level = [float(v) for v in d["level"]]
        sums = [float(v) for v in d["sums"]]
        if len(level) != 2 or len(sums) != 7 or not all(map(math.isfinite, level + sums)):
            raise ValueError("life state: wrong shape or non-finite values")
        return cls(
            indicator=str(d["indicator"]),
            limit=float(d["limit"]),
            learned=int(d["learned"]),
            level_mean=level[0],
            level_m2=level[1],
            w=sums[0],
            w2=sums[1],
            st=sums[2],
            stt=sums[3],
            sy=sums[4],
            sty=sums[5],
            syy=sums[6],
            last_ts_ms=int(d["last_ts_ms"]),
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """Remaining life in seconds from the window it was made at, with its interval."""

    remaining_s: float
    low_s: float
    high_s: float


_DISCOUNT: Final = 0.5 ** (1.0 / HALF_LIFE_WINDOWS)


def update(
    state: LifeState | None,
    end_of_life: EndOfLife,
    ts_ms: int,
    value: float | None,
    *,
    learning_windows: int,
    healthy: bool = True,
) -> LifeState:
    """One window's indicator ``value`` into the device's state (O(1)).

    Only ``healthy`` windows (the point state after the device's baseline) teach the healthy
    level, up to ``learning_windows`` of them: a machine that starts to degrade during its
    learning period must not learn its rise as normal (that would hide the rise it is judged
    by), the same reason the vibration baseline learns only healthy windows.
    A new threshold (indicator or limit changed in the asset record) starts the state again:
    a trend of another quantity says nothing about this one. A missing or non-positive value,
    or a window not after the last one, leaves the state as it was.
    """
    if (
        state is None
        or state.indicator != end_of_life.indicator
        or state.limit != end_of_life.limit
    ):
        state = LifeState(indicator=end_of_life.indicator, limit=end_of_life.limit)
    if value is None or not value > 0.0 or not math.isfinite(value) or ts_ms <= state.last_ts_ms:
        return state
    y = math.log(value)
    learned, mean, m2 = state.learned, state.level_mean, state.level_m2
    if healthy and learned < learning_windows:
        learned += 1
        delta = y - mean
        mean += delta / learned
        m2 += delta * (y - mean)
    # Move the time origin to this window (older windows get negative t), then discount.
    dt_h = 0.0 if state.last_ts_ms < 0 else (ts_ms - state.last_ts_ms) * _H_PER_MS
    w, st, sy = state.w, state.st, state.sy
    stt = state.stt - 2.0 * dt_h * st + dt_h * dt_h * w
    sty = state.sty - dt_h * sy
    st = st - dt_h * w
    k = _DISCOUNT
    return replace(
        state,
        learned=learned,
        level_mean=mean,
        level_m2=m2,
        w=k * w + 1.0,
        w2=k * k * state.w2 + 1.0,
        st=k * st,
        stt=k * stt,
        sy=k * sy + y,
        sty=k * sty,
        syy=k * state.syy + y * y,
        last_ts_ms=ts_ms,
    )


def healthy_spread(state: LifeState) -> float:
    """Standard deviation of the log indicator over the learning period (0 before 2 windows)."""
    return math.sqrt(state.level_m2 / (state.learned - 1)) if state.learned > 1 else 0.0


def estimate(state: LifeState | None, *, learning_windows: int) -> Estimate | None:
    """Time to the limit from the newest window, or None while no degradation is visible.

    The line through the discounted sums gives the current level ``a`` (log units, at the newest
    window) and the slope ``b`` (log units per hour); the limit is reached after
    ``(log(limit) - a) / b`` hours. Standard errors use the discounted fit's effective number
    of windows (``w^2 / w2``).
    """
    if state is None or state.learned < min(learning_windows, MIN_WINDOWS) or state.w <= 0.0:
        return None
    n_eff = state.w * state.w / state.w2
    if n_eff <= 3.0:
        return None
    t_bar, y_bar = state.st / state.w, state.sy / state.w
    sxx = state.stt - state.st * t_bar
    if sxx <= 0.0:
        return None
    sxy = state.sty - state.st * y_bar
    syy = state.syy - state.sy * y_bar
    b = sxy / sxx
    a = y_bar - b * t_bar  # fitted level now (t = 0)
    y_limit = math.log(state.limit)
    if a >= y_limit:
        return Estimate(0.0, 0.0, 0.0)  # at or past the limit, whatever the trend does now
    # Weighted mean squared residual, corrected for the two fitted parameters.
    resid_var = max(syy - b * sxy, 0.0) / state.w * n_eff / (n_eff - 2.0)
    scale = n_eff / state.w  # weights -> effective windows
    se_b = math.sqrt(resid_var / (sxx * scale))
    se_a = math.sqrt(resid_var * (1.0 / n_eff + t_bar * t_bar / (sxx * scale)))
    rise = a - state.level_mean
    if rise < max(MIN_LOG_RISE, LEVEL_SIGMAS * healthy_spread(state)):
        return None
    if b - Z_TREND * se_b <= 0.0:
        return None
    remaining_h = (y_limit - a) / b
    low_h = max(y_limit - (a + Z_INTERVAL * se_a), 0.0) / (b + Z_INTERVAL * se_b)
    flattest = b - Z_INTERVAL * se_b  # > 0: Z_TREND >= Z_INTERVAL
    high_h = (y_limit - (a - Z_INTERVAL * se_a)) / flattest
    return Estimate(remaining_h * _S_PER_H, low_h * _S_PER_H, high_h * _S_PER_H)


def indicator_value(record: Mapping[str, Any], indicator: str) -> float | None:
    """The indicator's value in a feature record (None when missing, not a number or not
    finite; JSON true/false is not a number)."""
    value = record.get(indicator)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def interval_text(remaining_s: float, low_s: float, high_s: float) -> str:
    """``about 12 days (8-20 days)``: the unit of the point estimate for all three."""
    if remaining_s < 2 * 3600:
        unit, div = "min", 60.0
    elif remaining_s < 2 * 86400:
        unit, div = "h", 3600.0
    else:
        unit, div = "days", 86400.0
    return f"about {remaining_s / div:.0f} {unit} ({low_s / div:.0f}-{high_s / div:.0f} {unit})"
