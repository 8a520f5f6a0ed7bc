"""When a noisy indicator first reaches a limit: the trend's remaining life as a first passage.

A machine reaches its end-of-life limit at the first window whose indicator is over it (the
simulator's zone D, a test rig's stop rule, an operator's trip level), not when the indicator's
fitted mean line crosses it. With the log indicator ``y = a + b t + e`` (``e`` the windows'
scatter about the line, standard deviation ``sd``, one window every ``spacing_h`` hours), the
chance that a window at time ``t`` is over ``y_limit`` is ``Phi((a + b t - y_limit) / sd)``.
Summed over the windows to come, the expected number of windows over the limit by ``t`` (the
hazard) has a closed form,

    H(t) = sd / (b spacing) * (G(u_t) - G(u_0)),  u = (a + b t - y_limit) / sd,
    G(u) = u Phi(u) + phi(u)   (the integral of Phi),

and the first passage comes by ``t`` with probability ``1 - exp(-H(t))`` (windows independent).
A noisy indicator therefore reaches the limit before its line does, by a margin that grows with
the scatter: on a peak acceleration, whose windows scatter widely, well before.

The line itself is uncertain: its slope and level are the fit's, with their standard errors.
The predictive averages the first-passage probability over them (Gauss-Hermite quadrature in
the slope and in the mean level, independent by construction of the fit), so a slope near its
own error widens the range as it should. Quantiles by regula falsi in log time: a bounded
amount of arithmetic per window, no history.

What it does not model: a rate that changes (wear that accelerates, an abrupt last step). The
range says how sure the line is, not how sure it is that the machine follows a line; ``make
eval`` and ``make eval-life`` measure how often it held the truth (docs/remaining-life.md).

Pure float arithmetic (no numpy), Python 3.10 like the rest of the serving subset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final

#: Gauss-Hermite nodes and weights (probabilists', weights summing to one) for a standard
#: normal: five for the slope (the range's width rests on it), three for the mean level.
#: tests/unit/test_first_passage.py checks them against numpy's hermegauss.
SLOPE_NODES: Final = (
    (-2.8569700138728056, 0.011257411327720677),
    (-1.355626179974266, 0.22207592200561257),
    (0.0, 0.5333333333333335),
    (1.355626179974266, 0.22207592200561257),
    (2.8569700138728056, 0.011257411327720677),
)
LEVEL_NODES: Final = (
    (-1.7320508075688772, 1.0 / 6.0),
    (0.0, 2.0 / 3.0),
    (1.7320508075688772, 1.0 / 6.0),
)
#: The smallest scatter of the log indicator about its line (log units) worked with: the
#: hazard divides by it.
MIN_SD: Final = 1e-9
#: The bracket around the line's own crossing time, the precision of the quantiles (in log
#: time: 1e-4 is a minute a week, far inside the range), and the hazard above which the first
#: passage is certain (exp(-700) is below the smallest double).
_BRACKET: Final = (1e-6, 1e3)
_LOG_TOLERANCE: Final = 1e-4
_MAX_STEPS: Final = 100
#: ... or a CDF this close to the probability asked for.
_CDF_TOLERANCE: Final = 1e-6
_MAX_HAZARD: Final = 700.0
_SQRT2: Final = math.sqrt(2.0)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)


def _phi_cdf(u: float) -> float:
    return 0.5 * math.erfc(-u / _SQRT2)


def _g(u: float) -> float:
    """The integral of the normal CDF from -inf to ``u``."""
    return u * _phi_cdf(u) + math.exp(-0.5 * u * u) * _INV_SQRT_2PI


def hazard(a: float, b: float, sd: float, y_limit: float, spacing_h: float, t_h: float) -> float:
    """Expected number of windows over ``y_limit`` in the next ``t_h`` hours along the line
    ``a + b t`` with scatter ``sd`` (any sign of ``b``)."""
    u0 = (a - y_limit) / sd
    if abs(b * t_h) < 1e-12 * sd:  # flat: the same chance every window
        return t_h / spacing_h * _phi_cdf(u0)
    ut = u0 + b * t_h / sd
    return sd / (b * spacing_h) * (_g(ut) - _g(u0))


def passage_quantiles(
    *,
    level: float,
    slope: float,
    se_mean: float,
    se_slope: float,
    t_mean_h: float,
    sd: float,
    y_limit: float,
    spacing_h: float,
    probabilities: Sequence[float],
) -> tuple[float, ...]:
    """Hours until the first window over ``y_limit``, at each of ``probabilities``.

    The line is ``level + slope t`` at the newest window (t = 0), fitted with its mean level
    (at ``t_mean_h``, hours relative to the newest window, <= 0) known to ``se_mean`` and its
    slope to ``se_slope``; ``sd`` is the windows' scatter about it (a line with none, a
    synthetic one, reaches the limit when it does: :data:`MIN_SD`). ``slope`` must be > 0 and
    ``level`` below ``y_limit`` (the caller's: at or past the limit is 0).
    """
    sd = max(sd, MIN_SD)
    mean_level = level + slope * t_mean_h
    nodes = []
    for xb, wb in SLOPE_NODES:
        b = slope + xb * se_slope
        for xm, wm in LEVEL_NODES:
            nodes.append((mean_level + xm * se_mean - b * t_mean_h, b, wb * wm))

    def cdf(t_h: float) -> float:
        total = 0.0
        for a, b, w in nodes:
            if a >= y_limit:
                total += w  # this line is already past the limit
            else:
                h = hazard(a, b, sd, y_limit, spacing_h, t_h)
                total += w * (1.0 - math.exp(-min(h, _MAX_HAZARD)))
        return total

    crossing_h = (y_limit - level) / slope
    return tuple(_quantile(cdf, crossing_h, p) for p in probabilities)


def _quantile(cdf: Callable[[float], float], crossing_h: float, p: float) -> float:
    """The ``p``-quantile of a first-passage CDF in hours: regula falsi in log time with the
    Illinois rule (bracketed, so it cannot diverge; about ten CDF evaluations where bisection
    needs forty)."""
    x0, x1 = math.log(crossing_h * _BRACKET[0]), math.log(crossing_h * _BRACKET[1])
    f0, f1 = cdf(math.exp(x0)) - p, cdf(math.exp(x1)) - p
    if f1 < 0.0:
        return math.exp(x1)  # beyond a thousand times the line's own time: as far as it says
    if f0 >= 0.0:
        return math.exp(x0)
    side = 0
    for _ in range(_MAX_STEPS):
        x = x1 - f1 * (x1 - x0) / (f1 - f0)
        fx = cdf(math.exp(x)) - p
        if abs(fx) < _CDF_TOLERANCE:
            return math.exp(x)  # there (the other end of the bracket may still be far)
        if fx > 0.0:
            x1, f1 = x, fx
            if side == 1:
                f0 *= 0.5  # Illinois: the other end has stayed twice, halve its weight
            side = 1
        else:
            x0, f0 = x, fx
            if side == -1:
                f1 *= 0.5
            side = -1
        if x1 - x0 < _LOG_TOLERANCE:
            break
    return math.exp(0.5 * (x0 + x1))
