"""Vectorised vibration features: one numpy pass per batch of equal-length windows.

Pipeline per batch (B windows of N samples, in g):

1. Time-domain statistics on the DC-free signal: RMS, peak, crest factor, skewness, Pearson
   kurtosis.
2. One Hann-windowed ``rfft``. Per-bin mean-square contributions ``p_k = 2|X_k|^2 / (N sum w^2)``
   (Parseval, one-sided) are summed with a cumulative sum, so every band, the velocity RMS and
   each shaft-order amplitude is a difference of two cumulative sums at per-row bin indices.
3. Velocity: each bin divided by ``2 pi f`` (integration in the frequency domain), summed over
   10-1000 Hz, in mm/s.
4. Envelope: the band [0.2 fs, 0.45 fs) of the same spectrum, shifted to baseband and inverted
   with an FFT a quarter as long (complex demodulation: the magnitude of the analytic signal at
   a quarter of the sample rate), then the envelope's own spectrum. Bearing impacts ring a
   structural resonance up there; their repetition rate shows up in the envelope spectrum.

All arithmetic is float32 except the cumulative sums (float64), which keeps the batch in cache-
friendly arrays: decoding, not the FFT, is the cost to attack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.assets import Asset
from rotorwatch.features.iso import ZONES, zone_boundaries_mm_s, zone_index
from rotorwatch.features.schema import BANDS_HZ, DEFECTS, ORDERS, VIBRATION_FEATURES
from rotorwatch.telemetry import STANDARD_GRAVITY_M_S2, Telemetry

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

VELOCITY_BAND_HZ: Final = (10.0, 1000.0)
#: Lowest frequency considered for the dominant peak (below it lies DC and window leakage).
DOMINANT_MIN_HZ: Final = 2.0
#: Envelope demodulation band as fractions of the sample rate.
ENVELOPE_BAND_FS: Final = (0.2, 0.45)
#: The envelope is computed at fs / ENVELOPE_DECIMATION (its spectrum reaches fs / 8).
ENVELOPE_DECIMATION: Final = 4
#: Harmonics of each defect frequency and their weights: the fundamental counts most because
#: harmonics of different defects can fall close together (3 x BPFO ~ 2 x BPFI).
ENVELOPE_HARMONIC_WEIGHTS: Final = (1.0, 0.5, 0.25)
#: Search half-width around a defect line: bearings slip (1-2 %), rpm is not exact.
ENVELOPE_TOLERANCE_REL: Final = 0.02
ENVELOPE_TOLERANCE_BINS: Final = 1.5
#: Half-width in bins of the Hann main lobe summed for a tone's amplitude.
ORDER_HALF_WIDTH_BINS: Final = 2

_MM_PER_M: Final = 1000.0


def _hann(n: int) -> F32:
    # Periodic Hann (the DFT-even form used for spectral analysis).
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


_WINDOWS: dict[int, tuple[F32, float]] = {}


def _window(n: int) -> tuple[F32, float]:
    cached = _WINDOWS.get(n)
    if cached is None:
        w = _hann(n)
        cached = (w, float(np.sum(w.astype(np.float64) ** 2)))
        _WINDOWS[n] = cached
    return cached


def _band_sum(cum: F64, k_lo: I64, k_hi: I64) -> F64:
    """Sum of the per-bin values between bins k_lo and k_hi inclusive, row by row.

    ``cum`` is the cumulative sum with a leading zero column, shape (B, K + 1).
    """
    hi = np.take_along_axis(cum, (k_hi + 1)[:, None], axis=1)[:, 0]
    lo = np.take_along_axis(cum, k_lo[:, None], axis=1)[:, 0]
    return np.maximum(hi - lo, 0.0)


def window_features(
    x_g: F32,
    fs_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
) -> dict[str, F64]:
    """Features of a batch of equal-length acceleration windows.

    Parameters
    ----------
    x_g : ndarray, shape (B, N), float32
        Acceleration windows in g.
    fs_hz : ndarray, shape (B,)
        Sample rate of each window in Hz.
    shaft_hz : ndarray, shape (B,)
        Shaft rotation frequency in Hz, NaN where unknown (orders and envelope are then NaN).
    defect_orders : ndarray, shape (B, len(DEFECTS))
        Bearing defect frequencies as multiples of shaft speed, NaN where the geometry is unknown.

    Returns
    -------
    dict of name -> ndarray (B,), float64, NaN for values that cannot be computed.
    """
    if x_g.ndim != 2:
        raise ValueError(f"x_g must have shape (B, N), got {x_g.shape}")
    b, n = x_g.shape
    if fs_hz.shape != (b,) or shaft_hz.shape != (b,) or defect_orders.shape != (b, len(DEFECTS)):
        raise ValueError("fs_hz, shaft_hz and defect_orders must match the batch size")
    out: dict[str, F64] = {}

    # 1. Time domain, DC removed (accelerometer offsets and gravity are not vibration).
    x = x_g - x_g.mean(axis=1, dtype=np.float64, keepdims=True).astype(np.float32)
    x2 = x * x
    m2 = x2.mean(axis=1, dtype=np.float64)
    m3 = np.einsum("ij,ij->i", x2, x, dtype=np.float64) / n
    m4 = np.einsum("ij,ij->i", x2, x2, dtype=np.float64) / n
    del x2
    peak = np.maximum(x.max(axis=1), -x.min(axis=1)).astype(np.float64)
    rms = np.sqrt(m2)
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_m2 = np.where(m2 > 0, m2, np.nan)
        out["accel_rms_g"] = rms
        out["accel_peak_g"] = peak
        out["crest_factor"] = peak / np.sqrt(safe_m2)
        out["kurtosis"] = m4 / (safe_m2 * safe_m2)
        out["skewness"] = m3 / safe_m2**1.5

    # 2. One windowed spectrum for everything else.
    w, sum_w2 = _window(n)
    spec = np.fft.rfft(x * w, axis=1)  # complex64 (numpy >= 2 keeps single precision)
    del x
    k_count = spec.shape[1]
    power = spec.real * spec.real + spec.imag * spec.imag  # |X_k|^2, float32
    ms_per_bin = power * np.float32(2.0 / (n * sum_w2))  # mean-square contribution of bin k
    df_hz = fs_hz / n  # (B,) bin spacing
    last_bin = k_count - 2  # the Nyquist bin is excluded from bands
    cum = np.zeros((b, k_count + 1), dtype=np.float64)
    np.cumsum(ms_per_bin, axis=1, dtype=np.float64, out=cum[:, 1:])

    def bins_for(lo_hz: F64 | float, hi_hz: F64 | float) -> tuple[I64, I64, npt.NDArray[np.bool_]]:
        k_lo = np.maximum(np.ceil(lo_hz / df_hz), 1).astype(np.int64)
        k_hi = np.minimum(np.floor(hi_hz / df_hz), last_bin).astype(np.int64)
        ok = k_hi >= k_lo
        return np.minimum(k_lo, last_bin), np.maximum(k_hi, 0), ok

    for name, lo, hi in BANDS_HZ:
        k_lo, k_hi, ok = bins_for(lo, hi)
        out[name] = np.where(ok, np.sqrt(_band_sum(cum, k_lo, k_hi)), np.nan)

    # 3. Velocity RMS 10-1000 Hz: V(f) = A(f) / (2 pi f), A in m/s^2, V in mm/s.
    lo_v, hi_v = VELOCITY_BAND_HZ
    k_lo, k_hi, ok = bins_for(lo_v, hi_v)
    k_max = int(k_hi.max(initial=0)) + 1
    f_hz = np.arange(k_max, dtype=np.float64)[None, :] * df_hz[:, None]
    with np.errstate(divide="ignore"):
        gain = (STANDARD_GRAVITY_M_S2 * _MM_PER_M / (2.0 * np.pi * f_hz)) ** 2
    gain[:, 0] = 0.0
    vcum = np.zeros((b, k_max + 1), dtype=np.float64)
    np.cumsum(ms_per_bin[:, :k_max] * gain, axis=1, out=vcum[:, 1:])
    out["velocity_rms_mm_s"] = np.where(ok, np.sqrt(_band_sum(vcum, k_lo, np.minimum(k_hi, k_max - 1))), np.nan)

    # Dominant frequency: the largest bin above DOMINANT_MIN_HZ, refined by a parabola through
    # the log power of its neighbours (sub-bin accuracy for a Hann window).
    k0 = np.maximum(np.ceil(DOMINANT_MIN_HZ / df_hz).astype(np.int64), 1)
    k_first = int(k0.min())
    masked = power[:, k_first:last_bin + 1].copy()
    masked[np.arange(masked.shape[1])[None, :] + k_first < k0[:, None]] = 0.0
    kp = np.argmax(masked, axis=1) + k_first
    kp_c = np.clip(kp, 1, k_count - 2)
    rows = np.arange(b)
    la = np.log(power[rows, kp_c - 1].astype(np.float64) + 1e-30)
    lb = np.log(power[rows, kp_c].astype(np.float64) + 1e-30)
    lc = np.log(power[rows, kp_c + 1].astype(np.float64) + 1e-30)
    denom = la - 2.0 * lb + lc
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (la - lc) / denom, 0.0)
    out["dominant_freq_hz"] = np.where(m2 > 0, (kp_c + np.clip(delta, -0.5, 0.5)) * df_hz, np.nan)

    # Shaft orders: peak amplitude = sqrt(2 x mean-square in the Hann main lobe around the line).
    known = np.isfinite(shaft_hz)
    for name, order in ORDERS:
        kc = np.rint(np.where(known, order * shaft_hz, 0.0) / df_hz).astype(np.int64)
        ok = known & (kc >= 1) & (kc + ORDER_HALF_WIDTH_BINS <= last_bin)
        k_lo = np.clip(kc - ORDER_HALF_WIDTH_BINS, 1, last_bin)
        k_hi = np.clip(kc + ORDER_HALF_WIDTH_BINS, 1, last_bin)
        out[name] = np.where(ok, np.sqrt(2.0 * _band_sum(cum, k_lo, k_hi)), np.nan)

    # 4. Envelope spectrum by complex demodulation of the band [0.2 fs, 0.45 fs).
    _envelope_indicators(spec, n, df_hz, shaft_hz, defect_orders, out)
    return out


def _envelope_indicators(
    spec: npt.NDArray[np.complex64],
    n: int,
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    out: dict[str, F64],
) -> None:
    b = spec.shape[0]
    m = n // ENVELOPE_DECIMATION
    k_lo = round(ENVELOPE_BAND_FS[0] * n)
    k_hi = min(round(ENVELOPE_BAND_FS[1] * n), k_lo + m)
    base = np.zeros((b, m), dtype=np.complex64)
    base[:, : k_hi - k_lo] = spec[:, k_lo:k_hi]
    envelope = np.abs(np.fft.ifft(base, axis=1))
    envelope -= envelope.mean(axis=1, keepdims=True)
    env_spec = np.abs(np.fft.rfft(envelope, axis=1))  # bin spacing df_hz, up to fs / 8
    k_env = env_spec.shape[1]
    median = np.median(env_spec[:, 1:], axis=1).astype(np.float64)

    weights = np.asarray(ENVELOPE_HARMONIC_WEIGHTS)
    harmonics = np.arange(1, len(weights) + 1, dtype=np.float64)
    max_halfwidth = int(np.ceil(ENVELOPE_TOLERANCE_BINS + ENVELOPE_TOLERANCE_REL * k_env)) + 1
    offsets = np.arange(-max_halfwidth, max_halfwidth + 1)
    valid_row = np.isfinite(shaft_hz) & (median > 0)
    for j, (name, _key) in enumerate(DEFECTS):
        f_defect = shaft_hz * defect_orders[:, j]  # (B,) NaN where unknown
        ok_row = valid_row & np.isfinite(f_defect) & (f_defect > 0)
        kc = np.where(ok_row, f_defect, 0.0)[:, None] * harmonics[None, :] / df_hz[:, None]  # (B, H)
        half = ENVELOPE_TOLERANCE_BINS + ENVELOPE_TOLERANCE_REL * kc
        idx = np.rint(kc)[:, :, None].astype(np.int64) + offsets[None, None, :]  # (B, H, W)
        inside = (np.abs(idx - kc[:, :, None]) <= half[:, :, None]) & (idx >= 1) & (idx < k_env)
        vals = np.take_along_axis(env_spec, np.clip(idx, 0, k_env - 1).reshape(b, -1), axis=1)
        vals = np.where(inside.reshape(b, -1), vals, 0.0).reshape(idx.shape)
        peaks = vals.max(axis=2)  # (B, H)
        present = (kc + half < k_env) & (kc >= 1)  # harmonic lies inside the envelope spectrum
        wsum = (present * weights[None, :]).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (peaks * weights[None, :] * present).sum(axis=1) / (wsum * median)
        out[name] = np.where(ok_row & (wsum > 0), ratio, np.nan)


def _asset_arrays(
    device_ids: Sequence[str], rpms: Sequence[float | None], assets: Mapping[str, Asset]
) -> tuple[F64, F64, F64]:
    """Per-row shaft frequency (Hz), bearing defect orders and ISO boundaries (NaN if unknown)."""
    b = len(device_ids)
    shaft_hz = np.full(b, np.nan)
    orders = np.full((b, len(DEFECTS)), np.nan)
    bounds = np.full((b, 3), np.nan)
    for i, (dev, rpm) in enumerate(zip(device_ids, rpms, strict=True)):
        asset = assets.get(dev)
        if rpm is not None:
            shaft_hz[i] = rpm / 60.0
        if asset is None:
            continue
        bounds[i] = zone_boundaries_mm_s(asset.machine_group, asset.foundation)
        if asset.bearing is not None:
            defect = asset.bearing.defect_orders()
            orders[i] = [defect[key] for _, key in DEFECTS]
    return shaft_hz, orders, bounds


def _decode_batch(messages: Sequence[Telemetry]) -> F32:
    """Stack equal-length, same-encoding windows into one (B, N) float32 array in g."""
    first = messages[0].vibration
    assert first is not None
    dtype = np.dtype("<i2") if first.encoding == "int16le+base64" else np.dtype("<f4")
    raw = np.frombuffer(b"".join(m.vibration.raw for m in messages if m.vibration), dtype=dtype)
    raw = raw.reshape(len(messages), -1)
    scale = np.array(
        [
            m.vibration.scale / (STANDARD_GRAVITY_M_S2 if m.vibration.unit == "m/s2" else 1.0)
            for m in messages
            if m.vibration
        ],
        dtype=np.float32,
    )
    return np.multiply(raw, scale[:, None], dtype=np.float32)


def _none_if_nan(values: F64) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]


def compute_features(
    messages: Sequence[Telemetry], assets: Mapping[str, Asset] | None = None
) -> list[dict[str, Any]]:
    """Feature records for a batch of decoded telemetry messages, in input order.

    Windows of equal length and encoding are processed together in one vectorised pass.
    Messages without a vibration window give a record whose vibration fields are None.
    ``iso_zone`` needs the device's asset record; the envelope indicators need its bearing
    geometry and the message's ``rpm`` (the shaft-order amplitudes need only ``rpm``).
    """
    assets = assets or {}
    records: list[dict[str, Any]] = []
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, msg in enumerate(messages):
        records.append(
            {
                "device_id": msg.device_id,
                "site": msg.site,
                "ts": msg.ts,
                "seq": msg.seq,
                "received_at": msg.received_at,
                "rpm": msg.rpm,
                "temperature_c": msg.temperature_c,
                "pressure_bar": msg.pressure_bar,
                **dict.fromkeys(VIBRATION_FEATURES),
            }
        )
        if msg.vibration is not None:
            groups[(msg.vibration.encoding, msg.vibration.n_samples)].append(i)

    for (_enc, n), idx in groups.items():
        batch = [messages[i] for i in idx]
        x_g = _decode_batch(batch)
        fs_hz = np.array([m.vibration.fs_hz for m in batch if m.vibration], dtype=np.float64)
        shaft_hz, orders, bounds = _asset_arrays(
            [m.device_id for m in batch], [m.rpm for m in batch], assets
        )
        cols = window_features(x_g, fs_hz, shaft_hz, orders)
        zone_idx = zone_index(cols["velocity_rms_mm_s"], bounds).tolist()
        has_zone = np.isfinite(bounds[:, 0]) & np.isfinite(cols["velocity_rms_mm_s"])
        columns = {name: _none_if_nan(values) for name, values in cols.items()}
        fs_list = fs_hz.tolist()
        for row, i in enumerate(idx):
            rec = records[i]
            rec["fs_hz"] = fs_list[row]
            rec["n_samples"] = n
            for name, values in columns.items():
                rec[name] = values[row]
            rec["iso_zone"] = ZONES[zone_idx[row]] if has_zone[row] else None
    return records

