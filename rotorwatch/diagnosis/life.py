"""Remaining life: how long until a machine's health indicator reaches its end-of-life limit.

Three separate parts, as nasa/progpy separates a prognostic (state estimation, prediction, the
event threshold), each small enough to live in the device's state item and cost O(1) a window:

* **State estimation** (:class:`LifeState`, :func:`update`): the device's own healthy level of
  the indicator (mean and spread of its log over the learning period, Welford), and the trend of
  the log indicator over recent windows: least-squares lines whose sums are discounted with a
  long and a short half-life (recursive least squares with forgetting), and a third from the
  onset of degradation (a few windows in a row above the healthy level) on. Sums, no list of
  past values, so the item stays small however long the machine runs.
* **Prediction** (:func:`estimate`): a line extrapolated to the limit: the trend since the
  onset when it rises, else the short trend when it is significantly steeper than the long one
  (the wear accelerates), else the long one. A log indicator that
  rises on a straight line is an indicator growing exponentially, the usual shape of wear that
  feeds itself (a spall widens, the clearance grows, the impacts grow). The machine reaches its
  limit at the first window over it, and a noisy indicator gets there before its line does:
  the estimate is that first passage (:mod:`rotorwatch.diagnosis.first_passage`: the line, the
  windows' scatter about it and the fit's own errors), its :data:`POINT_PROBABILITY` quantile
  the point and its :data:`INTERVAL_PROBABILITIES` the range, as for the P-F method. It is
  calibrated only on its own model: wear that accelerates or ends in a step reaches the limit
  sooner than any line says, so it holds the truth less often than it states (``make eval``
  and ``make eval-life`` measure it; docs/remaining-life.md).
* **Threshold** (:class:`rotorwatch.diagnosis.end_of_life.EndOfLife`): the asset's ``end_of_life``
  limit, by default the ISO 10816-3 zone C/D boundary on velocity RMS for the asset's machine
  group and foundation (:mod:`rotorwatch.diagnosis.features.end_of_life`).

No number is invented: before :data:`MIN_WINDOWS` healthy windows, while the indicator is not clearly
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

from rotorwatch.diagnosis.end_of_life import DEFAULT_INDICATOR, INDICATORS, EndOfLife
from rotorwatch.diagnosis.features.iso import ZONE_BOUNDARIES_MM_S
from rotorwatch.diagnosis.features.schema import FEATURE_FIELDS
from rotorwatch.diagnosis.first_passage import passage_quantiles
from rotorwatch.diagnosis.pf_prior import (
    PfPrior,
    calibrated,
    evidence_ln_s,
    prior_median_s,
    remaining,
    still_ln_s,
)

_NUMERIC = {f.name for f in FEATURE_FIELDS if f.type == "double"}
if not set(INDICATORS) <= _NUMERIC:  # a renamed feature must fail at import, not read as missing
    raise ImportError(
        f"end-of-life indicators name unknown feature fields: {sorted(set(INDICATORS) - _NUMERIC)}"
    )

#: Version of :meth:`LifeState.to_dict`'s layout. A stored state of another version is dropped
#: (the device's trend starts again), never read as something it is not.
LIFE_FORMAT: Final = 1
#: Windows after which an old window weighs half in the two trends. The long one gives a slope
#: precise enough to say a slow rise is real (about 2.9 x 48 windows carry weight); the short
#: one follows a rise that steepens within tens of windows. Wear that feeds itself accelerates,
#: and a line fitted over a long memory then lags it and promises time that is not there.
LONG_HALF_LIFE_WINDOWS: Final = 48
SHORT_HALF_LIFE_WINDOWS: Final = 12
#: A rise must be this many standard errors of its slope above flat before anything is
#: estimated (a slope indistinguishable from zero says no degradation is visible), and the
#: short trend must be this many standard errors steeper than the long one to take over
#: (acceleration, not noise).
Z_TREND: Final = 2.0
#: The indicator's current fitted level must be above the healthy level by at least this much
#: (log units: 0.2 is 22 %) and by :data:`LEVEL_SIGMAS` of its healthy spread: a machine that
#: drifts inside its own normal noise is not degrading.
MIN_LOG_RISE: Final = 0.2
LEVEL_SIGMAS: Final = 3.0
#: Healthy windows learned before anything is estimated (or the whole learning period, if it
#: is shorter): the healthy level is the mean of the healthy windows learned so far, so a machine
#: that starts degrading during its learning period still gets an estimate.
MIN_WINDOWS: Final = 24
#: Consecutive windows above the degradation threshold (the healthy level plus the rise above)
#: that mark the onset of wear, and consecutive windows back below it that end it. From the
#: onset a third trend fits the degradation alone: the discounted lines still remember the
#: steady life before it, which flattens their slope for tens of windows after a kink.
ONSET_WINDOWS: Final = 3
OFFSET_WINDOWS: Final = 6
#: The P-F prior's point estimate is this quantile of the remaining life. A late estimate costs
#: more than an early one (a machine that fails before the repair does more harm than a repair
#: a little early; the PHM 2012 challenge scores it so: the score halves every 5 % late but only
#: every 20 % early). Under a loss whose slope is 4 times steeper late than early, the
#: expected-loss-minimising estimate is the 1 / (1 + 4) = 0.2 quantile (the pinball-loss rule).
POINT_PROBABILITY: Final = 0.2
#: The P-F prior's interval: the 1/6 and 5/6 quantiles, a 2-in-3 range (it holds the truth 2
#: times in 3 if the machine is like the ones the prior was fitted on): the "likely" range, as the
#: IPCC's calibrated language names a 66 % one for readers who are not statisticians. Why not
#: 10-90 %: that one is honest too (it held 77-83 % on the FEMTO bearings, leave-one-out) but
#: 3.5-5.6 times as wide as the time left, and no evidence the state observes narrows it honestly
#: (docs/remaining-life.md); a range that wide says little a technician can plan on. The issue
#: the estimate answers asks for the truth inside in at least 60 % of windows. The point below is
#: the planning figure; the interval says how sure it is.
INTERVAL_PROBABILITIES: Final = (1 / 6, 5 / 6)
_H_PER_MS: Final = 1.0 / 3_600_000.0
_S_PER_H: Final = 3600.0


def limit_text(indicator: str, limit: float) -> str:
    """The limit as a technician reads it: ``zone D`` for an ISO C/D boundary on velocity."""
    if indicator == DEFAULT_INDICATOR:
        if limit in {b[2] for b in ZONE_BOUNDARIES_MM_S.values()}:
            return "zone D"
        return f"velocity RMS {limit:g} mm/s"
    return f"{indicator} {limit:g}"


@dataclass(frozen=True, slots=True)
class Trend:
    """Discounted least-squares sums of the log indicator ``y`` against time ``t`` (hours
    relative to the newest window, so older windows have negative t and the sums stay small
    however long the device runs): weight, weight^2, t, t^2, y, t*y, y^2."""

    w: float = 0.0
    w2: float = 0.0
    st: float = 0.0
    stt: float = 0.0
    sy: float = 0.0
    sty: float = 0.0
    syy: float = 0.0

    def add(self, dt_h: float, y: float, discount: float) -> Trend:
        """Move the time origin ``dt_h`` hours on, discount, and add ``y`` at t = 0."""
        k = discount
        st = self.st - dt_h * self.w
        stt = self.stt - 2.0 * dt_h * self.st + dt_h * dt_h * self.w
        sty = self.sty - dt_h * self.sy
        return Trend(
            w=k * self.w + 1.0,
            w2=k * k * self.w2 + 1.0,
            st=k * st,
            stt=k * stt,
            sy=k * self.sy + y,
            sty=k * sty,
            syy=k * self.syy + y * y,
        )

    def as_list(self) -> list[float]:
        return [self.w, self.w2, self.st, self.stt, self.sy, self.sty, self.syy]


@dataclass(frozen=True, slots=True)
class Fit:
    """A trend's line at the newest window: level ``a`` (log units) and slope ``b`` (log units
    per hour), with their standard errors; the windows' scatter about it ``sd`` (log units),
    their weighted mean time ``t_bar`` (hours before the newest window, <= 0) and the standard
    error of the line's level there, ``se_mean`` (independent of the slope's: ``se_a`` is
    ``hypot(se_mean, t_bar * se_b)``)."""

    a: float
    b: float
    se_a: float
    se_b: float
    sd: float
    t_bar: float
    se_mean: float


def fit(trend: Trend) -> Fit | None:
    """The weighted least-squares line of a trend (None with too little spread in time).

    Standard errors use the effective number of windows of the discounted sums (``w^2 / w2``)
    and the weighted mean squared residual, corrected for the two fitted parameters.
    """
    if trend.w <= 0.0:
        return None
    n_eff = trend.w * trend.w / trend.w2
    if n_eff <= 3.0:
        return None
    t_bar, y_bar = trend.st / trend.w, trend.sy / trend.w
    sxx = trend.stt - trend.st * t_bar
    if sxx <= 1e-12 * max(trend.stt, 1.0):
        return None
    sxy = trend.sty - trend.st * y_bar
    syy = trend.syy - trend.sy * y_bar
    b = sxy / sxx
    a = y_bar - b * t_bar
    resid_var = max(syy - b * sxy, 0.0) / trend.w * n_eff / (n_eff - 2.0)
    sxx_eff = sxx * n_eff / trend.w  # weights -> effective windows
    se_mean = math.sqrt(resid_var / n_eff)
    se_b = math.sqrt(resid_var / sxx_eff)
    return Fit(
        a=a,
        b=b,
        se_a=math.hypot(se_mean, t_bar * se_b),
        se_b=se_b,
        sd=math.sqrt(resid_var),
        t_bar=t_bar,
        se_mean=se_mean,
    )


def spacing_h(trend: Trend, discount: float) -> float | None:
    """The hours between windows, read from a trend's discounted sums (no more state): for n
    windows ``dt`` apart, ``w = (1 - k^n) / (1 - k)`` and ``st = -dt * sum(i k^i, i < n)``.
    Irregular windows give their discounted mean spacing, near enough for
    :mod:`rotorwatch.diagnosis.first_passage`, whose answer moves with the log of it."""
    k = discount
    k_n = 1.0 - trend.w * (1.0 - k)
    if k_n <= 1e-12:  # as many windows as the memory holds
        ages = k / (1.0 - k) ** 2
    else:
        n = math.log(k_n) / math.log(k)
        ages = k * (1.0 - n * k_n / k + (n - 1.0) * k_n) / (1.0 - k) ** 2
    if ages <= 1e-9 or trend.st >= 0.0:
        return None
    return -trend.st / ages


@dataclass(frozen=True, slots=True)
class LifeState:
    """What a device remembers of its health indicator (state estimation): its healthy level
    and two trends of its log, a long and a short memory."""

    indicator: str
    limit: float
    #: Healthy level: healthy windows learned, mean and Welford M2 of the log indicator.
    learned: int = 0
    level_mean: float = 0.0
    level_m2: float = 0.0
    long: Trend = Trend()
    short: Trend = Trend()
    #: The degradation since its onset (empty before one), the windows that may start one, and
    #: the current run of windows above (> 0) or below (< 0) the degradation threshold.
    onset: Trend = Trend()
    pending: Trend = Trend()
    run: int = 0
    last_ts_ms: int = -1
    #: When the device's current degradation episode was detected (epoch ms; -1: none): the
    #: start of its sustained non-HEALTHY state, set by :func:`rotorwatch.alerting.fold.fold_window`.
    #: The P-F prior (:mod:`rotorwatch.diagnosis.pf_prior`) counts the time since it.
    onset_ms: int = -1
    #: The last window before that episode (epoch ms; -1: none, or a state stored before this
    #: field): the degradation became detectable after it, so the time since it is the
    #: episode's clock (:func:`clock_s`), one window long at detection rather than zero.
    last_healthy_ms: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": LIFE_FORMAT,
            "indicator": self.indicator,
            "limit": self.limit,
            "learned": self.learned,
            "level": [self.level_mean, self.level_m2],
            "sums": [
                *self.long.as_list(),
                *self.short.as_list(),
                *self.onset.as_list(),
                *self.pending.as_list(),
            ],
            "run": self.run,
            "last_ts_ms": self.last_ts_ms,
            # An optional key: a release before it ignores it, and reads the rest as before.
            "onset_ms": self.onset_ms,
            "last_healthy_ms": self.last_healthy_ms,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LifeState | None:
        """The stored state; None for another format (the trend starts again)."""
        if int(d.get("format", -1)) != LIFE_FORMAT:
            return None
        level = [float(v) for v in d["level"]]
        sums = [float(v) for v in d["sums"]]
        if len(level) != 2 or len(sums) != 28 or not all(map(math.isfinite, level + sums)):
            raise ValueError("life state: wrong shape or non-finite values")
        return cls(
            indicator=str(d["indicator"]),
            limit=float(d["limit"]),
            learned=int(d["learned"]),
            level_mean=level[0],
            level_m2=level[1],
            long=Trend(*sums[:7]),
            short=Trend(*sums[7:14]),
            onset=Trend(*sums[14:21]),
            pending=Trend(*sums[21:]),
            run=int(d["run"]),
            last_ts_ms=int(d["last_ts_ms"]),
            onset_ms=int(d.get("onset_ms", -1)),
            last_healthy_ms=int(d.get("last_healthy_ms", -1)),
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """Remaining life in seconds from the window it was made at, with its interval, and whether
    an alert may quote it: not where it rests on an episode clock too short to say anything
    (:func:`clock_too_short`; the window's row keeps it)."""

    remaining_s: float
    low_s: float
    high_s: float
    quoted: bool = True


_LONG_DISCOUNT: Final = 0.5 ** (1.0 / LONG_HALF_LIFE_WINDOWS)
_SHORT_DISCOUNT: Final = 0.5 ** (1.0 / SHORT_HALF_LIFE_WINDOWS)


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
    dt_h = 0.0 if state.last_ts_ms < 0 else (ts_ms - state.last_ts_ms) * _H_PER_MS
    onset, pending, run = state.onset, state.pending, state.run
    threshold = _degradation_threshold(state, learning_windows)
    above = threshold is not None and y > threshold
    run = (max(run, 0) + 1) if above else (min(run, 0) - 1)
    if onset.w > 0.0:
        onset = Trend() if run <= -OFFSET_WINDOWS else onset.add(dt_h, y, _LONG_DISCOUNT)
    elif above:
        pending = (pending if run > 1 else Trend()).add(dt_h, y, _LONG_DISCOUNT)
        if run >= ONSET_WINDOWS:
            onset, pending = pending, Trend()
    else:
        pending = Trend()
    return replace(
        state,
        learned=learned,
        level_mean=mean,
        level_m2=m2,
        long=state.long.add(dt_h, y, _LONG_DISCOUNT),
        short=state.short.add(dt_h, y, _SHORT_DISCOUNT),
        onset=onset,
        pending=pending,
        run=run,
        last_ts_ms=ts_ms,
    )


def _degradation_threshold(state: LifeState, learning_windows: int) -> float | None:
    """The log level above which the indicator is degraded: the healthy level plus
    :data:`MIN_LOG_RISE` or :data:`LEVEL_SIGMAS` healthy spreads (None before enough healthy
    windows are learned)."""
    if state.learned < min(learning_windows, MIN_WINDOWS):
        return None
    return state.level_mean + max(MIN_LOG_RISE, LEVEL_SIGMAS * healthy_spread(state))


def healthy_spread(state: LifeState) -> float:
    """Standard deviation of the log indicator over the healthy windows learned (0 before 2)."""
    return math.sqrt(state.level_m2 / (state.learned - 1)) if state.learned > 1 else 0.0


def _rising(f: Fit | None) -> bool:
    return f is not None and f.b - Z_TREND * f.se_b > 0.0


def prediction_fit(state: LifeState) -> Fit | None:
    """The trend to extrapolate (prediction): the degradation since its onset when there is one
    and it rises; else the short trend when it is significantly steeper than the long one (the
    degradation accelerates); else the long one (more precise); None when none rises
    distinguishably from flat."""
    onset_fit = fit(state.onset)
    if _rising(onset_fit):
        return onset_fit
    long_fit, short_fit = fit(state.long), fit(state.short)
    if _rising(short_fit) and long_fit is not None:
        assert short_fit is not None
        spread = math.hypot(short_fit.se_b, long_fit.se_b)
        if short_fit.b - long_fit.b > Z_TREND * spread:
            return short_fit
    if _rising(long_fit):
        return long_fit
    return None


def estimate(
    state: LifeState | None, *, learning_windows: int, prior: PfPrior | None = None
) -> Estimate | None:
    """Time to the limit from the newest window, or None while no degradation is visible.

    With a P-F ``prior`` for the state's indicator (:mod:`rotorwatch.diagnosis.pf_prior`), the stage
    decides: nothing before the device's degradation is detected (``onset_ms``), then the
    prior's remaining life given the time survived since detection (:func:`prior_estimate`).
    Without one, the first window over ``log(limit)`` along the chosen trend's line
    (:func:`prediction_fit`), with its scatter and errors
    (:func:`rotorwatch.diagnosis.first_passage.passage_quantiles`), at the same quantiles.
    """
    if state is None:
        return None
    threshold = _degradation_threshold(state, learning_windows)
    if threshold is None:
        return None
    y_limit = math.log(state.limit)
    f = prediction_fit(state)
    level = f or fit(state.short) or fit(state.long)
    if level is not None and level.a >= y_limit:
        return Estimate(0.0, 0.0, 0.0)  # at or past the limit, whatever the trend does now
    if prior is not None and prior.indicator == state.indicator:
        return prior_estimate(state, prior)
    if f is None:
        return None
    # Degradation visible: the chosen line and the recent level (the short trend's, which a
    # step that came and went cannot hold up) are both above the healthy level.
    recent = fit(state.short)
    if f.a < threshold or recent is None or recent.a < threshold:
        return None
    spacing = spacing_h(state.long, _LONG_DISCOUNT)
    if spacing is None:
        return None
    low_h, remaining_h, high_h = passage_quantiles(
        level=f.a,
        slope=f.b,
        se_mean=f.se_mean,
        se_slope=f.se_b,
        t_mean_h=f.t_bar,
        sd=f.sd,
        y_limit=y_limit,
        spacing_h=spacing,
        probabilities=(INTERVAL_PROBABILITIES[0], POINT_PROBABILITY, INTERVAL_PROBABILITIES[1]),
    )
    return Estimate(remaining_h * _S_PER_H, low_h * _S_PER_H, high_h * _S_PER_H)


def rate_to_limit(state: LifeState | None) -> tuple[float, float] | None:
    """The time (s) until the indicator reaches the limit at its recent rate, and the spread of
    that time's log from the fit's own standard errors: ``(seconds, sd_ln)``; None while the
    short trend does not rise. Any rise counts, not only one :data:`Z_TREND` errors above flat:
    the rate does not decide that there is degradation (the alert state did), it weighs how long
    is left, and a slope near its own error carries a spread of ``se_b / b`` >= 1 in the log, so
    it moves the prior little (``make eval-life`` measured both: requiring the rise to be
    significant left the intervals 2-11 times wider).

    The short trend (half-life :data:`SHORT_HALF_LIFE_WINDOWS`) is the machine's current rate:
    wear that feeds itself accelerates, so the most recent rate is the least stale. The spread
    is the first-order (delta-method) error of ``ln((y_limit - a) / b)``.
    """
    if state is None:
        return None
    f = fit(state.short)
    if f is None or not f.b > 0.0:
        return None
    gap = math.log(state.limit) - f.a
    if gap <= 0.0:
        return 0.0, 0.0
    return gap / f.b * _S_PER_H, math.hypot(f.se_a / gap, f.se_b / f.b)


def clock_s(state: LifeState) -> float | None:
    """Seconds since the last healthy window before the current episode (None outside one).
    A state stored before :attr:`LifeState.last_healthy_ms` existed counts from the episode's
    start (None at its first window: a clock that reads zero says nothing)."""
    if state.onset_ms < 0 or state.last_ts_ms < state.onset_ms:
        return None
    start_ms = state.last_healthy_ms if 0 <= state.last_healthy_ms <= state.onset_ms else -1
    clock = (state.last_ts_ms - (state.onset_ms if start_ms < 0 else start_ms)) / 1000.0
    return clock if clock > 0.0 else None


def clock_too_short(state: LifeState, prior: PfPrior | None) -> bool:
    """Whether this window's P-F estimate would rest on an episode clock shorter than
    :data:`ONSET_WINDOWS` windows: the rate alone reads it where the prior has its calibration
    (``early_bias_ln``), and otherwise an alert does not quote it (:attr:`Estimate.quoted`).

    A prior calibrated on the clock (``clock_weight``, ``clock_bias_ln``) scales its estimate
    with the time since the last healthy window, and at an episode's first windows that time is
    the window spacing, not the machine's: the calibration averages over whole episodes, where
    early windows have many clocks left and late ones less than one, so an episode's first
    windows read far short. Measured on the FEMTO bearings (``make eval-life``, leave-one-out):
    the clocked range a WARNING alert carried held the true time left for 2 of 20 alerts, all
    at the episode's first window; the rate alone, calibrated on its own, 14 of 20. A prior
    without a clock (its survival given the time since detection) is whole from the first
    window and is quoted."""
    if prior is None or prior.indicator != state.indicator:
        return False
    if prior.clock_weight is None and prior.clock_bias_ln is None:
        return False
    clock = clock_s(state)
    spacing = spacing_h(state.short, _SHORT_DISCOUNT)
    if clock is None or spacing is None:
        return False
    # Half a window short of the count: irregular spacing reads as the windows it holds.
    return clock < (ONSET_WINDOWS - 0.5) * spacing * _S_PER_H


def prior_estimate(state: LifeState, prior: PfPrior) -> Estimate | None:
    """The P-F prior's remaining life after the time survived since detection (None before
    any): the point at :data:`POINT_PROBABILITY`, the interval between
    :data:`INTERVAL_PROBABILITIES`.

    Alone, the prior's interval is as wide as the machines before it differed (a heavy-tailed t
    with few intervals seen). When the prior carries its machines' rate calibration
    (``rate_bias_ln``, ``rate_sd_ln``) and this machine's indicator rises, the machine's own
    at-this-rate time (:func:`rate_to_limit`), corrected by the calibration's bias, is the
    centre of the remaining life's log, its spread the calibration's and the fit's together, a
    Student t over the calibration's machines (:func:`rotorwatch.diagnosis.pf_prior.calibrated`):
    the calibration was fitted on the prior's machines, so it replaces the prior rather than
    multiply into it (which counted them, and the time survived, twice). A prior with a clock
    weight blends the rate with the episode's clock (:func:`evidence_of`), and while the
    indicator does not rise takes the clock alone as the evidence (its own calibration,
    ``clock_bias_ln``/``clock_sd_ln``)."""
    if state.onset_ms < 0 or state.last_ts_ms < state.onset_ms:
        return None
    elapsed_s = (state.last_ts_ms - state.onset_ms) / 1000.0
    probabilities = (INTERVAL_PROBABILITIES[0], POINT_PROBABILITY, INTERVAL_PROBABILITIES[1])
    rate = rate_to_limit(state)
    # An episode's first windows: the clock is the window spacing. The rate alone, with its own
    # calibration, is the evidence that scales with the machine; without a rise or that
    # calibration the estimate below stays the window's, but no alert quotes it.
    young = clock_too_short(state, prior)
    if (
        young
        and prior.early_bias_ln is not None
        and prior.early_sd_ln is not None
        and rate is not None
        and rate[0] > 0
    ):
        low, point, high = calibrated(
            math.log(rate[0]) + prior.early_bias_ln,
            math.hypot(prior.early_sd_ln, rate[1]),
            prior.df if prior.early_df is None else prior.early_df,
            probabilities,
        )
        return Estimate(point, low, high)
    evidence = None if rate is None or rate[0] <= 0 else evidence_of(state, prior, *rate)
    clock = clock_s(state)
    if evidence is None and rate is None and prior.clock_bias_ln is not None and clock is not None:
        # No rise to extrapolate: the time already spent degraded is the evidence left.
        assert prior.clock_sd_ln is not None
        q = prior.still_prior_weight or 0.0
        median = prior_median_s(prior, clock) if q else 1.0
        low, point, high = calibrated(
            still_ln_s(clock, median, q) + prior.clock_bias_ln,
            prior.clock_sd_ln,
            prior.df if prior.clock_df is None else prior.clock_df,
            probabilities,
        )
    elif prior.rate_bias_ln is None or prior.rate_sd_ln is None or evidence is None:
        low, point, high = remaining(prior, elapsed_s, probabilities)
    else:
        low, point, high = calibrated(
            evidence[0] + prior.rate_bias_ln,
            math.hypot(prior.rate_sd_ln, evidence[1]),
            prior.df if prior.rate_df is None else prior.rate_df,
            probabilities,
        )
    return Estimate(point, low, high, quoted=not young)


def evidence_of(
    state: LifeState, prior: PfPrior, rate_s: float, rate_sd_ln: float
) -> tuple[float, float] | None:
    """The log evidence time the prior's calibration is of, and its spread from the fit: the
    at-this-rate time alone, or with the prior's clock weight ``w`` the geometric blend with the
    episode's clock (:func:`rotorwatch.diagnosis.pf_prior.evidence_ln_s`; the clock is exact, so
    only the rate's share ``1 - w`` of the fit's spread remains). None when the clock is
    unknown (the prior alone decides)."""
    w = prior.clock_weight
    if w is None:
        return math.log(rate_s), rate_sd_ln
    clock = clock_s(state)
    if clock is None:
        return None
    p = prior.prior_weight or 0.0
    median = prior_median_s(prior, clock) if p else 1.0
    return evidence_ln_s(rate_s, clock, w, median, p), (1.0 - w - p) * rate_sd_ln


def indicator_value(record: Mapping[str, Any], indicator: str) -> float | None:
    """The indicator's value in a feature record (None when missing, not a number or not
    finite; JSON true/false is not a number)."""
    value = record.get(indicator)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


#: The units a time left is written in, in seconds (:func:`interval_text`).
UNIT_S: Final = {"min": 60.0, "h": 3600.0, "days": 86400.0}


def _unit(remaining_s: float) -> tuple[str, float]:
    """The unit that reads best for a time left: minutes under 2 h, hours under 2 days."""
    if remaining_s < 2 * UNIT_S["h"]:
        return "min", UNIT_S["min"]
    if remaining_s < 2 * UNIT_S["days"]:
        return "h", UNIT_S["h"]
    return "days", UNIT_S["days"]


def _rounded(remaining_s: float, div: float) -> str | None:
    """The point in whole units; None under half a unit ("about 0 min" would say the machine is
    at its limit, which is what "reached" says)."""
    return f"{remaining_s / div:.0f}" if round(remaining_s / div) >= 1 else None


def interval_text(remaining_s: float, low_s: float, high_s: float) -> str:
    """``about 12 days (8-20 days)``: the unit of the point estimate for all three; ``under 1
    min`` for a point under half a minute."""
    unit, div = _unit(remaining_s)
    point = _rounded(remaining_s, div)
    return (
        f"{'under 1' if point is None else 'about ' + point} {unit} "
        f"({low_s / div:.0f}-{high_s / div:.0f} {unit})"
    )


def interval_sms(remaining_s: float, low_s: float, high_s: float) -> str:
    """``~12days (8-20)``: :func:`interval_text` for an SMS, where every character counts
    (``<1min (0-2)`` under half a minute)."""
    unit, div = _unit(remaining_s)
    point = _rounded(remaining_s, div)
    return f"{'<1' if point is None else '~' + point}{unit} ({low_s / div:.0f}-{high_s / div:.0f})"
