"""Shaft speed from the vibration itself (no tachometer): analytic signals with known answers.

Windows of 4096 samples at 8192 Hz (bins of 2 Hz): a shaft at 29 Hz has its 1x line 14.5 bins
from DC, so the estimate's accuracy is stated against that bin (tolerances below).
"""

from __future__ import annotations

import numpy as np
import pytest

from rotorwatch.diagnosis.assets import AssetError, parse_asset
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.features.speed import MIN_CONFIDENCE, estimate_shaft_hz, search_range_hz
from rotorwatch.diagnosis.model.features import feature_matrix
from tests.signals import ANALYTIC_FS_HZ as FS_HZ
from tests.signals import N_SAMPLES as N
from tests.signals import impulse_train_g
from tests.signals import telemetry_of as message

#: An estimate within this fraction of the true speed: a tenth of a bin at 1x (0.2 Hz of 29 Hz).
REL_TOL = 0.007


def shaft_g(
    f0_hz: float, orders: dict[int, float], *, noise_g: float = 0.01, seed: int = 0
) -> np.ndarray:
    """Shaft orders h x f0 (peak g each, random phases) in white sensor noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / FS_HZ
    x = noise_g * rng.standard_normal(N)
    for h, amp in orders.items():
        x += amp * np.sin(2 * np.pi * h * f0_hz * t + rng.uniform(0, 2 * np.pi))
    return x


def estimate(x: np.ndarray, lo_hz: float, hi_hz: float) -> tuple[float, float]:
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)
    power = np.abs(np.fft.rfft((x - x.mean()) * w)) ** 2
    one = np.ones(1)
    shaft, conf = estimate_shaft_hz(power[None], one * FS_HZ / N, one * lo_hz, one * hi_hz)
    return float(shaft[0]), float(conf[0])


#: A machine's usual orders: 1x strongest, the higher ones falling off.
ORDERS = {1: 0.2, 2: 0.08, 3: 0.05, 4: 0.03, 5: 0.02}


@pytest.mark.parametrize("slip", [0.0, 0.01, 0.03, 0.045])
@pytest.mark.parametrize("nameplate_rpm", [1750.0, 1800.0])
def test_induction_motor_slip_within_the_nameplate_range(slip: float, nameplate_rpm: float) -> None:
    true_hz = 30.0 * (1.0 - slip)  # a 4-pole 60 Hz motor: synchronous 1800 rpm
    lo, hi = search_range_hz(nameplate_rpm, None)
    if not lo <= true_hz <= hi:
        pytest.skip("outside the nameplate search range")
    shaft, conf = estimate(shaft_g(true_hz, ORDERS), lo, hi)
    assert shaft == pytest.approx(true_hz, rel=REL_TOL)
    assert conf >= MIN_CONFIDENCE


def test_harmonics_without_a_1x_line() -> None:
    # Misalignment and looseness: 2x-8x and no 1x at all. The comb finds the shaft, not 2x.
    true_hz = 29.3
    orders = {h: 0.1 / h for h in range(2, 9)}
    shaft, conf = estimate(shaft_g(true_hz, orders), *search_range_hz(1760.0, None))
    assert shaft == pytest.approx(true_hz, rel=REL_TOL)
    assert conf >= MIN_CONFIDENCE


@pytest.mark.parametrize("rpm", [640.0, 900.0, 1210.0, 1500.0, 1790.0])
def test_variable_speed_drive_sweep_finds_the_shaft_not_an_octave_off(rpm: float) -> None:
    # A 600-1800 rpm drive spans more than an octave: f0 / 2 and 2 f0 are in range too.
    lo, hi = search_range_hz(1800.0, (600.0, 1800.0))
    shaft, conf = estimate(shaft_g(rpm / 60.0, ORDERS, seed=int(rpm)), lo, hi)
    assert shaft == pytest.approx(rpm / 60.0, rel=REL_TOL)
    assert conf >= MIN_CONFIDENCE


def test_noise_alone_gives_no_confident_speed() -> None:
    lo, hi = search_range_hz(1800.0, (600.0, 3600.0))
    confs = [estimate(shaft_g(30.0, {}, noise_g=0.05, seed=s), lo, hi)[1] for s in range(30)]
    assert max(confs) < MIN_CONFIDENCE, confs


def test_a_1x_below_the_window_resolution_is_not_read() -> None:
    # 256 samples at 8192 Hz: 32 Hz bins; a 30 Hz shaft's 1x is inside the window's leakage.
    x = shaft_g(30.0, ORDERS)[:256]
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256)
    power = np.abs(np.fft.rfft(x * w)) ** 2
    one = np.ones(1)
    shaft, conf = estimate_shaft_hz(power[None], one * 32.0, one * 28.5, one * 31.5)
    assert np.isnan(shaft[0])
    assert np.isnan(conf[0])


def test_search_ranges_are_checked() -> None:
    one = np.ones(1)
    with pytest.raises(ValueError, match="lo_hz <= hi_hz"):
        estimate_shaft_hz(np.ones((1, 100)), one, one * 30.0, one * 20.0)


# --- through compute_features: the record says where its speed came from ---------------------

BEARING = {"n_balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04}


def _asset(**extra: object) -> dict[str, object]:
    record = {
        "device_id": "dev-1",
        "machine_group": 2,
        "foundation": "rigid",
        "rated_rpm": 1800,
        "bearing": BEARING,
    }
    return {**record, **extra}


def _features(x: np.ndarray, *, rpm: float | None, **asset: object) -> dict[str, object]:
    a = parse_asset(_asset(**asset))
    return compute_features([message(x, rpm=rpm)], {"dev-1": a})[0]


def test_record_carries_the_message_speed() -> None:
    rec = _features(shaft_g(29.5, ORDERS), rpm=1770.0)
    assert rec["rpm_used"] == 1770.0
    assert rec["rpm_source"] == "message"
    assert rec["rpm_confidence"] is None


def test_record_carries_an_estimated_speed_and_reads_orders_at_it() -> None:
    true_rpm = 1746.0
    rec = _features(shaft_g(true_rpm / 60, ORDERS), rpm=None)  # nameplate 1800, 3 % slip
    assert rec["rpm_source"] == "estimated"
    assert rec["rpm_used"] == pytest.approx(true_rpm, rel=REL_TOL)
    assert rec["rpm_confidence"] >= MIN_CONFIDENCE  # type: ignore[operator]
    with_rpm = _features(shaft_g(true_rpm / 60, ORDERS), rpm=true_rpm)
    assert rec["order_1x_g"] == pytest.approx(with_rpm["order_1x_g"], rel=0.02)
    assert rec["order_2x_g"] == pytest.approx(with_rpm["order_2x_g"], rel=0.05)


@pytest.mark.parametrize("true_rpm", [1715.0, 1760.0, 1830.0])
def test_outer_race_line_confirms_the_speed_when_the_shaft_is_quiet(true_rpm: float) -> None:
    # No shaft orders at all (a well-balanced machine): only the bearing's impacts. The envelope
    # line at BPFO is speed evidence no noise gives, so the window is diagnosed; BPFO reads as
    # it would with a tachometer.
    bpfo_hz = parse_asset(_asset()).bearing.defect_frequencies_hz(true_rpm)["bpfo"]  # type: ignore[union-attr]
    x = impulse_train_g(bpfo_hz, amp_g=0.5, noise_g=0.1)
    rec = _features(x, rpm=None)
    with_rpm = _features(x, rpm=true_rpm)
    assert rec["rpm_source"] == "estimated"
    assert rec["rpm_used"] == pytest.approx(true_rpm, rel=0.02)
    assert rec["env_bpfo"] == pytest.approx(with_rpm["env_bpfo"], rel=0.1)
    assert rec["env_bpfo"] > 2 * max(rec["env_bpfi"], rec["env_bsf"])  # type: ignore[operator]


def test_no_confident_speed_means_no_speed_features() -> None:
    rec = _features(shaft_g(30.0, {}, noise_g=0.05), rpm=None)
    assert rec["rpm_source"] == "none"
    assert rec["rpm_used"] is None
    assert rec["rpm_confidence"] < MIN_CONFIDENCE  # type: ignore[operator]
    assert all(rec[k] is None for k in ("order_1x_g", "env_bpfo", "env_bpfi", "env_bsf"))
    assert rec["velocity_rms_mm_s"] is not None  # what needs no speed is still read


def test_no_asset_no_rpm_means_no_estimate() -> None:
    rec = compute_features([message(shaft_g(29.5, ORDERS), rpm=None, device_id="x")], {})[0]
    assert rec["rpm_source"] == "none"
    assert rec["rpm_confidence"] is None


def test_variable_speed_asset_is_searched_over_its_range() -> None:
    x = shaft_g(1100.0 / 60.0, ORDERS)
    fixed = _features(x, rpm=None)  # nameplate 1800: 1100 rpm is far outside its range
    vfd = _features(x, rpm=None, rpm_range=[600, 1800])
    assert fixed["rpm_source"] == "none"
    assert vfd["rpm_source"] == "estimated"
    assert vfd["rpm_used"] == pytest.approx(1100.0, rel=REL_TOL)


@pytest.mark.parametrize(
    "bad",
    [[1800, 600], [0, 1800], [600], "600-1800", [600, 7000], [600, True], [600, float("nan")]],
)
def test_rpm_range_is_validated(bad: object) -> None:
    with pytest.raises(AssetError):
        parse_asset(_asset(rpm_range=bad))


def test_rpm_range_round_trips() -> None:
    a = parse_asset(_asset(rpm_range=[600, 1800]))
    assert a.rpm_range == (600.0, 1800.0)
    assert parse_asset(a.to_dict()) == a


def test_a_reader_of_schema_1_records_still_gets_the_shaft_speed() -> None:
    # Records written before rpm_used existed carry only the message's rpm.
    rec = _features(shaft_g(29.5, ORDERS), rpm=1770.0)
    old = {k: v for k, v in rec.items() if k not in ("rpm_used", "rpm_source", "rpm_confidence")}
    np.testing.assert_array_equal(feature_matrix([old]), feature_matrix([rec]))


def test_the_running_median_is_scipys_median_filter_with_edges_held() -> None:
    from scipy import ndimage

    from rotorwatch.diagnosis.features.speed import _running_median

    rng = np.random.default_rng(3)
    x = rng.normal(size=(70, 300))  # more rows than one slice of the running median
    for half in (0, 1, 12):
        expected = ndimage.median_filter(x, size=(1, 2 * half + 1), mode="nearest")
        np.testing.assert_array_equal(_running_median(x, half), expected)


def test_each_row_estimates_as_it_would_alone() -> None:
    # The fused pass hands the comb a block of windows with different search ranges and bin
    # spacings; a row's estimate must be the one it gets alone, bit for bit (the candidate
    # count and the whitened span were the block's widest: a narrow row then searched a finer
    # grid and whitened with another edge, and its speed and confidence moved with its block).
    rng = np.random.default_rng(3)
    rows = 40
    power = rng.exponential(size=(rows, N // 2 + 1))
    df_hz = rng.choice([1.25, 2.0, 2.93, 4.0], size=rows)
    lo_hz = rng.uniform(5.0, 40.0, size=rows)
    hi_hz = lo_hz * rng.uniform(1.0, 6.0, size=rows)
    f0_hz = rng.uniform(lo_hz, hi_hz)
    for i in range(rows):  # a comb of 1x-7x over the noise, each its own height
        for h in range(1, 8):
            power[i, round(f0_hz[i] * h / df_hz[i])] += rng.uniform(50.0, 5000.0)
    shaft, conf = estimate_shaft_hz(power, df_hz, lo_hz, hi_hz)
    for i in range(rows):
        one = slice(i, i + 1)
        alone = estimate_shaft_hz(power[one], df_hz[one], lo_hz[one], hi_hz[one])
        np.testing.assert_array_equal(shaft[one], alone[0], err_msg=f"row {i} speed")
        np.testing.assert_array_equal(conf[one], alone[1], err_msg=f"row {i} confidence")
