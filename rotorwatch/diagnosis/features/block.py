"""The fused pass over one block of windows: every feature but the bearing envelope's indicators
(time statistics, bands, velocity, comb speed, shaft orders, dominant frequency), and the
block's envelope spectrum for them.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.features.envelope import COMB_ROWS, _envelope_spectrum, _Scratch
from rotorwatch.diagnosis.features.schema import BANDS_HZ, ORDERS
from rotorwatch.diagnosis.features.spectrum import F64, ORDER_HALF_WIDTH_BINS, _window
from rotorwatch.diagnosis.features.speed import MIN_CONFIDENCE, estimate_shaft_hz
from rotorwatch.diagnosis.features.velocity import _velocity_ms

#: Lowest frequency considered for the dominant peak (below it lies DC and window leakage).
DOMINANT_MIN_HZ: Final = 2.0
_ORDER_VALUES: Final = np.array([order for _, order in ORDERS])
_LOBE_BINS: Final = np.arange(-ORDER_HALF_WIDTH_BINS, ORDER_HALF_WIDTH_BINS + 1)


#: The features :func:`_block_features` computes (the envelope indicators come after).
_BLOCK_FEATURES: Final[tuple[str, ...]] = (
    "accel_rms_g",
    "accel_peak_g",
    "crest_factor",
    "kurtosis",
    "skewness",
    *(name for name, _, _ in BANDS_HZ),
    "velocity_rms_mm_s",
    *(name for name, _ in ORDERS),
    "dominant_freq_hz",
    "shaft_hz",
    "speed_confidence",
    "comb_confidence",
)


def _block_features(
    s: _Scratch,
    extremes: F64,
    df_hz: F64,
    shaft_hz: F64,
    env_spec: Any,
    search_hz: F64,
    estimate: npt.NDArray[np.bool_],
    ladder_steps: npt.NDArray[np.int64] | None = None,
) -> dict[str, F64]:
    """Every feature but the envelope indicators for one block (``s.x``: windows in g, consumed;
    ``extremes``: (2, B) each row's largest and smallest sample of ``s.x``, in g), and the
    block's envelope magnitude spectrum into ``env_spec``. Rows in ``estimate`` get
    their speed from the harmonic comb within ``search_hz`` (NaN where it is not confident);
    ``ladder_steps``: each row's low demodulation bands (:func:`.envelope._ladder_steps`)."""
    b, n = s.x.shape
    out: dict[str, F64] = {}

    # Time domain on the DC-free signal (accelerometer offsets and gravity are not vibration).
    x = s.x
    mean = np.add.reduce(x, axis=1, keepdims=True) / n  # as np.mean computes it
    x -= mean
    # The moments are numpy's own pairwise sums along each row, so a row's rounding is its own:
    # einsum splits rows longer than its 8192-element buffer differently with one row than with
    # several (a 16384-sample window's kurtosis moved by an ulp with its batch), and a BLAS dot
    # (np.vecdot) splits rows over 10,000 samples by the number of threads. x^3 and x^4 are
    # made in place from x^2 (the buffer is not read again).
    np.multiply(x, x, out=s.x2)
    m2 = np.add.reduce(s.x2, axis=1) / n
    np.multiply(s.x2, x, out=s.x2)
    m3 = np.add.reduce(s.x2, axis=1) / n
    np.multiply(s.x2, x, out=s.x2)
    m4 = np.add.reduce(s.x2, axis=1) / n
    # The DC-free window's largest and smallest samples: its extremes less the mean, exactly
    # the values x.max() and x.min() would find (rounding is monotone; a negative gain swaps
    # them), without two passes over x. The peak as ever (the sign of a flat line's 0 too).
    ends = extremes - mean[:, 0]
    peak = np.maximum(np.maximum(ends[0], ends[1]), -np.minimum(ends[0], ends[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_m2 = np.where(m2 > 0, m2, np.nan)
        out["accel_rms_g"] = np.sqrt(m2)
        out["accel_peak_g"] = peak
        out["crest_factor"] = peak / np.sqrt(safe_m2)
        out["kurtosis"] = m4 / (safe_m2 * safe_m2)
        out["skewness"] = m3 / safe_m2**1.5

    # One Hann-windowed spectrum for everything else (float64: pocketfft is faster there than
    # in single precision, measured in benchmarks/bench_features.py).
    w, sum_w2 = _window(n)
    x *= w
    spec = np.fft.rfft(x, axis=1, out=s.spec)
    ms_per_bin = s.ms  # mean-square contribution of bin k (Parseval, one-sided)
    # re^2 + im^2: every part squared in one contiguous pass, then the pairs added.
    re_im2 = np.square(spec.view(np.float64), out=s.re_im2)
    np.add(re_im2[:, 0::2], re_im2[:, 1::2], out=ms_per_bin)
    _envelope_spectrum(s, spec, env_spec, power=ms_per_bin, steps=ladder_steps)  # |X_k|^2
    ms_per_bin *= 2.0 / (n * sum_w2)
    k_count = ms_per_bin.shape[1]
    last_bin = k_count - 2  # the Nyquist bin is excluded from bands

    # Bands and velocity: rows sharing a sample rate share bin edges, so each band is a slice
    # sum (a batch usually holds one sample rate; mixed rates loop over the few distinct ones).
    for name in (*(name for name, _, _ in BANDS_HZ), "velocity_rms_mm_s"):
        out[name] = np.full(b, np.nan)
    for df in np.unique(df_hz):
        rows = np.flatnonzero(df_hz == df)
        sub = ms_per_bin if rows.size == b else ms_per_bin[rows]
        for name, lo, hi in BANDS_HZ:
            k_lo, k_hi = max(int(np.ceil(lo / df)), 1), min(int(np.floor(hi / df)), last_bin)
            if k_hi >= k_lo:
                out[name][rows] = np.sqrt(sub[:, k_lo : k_hi + 1].sum(axis=1))
        # Velocity RMS 10-1000 Hz: V(f) = A(f) / (2 pi f), A in m/s^2, V in mm/s, each bin's
        # power integrated at the frequency it came from (see _velocity_ms).
        out["velocity_rms_mm_s"][rows] = np.sqrt(_velocity_ms(sub, float(df), last_bin))

    # No tachometer: the speed from the comb of shaft orders (before the power spectrum is
    # masked for the dominant peak below).
    shaft_hz = shaft_hz.copy()
    comb = np.full(b, np.nan)
    for start in range(0, b, COMB_ROWS):  # one comb grid per COMB_ROWS rows of the batch
        rows_e = start + np.flatnonzero(estimate[start : start + COMB_ROWS])
        if rows_e.size == 0:
            continue
        est, comb[rows_e] = estimate_shaft_hz(
            ms_per_bin[rows_e], df_hz[rows_e], search_hz[rows_e, 0], search_hz[rows_e, 1]
        )
        shaft_hz[rows_e] = np.where(comb[rows_e] >= MIN_CONFIDENCE, est, np.nan)
    out["shaft_hz"] = shaft_hz
    out["comb_confidence"] = comb
    out["speed_confidence"] = comb

    # Shaft orders: peak amplitude = sqrt(2 x mean-square in the Hann main lobe around the
    # line), every order of every row in one gather.
    known = np.isfinite(shaft_hz)
    kc = np.rint(np.where(known, shaft_hz, 0.0)[:, None] * _ORDER_VALUES / df_hz[:, None])
    kc = np.minimum(kc, last_bin + ORDER_HALF_WIDTH_BINS + 1)  # beyond the spectrum: not read
    kc_i = kc.astype(np.int64)  # (B, orders)
    ok = known[:, None] & (kc_i - ORDER_HALF_WIDTH_BINS >= 1)
    ok &= kc_i + ORDER_HALF_WIDTH_BINS <= last_bin
    idx = np.clip(kc_i[:, :, None] + _LOBE_BINS, 1, last_bin).reshape(b, -1)
    lobe_ms = np.take_along_axis(ms_per_bin, idx, axis=1).reshape((*kc_i.shape, -1)).sum(axis=2)
    amplitudes = np.where(ok, np.sqrt(2.0 * lobe_ms), np.nan)
    for j, (name, _order) in enumerate(ORDERS):
        out[name] = amplitudes[:, j]

    # Dominant frequency: the largest bin above DOMINANT_MIN_HZ, refined by a parabola through
    # the log power of its neighbours (sub-bin accuracy for a Hann window). The spectrum is not
    # needed unmasked any more: zero what must not win, in place (a contiguous argmax is several
    # times faster than one on a sliced view).
    k0 = np.maximum(np.ceil(DOMINANT_MIN_HZ / df_hz).astype(np.int64), 1)
    power = ms_per_bin  # proportional to |X_k|^2: same argmax, same log differences
    power[:, last_bin + 1 :] = 0.0
    if int(k0.max()) == int(k0.min()):
        power[:, : int(k0[0])] = 0.0
    else:  # mixed sample rates: mask each row's own low bins
        power[np.arange(k_count)[None, :] < k0[:, None]] = 0.0
    kp = np.argmax(power, axis=1)
    kp_c = np.clip(kp, 1, k_count - 2)
    rows = np.arange(b)
    la = np.log(power[rows, kp_c - 1] + 1e-300)
    lb = np.log(power[rows, kp_c] + 1e-300)
    lc = np.log(power[rows, kp_c + 1] + 1e-300)
    denom = la - 2.0 * lb + lc
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (la - lc) / denom, 0.0)
    out["dominant_freq_hz"] = np.where(m2 > 0, (kp_c + np.clip(delta, -0.5, 0.5)) * df_hz, np.nan)
    return out
