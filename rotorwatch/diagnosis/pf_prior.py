"""How long a machine lasts once its degradation shows: a P-F interval prior.

Reliability engineering calls the time from the moment a failure becomes detectable (P, the
potential failure) to the moment the machine fails (F) the P-F interval. Most bearings run to
failure on a test rig do not wear along a trend an extrapolation could follow: a spall forms,
the vibration steps up, and the run ends minutes later (``make eval-life``). For such a failure
the honest answer to "how long do I have" once degradation is detected is the spread of P-F
intervals seen on machines like it, conditioned on the machine having survived since its own
detection: the hazard, not a line.

:class:`PfPrior` holds a few observed P-F intervals' log-normal fit; :func:`remaining` gives the
remaining life's quantiles after ``elapsed_s`` since detection. With a handful of observed
intervals the mean and the spread of their logs are themselves uncertain, so the quantiles are
the Bayesian posterior predictive under a flat prior on both: a Student t with ``n - 1``
degrees of freedom and scale ``s * sqrt(1 + 1/n)``, wider than a plug-in normal, with heavy
tails (a machine that has already outlived most P-F intervals is not told it fails now).

Pure Python floats (the serving subset runs on Python 3.10, no scipy): the t distribution's
tail in closed form for integer degrees of freedom, its inverse by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

#: Version of :meth:`PfPrior.to_dict`'s layout (``rotorwatch replay --life-prior FILE``).
PRIOR_FORMAT: Final = 1
#: Fewest observed intervals a prior may be fitted from: with two, the spread of the logs has
#: one degree of freedom (a Cauchy predictive: honest, and very wide).
MIN_INTERVALS: Final = 2
#: Largest |t| the inverse searches (beyond it the tail probability is below ~1e-12 for the
#: degrees of freedom used here; the answer is clamped there, never an overflow).
_T_MAX: Final = 1e6


@dataclass(frozen=True, slots=True)
class PfPrior:
    """Log-normal fit of observed P-F intervals (seconds) for one end-of-life indicator:
    ``mu`` and ``s`` are the mean and sample standard deviation of the intervals' natural log,
    ``n`` how many there were, ``source`` where they came from (read by people)."""

    indicator: str
    mu_ln_s: float
    sd_ln: float
    n: int
    source: str = ""
    #: How the machine's own "at this rate" time to the limit (the recent trend of its log
    #: indicator extrapolated, :func:`rotorwatch.diagnosis.life.rate_to_limit`) relates to
    #: the time it really had left, on the machines the prior came from: the mean and the spread
    #: of ``ln(true / at-this-rate)`` after detection (:func:`fit_rate_calibration`). None: not
    #: fitted, the prior alone decides. Optional keys: a release before them reads the prior
    #: without them.
    rate_bias_ln: float | None = None
    rate_sd_ln: float | None = None
    #: When set, the calibration above is not of the at-this-rate time alone but of the
    #: evidence time ``rate^(1 - w) * clock^w`` (:func:`evidence_ln_s`), the clock being the time
    #: since the machine's last healthy window (:func:`fit_clock_weight` chooses ``w``). None:
    #: the rate alone (``w = 0``), as before the clock existed.
    clock_weight: float | None = None
    #: The calibration of the clock alone, ``ln(true / clock)`` after detection
    #: (:func:`fit_clock_calibration`): the evidence while the machine's indicator does not
    #: rise (no rate). None: the prior alone then.
    clock_bias_ln: float | None = None
    clock_sd_ln: float | None = None
    #: Degrees of freedom of each calibration's Student t (:func:`calibration_df`): their bias
    #: and spread are estimates from a handful of machines, so a new machine's log time left is
    #: a t about the calibrated evidence (:func:`calibrated`), as the prior's own predictive is
    #: a t over its intervals. None (a prior written before them): the prior's ``n - 1``, the
    #: fewest a calibration over its machines can have. Optional keys: a release before them
    #: ignores them.
    rate_df: int | None = None
    clock_df: int | None = None
    #: The prior's own share in each evidence time: the rate blend's
    #: (``rate^(1 - w - p) * clock^w * median^p``) and the clock's while the indicator does not
    #: rise (``clock^(1 - q) * median^q``), the median being the prior's median time left given
    #: the clock survived (:func:`prior_median_s`). The prior counts once, inside the calibrated
    #: evidence, not again beside it. None: no share (as before they existed). A calibration
    #: with a share is written under other keys (``blended_*``, ``still_*``), so a release
    #: before them uses the prior alone rather than read it as one without.
    prior_weight: float | None = None
    still_prior_weight: float | None = None
    #: The calibration of the at-this-rate time alone (:func:`fit_rate_calibration`) beside a
    #: clocked one: the evidence for an episode's first windows, where the clock is the window
    #: spacing rather than the machine's time (:func:`rotorwatch.diagnosis.life.clock_too_short`).
    #: None: no estimate is quoted there. Optional keys (``early_*``): a release before them
    #: ignores them.
    early_bias_ln: float | None = None
    early_sd_ln: float | None = None
    early_df: int | None = None

    @property
    def df(self) -> int:
        return self.n - 1

    @property
    def scale_ln(self) -> float:
        """Scale of the posterior predictive t of the log interval."""
        return self.sd_ln * math.sqrt(1.0 + 1.0 / self.n)

    def with_rate(
        self,
        bias_ln: float,
        sd_ln: float,
        clock_weight: float | None = None,
        df: int | None = None,
        prior_weight: float | None = None,
    ) -> PfPrior:
        """The prior with its machines' rate calibration (:func:`fit_rate_calibration`), of the
        rate alone or, with ``clock_weight``, of the evidence time (:func:`fit_clock_weight`),
        with its t's degrees of freedom (:func:`calibration_df`; None: the prior's ``n - 1``)."""
        if not (math.isfinite(bias_ln) and math.isfinite(sd_ln) and sd_ln > 0):
            raise ValueError("rate calibration: needs a finite bias and a spread > 0")
        if clock_weight is not None and not 0.0 <= clock_weight <= 1.0:
            raise ValueError("rate calibration: the clock's weight must be in [0, 1]")
        if prior_weight is not None and not (
            clock_weight is not None and 0.0 <= prior_weight <= 1.0 - clock_weight + 1e-9
        ):
            raise ValueError("rate calibration: the prior's weight needs a clock weight, sum <= 1")
        return replace(
            self,
            rate_bias_ln=bias_ln,
            rate_sd_ln=sd_ln,
            clock_weight=clock_weight,
            rate_df=_checked_df(df),
            prior_weight=prior_weight or None,
        )

    def with_clock(
        self, bias_ln: float, sd_ln: float, df: int | None = None, prior_weight: float | None = None
    ) -> PfPrior:
        """The prior with its machines' calibration of the clock alone
        (:func:`fit_clock_calibration`), or of the clock blended with the prior's median
        (``prior_weight``), and its t's degrees of freedom (as :meth:`with_rate`)."""
        if not (math.isfinite(bias_ln) and math.isfinite(sd_ln) and sd_ln > 0):
            raise ValueError("clock calibration: needs a finite bias and a spread > 0")
        if prior_weight is not None and not 0.0 <= prior_weight <= 1.0:
            raise ValueError("clock calibration: the prior's weight must be in [0, 1]")
        return replace(
            self,
            clock_bias_ln=bias_ln,
            clock_sd_ln=sd_ln,
            clock_df=_checked_df(df),
            still_prior_weight=prior_weight or None,
        )

    def with_early(self, bias_ln: float, sd_ln: float, df: int | None = None) -> PfPrior:
        """The prior with its machines' calibration of the at-this-rate time alone for an
        episode's first windows (see :attr:`early_bias_ln`)."""
        if not (math.isfinite(bias_ln) and math.isfinite(sd_ln) and sd_ln > 0):
            raise ValueError("early calibration: needs a finite bias and a spread > 0")
        return replace(self, early_bias_ln=bias_ln, early_sd_ln=sd_ln, early_df=_checked_df(df))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": PRIOR_FORMAT,
            "indicator": self.indicator,
            "mu_ln_s": self.mu_ln_s,
            "sd_ln": self.sd_ln,
            "n": self.n,
            "source": self.source,
        }
        if self.rate_bias_ln is not None and self.rate_sd_ln is not None:
            if self.clock_weight is None:
                out |= _calibration_keys("rate", self.rate_bias_ln, self.rate_sd_ln, self.rate_df)
            else:
                # Other keys, not rate_*: a release before the clock would read a calibration
                # of the evidence time as one of the rate alone (biased by the clock's share);
                # without keys it knows, it uses the prior alone, its documented fallback. The
                # same again for a blend with the prior's share (blended_*).
                name = "clocked" if self.prior_weight is None else "blended"
                out["clock_weight"] = self.clock_weight
                if self.prior_weight is not None:
                    out["prior_weight"] = self.prior_weight
                out |= _calibration_keys(name, self.rate_bias_ln, self.rate_sd_ln, self.rate_df)
        if self.clock_bias_ln is not None and self.clock_sd_ln is not None:
            name = "clock" if self.still_prior_weight is None else "still"
            if self.still_prior_weight is not None:
                out["still_prior_weight"] = self.still_prior_weight
            out |= _calibration_keys(name, self.clock_bias_ln, self.clock_sd_ln, self.clock_df)
        if self.early_bias_ln is not None and self.early_sd_ln is not None:
            out |= _calibration_keys("early", self.early_bias_ln, self.early_sd_ln, self.early_df)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PfPrior:
        """A prior as :meth:`to_dict` wrote it; ValueError on another format or bad values."""
        if d.get("format") != PRIOR_FORMAT:
            raise ValueError(f"P-F prior: format {d.get('format')!r}, expected {PRIOR_FORMAT}")
        prior = cls(
            indicator=str(d["indicator"]),
            mu_ln_s=float(d["mu_ln_s"]),
            sd_ln=float(d["sd_ln"]),
            n=int(d["n"]),
            source=str(d.get("source", "")),
        )
        if prior.n < MIN_INTERVALS or not (
            math.isfinite(prior.mu_ln_s) and math.isfinite(prior.sd_ln) and prior.sd_ln > 0
        ):
            raise ValueError(
                f"P-F prior for {prior.indicator}: needs n >= {MIN_INTERVALS} and sd > 0"
            )
        if "prior_weight" in d or "blended_bias_ln" in d or "blended_sd_ln" in d:
            bias, sd, df = _calibration_of(d, "blended")
            prior = prior.with_rate(
                bias, sd, float(d["clock_weight"]), df, float(d["prior_weight"])
            )
        elif "clock_weight" in d or "clocked_bias_ln" in d or "clocked_sd_ln" in d:
            bias, sd, df = _calibration_of(d, "clocked")
            prior = prior.with_rate(bias, sd, float(d["clock_weight"]), df)
        elif "rate_bias_ln" in d or "rate_sd_ln" in d:
            bias, sd, df = _calibration_of(d, "rate")
            prior = prior.with_rate(bias, sd, df=df)
        if "still_prior_weight" in d or "still_bias_ln" in d or "still_sd_ln" in d:
            bias, sd, df = _calibration_of(d, "still")
            prior = prior.with_clock(bias, sd, df, float(d["still_prior_weight"]))
        elif "clock_bias_ln" in d or "clock_sd_ln" in d:
            prior = prior.with_clock(*_calibration_of(d, "clock"))
        if "early_bias_ln" in d or "early_sd_ln" in d:
            prior = prior.with_early(*_calibration_of(d, "early"))
        return prior


def _calibration_keys(name: str, bias_ln: float, sd_ln: float, df: int | None) -> dict[str, Any]:
    """A calibration's keys in a prior file: ``<name>_bias_ln``, ``<name>_sd_ln`` and, when
    known, ``<name>_df``."""
    keys: dict[str, Any] = {f"{name}_bias_ln": bias_ln, f"{name}_sd_ln": sd_ln}
    if df is not None:
        keys[f"{name}_df"] = df
    return keys


def _calibration_of(d: Mapping[str, Any], name: str) -> tuple[float, float, int | None]:
    """The calibration :func:`_calibration_keys` wrote under ``name``: (bias, sd, df or None)."""
    return float(d[f"{name}_bias_ln"]), float(d[f"{name}_sd_ln"]), _optional_df(d, f"{name}_df")


def _checked_df(df: int | None) -> int | None:
    if df is not None and (isinstance(df, bool) or not isinstance(df, int) or df < 1):
        raise ValueError(f"calibration: degrees of freedom must be an integer >= 1, got {df!r}")
    return df


def _optional_df(d: Mapping[str, Any], key: str) -> int | None:
    return None if d.get(key) is None else _checked_df(d[key])


def fit(indicator: str, intervals_s: Sequence[float], source: str) -> PfPrior:
    """The prior of observed P-F intervals (each > 0 s); ValueError with fewer than
    :data:`MIN_INTERVALS` or all equal (no spread to learn from)."""
    if len(intervals_s) < MIN_INTERVALS or not all(v > 0 for v in intervals_s):
        raise ValueError(f"a P-F prior needs {MIN_INTERVALS}+ positive intervals")
    logs = [math.log(v) for v in intervals_s]
    n = len(logs)
    mu = sum(logs) / n
    sd = math.sqrt(sum((y - mu) ** 2 for y in logs) / (n - 1))
    if not sd > 0:
        raise ValueError("P-F intervals all equal: no spread to learn from")
    return PfPrior(indicator=indicator, mu_ln_s=mu, sd_ln=sd, n=n, source=source)


def t_sf(t: float, df: int) -> float:
    """P(T > t) for Student's t with integer ``df`` >= 1 (closed form: Abramowitz and Stegun
    26.7.3-4, the finite series in cos(theta), theta = atan(t / sqrt(df)))."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if t < 0:
        return 1.0 - t_sf(-t, df)
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        series, term = 0.0, 1.0
        for k in range(1, (df - 1) // 2 + 1):  # 1 + 2/3 c^2 + 2*4/(3*5) c^4 ... (times c)
            series += term
            term *= c2 * (2 * k) / (2 * k + 1)
        a = (
            (2.0 / math.pi) * (theta + s * math.cos(theta) * series)
            if df > 1
            else 2 * theta / math.pi
        )
    else:
        series, term = 0.0, 1.0
        for k in range(1, df // 2 + 1):  # 1 + 1/2 c^2 + 1*3/(2*4) c^4 ...
            series += term
            term *= c2 * (2 * k - 1) / (2 * k)
        a = s * series
    return max(0.0, (1.0 - a) / 2.0)  # a = P(|T| < t)


def t_isf(p: float, df: int) -> float:
    """The t with P(T > t) = p (0 < p < 1), by bisection on :func:`t_sf` (monotone)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    lo, hi = -_T_MAX, _T_MAX
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_sf(mid, df) > p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-9 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def remaining(prior: PfPrior, elapsed_s: float, probabilities: Sequence[float]) -> list[float]:
    """Quantiles (seconds) of the remaining life ``D - elapsed`` given ``D > elapsed``, for
    each probability in ``probabilities`` (each in (0, 1)).

    With survival S of the log interval's predictive t, the p-quantile of D given D > e is
    ``S^-1(S(ln e) * (1 - p))``. Where S(ln e) underflows (far beyond every interval seen), the
    tail is clamped rather than read as zero time left.
    """
    scale, df = prior.scale_ln, prior.df
    s_elapsed = 1.0
    if elapsed_s > 0:
        s_elapsed = t_sf((math.log(elapsed_s) - prior.mu_ln_s) / scale, df)
    s_elapsed = max(s_elapsed, 1e-12)
    out = []
    for p in probabilities:
        q = min(max(s_elapsed * (1.0 - p), 1e-15), 1.0 - 1e-15)
        log_d = prior.mu_ln_s + scale * t_isf(q, df)
        out.append(max(math.exp(min(log_d, 700.0)) - max(elapsed_s, 0.0), 0.0))
    return out


def rate_summary(log_ratios: Sequence[float]) -> tuple[float, float]:
    """One machine's windows of ``ln(true time left / at-this-rate time)`` after detection, as
    :func:`fit_rate_calibration` uses them: their median and their variance (ValueError when
    empty)."""
    if not log_ratios:
        raise ValueError("a rate summary needs at least one window")
    values = sorted(log_ratios)
    mean = sum(values) / len(values)
    return _median(values), sum((v - mean) ** 2 for v in values) / len(values)


def fit_rate_calibration(summaries: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The bias and spread of ``ln(true time left / at-this-rate time)`` over machines, each
    given by its :func:`rate_summary`: ``(bias, sd)`` for :meth:`PfPrior.with_rate`.

    Windows of one machine are strongly correlated (the same trend seen a window later), so
    each machine counts once: the bias is the mean of the machines' medians, and the spread
    adds the machines' scatter about it (times ``1 + 1/k`` for a mean of ``k``, as for the
    prior's own predictive) to the mean within-machine variance. ValueError with fewer than
    :data:`MIN_INTERVALS` machines.
    """
    bias, between, within = _calibration_parts(summaries)
    return bias, math.sqrt(between + within)


def _calibration_parts(summaries: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """The bias, the machines' scatter (times ``1 + 1/k``) and the mean within-machine variance
    of :func:`fit_rate_calibration` (ValueError with too few machines or no spread)."""
    k = len(summaries)
    if k < MIN_INTERVALS:
        raise ValueError(f"a rate calibration needs {MIN_INTERVALS}+ machines")
    medians = [m for m, _ in summaries]
    bias = sum(medians) / k
    between = sum((m - bias) ** 2 for m in medians) / (k - 1) * (1.0 + 1.0 / k)
    within = sum(v for _, v in summaries) / k
    if not between + within > 0:
        raise ValueError("rate calibration: no spread to learn from")
    return bias, between, within


def calibration_df(summaries: Sequence[tuple[float, float]]) -> int:
    """Degrees of freedom of the Student t a calibration's predictive is
    (:func:`fit_rate_calibration`, same summaries): its variance is the sum of the machines'
    scatter and their mean within-machine variance, each estimated from the same ``k``
    machines (``k - 1`` degrees of freedom each), so the sum's are Welch-Satterthwaite's,
    ``(k - 1) * (B + W)^2 / (B^2 + W^2)``: ``k - 1`` when one part dominates, up to
    ``2 (k - 1)`` when they are equal. Rounded down (the wider t, never the narrower).
    ValueError with fewer than :data:`MIN_INTERVALS` machines."""
    _, between, within = _calibration_parts(summaries)
    k = len(summaries)
    return max(1, math.floor((k - 1) * (between + within) ** 2 / (between**2 + within**2) + 1e-9))


#: The clock weights :func:`fit_clock_weight` chooses from (a tenth apart: finer steps would
#: follow the noise of a handful of machines, not their physics).
CLOCK_WEIGHTS: Final = tuple(k / 10 for k in range(11))
#: The weights kept unless the machines tell others apart (:func:`_least_spread`): the rate and
#: the clock alike and the prior's median none (weights estimated on a few cases rarely beat an
#: equal combination of forecasts: the "forecast combination puzzle", Smith and Wallis 2009);
#: while the indicator does not rise, the clock alone.
DEFAULT_BLEND: Final = (0.5, 0.0)
DEFAULT_STILL: Final = (0.0,)


def evidence_ln_s(
    rate_s: float,
    clock_s: float,
    clock_weight: float,
    median_s: float = 1.0,
    prior_weight: float = 0.0,
) -> float:
    """The log of the evidence time ``rate^(1 - w - p) * clock^w * median^p`` (each > 0 s): the
    machine's at-this-rate time to the limit, the time since its last healthy window and (with
    ``prior_weight`` p) the prior's median time left given that survival
    (:func:`prior_median_s`), weighted geometrically. Weights that sum to one keep the evidence
    a time: in other units (minutes, days) it is the same time in those units, so its
    calibration does not depend on them."""
    ln = (1.0 - clock_weight - prior_weight) * math.log(rate_s) + clock_weight * math.log(clock_s)
    return ln + prior_weight * math.log(median_s) if prior_weight else ln


def still_ln_s(clock_s: float, median_s: float = 1.0, prior_weight: float = 0.0) -> float:
    """The log of the evidence time while the indicator does not rise, ``clock^(1 - q) *
    median^q`` (:func:`evidence_ln_s` without a rate)."""
    ln = (1.0 - prior_weight) * math.log(clock_s)
    return ln + prior_weight * math.log(median_s) if prior_weight else math.log(clock_s)


def prior_median_s(prior: PfPrior, survived_s: float) -> float:
    """The prior's median time left (s) given survival of ``survived_s``: its own prediction,
    a third evidence beside the rate and the clock (never below a millisecond: a log)."""
    return max(remaining(prior, survived_s, (0.5,))[0], 1e-3)


def fit_clock_weight(
    machines: Sequence[Sequence[tuple[float, float, float]]],
) -> tuple[float, float, float]:
    """The clock's weight and the calibration of the evidence time on the machines the prior
    came from: ``(w, bias, sd)`` for :meth:`PfPrior.with_rate`.

    Each machine gives its windows after detection as ``(true time left, at-this-rate time,
    time since its last healthy window)`` (seconds, each > 0). A wear rate alone misses a
    failure that comes as a step; the time a machine has already spent degraded is the
    P-F interval's own clock: a machine that has lasted hours since detection is one whose
    failure is slow, one detected a minute ago is not known to be. Neither alone is
    proportional to the time left; of the weights in :data:`CLOCK_WEIGHTS` whose evidence has a
    calibrated spread (:func:`fit_rate_calibration`, each machine counted once) within one
    standard error of the smallest, the one nearest :data:`DEFAULT_BLEND`'s is chosen
    (:func:`_least_spread`). ValueError with fewer than :data:`MIN_INTERVALS` machines with
    windows.
    """
    w, _p, bias, sd = fit_blend(
        [[(t, r, c, 1.0) for t, r, c in m] for m in machines], prior_weights=(0.0,)
    )
    return w, bias, sd


def _least_spread(
    machines: Sequence[Sequence[tuple[float, ...]]],
    candidates: Iterable[tuple[float, ...]],
    log_evidence: Callable[[tuple[float, ...], tuple[float, ...]], float],
    default: tuple[float, ...],
) -> tuple[tuple[float, ...], float, float]:
    """Of the ``candidates`` (weights) whose evidence (``log_evidence(window, weights)``, each
    window starting with its true time left) has a calibrated spread (each machine counted
    once, :func:`fit_rate_calibration`) within one standard error of the smallest, the one
    nearest ``default`` (then the smaller spread, then the first): ``(weights, bias, sd)``.

    The one-standard-error rule (Hastie, Tibshirani and Friedman, The Elements of Statistical
    Learning, section 7.10): a spread estimated from k machines is uncertain by about
    ``sd / sqrt(2 (k - 1))``, a third of itself for five. Weights whose spreads differ by less
    are not told apart by those machines, and the least of them follows their noise: on the
    FEMTO bearings, leave-one-out, the clock's weight jumped from 0.6 to 0.1 on a spread
    landscape flat within 0.07 when one bearing's detection came six minutes earlier. Machines
    that do tell the weights apart (many of them, or alike) get the fitted weights."""
    fitted: list[tuple[tuple[float, ...], float, float]] = []
    for weights in candidates:
        summaries = [
            rate_summary([math.log(x[0]) - log_evidence(x, weights) for x in m]) for m in machines
        ]
        bias, sd = fit_rate_calibration(summaries)
        fitted.append((weights, bias, sd))
    least = min(sd for _, _, sd in fitted)
    within = least * (1.0 + 1.0 / math.sqrt(2.0 * (len(machines) - 1))) + 1e-12
    return min(
        (f for f in fitted if f[2] <= within),
        key=lambda f: (sum(abs(a - b) for a, b in zip(f[0], default, strict=True)), f[2]),
    )


def fit_clock_calibration(
    machines: Sequence[Sequence[tuple[float, float]]],
) -> tuple[float, float]:
    """The bias and spread of ``ln(true time left / clock)`` on the machines the prior came
    from, each giving its windows after detection as ``(true time left, clock)`` (seconds, > 0;
    the clock as in :func:`fit_clock_weight`), each machine counted once
    (:func:`fit_rate_calibration`): ``(bias, sd)`` for :meth:`PfPrior.with_clock`.

    A machine seen at any moment of its P-F interval has, in its median window, as long left
    as it has already spent (the window halfway through), so the bias is near zero whatever
    the machines; the spread says how far from halfway the windows are (a log-logistic of
    scale 1, spread 1.8, if the moment is uniform over the interval)."""
    _q, bias, sd = fit_still([[(t, c, 1.0) for t, c in m] for m in machines], (0.0,))
    return bias, sd


def with_clock_fitted(
    prior: PfPrior,
    machines: Sequence[Sequence[tuple[float, float | None, float]]],
    intervals_s: Sequence[float] | None = None,
) -> PfPrior:
    """``prior`` with the clock's weight, the evidence time's calibration
    (:func:`fit_clock_weight`, on the windows with a rate) and the clock's own
    (:func:`fit_clock_calibration`, on all of them), fitted on its machines' windows after
    detection as ``(true time left, at-this-rate time or None, clock)`` in seconds.

    With each machine's P-F interval (``intervals_s``, in the order of ``machines``) the
    prior's own median time left (:func:`prior_median_s`) joins both evidences with a weight
    fitted the same way (:func:`fit_blend`). Each machine's median comes from the prior of the
    *other* machines' intervals (cross-fitted): the prior fitted on its own interval would
    know its answer, and the calibration would trust the prior more than a new machine can.
    """
    full = _cross_fitted(prior, machines, intervals_s)
    # Without intervals to leave one out, the rate and the clock alone: the prior's weight 0.
    weights = CLOCK_WEIGHTS if full is not None else (0.0,)
    if full is None:
        full = [[(t, r, c, 1.0) for t, r, c in m] for m in machines]
    rated = [[(t, r, c, md) for t, r, c, md in m if r is not None and r > 0] for m in full]
    w, p, bias, sd = fit_blend(rated, prior_weights=weights)
    q, still_bias, still_sd = fit_still([[(t, c, md) for t, _, c, md in m] for m in full], weights)
    blended, still = _summaries(full, w, p, q)
    return prior.with_rate(
        bias, sd, clock_weight=w, df=calibration_df(blended), prior_weight=p
    ).with_clock(still_bias, still_sd, df=calibration_df(still), prior_weight=q)


def fitted_summaries(
    prior: PfPrior,
    machines: Sequence[Sequence[tuple[float, float | None, float]]],
    intervals_s: Sequence[float],
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Per machine with windows, the :func:`rate_summary` of its evidence's log errors under
    ``prior``'s fitted weights (as :func:`with_clock_fitted` fitted them from the same
    ``machines`` and ``intervals_s``): the rate blend's (windows with a rate) and the no-rise
    evidence's (all windows). What the calibrations are the re-fit of."""
    full = _cross_fitted(prior, machines, intervals_s)
    if full is None:
        full = [[(t, r, c, 1.0) for t, r, c in m] for m in machines]
    return _summaries(
        full,
        prior.clock_weight or 0.0,
        prior.prior_weight or 0.0,
        prior.still_prior_weight or 0.0,
    )


def _summaries(
    full: Sequence[Sequence[tuple[float, float | None, float, float]]], w: float, p: float, q: float
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    rated = [[(t, r, c, md) for t, r, c, md in m if r is not None and r > 0] for m in full]
    blended = [
        rate_summary([math.log(t) - evidence_ln_s(r, c, w, md, p) for t, r, c, md in m])
        for m in rated
        if m
    ]
    still = [
        rate_summary([math.log(t) - still_ln_s(c, md, q) for t, _, c, md in m]) for m in full if m
    ]
    return blended, still


def _cross_fitted(
    prior: PfPrior,
    machines: Sequence[Sequence[tuple[float, float | None, float]]],
    intervals_s: Sequence[float] | None,
) -> list[list[tuple[float, float | None, float, float]]] | None:
    """The windows with each machine's prior median from the other machines' intervals; None
    without intervals or with too few to leave one out."""
    if intervals_s is None:
        return None
    if len(intervals_s) != len(machines):
        raise ValueError("with_clock_fitted: one interval per machine")
    if len(intervals_s) <= MIN_INTERVALS:
        return None
    out = []
    for j, m in enumerate(machines):
        loo = fit(prior.indicator, [v for i, v in enumerate(intervals_s) if i != j], "cross-fit")
        out.append([(t, r, c, prior_median_s(loo, c)) for t, r, c in m])
    return out


def fit_blend(
    machines: Sequence[Sequence[tuple[float, float, float, float]]],
    prior_weights: Sequence[float] = CLOCK_WEIGHTS,
) -> tuple[float, float, float, float]:
    """:func:`fit_clock_weight` with the prior's median as a third evidence: each window
    ``(true time left, at-this-rate, clock, prior's median time left)``; of the weights a tenth
    apart (clock ``w``, prior ``p``, ``w + p <= 1``) the one nearest :data:`DEFAULT_BLEND`
    whose evidence's calibrated spread is within one standard error of the smallest
    (:func:`_least_spread`): ``(w, p, bias, sd)``. ``prior_weights``: the prior's weights searched (``(0.0,)``: the rate
    and the clock alone, :func:`fit_clock_weight`)."""
    used = [m for m in machines if m]
    if len(used) < MIN_INTERVALS:
        raise ValueError(f"a clock weight needs {MIN_INTERVALS}+ machines with windows")
    (w, p), bias, sd = _least_spread(
        used,
        [(w, p) for p in prior_weights for w in CLOCK_WEIGHTS if w + p <= 1.0 + 1e-9],
        lambda x, ws: evidence_ln_s(x[1], x[2], ws[0], x[3], ws[1]),
        DEFAULT_BLEND,
    )
    return w, p, bias, sd


def fit_still(
    machines: Sequence[Sequence[tuple[float, float, float]]],
    prior_weights: Sequence[float] = CLOCK_WEIGHTS,
) -> tuple[float, float, float]:
    """The prior's weight ``q`` in the evidence while the indicator does not rise,
    ``clock^(1 - q) * median^q``, and that evidence's calibration, as :func:`fit_blend`: each
    window ``(true time left, clock, prior's median time left)``; ``(q, bias, sd)``
    (``prior_weights`` ``(0.0,)``: the clock alone, :func:`fit_clock_calibration`)."""
    used = [m for m in machines if m]
    (q,), bias, sd = _least_spread(
        used,
        [(q,) for q in prior_weights],
        lambda x, ws: still_ln_s(x[1], x[2], ws[0]),
        DEFAULT_STILL,
    )
    return q, bias, sd


def _median(sorted_values: Sequence[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else 0.5 * (sorted_values[mid - 1] + sorted_values[mid])


def calibrated(
    centre_ln: float, scale_ln: float, df: int, probabilities: Sequence[float]
) -> list[float]:
    """Quantiles (seconds) of the remaining life when its log is ``centre_ln + scale_ln * T``,
    T a Student t with ``df`` degrees of freedom: the calibrated evidence's predictive.

    The calibration (:func:`fit_rate_calibration`) is a regression of the log time left on the
    evidence, over the machines the prior came from: given the evidence it already says where
    such a machine's time left lies, and how far it scattered. It is the predictive itself, not
    a likelihood to multiply into the prior: the prior (its intervals, conditioned on the time
    survived) comes from the same machines, and the evidence's clock is the same time survived,
    so the product counted both twice and held the truth in 66-76 % of the windows its 10-90 %
    interval named (``make eval-life``, before this). The t, not a normal: the bias and spread
    are estimates from a handful of machines, as the prior's own predictive is a t over its
    intervals.
    """
    if df < 1 or not (math.isfinite(centre_ln) and math.isfinite(scale_ln) and scale_ln > 0):
        raise ValueError("calibrated: needs df >= 1, a finite centre and a scale > 0")
    return [math.exp(min(centre_ln + scale_ln * t_isf(1.0 - p, df), 700.0)) for p in probabilities]
