"""Bearing findings transfer across sensors: the same machine, sampled at the rates real rigs
use (12 kHz to 97.7 kHz) and sent in windows of different lengths, gets the same physics call.

A bearing's impacts ring the machine's own resonance, in Hz: a sensor sampling faster does
not move it. The machine here rings at 2.5 kHz, where bearing housings commonly do and where
demodulation bands that are fractions of the sample rate start above it on a fast sensor
(0.05 fs is 3.2 kHz at 64 kHz). The sensor's own noise is broadband to its Nyquist rate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rotorwatch.contract.telemetry import N_SAMPLES_MAX
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.features.envelope import (
    ENVELOPE_BANDS_FS,
    ENVELOPE_LADDER_TOP_HZ,
    _band_fractions,
    _ladder_steps,
    envelope_spectrum,
)
from rotorwatch.diagnosis.scoring import bearing_evidence, rules_row
from tests.signals import asset, impulse_train_g, sine_g
from tests.signals import telemetry_of as message

RPM = 1797.0
SHAFT_HZ = RPM / 60.0
#: The rates of public bearing data sets and common sensors (CWRU, FEMTO, 48 kHz CWRU, 64 kHz
#: and 97,656 Hz rigs).
RATES_HZ = (12_000.0, 25_600.0, 48_000.0, 64_000.0, 97_656.0)
RESONANCE_HZ = 2500.0
ASSET = asset("dev-1")
assert ASSET.bearing is not None
DEFECT_HZ = ASSET.bearing.defect_frequencies_hz(RPM)


def _window_samples(fs_hz: float, scale: float) -> int:
    """What a device sends: a third of a second as a power of two, times ``scale``."""
    n = 1 << math.ceil(math.log2(0.3 * fs_hz))
    return min(int(n * scale), N_SAMPLES_MAX)


def _machine(fs_hz: float, n: int, defect: str | None, seed: int) -> np.ndarray:
    """Shaft orders, broadband sensor noise and, for a defect, its impacts ringing at 2.5 kHz.

    The impacts are not modulated at 1x: on this bearing (a 6205) an inner race's BPFI - 1x
    sideband lies inside the ball's 2 x BSF tolerance, a matter of geometry, not of rate."""
    x = sine_g(SHAFT_HZ, 0.02, n, fs_hz) + sine_g(2 * SHAFT_HZ, 0.005, n, fs_hz)
    if defect is None:
        rng = np.random.default_rng(seed)
        return x + 0.05 * rng.standard_normal(n)
    return x + impulse_train_g(
        DEFECT_HZ[defect],
        resonance_hz=RESONANCE_HZ,
        damping_per_s=600.0,
        amp_g=0.4,
        noise_g=0.05,
        seed=seed,
        n=n,
        fs_hz=fs_hz,
    )


def _records(fs_hz: float, scale: float, defect: str | None, seeds: range) -> list[dict[str, Any]]:
    n = _window_samples(fs_hz, scale)
    msgs = [
        message(
            _machine(fs_hz, n, defect, s), rpm=RPM, fs_hz=fs_hz, seq=s, encoding="int16le+base64"
        )
        for s in seeds
    ]
    return compute_features(msgs, {"dev-1": ASSET})


# Windows of a third of a second and longer: half as long, a line stands sqrt(2) lower over
# the same background (the envelope thresholds were set on 0.3-0.6 s), at every rate alike.
@pytest.mark.parametrize("scale", [1.0, 2.0])
@pytest.mark.parametrize("fs_hz", RATES_HZ)
@pytest.mark.parametrize(
    ("defect", "fault"), [("bpfi", "bearing_inner"), ("bpfo", "bearing_outer")]
)
def test_a_race_defect_ringing_low_is_named_at_every_rate_and_window_length(
    fs_hz: float, scale: float, defect: str, fault: str
) -> None:
    for rec in _records(fs_hz, scale, defect, range(3)):
        evidence = bearing_evidence(rec)
        assert evidence is not None, (rec["env_bpfi"], rec["env_bpfo"])
        assert evidence[0] == fault, (rec["env_bpfi"], rec["env_bpfo"], rec["env_bsf"])
        assert rules_row(rec)["fault"] == fault


@pytest.mark.parametrize("scale", [0.5, 1.0])
@pytest.mark.parametrize("fs_hz", RATES_HZ)
def test_a_healthy_machine_shows_no_bearing_evidence_at_any_rate(
    fs_hz: float, scale: float
) -> None:
    # More candidate bands on a fast sensor are more chances for noise to look impulsive: the
    # band chosen must still give lines no higher than noise does.
    for rec in _records(fs_hz, scale, None, range(12)):
        assert bearing_evidence(rec) is None, {k: rec[k] for k in ("env_bpfo", "env_bpfi")}
        assert rules_row(rec)["fault"] == "normal"


def test_fast_sensors_demodulate_as_low_in_hz_as_the_validated_rates() -> None:
    fs = np.array([8192.0, 12_000.0, 25_600.0, 25_601.0, 48_000.0, 64_000.0, 97_656.0, 192_000.0])
    steps = _ladder_steps(fs)
    assert steps.tolist() == [0, 0, 0, 1, 1, 2, 2, 3]
    lowest_validated_hz = ENVELOPE_BANDS_FS[1][0] * ENVELOPE_LADDER_TOP_HZ
    for rate, k in zip(fs.tolist(), steps.tolist(), strict=True):
        bands = _band_fractions(k)
        assert bands[: len(ENVELOPE_BANDS_FS)] == ENVELOPE_BANDS_FS  # the fs-relative set kept
        assert min(lo for lo, _hi in bands) * rate <= lowest_validated_hz
        # Every band at most a quarter of the rate wide: the envelope's FFT holds it.
        assert all(0.0 < hi - lo <= 0.25 and hi <= 0.5 for lo, hi in bands)


def test_the_plotted_envelope_of_a_fast_sensor_is_demodulated_around_its_resonance() -> None:
    fs = 97_656.0
    n = _window_samples(fs, 1.0)
    f_hz, mag, (lo_hz, hi_hz) = envelope_spectrum(_machine(fs, n, "bpfo", 0), fs)
    assert lo_hz < RESONANCE_HZ < hi_hz
    k = int(np.argmin(np.abs(f_hz - DEFECT_HZ["bpfo"])))
    assert mag[k - 2 : k + 3].max() > 6.0


def test_a_fast_sensors_bands_do_not_reach_a_slow_sensor_in_the_same_batch() -> None:
    # One window length at two rates: the block demodulates the fast row's ladder bands for
    # every row, and each row must still choose among its own bands only. The 12 kHz machine
    # rings at 800 Hz, where a 97.7 kHz sensor's first ladder band, as a fraction of the rate
    # (0.025-0.15 x 12 kHz = 300-1800 Hz), would be more impulsive than any band of its own.
    n = 4096
    slow = sine_g(SHAFT_HZ, 0.02, n, 12_000.0) + impulse_train_g(
        DEFECT_HZ["bpfo"], resonance_hz=800.0, amp_g=0.4, noise_g=0.05, n=n, fs_hz=12_000.0
    )
    msgs = [
        message(x, rpm=RPM, fs_hz=fs, seq=i, encoding="int16le+base64")
        for i, (fs, x) in enumerate(
            [(12_000.0, slow), (97_656.0, _machine(97_656.0, n, "bpfi", 0))]
        )
    ]
    together = compute_features(msgs, {"dev-1": ASSET})
    alone = compute_features(msgs[:1], {"dev-1": ASSET})[0]
    for name in ("env_bpfo", "env_bpfi", "env_bsf", "env_ftf"):
        assert together[0][name] == alone[name], name
