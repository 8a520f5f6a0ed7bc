"""The P-F interval prior (rotorwatch.diagnosis.pf_prior): the t distribution against textbook values,
intervals that hold the truth as often as they say when machines are like the ones fitted, a
machine that outlived every interval seen is never told it has no time left, and the shipped
prior is exactly what its fit gives from the intervals it records."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rotorwatch.diagnosis.life_prior import FITTED_FROM, PF_PRIORS
from rotorwatch.diagnosis.pf_prior import PRIOR_FORMAT, PfPrior, fit, remaining, t_isf, t_sf


@pytest.mark.parametrize(
    ("df", "p", "t"),
    [  # upper-tail critical values, any statistics table (two-sided 0.10/0.05/0.02)
        (1, 0.05, 6.313752),
        (2, 0.025, 4.302653),
        (3, 0.01, 4.540703),
        (4, 0.05, 2.131847),
        (5, 0.025, 2.570582),
        (9, 0.05, 1.833113),
        (30, 0.025, 2.042272),
    ],
)
def test_t_tail_and_its_inverse_match_the_tables(df: int, p: float, t: float) -> None:
    assert t_sf(t, df) == pytest.approx(p, abs=2e-7)
    assert t_isf(p, df) == pytest.approx(t, abs=2e-5)
    assert t_sf(-t, df) == pytest.approx(1 - p, abs=2e-7)  # symmetric
    assert t_sf(0.0, df) == pytest.approx(0.5)


def test_cauchy_and_two_df_closed_forms() -> None:
    for t in (0.1, 1.0, 3.0, 50.0):
        assert t_sf(t, 1) == pytest.approx(0.5 - math.atan(t) / math.pi, abs=1e-12)
        assert t_sf(t, 2) == pytest.approx(0.5 - t / (2 * math.sqrt(t * t + 2)), abs=1e-12)


def test_interval_holds_the_truth_as_often_as_it_says() -> None:
    # Machines whose P-F intervals are log-normal; a prior fitted on 6 of them; other machines
    # judged at every window of their degradation (as make eval-life judges: a longer life has
    # more windows). The 10-90 % interval must hold the remaining life about 80 % of the windows
    # and the point estimate (the 0.2 quantile) late in about 20 %. Measured with 100 fits:
    # 78-81 % held, 25 % late (the windows of a machine are not independent draws, and a prior
    # fitted on six is itself off); the bounds leave room for this smaller run's sampling.
    rng = np.random.default_rng(7)
    held, late, trials = 0, 0, 0
    window_s = 40.0
    for _ in range(40):
        prior = fit("x", list(np.exp(rng.normal(6.0, 1.0, 6))), "simulated")
        for d in np.exp(rng.normal(6.0, 1.0, 10)):
            for e in np.arange(0.0, d, window_s):
                low, point, high = remaining(prior, float(e), (0.1, 0.2, 0.9))
                truth = d - e
                held += low <= truth <= high
                late += point > truth
                trials += 1
    assert 0.72 <= held / trials <= 0.9
    assert late / trials <= 0.3


def test_quantiles_are_ordered_and_never_zero_for_a_survivor() -> None:
    prior = fit("x", [230.0, 410.0, 430.0, 430.0, 510.0], "five abrupt ones")
    median = math.exp(prior.mu_ln_s)
    for elapsed in (0.0, median / 10, median, 10 * median, 1000 * median, 1e9):
        low, point, high = remaining(prior, elapsed, (0.1, 0.2, 0.9))
        assert 0.0 < low <= point <= high, elapsed
    # Having outlived every interval seen, the machine is told more time, not less: the
    # heavy tail says "we do not know", it does not say "now".
    assert remaining(prior, 10 * median, (0.5,))[0] > remaining(prior, 0.0, (0.5,))[0]


def test_a_prior_round_trips_and_a_bad_one_is_refused() -> None:
    prior = fit("accel_peak_g", [100.0, 300.0, 900.0], "three")
    assert PfPrior.from_dict(prior.to_dict()) == prior
    with pytest.raises(ValueError, match="format"):
        PfPrior.from_dict({**prior.to_dict(), "format": PRIOR_FORMAT + 1})
    with pytest.raises(ValueError, match="n >= 2"):
        PfPrior.from_dict({**prior.to_dict(), "n": 1})
    with pytest.raises(ValueError, match="sd > 0"):
        PfPrior.from_dict({**prior.to_dict(), "sd_ln": 0.0})
    with pytest.raises(ValueError, match=r"2\+ positive"):
        fit("x", [100.0], "one is not a spread")
    with pytest.raises(ValueError, match="no spread"):
        fit("x", [100.0, 100.0], "no spread")


def test_the_shipped_prior_is_the_fit_of_the_intervals_it_records() -> None:
    assert set(PF_PRIORS) == set(FITTED_FROM)
    for indicator, prior in PF_PRIORS.items():
        refit = fit(indicator, list(FITTED_FROM[indicator].values()), prior.source)
        assert refit == prior
        assert prior.n == len(FITTED_FROM[indicator]) >= 2
