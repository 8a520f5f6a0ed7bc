"""Analytic test signals with known answers (no simulator: these are the oracle's inputs)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rotorwatch.telemetry import Telemetry, decode, encode, encode_samples

FS_HZ = 8192.0
N = 4096


def t_s(n: int = N, fs_hz: float = FS_HZ) -> npt.NDArray[np.float64]:
    return np.arange(n) / fs_hz


def sine_g(
    freq_hz: float, amp_g: float = 1.0, n: int = N, fs_hz: float = FS_HZ
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
    seed: int = 0,
    n: int = N,
    fs_hz: float = FS_HZ,
) -> npt.NDArray[np.float64]:
    """Decaying resonance rings repeated at ``rate_hz`` (a bearing defect), plus white noise.

    With ``modulation_hz`` the impact amplitude is modulated as (1 + cos 2 pi f t) / 2, as an
    inner-race defect passing through the load zone once per shaft turn.
    """
    rng = np.random.default_rng(seed)
    t = t_s(n, fs_hz)
    x = noise_g * rng.standard_normal(n)
    for t0 in np.arange(0.0, t[-1], 1.0 / rate_hz):
        gain = 1.0 if modulation_hz is None else 0.5 * (1 + np.cos(2 * np.pi * modulation_hz * t0))
        m = t >= t0
        d = t[m] - t0
        x[m] += amp_g * gain * np.exp(-damping_per_s * d) * np.sin(2 * np.pi * resonance_hz * d)
    return x


def message(
    x_g: npt.ArrayLike,
    *,
    device_id: str = "dev-1",
    rpm: float | None = 1800.0,
    fs_hz: float = FS_HZ,
    encoding: str = "float32le+base64",
    seq: int = 0,
) -> Telemetry:
    vib = encode_samples(x_g, fs_hz=fs_hz, encoding=encoding)  # type: ignore[arg-type]
    return decode(
        encode(device_id=device_id, ts=1_700_000_000_000 + seq, seq=seq, rpm=rpm, vibration=vib)
    )
