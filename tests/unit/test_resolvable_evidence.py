"""Calls only on what a window can show: resolution of the shaft rate, and no ALARM from the
classifier's distance alone on a device with no history.

A 0.1 s window (2560 samples at 25.6 kHz: 10 Hz bins, as the FEMTO rig records) cannot put a
30 Hz shaft's 1x and 2x a Hann main lobe apart; a 0.4 s window can.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rotorwatch.diagnosis.assets import parse_asset
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.features.engine import RESOLVE_MIN_BINS
from rotorwatch.diagnosis.model.model import MODEL_FILE, Model
from rotorwatch.diagnosis.predictions import NORMAL_FAULT, STATES
from rotorwatch.diagnosis.scoring import readable
from tests.signals import impulse_train_g
from tests.signals import telemetry_of as message

HEALTHY, WARNING, ALARM = STATES
ROOT = Path(__file__).resolve().parents[2]
FS = 25_600.0
ASSET = parse_asset(
    {
        "device_id": "dev-1",
        "machine_group": 2,
        "foundation": "rigid",
        "rated_rpm": 1800,
        "bearing": {"n_balls": 13, "ball_diameter_mm": 3.5, "pitch_diameter_mm": 25.6},
    }
)


def _window(n: int, shaft_hz: float = 30.0) -> np.ndarray:
    t = np.arange(n) / FS
    x = 0.2 * np.sin(2 * np.pi * shaft_hz * t) + 0.1 * np.sin(2 * np.pi * 2 * shaft_hz * t)
    bpfo = ASSET.bearing.defect_frequencies_hz(shaft_hz * 60)["bpfo"]  # type: ignore[union-attr]
    return x + impulse_train_g(bpfo, amp_g=0.5, noise_g=0.05, n=n, fs_hz=FS)


def _features(n: int, shaft_hz: float = 30.0) -> dict[str, Any]:
    msg = message(_window(n, shaft_hz), rpm=shaft_hz * 60, fs_hz=FS)
    return compute_features([msg], {"dev-1": ASSET})[0]


def test_a_window_that_cannot_resolve_the_shaft_rate_reads_no_orders_and_no_bearing_lines() -> None:
    rec = _features(2560)  # 10 Hz bins: 30 Hz is 3 bins
    assert 30.0 / (FS / 2560) < RESOLVE_MIN_BINS
    assert rec["unresolved"] == "shaft_rate"
    for name in ("order_0_5x_g", "order_1x_g", "order_2x_g", "env_bpfo", "env_bpfi", "env_bsf"):
        assert rec[name] is None, name
    assert rec["rpm_used"] == 1800.0  # the speed is known, only the lines are not separable
    assert rec["velocity_rms_mm_s"] is not None


def test_a_longer_window_of_the_same_machine_reads_them() -> None:
    rec = _features(10240)  # 2.5 Hz bins: 12 bins per shaft rate
    assert rec["unresolved"] is None
    assert rec["order_1x_g"] == pytest.approx(0.2, rel=0.02)
    assert rec["env_bpfo"] > 6.0  # type: ignore[operator]


def test_shaft_and_bearing_names_need_their_own_lines() -> None:
    assert not readable("misalignment", {"order_1x_g": None})
    assert readable("misalignment", {"order_1x_g": 0.1})
    assert not readable("bearing_outer", {"env_bpfo": None, "env_bpfi": 9.0})
    assert readable("bearing_outer", {"env_bpfo": 2.0})
    assert readable("bearing_ball", {"env_bsf": None, "env_ftf": 3.0})
    assert readable("bearing_unclear", {})
    assert readable(NORMAL_FAULT, {})


@pytest.fixture(scope="module")
def model() -> Model:
    with tarfile.open(ROOT / "sagemaker" / "bootstrap" / "model.tar.gz") as tar:
        member = tar.extractfile(MODEL_FILE)
        assert member is not None
        return Model.from_json(member.read())


def _record(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "iso_zone": "B",
        "velocity_rms_mm_s": 2.0,
        "order_0_5x_g": 0.001,
        "order_1x_g": 0.05,
        "order_2x_g": 0.09,  # 2x velocity 0.9 of 1x: misalignment by the book
        "order_3x_g": 0.01,
        "rpm_used": 1780.0,
        "env_bpfo": 2.0,
        "env_bpfi": 2.0,
        "env_bsf": 2.0,
        "env_ftf": 1.5,
        "kurtosis": 3.2,
        "crest_factor": 3.5,
        "accel_rms_g": 0.2,
        "band_10_100hz_g": 0.05,
        "band_100_1000hz_g": 0.1,
        "band_1_5khz_g": 0.1,
    }
    rec.update(over)
    return rec


def test_the_classifier_and_distance_alone_never_alarm(model: Model) -> None:
    # Far from the training fleet in every direction the classifier reads, zone B: at most WARNING.
    recs = [
        _record(order_2x_g=0.05 * k, band_1_5khz_g=0.1 * k, kurtosis=3.0 + 0.5 * k)
        for k in range(1, 12)
    ]
    rows = model.score(recs)
    assert any(r["state"] == WARNING for r in rows)  # the distance still warns
    assert all(r["state"] != ALARM for r in rows)


def test_an_unresolved_window_gets_no_shaft_fault_and_no_raised_state(model: Model) -> None:
    unresolved = {k: None for k in ("order_0_5x_g", "order_1x_g", "order_2x_g", "order_3x_g")}
    unresolved |= {k: None for k in ("env_bpfo", "env_bpfi", "env_bsf", "env_ftf")}
    recs = [_record(**unresolved, band_1_5khz_g=0.1 * k) for k in range(1, 12)]
    for row in model.score(recs):
        assert row["state"] == HEALTHY
        assert row["fault"] == NORMAL_FAULT
        # Distance without a finding the window shows counts at most as the edge of healthy.
        assert row["anomaly_score"] <= 0.5
