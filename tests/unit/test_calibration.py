"""The confidence a person reads is calibrated: "90 %" is right about nine times in ten.

Analytic checks of the expected calibration error, the cap, and the served artifact measured
on a fleet neither of its fits saw.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from rotorwatch.diagnosis.model import Model
from rotorwatch.diagnosis.model.calibration import (
    ECE_BOUND,
    MAX_SHOWN_CONFIDENCE,
    expected_calibration_error,
    reliability,
)
from rotorwatch.diagnosis.model.evaluate import calibration_report

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "sagemaker" / "bootstrap" / "model.tar.gz"


def test_ece_is_zero_when_confidence_matches_accuracy_and_the_gap_otherwise() -> None:
    conf = np.full(1000, 0.9)
    right = np.arange(1000) % 10 != 0  # 90 % right
    assert expected_calibration_error(conf, right) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(np.ones(1000), right) == pytest.approx(0.1)
    # Two bins, each off by its own gap, weighted by rows.
    conf2 = np.r_[np.full(100, 0.95), np.full(300, 0.55)]
    right2 = np.r_[np.arange(100) < 75, np.arange(300) < 165]  # 0.75 and 0.55
    assert expected_calibration_error(conf2, right2) == pytest.approx(100 * 0.2 / 400)
    table = reliability(conf2, right2)
    assert [(b["bin"], b["rows"]) for b in table] == [("0.5-0.6", 300), ("0.9-1.0", 100)]
    assert table[1]["accuracy"] == pytest.approx(0.75)


@pytest.fixture(scope="module")
def served() -> Model:
    with tarfile.open(BOOTSTRAP) as tar:
        member = tar.extractfile("model.json")
        assert member is not None
        return Model.from_json(member.read())


def test_no_row_carries_a_figure_above_the_cap(served: Model) -> None:
    """A window that every input says is clearly bearing_outer: the classifier's figure is
    0.9999+, the row's is the cap."""
    base = {
        name: None for name in served.features
    }  # every input unknown but one strong defect line
    rec = {**base, "iso_zone": "C", "env_bpfo": 400.0, "velocity_rms_mm_s": 6.0}
    raw = served.score([rec], uncapped=True)[0]["fault_confidence"]
    row = served.score([rec])[0]
    assert raw is not None
    assert row["fault_confidence"] == min(raw, MAX_SHOWN_CONFIDENCE)
    assert row["fault_confidence"] <= MAX_SHOWN_CONFIDENCE


@pytest.mark.slow
def test_served_confidence_is_calibrated_on_a_fleet_neither_fit_saw(served: Model) -> None:
    from simulator.dataset import simulated_fleet_features

    # Another seed, machines and severities than `make model`'s fleet (seed 7).
    _sc, records = simulated_fleet_features(
        14, seed=2029, duration_h=24.0, interval_s=900.0, prefix="cal-", n_healthy=4
    )
    rep = calibration_report(served, records)
    cal = rep["shown"]
    assert cal["windows_naming_a_fault"] > 100
    assert cal["ece"] < ECE_BOUND, rep
    assert cal["ece_naming_a_fault"] < ECE_BOUND, rep
    assert cal["max_confidence"] <= MAX_SHOWN_CONFIDENCE
