"""Analytic vibration windows and telemetry messages for tests (numpy sines, impulse trains):
signals with known answers, the oracle's inputs (no simulator here).

Amplitudes are set from the physics the features measure: a shaft tone of velocity RMS v mm/s
at f Hz is an acceleration sine of peak v * sqrt(2) * 2 pi f / 1000 / g, in g.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from rotorwatch.contract.telemetry import (
    STANDARD_GRAVITY_M_S2,
    Telemetry,
    decode,
    encode,
    encode_samples,
)
from rotorwatch.diagnosis.assets import Asset, parse_asset

FS_HZ = 10240.0
N_SAMPLES = 4096
#: Sample rate of the feature engine's analytic tests (bins of exactly 2 Hz at N_SAMPLES).
ANALYTIC_FS_HZ = 8192.0
RPM = 1780.0
SHAFT_HZ = RPM / 60.0
SITE = "plant-a"

#: Group 2 (15-300 kW) on a rigid foundation: zones A/B/C/D split at 1.4 / 2.8 / 4.5 mm/s.
ASSET_RECORD: dict[str, Any] = {
    "device_id": "pump-01",
    "machine_group": 2,
    "foundation": "rigid",
    "rated_rpm": 1780,
    "site": SITE,
    "bearing": {
        "n_balls": 9,
        "ball_diameter_mm": 7.94,
        "pitch_diameter_mm": 39.04,
        "contact_angle_deg": 0,
    },
}


def asset(device_id: str = "pump-01") -> Asset:
    return parse_asset({**ASSET_RECORD, "device_id": device_id})


def tone_g(velocity_rms_mm_s: float, freq_hz: float) -> float:
    """Acceleration peak (g) of a sine with the given velocity RMS (mm/s)."""
    return (
        velocity_rms_mm_s
        * math.sqrt(2.0)
        * 2.0
        * math.pi
        * freq_hz
        / 1000.0
        / STANDARD_GRAVITY_M_S2
    )


def window(
    *,
    v1x_mm_s: float = 1.0,
    h2: float = 0.0,
    h3: float = 0.0,
    half: float = 0.0,
    defect: str | None = None,
    defect_amp_g: float = 0.5,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """Shaft tone at 1x (velocity RMS v1x), optional 2x/3x/0.5x at a fraction of 1x's velocity,
    and optionally a bearing defect: decaying resonance bursts at 0.3 fs repeating at the defect
    frequency of :func:`asset`'s bearing (the way a spall rings the housing)."""
    t = np.arange(N_SAMPLES) / FS_HZ
    x = tone_g(v1x_mm_s, SHAFT_HZ) * np.sin(2 * np.pi * SHAFT_HZ * t)
    for frac, order, phase in ((h2, 2.0, 0.3), (h3, 3.0, 0.7), (half, 0.5, 0.1)):
        if frac:
            x += (
                frac
                * tone_g(v1x_mm_s, order * SHAFT_HZ)
                * np.sin(2 * np.pi * order * SHAFT_HZ * t + phase)
            )
    x += 0.01 * np.random.default_rng(seed).standard_normal(N_SAMPLES)
    if defect is not None:
        bearing = asset().bearing
        assert bearing is not None
        x += impulse_train_g(
            bearing.defect_frequencies_hz(RPM)[defect],
            resonance_hz=0.3 * FS_HZ,
            damping_per_s=800.0,
            amp_g=defect_amp_g,
            noise_g=0.0,
            fs_hz=FS_HZ,
        )
    return x


def message(
    device_id: str = "pump-01", ts: int = 1_763_900_000_000, seq: int = 0, **kw: Any
) -> bytes:
    """A telemetry v1 message carrying :func:`window` (int16 encoding, as devices send)."""
    return encode(
        device_id=device_id,
        ts=ts,
        seq=seq,
        rpm=RPM,
        temperature_c=41.5,
        pressure_bar=2.1,
        vibration=encode_samples(window(**kw), fs_hz=FS_HZ),
    )


def t_s(n: int = N_SAMPLES, fs_hz: float = ANALYTIC_FS_HZ) -> npt.NDArray[np.float64]:
    return np.arange(n) / fs_hz


def sine_g(
    freq_hz: float, amp_g: float = 1.0, n: int = N_SAMPLES, fs_hz: float = ANALYTIC_FS_HZ
) -> npt.NDArray[np.float64]:
    return amp_g * np.sin(2 * np.pi * freq_hz * t_s(n, fs_hz))


def impulse_train_g(
    rate_hz: float,
    *,
    resonance_hz: float = 3000.0,
    damping_per_s: float = 600.0,
    amp_g: float = 1.0,
    noise_g: float = 0.05,
    modulation_hz: float | None = None,
    jitter: float = 0.01,
    seed: int = 0,
    n: int = N_SAMPLES,
    fs_hz: float = ANALYTIC_FS_HZ,
) -> npt.NDArray[np.float64]:
    """Decaying resonance rings repeated at ``rate_hz`` (a bearing defect), plus white noise.

    With ``modulation_hz`` the impact amplitude is modulated as (1 + cos 2 pi f t) / 2, as an
    inner-race defect passing through the load zone once per shaft turn. ``jitter`` is the
    standard deviation of each interval, relative: rolling elements slip, so real impacts are
    never exactly periodic (a strictly periodic train is a set of discrete tones, which
    pre-whitening rightly flattens).
    """
    rng = np.random.default_rng(seed)
    t = t_s(n, fs_hz)
    x = noise_g * rng.standard_normal(n)
    intervals = (1.0 + jitter * rng.standard_normal(int(t[-1] * rate_hz * 1.5) + 2)) / rate_hz
    for t0 in np.concatenate([[0.0], np.cumsum(intervals)]):
        if t0 >= t[-1]:
            break
        gain = 1.0 if modulation_hz is None else 0.5 * (1 + np.cos(2 * np.pi * modulation_hz * t0))
        m = t >= t0
        d = t[m] - t0
        x[m] += amp_g * gain * np.exp(-damping_per_s * d) * np.sin(2 * np.pi * resonance_hz * d)
    return x


def telemetry_of(
    x_g: npt.ArrayLike,
    *,
    device_id: str = "dev-1",
    rpm: float | None = 1800.0,
    fs_hz: float = ANALYTIC_FS_HZ,
    encoding: str = "float32le+base64",
    seq: int = 0,
) -> Telemetry:
    """A decoded message carrying ``x_g`` (float32 by default: no quantisation in the oracle)."""
    vib = encode_samples(x_g, fs_hz=fs_hz, encoding=encoding)  # type: ignore[arg-type]
    return decode(
        encode(device_id=device_id, ts=1_700_000_000_000 + seq, seq=seq, rpm=rpm, vibration=vib)
    )
