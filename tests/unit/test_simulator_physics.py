"""Simulator physics, checked through the feature engine the pipeline runs (not the simulator's
own arithmetic): each fault must move the indicator an analyst would read, and a degrading
machine must walk through the ISO 10816-3 zones of its asset class."""

from __future__ import annotations

import numpy as np
import pytest

from rotorwatch.contract.telemetry import decode, encode, encode_samples
from rotorwatch.diagnosis.assets import Asset, parse_asset
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.features.iso import ZONES, zone_boundaries_mm_s
from simulator.physics import (
    DEFAULT_FS_HZ,
    MachinePhysics,
    severity_curve,
    synthesize,
    tone_peak_g,
    velocity_rms_mm_s,
)

RPM = 1775.0


def _asset(group: int = 2, foundation: str = "rigid", rpm: float = RPM) -> Asset:
    # r = d/D = 0.3 keeps 3 x BPFO and 2 x BPFI apart, so cross-talk between the indicators is
    # the simulator's doing, not a coincidence of the geometry.
    return parse_asset(
        {
            "device_id": "m1",
            "machine_group": group,
            "foundation": foundation,
            "rated_rpm": rpm,
            "bearing": {"n_balls": 9, "ball_diameter_mm": 12.0, "pitch_diameter_mm": 40.0},
        }
    )


def _features(
    asset: Asset, fault: str, severity: np.ndarray, seed: int = 0, **physics: object
) -> list[dict]:
    rng = np.random.default_rng(seed)
    rpm = np.full(severity.size, asset.rated_rpm)
    x = synthesize(
        asset, MachinePhysics(**physics), rpm=rpm, fault=fault, severity=severity, rng=rng
    )  # type: ignore[arg-type]
    msgs = [
        decode(
            encode(
                device_id=asset.device_id,
                ts=i,
                seq=i,
                rpm=float(rpm[i]),
                vibration=encode_samples(x[i], fs_hz=DEFAULT_FS_HZ),
            )
        )
        for i in range(severity.size)
    ]
    return compute_features(msgs, {asset.device_id: asset})


def _median(records: list[dict], name: str) -> float:
    return float(np.median([r[name] for r in records]))


def test_tone_peak_matches_the_feature_engine_velocity() -> None:
    # 3 mm/s RMS at 50 Hz through the engine's own definition of velocity RMS.
    fs, n = DEFAULT_FS_HZ, 4096
    t = np.arange(n) / fs
    f_hz = 50.0
    x = tone_peak_g(3.0, f_hz) * np.sin(2 * np.pi * f_hz * t)
    np.testing.assert_allclose(velocity_rms_mm_s(x[None, :], fs), [3.0], rtol=0.01)
    msg = decode(
        encode(device_id="m1", ts=0, seq=0, rpm=RPM, vibration=encode_samples(x, fs_hz=fs))
    )
    assert compute_features([msg])[0]["velocity_rms_mm_s"] == pytest.approx(3.0, rel=0.01)


def test_severity_curve_is_monotonic_from_zero_to_one() -> None:
    x = np.linspace(-0.5, 1.5, 201)
    s = severity_curve(x, 3.0)
    assert s[0] == 0.0
    assert s[-1] == pytest.approx(1.0)
    assert np.all(np.diff(s) >= 0)
    assert severity_curve(np.array([0.5]), 3.0)[0] < 0.5  # accelerating, as a P-F curve


def test_healthy_machine_has_flat_envelope_and_zone_a() -> None:
    recs = _features(_asset(), "normal", np.zeros(8))
    assert {r["iso_zone"] for r in recs} == {"A"}
    for name in ("env_bpfo", "env_bpfi", "env_bsf", "env_ftf"):
        assert _median(recs, name) < 4.0, name
    assert _median(recs, "kurtosis") == pytest.approx(3.0, abs=0.5)


def test_outer_race_defect_raises_env_bpfo_not_env_bpfi() -> None:
    healthy = _features(_asset(), "normal", np.zeros(8))
    faulty = _features(_asset(), "bearing_outer", np.full(8, 0.1))
    assert _median(faulty, "env_bpfo") > 5.0
    assert _median(faulty, "env_bpfo") > 4.0 * _median(healthy, "env_bpfo")
    assert _median(faulty, "env_bpfi") < 4.0
    assert _median(faulty, "kurtosis") > 4.0  # impacts make the waveform spiky


def test_inner_race_defect_raises_env_bpfi_not_env_bpfo() -> None:
    faulty = _features(_asset(), "bearing_inner", np.full(8, 0.1))
    assert _median(faulty, "env_bpfi") > 5.0
    assert _median(faulty, "env_bpfi") > 2.5 * _median(faulty, "env_bpfo")


def test_ball_defect_raises_bearing_evidence() -> None:
    healthy = _features(_asset(), "normal", np.zeros(8))
    faulty = _features(_asset(), "bearing_ball", np.full(8, 0.1))
    assert _median(faulty, "env_bsf") > 2.0 * _median(healthy, "env_bsf")
    families = ("env_bpfo", "env_bpfi", "env_bsf")
    assert max(_median(faulty, k) for k in families) > 6.0
    # 2 x BSF and its FTF sidebands lie within a few % of BPFO and BPFI for this geometry: the
    # pre-whitened envelope cannot tell them apart (its shared lines count for no family), so
    # the physics says "bearing, type unclear" and the classifier names what it learned.


def test_imbalance_raises_order_1x() -> None:
    healthy = _features(_asset(), "normal", np.zeros(6))
    faulty = _features(_asset(), "imbalance", np.full(6, 0.5))
    assert _median(faulty, "order_1x_g") > 4.0 * _median(healthy, "order_1x_g")
    assert _median(faulty, "order_1x_g") > 3.0 * _median(faulty, "order_2x_g")


def test_misalignment_raises_order_2x_above_1x() -> None:
    healthy = _features(_asset(), "normal", np.zeros(6))
    faulty = _features(_asset(), "misalignment", np.full(6, 0.5))
    assert _median(faulty, "order_2x_g") > 4.0 * _median(healthy, "order_2x_g")
    assert _median(faulty, "order_2x_g") > 1.3 * _median(faulty, "order_1x_g")


def test_looseness_shows_half_orders() -> None:
    healthy = _features(_asset(), "normal", np.zeros(6))
    faulty = _features(_asset(), "looseness", np.full(6, 0.5))
    assert _median(faulty, "order_0_5x_g") > 5.0 * max(_median(healthy, "order_0_5x_g"), 1e-4)
    whole = ("order_1x_g", "order_2x_g", "order_3x_g")  # and the whole orders together
    assert sum(_median(faulty, n) for n in whole) > 1.5 * sum(_median(healthy, n) for n in whole)


@pytest.mark.parametrize(
    ("fault", "group", "foundation"),
    [
        ("imbalance", 2, "rigid"),
        ("misalignment", 1, "flexible"),
        ("looseness", 1, "rigid"),
        ("bearing_outer", 2, "flexible"),
        ("bearing_inner", 2, "rigid"),
    ],
)
def test_degrading_machine_walks_iso_zones_a_to_d(fault: str, group: int, foundation: str) -> None:
    life = np.linspace(0.0, 1.0, 40)
    recs = _features(_asset(group, foundation), fault, severity_curve(life, 3.0), seed=3)
    v = np.array([r["velocity_rms_mm_s"] for r in recs])
    zones = [r["iso_zone"] for r in recs]
    ab, _, cd = zone_boundaries_mm_s(group, foundation)
    assert zones[0] == "A"
    assert v[0] < ab
    assert zones[-1] == "D"
    assert v[-1] > cd
    assert set(zones) == set(ZONES)  # passes through B and C on the way
    # Rises monotonically on average: every quarter of life is worse than the one before.
    quarters = v.reshape(4, -1).mean(axis=1)
    assert np.all(np.diff(quarters) > 0)
    # and the rank order of the windows follows life closely (Spearman correlation)
    ranks = np.argsort(np.argsort(v))
    assert np.corrcoef(np.arange(v.size), ranks)[0, 1] > 0.9


def test_same_seed_same_signal_different_seed_different_signal() -> None:
    asset = _asset()
    args = {"rpm": np.full(3, RPM), "fault": "bearing_inner", "severity": np.full(3, 0.3)}
    a = synthesize(asset, MachinePhysics(), rng=np.random.default_rng(7), **args)  # type: ignore[arg-type]
    b = synthesize(asset, MachinePhysics(), rng=np.random.default_rng(7), **args)  # type: ignore[arg-type]
    c = synthesize(asset, MachinePhysics(), rng=np.random.default_rng(8), **args)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_bearing_fault_without_geometry_is_refused() -> None:
    asset = parse_asset(
        {"device_id": "m1", "machine_group": 2, "foundation": "rigid", "rated_rpm": RPM}
    )
    with pytest.raises(ValueError, match="bearing geometry"):
        synthesize(
            asset,
            MachinePhysics(),
            rpm=np.full(1, RPM),
            fault="bearing_outer",
            severity=np.ones(1),
            rng=np.random.default_rng(0),
        )


def test_resonance_above_nyquist_is_refused() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        synthesize(
            _asset(),
            MachinePhysics(resonance_hz=2600.0),
            rpm=np.full(1, RPM),
            fault="normal",
            severity=np.zeros(1),
            rng=np.random.default_rng(0),
            fs_hz=4096.0,
        )
