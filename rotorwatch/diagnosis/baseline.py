"""Per-device baseline: a machine measured against its own healthy history (a learning period).

A statistical distance to *simulated* healthy machines is no evidence on a machine unlike them;
the distance to the same machine's own first days is. So, like Monitron's learning period, each
device first learns ``target`` windows assumed healthy, then every window is scored against that
history. Everything here is pure (numpy, no I/O): the score_and_alert Lambda keeps the
:class:`Baseline` in the device's state item and calls :func:`apply_baseline` per window.

Choices, and what each is for:

* **Inputs** (:data:`INPUTS`): logs of per-window quantities that describe the vibration, not the
  machine's identity: velocity and acceleration RMS (how much), kurtosis and crest factor
  (impulsiveness), band-RMS ratios (where the energy sits), shaft-order ratios (misalignment,
  looseness) and the envelope indicators at the bearing defect frequencies. Logs turn a relative
  change into a difference, so one spread floor (a relative change) fits a 0.5 mm/s fan and a
  10 mm/s pump alike. A missing value (no rpm, no bearing geometry, a band above Nyquist) stays
  missing: it is neither learned nor scored, never read as zero.
* **Statistics**: Welford's running mean and variance per input (three numbers each), because the
  state item must stay small (the whole baseline serialises to well under 1 KB) and the windows
  arrive one at a time. Once a few windows are in, an update is clipped to ``CLIP_Z`` spreads of
  the running mean, so one transient (a start-up, a knock) cannot stretch a device's notion of
  normal for good.
* **Spread floor** (:data:`INPUTS`' ``floor``, in log units): a simulated machine can be so steady
  that its learned spread is a rounding error; without a floor a 1 % change would be "20 sigma".
  The floor is the smallest relative change worth talking about for that input.
* **Distance and score**: as :class:`rotorwatch.diagnosis.model.model.AnomalyModel` does it: the root mean
  square of the ``TOP_K`` largest |z| (one fault moves a few inputs a lot; averaging over all
  would dilute it), mapped by ``1 - 0.5 ** (d / d_ref)``: 0.5 at the edge of the device's own
  healthy behaviour, towards 1 far beyond it.
* **Edge of healthy behaviour** (``d_ref``): the larger of :data:`D_REF_MIN` (a Gaussian device's
  distance is above it in about 1 window in 1000) and the second-largest distance a window of
  the second half of the learning period had from the statistics learned before it (each window
  scored as a new window would be; the second-largest, so one odd window cannot blunt it). A
  device that is noisier than Gaussian in a way its own history shows thus gets a wider edge.
* **A sustained shift** (:data:`RUN_WINDOWS` windows in a row): a defect's signature repeats in
  every window; a knock, an electrical spike or a run-in transient does not. A healthy history
  with a few such single windows gets a wide single-window edge (second-largest), wide enough to
  hide a shift that holds window after window at nearly that distance. So the smallest distance
  of the last :data:`RUN_WINDOWS` windows (the run's distance) is held to an edge of its own,
  learned the same way over the same windows (``top_run_d``, the same floor
  :data:`D_REF_MIN`), and the window scores the larger of the two. On a device whose healthy
  windows are alike the two edges are the same (both at the floor, or the run's below it), so
  the run adds nothing; on one whose edge was set by isolated impulses the run is held to the
  device's sustained behaviour. The last distances are kept (``recent_d``, two numbers).
* **Learning**: only windows the cold-start path calls HEALTHY are learned, and learning stops at
  ``target`` windows: after that the baseline is frozen, so a fault that develops slowly cannot
  become the device's normal. Restart learning after maintenance (``rotorwatch baseline reset``).

This module must run on Python 3.10 like the rest of the serving subset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from rotorwatch.diagnosis.features.schema import FEATURE_NAMES, number
from rotorwatch.diagnosis.model.model import ANOMALY_TOP_K, WARNING_SCORE
from rotorwatch.diagnosis.predictions import NORMAL_FAULT, STATES
from rotorwatch.diagnosis.running_stat import RunningStat as Stat
from rotorwatch.diagnosis.running_stat import stored
from rotorwatch.diagnosis.scoring import readable

HEALTHY, WARNING, ALARM = STATES

#: Version of :meth:`Baseline.to_dict`'s layout and of :data:`INPUTS`. A stored baseline of
#: another version is dropped (the device learns again) rather than compared on other inputs.
BASELINE_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class Input:
    """One baseline input: ``log(numerator / denominator)`` (``log(numerator)`` alone when
    ``denominator`` is None), with its spread floor in log units."""

    name: str
    numerator: str
    denominator: str | None
    floor: float


#: Spread floors: levels 0.05 (5 %: below a sensor's gain drift with temperature), shape
#: statistics 0.05, ratios of two noisy amplitudes 0.10 (each carries its own noise).
INPUTS: Final[tuple[Input, ...]] = (
    Input("log_velocity_rms_mm_s", "velocity_rms_mm_s", None, 0.05),
    Input("log_accel_rms_g", "accel_rms_g", None, 0.05),
    Input("log_kurtosis", "kurtosis", None, 0.05),
    Input("log_crest_factor", "crest_factor", None, 0.05),
    Input("log_band_100_1000_over_10_100", "band_100_1000hz_g", "band_10_100hz_g", 0.10),
    Input("log_band_1_5k_over_10_100", "band_1_5khz_g", "band_10_100hz_g", 0.10),
    Input("log_band_5_20k_over_accel_rms", "band_5_20khz_g", "accel_rms_g", 0.10),
    Input("log_order_0_5x_over_1x", "order_0_5x_g", "order_1x_g", 0.10),
    Input("log_order_2x_over_1x", "order_2x_g", "order_1x_g", 0.10),
    Input("log_env_bpfo", "env_bpfo", None, 0.10),
    Input("log_env_bpfi", "env_bpfi", None, 0.10),
    Input("log_env_bsf", "env_bsf", None, 0.10),
    Input("log_env_ftf", "env_ftf", None, 0.10),
)
INPUT_NAMES: Final[tuple[str, ...]] = tuple(i.name for i in INPUTS)
#: Feature-record fields the baseline reads (every one defined in rotorwatch.diagnosis.features.schema).
INPUT_FIELDS: Final[tuple[str, ...]] = tuple(
    sorted({f for i in INPUTS for f in (i.numerator, i.denominator) if f is not None})
)
_unknown = set(INPUT_FIELDS) - set(FEATURE_NAMES)
if _unknown:  # a renamed feature must fail at import, not read as "always missing"
    raise ImportError(f"baseline inputs name unknown feature fields: {sorted(_unknown)}")

#: Windows learned (1 day at one window per 10 min) when the stage does not say otherwise.
DEFAULT_LEARNING_WINDOWS: Final = 144
TOP_K: Final = ANOMALY_TOP_K
#: Lower bound of ``d_ref``: the 99.9th percentile of the top-3 RMS |z| of 13 independent
#: standard normal inputs is 2.9 (Monte Carlo, 2e5 draws); 3.0 rounds it up.
D_REF_MIN: Final = 3.0
#: Updates are clipped to this many spreads from the running mean once ``CLIP_AFTER`` windows
#: of that input are in (before that the spread itself is not known).
CLIP_Z: Final = 4.0
CLIP_AFTER: Final = 8
#: Windows in a row whose smallest distance is the run's distance (see the module docstring):
#: three, as the alert state machine's ALARM needs three windows and the remaining-life onset
#: three above the healthy level.
RUN_WINDOWS: Final = 3
#: The baseline score at which a window is outside the device's own healthy behaviour enough
#: to warn (when something is named, see :func:`apply_baseline`): the model's warning level.
BASELINE_WARNING_SCORE: Final = WARNING_SCORE
_TINY: Final = 1e-12


def inputs(record: Mapping[str, Any]) -> tuple[float | None, ...]:
    """The baseline inputs of one feature record (None where a value is missing or not positive:
    the log of an amplitude of 0 says "below the noise", not "minus infinity")."""
    out: list[float | None] = []
    for spec in INPUTS:
        num = number(record, spec.numerator)
        den = 1.0 if spec.denominator is None else number(record, spec.denominator)
        if num is None or den is None or num <= _TINY or den <= _TINY:
            out.append(None)
        else:
            out.append(math.log(num / den))
    return tuple(out)


def _add_clipped(stat: Stat, x: float, floor: float) -> Stat:
    """Learn ``x``, clipped to CLIP_Z spreads of the mean once the spread is known, so one odd
    window cannot drag a device's normal."""
    if stat.n >= CLIP_AFTER:
        reach = CLIP_Z * max(stat.std, floor)
        x = min(max(x, stat.mean - reach), stat.mean + reach)
    return stat.add(x)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What one device has learned of its own healthy behaviour (see the module docstring).

    ``count`` windows learned of ``target``; ``stats`` per :data:`INPUTS`; ``top_d`` the two
    largest distances seen in the second half of learning (largest first); ``top_run_d`` the
    same for the runs' distances (None for a baseline whose second half began before a release
    that kept them: it has no run edge, and the single window's edge alone scores); ``recent_d``
    the distances of the last ``RUN_WINDOWS - 1`` windows learned in the second half or scored
    since, oldest first (a window without a distance breaks the run).
    """

    target: int = DEFAULT_LEARNING_WINDOWS
    count: int = 0
    stats: tuple[Stat, ...] = tuple(Stat() for _ in INPUTS)
    top_d: tuple[float, float] = (0.0, 0.0)
    top_run_d: tuple[float, float] | None = (0.0, 0.0)
    recent_d: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.target < 1:
            raise ValueError(f"a baseline learns at least 1 window, got target={self.target}")
        if len(self.stats) != len(INPUTS):
            raise ValueError(f"a baseline has {len(INPUTS)} input statistics")

    @property
    def learned(self) -> bool:
        """True once ``target`` windows are learned: from then on windows are scored."""
        return self.count >= self.target

    @property
    def d_ref(self) -> float:
        """The distance that scores 0.5: the edge of this device's healthy behaviour."""
        return _edge(self.top_d)

    @property
    def run_d_ref(self) -> float | None:
        """The run's distance that scores 0.5 (None: no run edge was learned)."""
        return None if self.top_run_d is None else _edge(self.top_run_d)

    def run_distance(self, d: float | None) -> float | None:
        """The run's distance if the next window's distance is ``d`` (None: no full run)."""
        if d is None or len(self.recent_d) < RUN_WINDOWS - 1:
            return None
        return min(d, *self.recent_d)

    def recent_after(self, d: float | None) -> tuple[float, ...]:
        """``recent_d`` once a window of distance ``d`` is in (a missing distance breaks it)."""
        return () if d is None else (*self.recent_d, stored(d))[-(RUN_WINDOWS - 1) :]

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON/DynamoDB-safe record (finite numbers only; a few hundred bytes)."""
        return {
            "format": BASELINE_FORMAT,
            "target": self.target,
            "count": self.count,
            "top_d": list(self.top_d),
            # Optional keys (format 1 still): a release before them ignores them.
            **({} if self.top_run_d is None else {"top_run_d": list(self.top_run_d)}),
            "recent_d": list(self.recent_d),
            "stats": {
                spec.name: s.to_list() for spec, s in zip(INPUTS, self.stats, strict=True) if s.n
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Baseline | None:
        """Rebuild from :meth:`to_dict` (numbers may be Decimal); None for another format."""
        if int(d.get("format", -1)) != BASELINE_FORMAT:
            return None
        kept = d.get("stats", {})
        stats = tuple(
            Stat.from_list(v) if (v := kept.get(spec.name)) else Stat() for spec in INPUTS
        )
        d1, d2 = (float(x) for x in d.get("top_d", (0.0, 0.0)))
        target, count = int(d["target"]), int(d["count"])
        run = d.get("top_run_d")
        # Written by a release before the run's edge: one still in the first half of learning
        # learns the edge from here; one past it has missed some of the run's windows and
        # keeps the single window's edge alone (`rotorwatch baseline reset` learns both).
        top_run_d = (
            (float(run[0]), float(run[1]))
            if run is not None
            else ((0.0, 0.0) if count < target // 2 else None)
        )
        recent = tuple(float(x) for x in d.get("recent_d", ()))
        return cls(
            target=target,
            count=count,
            stats=stats,
            top_d=(d1, d2),
            top_run_d=top_run_d,
            recent_d=recent,
        )


def _usable(baseline: Baseline, stat: Stat) -> bool:
    # An input seen in fewer than half the learned windows (or fewer than 2) has no trustworthy
    # spread: it is left out rather than compared.
    return stat.n >= max(2, baseline.count // 2)


def distance(baseline: Baseline, record: Mapping[str, Any]) -> float | None:
    """RMS of the ``TOP_K`` largest |z| of the record's inputs against the learned statistics
    (None when no input is both present now and learned)."""
    zs = []
    for spec, stat, x in zip(INPUTS, baseline.stats, inputs(record), strict=True):
        if x is None or not _usable(baseline, stat):
            continue
        zs.append(abs(x - stat.mean) / max(stat.std, spec.floor))
    if not zs:
        return None
    top = sorted(zs, reverse=True)[:TOP_K]
    return math.sqrt(sum(z * z for z in top) / len(top))


def _score(d: float, d_ref: float) -> float:
    return 1.0 - math.pow(0.5, d / d_ref)


def score(baseline: Baseline, record: Mapping[str, Any]) -> float | None:
    """0-1: 0.5 at the edge of the device's own healthy behaviour, towards 1 far beyond it:
    the larger of the window's own score and its run's (the module docstring).

    None while the baseline is still learning, or when the record has no learned input.
    """
    if not baseline.learned:
        return None
    return _score_of(baseline, distance(baseline, record))


def _score_of(baseline: Baseline, d: float | None) -> float | None:
    if d is None:
        return None
    single = _score(d, baseline.d_ref)
    run, run_ref = baseline.run_distance(d), baseline.run_d_ref
    return single if run is None or run_ref is None else max(single, _score(run, run_ref))


def update(baseline: Baseline, record: Mapping[str, Any]) -> Baseline:
    """Learn one window assumed healthy. A learned baseline, or a window without any input
    (no vibration), is returned unchanged."""
    if baseline.learned:
        return baseline
    xs = inputs(record)
    if all(x is None for x in xs):
        return baseline
    top_d, top_run_d, recent_d = baseline.top_d, baseline.top_run_d, baseline.recent_d
    if baseline.count >= baseline.target // 2:
        # Score the window as a new one would be scored, before it joins the statistics.
        d = distance(baseline, record)
        top_d = _top_two(top_d, d)
        if top_run_d is not None:
            top_run_d = _top_two(top_run_d, baseline.run_distance(d))
        recent_d = baseline.recent_after(d)
    stats = tuple(
        s if x is None else _add_clipped(s, x, spec.floor)
        for spec, s, x in zip(INPUTS, baseline.stats, xs, strict=True)
    )
    return replace(
        baseline,
        count=baseline.count + 1,
        stats=stats,
        top_d=top_d,
        top_run_d=top_run_d,
        recent_d=recent_d,
    )


def _edge(top: tuple[float, float]) -> float:
    """The edge from the two largest distances of learning: the second (one odd window cannot
    blunt it), never under :data:`D_REF_MIN`."""
    return max(D_REF_MIN, top[1])


def _top_two(top: tuple[float, float], d: float | None) -> tuple[float, float]:
    if d is None:
        return top
    d1, d2 = sorted((*top, stored(d)), reverse=True)[:2]
    return (d1, d2)


def fleet_progress(items: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(devices whose baseline is learned, devices) over state items as the table holds them."""
    learned = total = 0
    for item in items:
        total += 1
        stored = item.get("baseline")
        b = Baseline.from_dict(stored) if isinstance(stored, Mapping) else None
        learned += b is not None and b.learned
    return learned, total


def _named_leaning(prediction: Mapping[str, Any], record: Mapping[str, Any]) -> str | None:
    """What a healthy window's classifier leans to (``fault_leaning``), where the window shows
    what that fault rests on (:func:`rotorwatch.diagnosis.scoring.readable`); None otherwise.
    The endpoint keeps the leaning of a window that cannot read the fault's own lines (a 0.1 s
    window's shaft orders, a bearing family's line with no speed) as a leaning, not a finding:
    the device's history saying the window is unusual does not make that guess a name."""
    leaning = prediction.get("fault_leaning")
    if leaning is None or leaning == NORMAL_FAULT or not readable(leaning, record):
        return None
    return str(leaning)


def _escalate(prediction: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """A baseline exceedance may warn only when something is named: a fault other than normal
    (the one a healthy window's classifier leans to counts where the window can show it,
    :func:`_named_leaning`: the device's own history now says the window is not healthy), or an
    ISO zone beyond A. A device merely unlike its own history, with nothing named, is a
    question for the dashboard, not a page."""
    fault = _named_leaning(prediction, record) or prediction.get("fault")
    zone = prediction.get("iso_zone")
    return (fault is not None and fault != NORMAL_FAULT) or (zone is not None and zone != "A")


def apply_baseline(
    prediction: Mapping[str, Any],
    record: Mapping[str, Any],
    baseline: Baseline | None,
    *,
    learning_windows: int = DEFAULT_LEARNING_WINDOWS,
    learn: bool = True,
) -> tuple[dict[str, Any], Baseline]:
    """The prediction record for one window with the device's baseline applied, and the baseline
    after it.

    ``prediction`` is :func:`rotorwatch.diagnosis.scoring.combine`'s record for the feature ``record``.

    * While learning, the prediction is returned unchanged (the cold-start path decides) and the
      window is learned if its point state is HEALTHY. A change of ``learning_windows`` applies
      to a baseline still learning; a learned one stays learned.
    * Once learned: ``anomaly_score`` becomes the larger of the model's and the baseline's (the
      window's or its run's), and
      the point state at least WARNING when the baseline score reaches
      :data:`BASELINE_WARNING_SCORE` and something is named (see :func:`_escalate`). ALARM stays
      the model's and the ISO zone's business.

    ``learn=False`` scores without learning or moving the run on (a window replayed after the
    state moved on).
    """
    b = baseline if baseline is not None else Baseline(target=learning_windows)
    if not b.learned:
        if b.target != learning_windows:
            b = replace(b, target=max(learning_windows, 1))
        if learn and prediction.get("state") == HEALTHY:
            b = update(b, record)
        return dict(prediction), b
    d = distance(b, record)
    s = _score_of(b, d)
    if learn:
        b = replace(b, recent_d=b.recent_after(d))  # the run goes on; the statistics stay frozen
    out = dict(prediction)
    if s is None:
        return out, b
    model_score = out.get("anomaly_score")
    out["anomaly_score"] = s if model_score is None else max(float(model_score), s)
    if s >= BASELINE_WARNING_SCORE and out.get("state") == HEALTHY and _escalate(out, record):
        out["state"] = WARNING
        leaning = _named_leaning(out, record)
        if leaning is not None:
            # No longer healthy: what the classifier leant to is the window's fault
            # (rotorwatch.diagnosis.predictions.window_fault), its probability unknown here.
            out["fault"], out["fault_confidence"], out["fault_leaning"] = leaning, None, None
    return out, b
