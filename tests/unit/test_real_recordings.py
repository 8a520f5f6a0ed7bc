"""Real bearing recordings through the served path: the class holds, healthy stays healthy.

A few windows per recording class from ../shared/data/real (CWRU drive-end faults, IMS healthy
bearings), each recording one device with no history, through the telemetry decoder, the
feature engine and the committed model artifact's own inference code (benchmarks/eval_real.py
is the full table). Skipped only where the shared folder is absent (a clone without it).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks import real_recordings as rr
from benchmarks.eval_real import load_inference, predictions

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = 6

try:
    RECORDINGS = {r.name: r for r in rr.load()}
except rr.MissingDataError:  # pragma: no cover - depends on the machine
    RECORDINGS = {}

pytestmark = pytest.mark.skipif(not RECORDINGS, reason="no ../shared/data/real recordings")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return load_inference(
        ROOT / "sagemaker/bootstrap/model.tar.gz", tmp_path_factory.mktemp("model")
    )


def _first(rec: rr.Recording, n: int = WINDOWS) -> rr.Recording:
    # The first few windows (hop half a window) of the recording.
    size = rr.window_samples(rec.fs_hz) // 2 * (n + 1)
    return rr.Recording(
        rec.name,
        rec.rig,
        rec.label,
        rec.detail,
        rec.fs_hz,
        rec.rpm,
        rec.bearing,
        rec.signal_g[:size],
    )


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("IR007_1_106", "bearing_inner"),
        ("IR021_3_212", "bearing_inner"),
        ("OR007@6_1_131", "bearing_outer"),
        ("OR021@6_3_237", "bearing_outer"),
    ],
)
def test_race_faults_are_flagged_and_named(served: tuple[Any, Any], name: str, fault: str) -> None:
    preds = predictions(_first(RECORDINGS[name]), *served)
    assert len(preds) == WINDOWS
    assert all(p["state"] != "HEALTHY" for p in preds)
    assert all(p["fault"] == fault for p in preds)


def test_ball_fault_is_flagged_as_a_bearing_fault_where_it_shows(served: tuple[Any, Any]) -> None:
    # B014 is the clearest ball record: over its whole length a third of its windows show it.
    preds = predictions(RECORDINGS["B014_3_188"], *served)
    flagged = [p for p in preds if p["state"] != "HEALTHY"]
    assert len(flagged) >= len(preds) // 4
    assert all(p["fault"].startswith("bearing_") for p in flagged)
    assert sum(p["fault"] == "bearing_ball" for p in flagged) >= len(flagged) // 2


@pytest.mark.parametrize("name", [n for n in RECORDINGS if n.startswith("ims-")])
def test_healthy_bearings_of_another_rig_stay_healthy(served: tuple[Any, Any], name: str) -> None:
    preds = predictions(RECORDINGS[name], *served)
    assert preds
    assert all(p["state"] == "HEALTHY" for p in preds), [p["fault"] for p in preds]


def test_16384_sample_windows_at_48_khz(served: tuple[Any, Any]) -> None:
    rec = _first(rr.resampled(RECORDINGS["OR007@6_1_131"], 48_000.0), 3)
    preds = predictions(rec, *served)
    assert len(preds) == 3
    assert all(p["fault"] == "bearing_outer" and p["state"] != "HEALTHY" for p in preds)


# --- no tachometer: rpm left out of every message, the rig's nameplate speed in the registry ---


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("IR007_1_106", "bearing_inner"),
        ("IR021_3_212", "bearing_inner"),
        ("OR007@6_1_131", "bearing_outer"),
        ("OR021@6_3_237", "bearing_outer"),
    ],
)
def test_race_faults_are_named_without_rpm(served: tuple[Any, Any], name: str, fault: str) -> None:
    rec = _first(RECORDINGS[name])
    assert abs(rec.nameplate_rpm / rec.rpm - 1.0) > 0.01  # a nameplate, not the measured speed
    preds = predictions(rec, *served, rpm=False)
    assert len(preds) == WINDOWS
    assert all(p["state"] != "HEALTHY" and p["fault"] == fault for p in preds)


@pytest.mark.parametrize("name", [n for n in RECORDINGS if n.startswith("ims-")])
def test_healthy_bearings_stay_healthy_without_rpm(served: tuple[Any, Any], name: str) -> None:
    preds = predictions(RECORDINGS[name], *served, rpm=False)
    assert preds
    assert all(p["state"] == "HEALTHY" and p["fault"] == "normal" for p in preds)


@pytest.mark.parametrize("name", [n for n in RECORDINGS if n.startswith("femto-")])
def test_a_new_rigs_healthy_bearings_never_alarm_nor_name_a_shaft_fault(
    served: tuple[Any, Any], name: str
) -> None:
    # FEMTO's first minutes: 0.1 s windows cannot resolve a 25-30 Hz shaft's orders; a model
    # trained on simulated machines must not call misalignment or imbalance on them.
    rec = RECORDINGS[name]
    assert rec.snapshots_g is not None
    first = replace(rec, snapshots_g=rec.snapshots_g[:30])
    for rpm in (True, False):
        preds = predictions(first, *served, rpm=rpm)
        assert len(preds) == 30
        assert all(p["state"] != "ALARM" for p in preds)
        assert not {p["fault"] for p in preds} & {"imbalance", "misalignment", "looseness"}
        assert all(p["fault"] == "normal" for p in preds if p["state"] == "HEALTHY")
