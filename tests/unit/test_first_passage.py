"""The first passage of a noisy log indicator over its limit (rotorwatch.diagnosis.first_passage),
against Monte Carlo runs of the model it states: a straight line plus independent Gaussian
scatter, one window every ``spacing`` hours."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rotorwatch.diagnosis.first_passage import LEVEL_NODES, SLOPE_NODES, passage_quantiles

Y_LIMIT = math.log(4.5)
SPACING_H = 1.0 / 6.0
PROBABILITIES = (1 / 6, 0.2, 0.5, 5 / 6)


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
    model = passage_quantiles(
        level=0.0,
        slope=slope,
        se_mean=0.0,
        se_slope=0.0,
        t_mean_h=-1.0,
        sd=sd,
        y_limit=Y_LIMIT,
        spacing_h=SPACING_H,
        probabilities=PROBABILITIES,
    )
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
    model = passage_quantiles(
        level=0.0,
        slope=slope,
        se_mean=se_mean,
        se_slope=se_slope,
        t_mean_h=t_mean,
        sd=sd,
        y_limit=Y_LIMIT,
        spacing_h=SPACING_H,
        probabilities=PROBABILITIES,
    )
    assert model == pytest.approx(np.quantile(runs, PROBABILITIES), rel=0.05)
    certain = passage_quantiles(
        level=0.0,
        slope=slope,
        se_mean=0.0,
        se_slope=0.0,
        t_mean_h=t_mean,
        sd=sd,
        y_limit=Y_LIMIT,
        spacing_h=SPACING_H,
        probabilities=PROBABILITIES,
    )
    assert model[-1] - model[0] > 1.5 * (certain[-1] - certain[0])


def test_no_scatter_is_the_line_to_within_two_windows() -> None:
    low, point, high = passage_quantiles(
        level=0.0,
        slope=0.1,
        se_mean=0.0,
        se_slope=0.0,
        t_mean_h=-1.0,
        sd=1e-9,
        y_limit=Y_LIMIT,
        spacing_h=SPACING_H,
        probabilities=(1 / 6, 0.2, 5 / 6),
    )
    crossing = Y_LIMIT / 0.1
    assert crossing <= low <= point <= high <= crossing + 2 * SPACING_H
