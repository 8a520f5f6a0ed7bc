"""The first passage of a noisy log indicator over its limit (rotorwatch.diagnosis.first_passage),
against Monte Carlo runs of the model it states: a straight line plus independent Gaussian
scatter, one window every ``spacing`` hours."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rotorwatch.diagnosis.first_passage import LEVEL_NODES, SLOPE_NODES, hazard, passage_quantiles

Y_LIMIT = math.log(4.5)
SPACING_H = 1.0 / 6.0
PROBABILITIES = (1 / 6, 0.2, 0.5, 5 / 6)


def quantiles(
    slope: float,
    sd: float,
    *,
    se_slope: float = 0.0,
    se_mean: float = 0.0,
    t_mean_h: float = -1.0,
    spacing_h: float = SPACING_H,
    probabilities: tuple[float, ...] = PROBABILITIES,
) -> tuple[float, ...]:
    """:func:`passage_quantiles` of a line from level 0 (a known one unless told)."""
    return passage_quantiles(
        level=0.0,
        slope=slope,
        se_mean=se_mean,
        se_slope=se_slope,
        t_mean_h=t_mean_h,
        sd=sd,
        y_limit=Y_LIMIT,
        spacing_h=spacing_h,
        probabilities=probabilities,
    )


def simulated_passages(
    rng: np.random.Generator, slopes: np.ndarray, levels: np.ndarray, sd: float
) -> np.ndarray:
    """Hours to the first window at or over the limit, one run per (slope, level)."""
    t_h = np.arange(1, 1200) * SPACING_H
    passages = np.empty(len(slopes))
    for chunk in range(0, len(slopes), 2000):
        b, a = slopes[chunk : chunk + 2000, None], levels[chunk : chunk + 2000, None]
        y = a + b * t_h + sd * rng.standard_normal((len(b), len(t_h)))
        over = y >= Y_LIMIT
        assert over.any(axis=1).all()
        passages[chunk : chunk + 2000] = t_h[np.argmax(over, axis=1)]
    return passages


def test_nodes_are_gauss_hermite() -> None:
    for nodes in (SLOPE_NODES, LEVEL_NODES):
        x, w = np.polynomial.hermite_e.hermegauss(len(nodes))
        assert [n[0] for n in nodes] == pytest.approx(list(x), abs=1e-12)
        assert [n[1] for n in nodes] == pytest.approx(list(w / w.sum()), abs=1e-12)


@pytest.mark.parametrize(("sd", "slope"), [(0.05, 0.1), (0.3, 0.1), (0.6, 0.05)])
def test_a_known_line_matches_monte_carlo(sd: float, slope: float) -> None:
    # Within a window (the runs' passages fall on the window grid) of 20,000 simulated runs at
    # every quantile, from a scatter that
    # barely moves the passage off the line's crossing (15.0 h) to one that brings it 4 times
    # sooner: the windows' scatter, not the line, decides when a noisy indicator gets there.
    rng = np.random.default_rng(1)
    runs = simulated_passages(rng, np.full(20_000, slope), np.zeros(20_000), sd)
    model = quantiles(slope, sd)
    assert model == pytest.approx(np.quantile(runs, PROBABILITIES), abs=SPACING_H)
    assert model[2] < Y_LIMIT / slope  # the median passage comes before the line's crossing


def test_an_uncertain_line_matches_monte_carlo_over_its_errors() -> None:
    # The slope known to 20 % and the mean level (3 h ago) to 0.1: the quadrature's quantiles
    # are those of runs whose lines are drawn from the same errors.
    rng = np.random.default_rng(2)
    slope, se_slope, t_mean, se_mean, sd = 0.1, 0.02, -3.0, 0.1, 0.2
    slopes = slope + se_slope * rng.standard_normal(20_000)
    keep = slopes > 0.02  # runs that cross within the simulated horizon
    slopes = slopes[keep]
    mean_levels = slope * t_mean + se_mean * rng.standard_normal(len(slopes))
    runs = simulated_passages(rng, slopes, mean_levels - slopes * t_mean, sd)
    model = quantiles(slope, sd, se_slope=se_slope, se_mean=se_mean, t_mean_h=t_mean)
    assert model == pytest.approx(np.quantile(runs, PROBABILITIES), rel=0.05)
    certain = quantiles(slope, sd, t_mean_h=t_mean)
    assert model[-1] - model[0] > 1.5 * (certain[-1] - certain[0])


def test_no_scatter_is_the_line_to_within_two_windows() -> None:
    low, point, high = quantiles(0.1, 0.0, probabilities=(1 / 6, 0.2, 5 / 6))
    crossing = Y_LIMIT / 0.1
    assert crossing <= low <= point <= high <= crossing + 2 * SPACING_H


@pytest.mark.parametrize("sd", [0.0, 0.01, 0.3, 2.0])
@pytest.mark.parametrize("slope", [0.001, 0.1, 1.0])
@pytest.mark.parametrize("spacing_h", [10 / 3600, 1.0])
def test_each_quantile_is_where_the_closed_form_cdf_says(
    sd: float, slope: float, spacing_h: float
) -> None:
    # The root finder against 200 bisection steps of the same CDF (a known line, no
    # quadrature), from a scatter of none to a log spread of 2, a slope of a thousandth to one
    # per hour, a window every 10 s to every hour: within its stated 1e-4 in log time (a minute
    # a week). A root finder that stops on the CDF's value and returns the middle of a bracket
    # whose far end never moved was off by up to 1.7 %.
    def cdf(t_h: float) -> float:
        h = hazard(0.0, slope, max(sd, 1e-9), Y_LIMIT, spacing_h, t_h)
        return 1.0 - math.exp(-min(h, 700.0))

    for p, found in zip(PROBABILITIES, quantiles(slope, sd, spacing_h=spacing_h), strict=True):
        lo, hi = 1e-9, 1e7
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
        assert abs(math.log(found / lo)) < 1e-4
