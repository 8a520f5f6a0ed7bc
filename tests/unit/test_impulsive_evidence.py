"""Impulsiveness is bearing evidence only where the impacts repeat at a defect rate.

One transient in a window (a knock, a cable tap, an electrical spike) gives a kurtosis that grows
as the window shortens; a bearing's impacts repeat, and that repetition is a line of a defect
family in the envelope spectrum. On a device with no history a kurtosis warning needs that line
(:data:`rotorwatch.diagnosis.scoring.ENV_CORROBORATION_RATIO`), and every window with bearing evidence
ranks above every window the model and rules leave healthy.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rotorwatch.diagnosis.assets import parse_asset
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.model.model import MODEL_FILE, Model
from rotorwatch.diagnosis.predictions import NORMAL_FAULT, STATES
from rotorwatch.diagnosis.scoring import (
    ENV_CORROBORATION_RATIO,
    ENV_WARNING_RATIO,
    IMPULSIVE_KURTOSIS,
    bearing_evidence,
    combine,
    rules_row,
)
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
NO_GEOMETRY = parse_asset(
    {"device_id": "dev-1", "machine_group": 2, "foundation": "rigid", "rated_rpm": 1800}
)


@pytest.fixture(scope="module")
def model() -> Model:
    with tarfile.open(ROOT / "sagemaker" / "bootstrap" / "model.tar.gz") as tar:
        member = tar.extractfile(MODEL_FILE)
        assert member is not None
        return Model.from_json(member.read())


def _one_knock(n: int, seed: int = 0) -> np.ndarray:
    """A zone-A shaft tone, noise and a single decaying ring in the middle: kurtosis far above 10."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    x = 0.02 * np.sin(2 * np.pi * 30.0 * t) + 0.02 * rng.standard_normal(n)
    t0 = t[n // 2]
    ring = np.where(t >= t0, np.exp(-800.0 * (t - t0)) * np.sin(2 * np.pi * 4000.0 * (t - t0)), 0)
    return x + 1.5 * ring


@pytest.mark.parametrize("n", [2560, 5120, 10240, 16384])  # 0.1 s (10 Hz bins) to 0.64 s
@pytest.mark.parametrize("asset", [ASSET, NO_GEOMETRY], ids=["geometry", "no-geometry"])
@pytest.mark.parametrize("rpm", [1800.0, None], ids=["rpm", "no-rpm"])
def test_one_knock_is_no_bearing_fault_at_any_window_length(
    model: Model, n: int, asset: Any, rpm: float | None
) -> None:
    rec = compute_features([message(_one_knock(n), rpm=rpm, fs_hz=FS)], {"dev-1": asset})[0]
    assert rec["kurtosis"] >= IMPULSIVE_KURTOSIS  # the case: impulsive, but once
    assert bearing_evidence(rec) is None
    for row in (model.score([rec])[0], rules_row(rec)):
        pred = combine(row, rec)
        assert pred["fault"] == NORMAL_FAULT
        assert pred["state"] != ALARM
        if rec["iso_zone"] in ("A", "B"):
            assert pred["state"] == HEALTHY
            assert pred["anomaly_score"] < 0.5


@pytest.mark.parametrize("n", [10240, 16384])
def test_impacts_repeating_at_a_defect_rate_are_evidence(model: Model, n: int) -> None:
    bpfo = ASSET.bearing.defect_frequencies_hz(1800.0)["bpfo"]  # type: ignore[union-attr]
    x = impulse_train_g(bpfo, amp_g=1.0, noise_g=0.05, n=n, fs_hz=FS, damping_per_s=2000.0)
    rec = compute_features([message(x, rpm=1800.0, fs_hz=FS)], {"dev-1": ASSET})[0]
    evidence = bearing_evidence(rec)
    assert evidence is not None
    assert evidence[0] == "bearing_outer"
    pred = combine(model.score([rec])[0], rec)
    assert pred["state"] in (WARNING, ALARM)
    assert pred["fault"] == "bearing_outer"


def _record(kurtosis: float, line: float, rival: float = 2.0, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "iso_zone": "A",
        "kurtosis": kurtosis,
        "env_bpfo": rival,
        "env_bpfi": line,
        "env_bsf": rival,
        "env_ftf": 1.5,
    }
    rec.update(over)
    return rec


@pytest.mark.parametrize("kurtosis", [IMPULSIVE_KURTOSIS, 25.0, 150.0])
def test_impulsiveness_needs_a_line_above_the_background(kurtosis: float) -> None:
    below = ENV_CORROBORATION_RATIO * 0.95
    assert bearing_evidence(_record(kurtosis, below)) is None
    assert bearing_evidence(_record(kurtosis, ENV_CORROBORATION_RATIO)) == (
        "bearing_inner",
        ENV_CORROBORATION_RATIO,
    )
    # Lines not read (no speed, no geometry, unresolved): nothing, however impulsive.
    unread = {k: None for k in ("env_bpfo", "env_bpfi", "env_bsf", "env_ftf")}
    assert bearing_evidence(_record(kurtosis, 5.0, **unread)) is None
    # Two families as high: impacts, but not which part: unclear.
    assert bearing_evidence(_record(kurtosis, 5.0, rival=4.8)) == ("bearing_unclear", 5.0)


def test_a_line_without_impacts_names_only_at_the_warning_ratio() -> None:
    assert bearing_evidence(_record(4.0, ENV_WARNING_RATIO * 0.95)) is None
    assert bearing_evidence(_record(4.0, ENV_WARNING_RATIO)) is not None


def test_every_window_with_evidence_ranks_above_every_healthy_window(model: Model) -> None:
    """anomaly_score ranks by evidence: a grid of records, far from the training fleet and near,
    with and without corroborated impacts; the model's and the rules' scores both."""
    recs = []
    for zone in ("A", "B"):
        for kurtosis in (3.0, 8.0, 12.0, 40.0):
            for line in (2.0, 3.5, 4.0, 5.0, 6.0, 9.0):
                for scale in (1.0, 5.0, 30.0):  # distance from the fleet's healthy windows
                    recs.append(
                        _record(
                            kurtosis,
                            line,
                            iso_zone=zone,
                            velocity_rms_mm_s=0.5 if zone == "A" else 2.0,
                            accel_rms_g=0.05 * scale,
                            band_1_5khz_g=0.02 * scale,
                            crest_factor=3.0 + scale,
                        )
                    )
    rows = model.score(recs)
    rules = [rules_row(r) for r in recs]
    for path in (rows, rules):
        with_evidence = [
            row["anomaly_score"] for row, r in zip(path, recs, strict=True) if bearing_evidence(r)
        ]
        healthy = [row["anomaly_score"] for row in path if row["state"] == HEALTHY]
        assert with_evidence
        assert healthy
        assert min(with_evidence) > max(healthy)
    # The grid holds windows far from the fleet (the distance saturates) that stay healthy.
    assert max(r["anomaly_score"] for r in rows if r["state"] == HEALTHY) > 0.49
