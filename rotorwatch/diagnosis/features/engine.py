"""Vectorised vibration features: one numpy pass per batch of equal-length windows.

Pipeline per batch (B windows of N samples, in g):

1. One fused pass over the raw windows, a cache-sized block of rows at a time: time-domain
   statistics on the DC-free signal (RMS, peak, crest factor, skewness, Pearson kurtosis), one
   Hann-windowed ``rfft``, the per-bin mean-square contributions ``p_k = 2|X_k|^2 / (N sum w^2)``
   (Parseval, one-sided) and the envelope band of the spectrum.
2. Bands are slice sums of ``p_k``; velocity divides each bin by ``2 pi f`` (integration in the
   frequency domain) and sums 10-1000 Hz, in mm/s; shaft-order amplitudes sum the Hann main
   lobe around each order, gathered with per-row index arrays (never a Python loop over rows).
3. Bearing envelope analysis, per window, for machines nobody tuned it to:

   a. **Cepstral pre-whitening**: the spectrum divided by its own magnitude (the real cepstrum
      with everything but the zero quefrency removed). Shaft orders, gear and vane tones and
      the transmission path's colouring all become flat, so they cannot mask the impacts.
   b. **Demodulation band chosen per window**: :data:`ENVELOPE_BANDS_FS` are a few candidate
      bands a quarter of the sample rate wide; each is shifted to baseband and inverted with
      an FFT a quarter as long (complex demodulation), and the band whose envelope is the
      most impulsive (spectral kurtosis of the complex envelope) is kept: bearing impacts
      ring a structural resonance wherever it happens to be on that machine.
   c. **Envelope spectrum** of that band, and per defect family (BPFO, BPFI, BSF, FTF) the
      lines physics predicts (:data:`ENVELOPE_LINES`): harmonics, an inner race's 1x
      sidebands (BPFI +- fr, the defect turns with the shaft through the load zone), a ball's
      2 x BSF (it strikes both races) with cage sidebands. Each line is a peak within a
      slip/rpm tolerance over the envelope spectrum's median; a family scores its strongest
      weighted line. A harmonic that falls on another family's line (3 x BPFO ~ 2 x BPFI on
      common bearings) is evidence for neither and is skipped.
4. **No tachometer**: where a message has no ``rpm``, the speed comes from the window's own
   spectrum (a harmonic comb of shaft orders, :mod:`rotorwatch.diagnosis.features.speed`) and is
   cross-checked against the bearing lines of step 3 (:func:`_cross_check`).
5. **Resolution**: orders and bearing lines are read only where lines one shaft rate apart are
   a Hann main lobe apart (:data:`RESOLVE_MIN_BINS`).
Arithmetic is float64 (numpy's pocketfft runs faster in double than in single precision); the
envelope's short inverse FFT runs in complex64, where single precision is faster.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.contract.telemetry import STANDARD_GRAVITY_M_S2, Telemetry
from rotorwatch.diagnosis.assets import Asset, Bearing, limit_fields
from rotorwatch.diagnosis.features.end_of_life import end_of_life_fields
from rotorwatch.diagnosis.features.iso import ZONES, zone_boundaries_mm_s, zone_index
from rotorwatch.diagnosis.features.schema import (
    BANDS_HZ,
    DEFECTS,
    ORDERS,
    SCHEMA_2_FIELDS,
    UNRESOLVED,
    VIBRATION_FEATURES,
)
from rotorwatch.diagnosis.features.sensor_health import sensor_problems
from rotorwatch.diagnosis.features.speed import MIN_CONFIDENCE, estimate_shaft_hz, search_range_hz

F64 = npt.NDArray[np.float64]

VELOCITY_BAND_HZ: Final = (10.0, 1000.0)
#: Lowest frequency considered for the dominant peak (below it lies DC and window leakage).
DOMINANT_MIN_HZ: Final = 2.0
#: Candidate envelope demodulation bands as fractions of the sample rate, each a quarter of it
#: wide (the baseband FFT is a quarter as long). The first is the default when no band is more
#: impulsive than another (a healthy machine). Together they cover 0.05-0.5 fs, so a resonance
#: anywhere above the shaft-order region is found at 12 kHz as at 48 kHz.
ENVELOPE_BANDS_FS: Final = ((0.2, 0.45), (0.05, 0.3), (0.125, 0.375), (0.25, 0.5))
#: The envelope is computed at fs / ENVELOPE_DECIMATION (its spectrum reaches fs / 8).
ENVELOPE_DECIMATION: Final = 4
#: Lines of each defect family in the envelope spectrum, as (family, harmonic of the defect
#: frequency, multiple of shaft speed added, multiple of FTF added, weight). The fundamental
#: weighs most: harmonics of different defects can fall together.
ENVELOPE_LINES: Final[tuple[tuple[str, int, int, int, float], ...]] = (
    ("bpfo", 1, 0, 0, 1.0),
    ("bpfo", 2, 0, 0, 0.5),
    ("bpfo", 3, 0, 0, 0.5),
    ("bpfi", 1, 0, 0, 1.0),
    ("bpfi", 2, 0, 0, 0.5),
    ("bpfi", 3, 0, 0, 0.5),
    ("bpfi", 1, -1, 0, 0.5),  # inner race: amplitude-modulated at 1x
    ("bpfi", 1, 1, 0, 0.5),
    ("bsf", 2, 0, 0, 1.0),  # a ball defect strikes inner and outer race once per spin
    ("bsf", 1, 0, 0, 0.5),
    ("bsf", 4, 0, 0, 0.5),
    ("bsf", 2, 0, -1, 0.5),  # the ball is carried through the load zone at the cage rate
    ("bsf", 2, 0, 1, 0.5),
    ("ftf", 1, 0, 0, 1.0),
    ("ftf", 2, 0, 0, 0.5),
)
#: Search half-width around a line: races slip 1-2 % against the shaft and rpm is not exact;
#: balls roll and skid, so their lines wander further.
ENVELOPE_TOLERANCE_REL: Final = {"bpfo": 0.02, "bpfi": 0.02, "bsf": 0.04, "ftf": 0.02}
ENVELOPE_TOLERANCE_BINS: Final = 1.5
#: The envelope's background (the median lines are measured against) spans up to this
#: multiple of the highest defect line, whatever the sample rate: wide enough for a stable
#: median (hundreds of bins on a 4096-sample window), bounded in Hz rather than in bins.
ENVELOPE_BACKGROUND_SPAN: Final = 3.0
#: The bearing envelope analysis reads windows of 0.3-0.6 s: the durations its thresholds were
#: set on (CWRU 0.34 s, IMS 0.41 s, the simulator 0.5 s). Its ratios depend on the time observed
#: (a steady line rises out of the noise with the square root of it, and a longer spectrum
#: resolves, and so whitens away, more of the bearing's own modulation), so a device's choice of
#: window would move them: on the CWRU and IMS records, 0.68 s windows flagged 1 in 8 healthy IMS
#: windows where 0.34 s flagged none, and 0.17 s windows named the 0.014 in inner race on 19 %
#: of windows where 0.34 s named 96 %. A window at least twice this long is analysed as that many
#: equal segments, and each defect family scores the median of its segments' scores (the other
#: features read the whole window). Shorter windows are read whole: they hold less evidence.
ENVELOPE_SEGMENT_S: Final = 0.3
#: Segments are at least this long (a slowly sampled long window is read whole).
ENVELOPE_SEGMENT_MIN_SAMPLES: Final = 1024
#: Lines closer to DC than this (in envelope bins) sit in the leakage of the window and are
#: not read (a cage line on a short window).
ENVELOPE_MIN_BIN: Final = 6
#: Half-width in bins of the Hann main lobe summed for a tone's amplitude.
ORDER_HALF_WIDTH_BINS: Final = 2
#: Lines one shaft rate apart are resolved when they are at least a Hann main lobe (4 bins)
#: apart: closer, each line's lobe holds its neighbour's. Shaft-fault calls rest on 0.5x-3x
#: and bearing calls on defect lines told from the shaft-rate lines and sidebands beside them
#: (BPFI +- 1x); a window that cannot resolve the shaft rate reads neither (a 0.1 s window's
#: 10 Hz bins put a 30 Hz shaft's 1x and 2x 3 bins apart).
RESOLVE_MIN_BINS: Final = 2 * ORDER_HALF_WIDTH_BINS

_MM_PER_M: Final = 1000.0
_ORDER_VALUES: Final = np.array([order for _, order in ORDERS])
_LOBE_BINS: Final = np.arange(-ORDER_HALF_WIDTH_BINS, ORDER_HALF_WIDTH_BINS + 1)


def _hann(n: int) -> F64:
    # Periodic Hann (the DFT-even form used for spectral analysis).
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


_WINDOWS: dict[int, tuple[F64, float]] = {}


def _window(n: int) -> tuple[F64, float]:
    cached = _WINDOWS.get(n)
    if cached is None:
        w = _hann(n)
        cached = (w, float(np.sum(w**2)))
        _WINDOWS[n] = cached
    return cached


#: Rows per block of the fused pass. A block of 4096-sample float64 windows plus its scratch
#: buffers stays in a 512 KiB L2 cache, where the element-wise passes of the statistics cost a
#: fraction of streaming a whole batch from memory. The scratch buffers (~5 MB for 4096-sample
#: windows) are kept per thread and window length and reused by every block of every call:
#: fresh multi-megabyte arrays cost a page fault per 4 KiB, and on a sandboxed host those
#: faults cost more than the arithmetic (measured: ~27 faults per window before).
BLOCK_ROWS: Final = 32


def _envelope_bands(n: int) -> tuple[tuple[int, int], ...]:
    """(first bin, end bin) of each candidate demodulation band (at most n / 4 bins wide)."""
    m = n // ENVELOPE_DECIMATION
    out = []
    for lo, hi in ENVELOPE_BANDS_FS:
        k_lo = max(round(lo * n), 1)
        out.append((k_lo, min(round(hi * n), k_lo + m, n // 2)))
    return tuple(out)


_SCRATCH = threading.local()
_BAND_BUFFERS: Final = frozenset({"base", "analytic", "envelope"})


class _Scratch:
    """Work buffers for one block of ``rows`` windows of ``n`` samples, reused block after block."""

    def __init__(self, rows: int, n: int) -> None:
        k = n // 2 + 1
        m = n // ENVELOPE_DECIMATION
        self.x = np.empty((rows, n))
        self.x2 = np.empty((rows, n))
        self.spec = np.empty((rows, k), dtype=np.complex128)
        self.ms = np.empty((rows, k))
        self.tmp = np.empty((rows, k))
        # complex64: the envelope's short inverse FFT is twice as fast in single precision.
        self.base = np.zeros((len(ENVELOPE_BANDS_FS), rows, m), dtype=np.complex64)
        self.analytic = np.empty((len(ENVELOPE_BANDS_FS), rows, m), dtype=np.complex64)
        self.envelope = np.empty((len(ENVELOPE_BANDS_FS), rows, m), dtype=np.float32)
        self.env_spec = np.empty((rows, m // 2 + 1), dtype=np.complex64)

    @staticmethod
    def get(rows: int, n: int) -> _Scratch:
        """This thread's buffers for blocks of ``rows`` windows of ``n`` samples."""
        cache: dict[tuple[int, int], _Scratch] = _SCRATCH.__dict__.setdefault("by_shape", {})
        scratch = cache.get((rows, n))
        if scratch is None:
            scratch = cache[(rows, n)] = _Scratch(rows, n)
        return scratch

    def view(self, rows: int) -> _Scratch:
        """The first ``rows`` rows of every buffer (the batch's last, shorter block)."""
        part = object.__new__(_Scratch)
        for name, buf in vars(self).items():
            # The envelope buffers carry the candidate band first, then the rows.
            setattr(part, name, buf[:, :rows] if name in _BAND_BUFFERS else buf[:rows])
        return part


def window_features(
    x_g: npt.NDArray[Any],
    fs_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    *,
    gain_g: F64 | None = None,
    search_hz: F64 | None = None,
) -> dict[str, F64]:
    """Features of a batch of equal-length acceleration windows.

    Parameters
    ----------
    x_g : ndarray, shape (B, N)
        Acceleration windows in g; or raw sample counts (any real dtype, e.g. int16) when
        ``gain_g`` is given.
    fs_hz : ndarray, shape (B,)
        Sample rate of each window in Hz.
    shaft_hz : ndarray, shape (B,)
        Shaft rotation frequency in Hz, NaN where unknown (orders and envelope are then NaN).
    defect_orders : ndarray, shape (B, len(DEFECTS))
        Bearing defect frequencies as multiples of shaft speed, NaN where the geometry is unknown.
    gain_g : ndarray, shape (B,), optional
        g per count of each row of ``x_g`` (the message's scale and unit conversion); the
        float64 conversion then happens block by block, never for the whole batch at once.
    search_hz : ndarray, shape (B, 2), optional
        Where ``shaft_hz`` is NaN and this row is finite, the (low, high) shaft frequency in Hz
        to estimate the speed within, from the window itself (:mod:`rotorwatch.diagnosis.features.speed`,
        cross-checked against the bearing lines where the geometry is known).

    Returns
    -------
    dict of name -> ndarray (B,), float64, NaN for values that cannot be computed. Besides the
    features: ``shaft_hz`` (the speed every order and envelope line was read at, NaN where none
    was), ``speed_confidence`` (0-1 for an estimated speed, NaN where none was estimated) and
    ``resolution`` (1: lines one shaft rate apart resolved at that speed; 0: not, so no orders
    and no bearing lines, see :data:`RESOLVE_MIN_BINS`; NaN: no speed).
    """
    if x_g.ndim != 2:
        raise ValueError(f"x_g must have shape (B, N), got {x_g.shape}")
    b, n = x_g.shape
    if fs_hz.shape != (b,) or shaft_hz.shape != (b,) or defect_orders.shape != (b, len(DEFECTS)):
        raise ValueError("fs_hz, shaft_hz and defect_orders must match the batch size")
    if gain_g is not None and gain_g.shape != (b,):
        raise ValueError("gain_g must match the batch size")
    if search_hz is not None and search_hz.shape != (b, 2):
        raise ValueError("search_hz must have shape (B, 2)")
    estimate = np.isnan(shaft_hz)
    if search_hz is not None:
        estimate &= np.isfinite(search_hz).all(axis=1)
    else:
        estimate[:] = False
    search = search_hz if search_hz is not None else np.full((b, 2), np.nan)
    out: dict[str, F64] = {name: np.empty(b) for name in _BLOCK_FEATURES}
    env_spec = np.empty((b, n // ENVELOPE_DECIMATION // 2 + 1), dtype=np.float32)
    df_hz = fs_hz / n  # (B,) bin spacing
    full = _Scratch.get(BLOCK_ROWS, n)
    for s in range(0, b, BLOCK_ROWS):
        e = min(s + BLOCK_ROWS, b)
        scratch = full if e - s == full.x.shape[0] else full.view(e - s)
        if gain_g is None:
            scratch.x[...] = x_g[s:e]
        else:
            np.multiply(x_g[s:e], gain_g[s:e, None], out=scratch.x)
        block = _block_features(
            scratch, df_hz[s:e], shaft_hz[s:e], env_spec[s:e], search[s:e], estimate[s:e]
        )
        for name, values in block.items():
            out[name][s:e] = values
    _envelope_indicators(env_spec, df_hz, out["shaft_hz"], defect_orders, out)
    if estimate.any():
        # The speed each window's envelope lines were read at.
        shaft_hz = _cross_check(env_spec, df_hz, search, defect_orders, estimate, out)
    segments = _envelope_segments(n, fs_hz)
    for count in np.unique(segments[segments > 1]).tolist():
        # Long windows: the envelope indicators of their segments (see ENVELOPE_SEGMENT_S).
        rows = np.flatnonzero(segments == count)
        length = n // count
        each = np.repeat(rows, count)
        parts = window_features(
            x_g[rows, : length * count].reshape(rows.size * count, length),
            fs_hz[each],
            shaft_hz[each],
            defect_orders[each],
            gain_g=None if gain_g is None else gain_g[each],
        )
        for name, _key in DEFECTS:
            out[name][rows] = np.median(parts[name].reshape(rows.size, count), axis=1)
    # What the window's resolution cannot separate at its speed: read nothing that rests on it.
    with np.errstate(invalid="ignore"):
        shaft_bins = out["shaft_hz"] / df_hz
        rate_ok = shaft_bins >= RESOLVE_MIN_BINS
    for name in (*(name for name, _ in ORDERS), *(name for name, _ in DEFECTS)):
        out[name][~rate_ok] = np.nan
    # (The 0.5x sits half a shaft rate from 1x, so it is unresolved below twice this; masking
    # it there cost the simulated held-out fleet 5 points of accuracy, its slow machines'
    # looseness and misalignment read with it: left as it was, see the README.)
    out["resolution"] = np.where(np.isfinite(shaft_bins), rate_ok.astype(np.float64), np.nan)
    return out


def _envelope_segments(n: int, fs_hz: F64) -> npt.NDArray[np.int64]:
    """How many segments each window's envelope analysis reads (see :data:`ENVELOPE_SEGMENT_S`)."""
    count = np.floor(n / fs_hz / ENVELOPE_SEGMENT_S).astype(np.int64)
    return np.clip(count, 1, max(n // ENVELOPE_SEGMENT_MIN_SAMPLES, 1))


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
    df_hz: F64,
    shaft_hz: F64,
    env_spec: Any,
    search_hz: F64,
    estimate: npt.NDArray[np.bool_],
) -> dict[str, F64]:
    """Every feature but the envelope indicators for one block (``s.x``: windows in g, consumed),
    and the block's envelope magnitude spectrum into ``env_spec``. Rows in ``estimate`` get
    their speed from the harmonic comb within ``search_hz`` (NaN where it is not confident)."""
    b, n = s.x.shape
    out: dict[str, F64] = {}

    # Time domain on the DC-free signal (accelerometer offsets and gravity are not vibration).
    x = s.x
    x -= x.mean(axis=1, keepdims=True)
    np.multiply(x, x, out=s.x2)
    m2 = s.x2.sum(axis=1) / n
    m3 = np.einsum("ij,ij->i", s.x2, x) / n
    m4 = np.einsum("ij,ij->i", s.x2, s.x2) / n
    peak = np.maximum(x.max(axis=1), -x.min(axis=1))
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
    np.multiply(spec.real, spec.real, out=ms_per_bin)
    np.multiply(spec.imag, spec.imag, out=s.tmp)
    ms_per_bin += s.tmp
    ms_per_bin *= 2.0 / (n * sum_w2)
    k_count = ms_per_bin.shape[1]
    last_bin = k_count - 2  # the Nyquist bin is excluded from bands

    _envelope_spectrum(s, spec, env_spec)

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
    if estimate.any():
        rows_e = np.flatnonzero(estimate)
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


def _envelope_spectrum(s: _Scratch, spec: Any, env_spec: Any) -> npt.NDArray[np.intp]:
    """Pre-whiten, demodulate every candidate band, keep the most impulsive band's envelope
    and write its magnitude spectrum into ``env_spec`` (see the module docstring, step 3)."""
    b = spec.shape[0]
    # Cepstral pre-whitening: unit magnitude, phase kept (the impacts' timing is in the phase).
    mag = np.abs(spec)
    floor = np.maximum(mag.max(axis=1, keepdims=True) * 1e-12, 1e-300)
    white = spec / np.maximum(mag, floor)
    sk = np.empty((len(ENVELOPE_BANDS_FS), b))
    for c, (k_lo, k_hi) in enumerate(_envelope_bands(2 * (spec.shape[1] - 1))):
        s.base[c, :, : k_hi - k_lo] = white[:, k_lo:k_hi]
        np.fft.ifft(s.base[c], axis=1, out=s.analytic[c])
        np.abs(s.analytic[c], out=s.envelope[c])
        # Spectral kurtosis of the band: E|a|^4 / (E|a|^2)^2 - 2 (0 for Gaussian noise).
        e2 = np.square(s.envelope[c], dtype=np.float64)
        sk[c] = np.mean(e2 * e2, axis=1) / np.maximum(np.mean(e2, axis=1) ** 2, 1e-300) - 2.0
    best: npt.NDArray[np.intp] = np.argmax(sk, axis=0)
    envelope = s.envelope[best, np.arange(b)]
    envelope -= envelope.mean(axis=1, keepdims=True)
    np.abs(np.fft.rfft(envelope, axis=1), out=env_spec)
    return best


def envelope_spectrum(x_g: npt.ArrayLike, fs_hz: float) -> tuple[F64, F64, tuple[float, float]]:
    """The envelope spectrum the bearing indicators read, for one window (plots, reports).

    Returns (frequency in Hz, magnitude over the spectrum's median, demodulation band in Hz):
    the same pre-whitening, band choice and demodulation as :func:`window_features`. A window
    read in segments (:data:`ENVELOPE_SEGMENT_S`) gives the mean of its segments' spectra and
    the band of its first.
    """
    x = np.asarray(x_g, dtype=np.float64)
    if x.ndim != 1 or x.size < 256:
        raise ValueError(f"x_g must be one window of at least 256 samples, got shape {x.shape}")
    n = x.size
    count = int(_envelope_segments(n, np.array([float(fs_hz)]))[0])
    if count > 1:
        parts = [envelope_spectrum(p, fs_hz) for p in x[: n // count * count].reshape(count, -1)]
        return parts[0][0], np.mean([mag for _f, mag, _band in parts], axis=0), parts[0][2]
    s = _Scratch(1, n)
    s.x[0] = x - x.mean()
    w, _sum_w2 = _window(n)
    spec = np.fft.rfft(s.x * w, axis=1)
    env = np.empty((1, n // ENVELOPE_DECIMATION // 2 + 1), dtype=np.float32)
    band = _envelope_spectrum(s, spec, env)
    k_lo, k_hi = _envelope_bands(n)[int(band[0])]
    mag = env[0].astype(np.float64)
    mag /= max(float(np.median(mag[ENVELOPE_MIN_BIN:])), 1e-300)
    return np.arange(mag.size) * fs_hz / n, mag, (k_lo * fs_hz / n, k_hi * fs_hz / n)


#: |V(f)|^2 / |A(f)|^2 for A in g and V in mm/s is VELOCITY_GAIN_HZ2 / f^2.
_VELOCITY_GAIN_HZ2: Final = (STANDARD_GRAVITY_M_S2 * _MM_PER_M / (2.0 * np.pi)) ** 2
_LOBE_OFFSETS: Final = tuple(range(-ORDER_HALF_WIDTH_BINS, ORDER_HALF_WIDTH_BINS + 1))
#: Bins above this are integrated at their own centre frequency: the lobe-centroid correction
#: of :func:`_velocity_ms` is about 1 / k^2 of a bin's gain at bin k, under 0.1 % beyond it.
VELOCITY_CENTROID_MAX_BIN: Final = 32


def _velocity_ms(ms_per_bin: F64, df_hz: float, last_bin: int) -> F64:
    """Velocity mean square (mm/s)^2 in :data:`VELOCITY_BAND_HZ` from acceleration mean square
    per bin (g^2), for rows sharing the bin spacing ``df_hz``.

    Integration divides by (2 pi f)^2, steepest at the band's low end; the Hann window spreads
    a tone over its main lobe (+-2 bins), so dividing each bin by its *own* centre frequency
    over-counts a tone's lower-lobe bins by (f_tone / f_bin)^2: +7 % of velocity for a 30 Hz
    shaft on 10 Hz bins (a 0.1 s window), +19 % at 20 Hz, against +0.5 % on 2 Hz bins. Near DC
    (up to :data:`VELOCITY_CENTROID_MAX_BIN`) each bin's power is integrated instead at the
    frequency it came from, the power-weighted centroid of the main lobe around it (exact for a
    tone wherever it falls between bins, the bin's own frequency for broadband noise), and
    counted only where that frequency lies in the band (a 4 Hz sway leaking into the 10 Hz bin
    is not in ISO 10816's band). Velocity, and the ISO zone read from it, then no longer depend
    on the window's length (a tone at least 2 bins from DC; closer, its lobe holds its mirror
    image and no window of that length measures it)."""
    lo_v, hi_v = VELOCITY_BAND_HZ
    h = ORDER_HALF_WIDTH_BINS
    rows = ms_per_bin.shape[0]
    k_band_lo = max(int(np.ceil(lo_v / df_hz)), 1)
    k_band_hi = min(int(np.floor(hi_v / df_hz)), last_bin)
    total = np.zeros(rows)
    if k_band_hi < k_band_lo:
        return np.full(rows, np.nan)
    # Near DC: bins whose lobe centroid can fall in the band, h bins of context either side.
    k_lo = max(k_band_lo - h, 1)
    k_hi = min(max(VELOCITY_CENTROID_MAX_BIN, k_band_lo), k_band_hi)
    width = k_hi - k_lo + 1
    a, b = max(k_lo - h, 0), min(k_hi + h + 1, last_bin + 1)
    padded = np.zeros((rows, width + 2 * h))
    padded[:, a - (k_lo - h) : b - (k_lo - h)] = ms_per_bin[:, a:b]
    den = np.zeros((rows, width))
    num = np.zeros_like(den)
    for o in _LOBE_OFFSETS:
        part = padded[:, h + o : h + o + width]
        den += part
        if o:
            num += o * part
    with np.errstate(divide="ignore", invalid="ignore"):
        f_hz = (np.arange(k_lo, k_hi + 1) + np.where(den > 0, num / den, 0.0)) * df_hz
        gain = np.where((f_hz >= lo_v) & (f_hz <= hi_v), _VELOCITY_GAIN_HZ2 / f_hz**2, 0.0)
    total += np.einsum("ij,ij->i", ms_per_bin[:, k_lo : k_hi + 1], gain)
    if k_band_hi > k_hi:  # the rest of the band at each bin's own frequency
        total += ms_per_bin[:, k_hi + 1 : k_band_hi + 1] @ _velocity_gain(
            k_hi + 1, k_band_hi, df_hz
        )
    return total


@functools.lru_cache(maxsize=64)
def _velocity_gain(k_lo: int, k_hi: int, df_hz: float) -> F64:
    # |V(f)|^2 / |A(f)|^2 for A in g and V in mm/s: (g0 * 1000 / (2 pi f))^2 per bin.
    f_hz = np.arange(k_lo, k_hi + 1) * df_hz
    gain = np.asarray(_VELOCITY_GAIN_HZ2 / f_hz**2, np.float64)
    gain.flags.writeable = False  # shared by every caller through the cache
    return gain


def _line_table() -> tuple[npt.NDArray[np.int64], F64, F64, F64, F64, F64]:
    """:data:`ENVELOPE_LINES` as arrays: family index (into DEFECTS), harmonic, shaft and cage
    multiples, weight, relative tolerance."""
    keys = [key for _, key in DEFECTS]
    fam = np.array([keys.index(f) for f, *_ in ENVELOPE_LINES], dtype=np.int64)
    cols = np.array([line[1:] for line in ENVELOPE_LINES], dtype=np.float64)
    tol = np.array([ENVELOPE_TOLERANCE_REL[f] for f, *_ in ENVELOPE_LINES])
    return fam, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], tol


_LINES: Final = _line_table()
_FTF_INDEX: Final = [key for _, key in DEFECTS].index("ftf")


def _background(env_spec: npt.NDArray[np.float32], f_line: F64, df_hz: F64) -> F64:
    """Median of each row's envelope spectrum from :data:`ENVELOPE_MIN_BIN` up to
    :data:`ENVELOPE_BACKGROUND_SPAN` x its highest defect line (the whole spectrum where the
    lines are unknown). Bounded in Hz, not in bins: an envelope spectrum falls with frequency,
    so a median over everything up to fs / 8 would sit lower, and every ratio higher, the
    faster a sensor samples (measured: +1 on healthy bearings at 48 kHz against 20 kHz)."""
    k_env = env_spec.shape[1]
    top = np.nanmax(np.where(np.isfinite(f_line), f_line, np.nan), axis=1, initial=-np.inf)
    k_hi = np.where(
        np.isfinite(top) & (top > 0), np.ceil(ENVELOPE_BACKGROUND_SPAN * top / df_hz), k_env
    )
    k_hi = np.clip(k_hi, ENVELOPE_MIN_BIN + 8, k_env).astype(np.int64)  # (B,)
    if int(k_hi.min()) == k_env:
        body = env_spec[:, ENVELOPE_MIN_BIN:]
        return np.median(body, axis=1).astype(np.float64)
    # Rows keep their own span: bins above it (by frequency, so masked before sorting) sort
    # last, and the median is read at each row's middle. (Masking after a first sort, as this
    # did before, kept the smallest values of the widest span instead: in a batch of machines
    # at different speeds, every row but the widest read a background too low, ratios ~1.6x.)
    body = env_spec[:, ENVELOPE_MIN_BIN : int(k_hi.max())].astype(np.float32)
    cols = np.arange(body.shape[1])
    body[cols[None, :] >= (k_hi - ENVELOPE_MIN_BIN)[:, None]] = np.inf
    body.sort(axis=1)
    # The median as np.median reads it (the mean of the two middle values of an even count),
    # so a row gets the same background whichever path its batch takes.
    count = (k_hi - ENVELOPE_MIN_BIN)[:, None]
    lower = np.take_along_axis(body, (count - 1) // 2, axis=1)[:, 0]
    upper = np.take_along_axis(body, count // 2, axis=1)[:, 0]
    return ((lower + upper) / 2).astype(np.float64)  # in float32, as np.median does


def _envelope_indicators(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    out: dict[str, F64],
) -> None:
    """Defect-family scores from the envelope magnitude spectra (bin spacing df_hz, up to fs / 8).

    A line's score is its peak within tolerance over the median of the envelope spectrum (a
    healthy bearing's lines sit at 1.5-2.5, the noise's own spread); a family scores its
    largest weighted line, NaN where no line of it can be read (no rpm or geometry, or every
    line beyond the spectrum or too close to DC).
    """
    for name, values in zip(
        (name for name, _ in DEFECTS),
        _family_scores(_line_scores(env_spec, df_hz, shaft_hz, defect_orders)),
        strict=True,
    ):
        out[name] = values


def _family_scores(score: F64) -> list[F64]:
    """Each family's largest weighted line score (NaN where none of its lines was read)."""
    fam = _LINES[0]
    families = []
    for j in range(len(DEFECTS)):
        cols = score[:, fam == j]
        has = np.isfinite(cols).any(axis=1)
        best = np.max(np.where(np.isfinite(cols), cols, -np.inf), axis=1, initial=-np.inf)
        families.append(np.where(has, best, np.nan))
    return families


def _line_scores(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    offsets_out: F64 | None = None,
) -> F64:
    """Weighted score of every line of :data:`ENVELOPE_LINES` (B, L), NaN where not read; and,
    into ``offsets_out`` (B, L) if given, how far each line's peak sits from where the speed
    puts it, as a fraction of the line's tolerance (0 on the line, 1 at the window's edge)."""
    b, k_env = env_spec.shape
    fam, harmonic, shaft_mult, cage_mult, weight, tol_rel = _LINES
    f_defect = shaft_hz[:, None] * defect_orders  # (B, D), NaN where unknown
    f_line = harmonic * f_defect[:, fam] + shaft_mult * shaft_hz[:, None]
    f_line = f_line + cage_mult * f_defect[:, [_FTF_INDEX]]  # (B, L)
    median = _background(env_spec, f_line, df_hz)
    ok = np.isfinite(f_line) & (median > 0)[:, None]
    kc = np.where(ok, f_line, 0.0) / df_hz[:, None]
    half = ENVELOPE_TOLERANCE_BINS + tol_rel * kc
    ok &= (kc >= ENVELOPE_MIN_BIN) & (kc + half < k_env)
    # A line within tolerance of another family's line is ambiguous, evidence for neither:
    # harmonics against harmonics, sidebands against anything; a harmonic outranks a sideband
    # (2 x BSF stays the ball's even where BPFI - 1x falls next to it).
    main = (shaft_mult == 0) & (cage_mult == 0)
    other = fam[:, None] != fam[None, :]  # (L, L): line j belongs to another family than i
    rivals = other & (main[None, :] | ~main[:, None])
    near = np.abs(kc[:, :, None] - kc[:, None, :]) <= half[:, :, None]  # (B, L, L)
    shared = (near & rivals[None]).any(axis=2)
    fundamental = (harmonic == 1) & main  # a family's own fundamental is always read
    ok &= ~(shared & ~fundamental[None, :])
    # Only lines that are read size the gather: a line far beyond the spectrum (a wrong rpm)
    # would otherwise widen it for the whole batch (rpm 1e6 on one row: 261 MiB, not 47).
    kc, half = np.where(ok, kc, 0.0), np.where(ok, half, 0.0)
    max_half = int(np.ceil(np.max(half, initial=0.0))) + 1
    offsets = np.arange(-max_half, max_half + 1)
    idx = np.rint(kc)[..., None].astype(np.int64) + offsets  # (B, L, W)
    inside = (np.abs(idx - kc[..., None]) <= half[..., None]) & (idx >= 1) & (idx < k_env)
    vals = np.take_along_axis(env_spec, np.clip(idx, 0, k_env - 1).reshape(b, -1), axis=1)
    windowed = np.where(inside.reshape(b, -1), vals, 0.0).reshape(idx.shape)
    peaks = windowed.max(axis=2)
    if offsets_out is not None:
        at = np.take_along_axis(idx, windowed.argmax(axis=2)[..., None], axis=2)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):  # a zero-width line: offset inf
            offsets_out[...] = np.abs(at - kc) / half
    with np.errstate(divide="ignore", invalid="ignore"):
        # A family scores its strongest weighted line. (Adding up every line's log excess over
        # the noise made ball faults a little clearer on the CWRU records but blurred the race
        # names and raised healthy windows as much: measured in benchmarks/eval_real.py.)
        return np.asarray(np.where(ok, weight * peaks / median[:, None], np.nan))


#: Speeds the envelope cross-check tries, as a relative step (log-spaced): half a line's
#: tolerance (:data:`ENVELOPE_TOLERANCE_REL`), so no line falls between two tries.
CROSS_CHECK_STEP_REL: Final = 0.01
#: A bearing line this many times its envelope spectrum's median confirms the speed it was read
#: at. An envelope spectrum of noise is Rayleigh-distributed: a bin exceeds t x its median with
#: probability 2^(-t^2), 1 in 65,000 at t = 4, so the few hundred bins a search range covers do
#: not reach it by chance; a bearing's defect line (lines at 2-2.5 on healthy bearings) does.
ENVELOPE_SPEED_MIN_RATIO: Final = 4.0
#: Where the comb is confident, the envelope tries speeds this far either side of it: the comb
#: of an induction motor can sit on synchronous speed (the mains' lines), a slip of a few per
#: cent above the shaft. A confident comb keeps the envelope from reading one family's line as
#: another's at a speed the shaft's own orders rule out (2 x BSF is 13 % below BPFI on many
#: bearings: a whole nameplate range could hold both readings of one line).
COMB_SLIP_REL: Final = 0.03
#: Rows per chunk of the cross-check (each tried at every speed of its range at once).
_CROSS_CHECK_ROWS: Final = 64


def _cross_check(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    search_hz: F64,
    defect_orders: F64,
    estimate: npt.NDArray[np.bool_],
    out: dict[str, F64],
) -> F64:
    """The bearing lines' word on an estimated speed (rows in ``estimate``), in ``out``.

    The comb reads the shaft's own orders, which induction motors blur: the mains' lines sit on
    the comb of synchronous speed, a few per cent above the shaft's, and a strong defect line's
    harmonics form a comb of their own. Where the bearing geometry is known, every speed of the
    search range (within :data:`COMB_SLIP_REL` of a confident comb) is tried on the envelope
    spectrum and the one where one defect family's lines
    stand highest together (the sum of their log excess over the median, each weighted by how
    near its peak sits to its predicted place: several lines agreeing on a speed, not one line
    anywhere) is the speed the envelope indicators are read at. A line
    of :data:`ENVELOPE_SPEED_MIN_RATIO` confirms that speed on its own (a defect line is speed
    evidence no noise gives); otherwise the comb must be confident, else nothing is read.

    Returns the speed each row's envelope lines were read at (the input speed elsewhere).
    """
    comb = out["comb_confidence"]
    env_shaft = out["shaft_hz"].copy()
    centre = np.where(comb >= MIN_CONFIDENCE, out["shaft_hz"], np.nan)
    near_lo = np.fmax(search_hz[:, 0], centre / (1.0 + COMB_SLIP_REL))  # fmax: NaN -> range
    near_hi = np.fmin(search_hz[:, 1], centre * (1.0 + COMB_SLIP_REL))
    geometry = np.isfinite(defect_orders).all(axis=1)
    rows = np.flatnonzero(estimate & geometry)
    for start in range(0, rows.size, _CROSS_CHECK_ROWS):
        r = rows[start : start + _CROSS_CHECK_ROWS]
        lo, hi = near_lo[r], np.fmax(near_hi[r], near_lo[r])
        steps = max(int(np.ceil(np.max(np.log(hi / lo)) / np.log1p(CROSS_CHECK_STEP_REL))), 1)
        grid = lo[:, None] * (hi / lo)[:, None] ** (np.arange(steps + 1) / steps)  # (R, J)
        each = np.repeat(r, steps + 1)
        offset = np.empty((each.size, len(ENVELOPE_LINES)))
        lines = _line_scores(env_spec[each], df_hz[each], grid.ravel(), defect_orders[each], offset)
        fam = _LINES[0]
        with np.errstate(invalid="ignore", over="ignore"):  # an inf offset squares to inf: 0
            # A line counts as it stands and as near as it sits to where the speed puts it:
            # one line read as two families' at two speeds sits at the edge of one window.
            excess = np.log(np.maximum(np.nan_to_num(lines, nan=1.0), 1.0))
            excess *= np.clip(1.0 - np.nan_to_num(offset, nan=1.0) ** 2, 0.0, 1.0)
        support = np.stack([excess[:, fam == j].sum(axis=1) for j in range(len(DEFECTS))])
        best = np.argmax(support.max(axis=0).reshape(r.size, steps + 1), axis=1)
        pick = np.arange(r.size) * (steps + 1) + best
        families = _family_scores(lines[pick])
        top = np.nanmax(np.column_stack(families), axis=1, initial=0.0)
        env_conf = np.clip(MIN_CONFIDENCE * top / ENVELOPE_SPEED_MIN_RATIO, 0.0, 1.0)
        comb_ok = comb[r] >= MIN_CONFIDENCE
        env_ok = env_conf >= MIN_CONFIDENCE
        speed = grid[np.arange(r.size), best]
        out["speed_confidence"][r] = np.fmax(comb[r], env_conf)
        out["shaft_hz"][r] = np.where(comb_ok, out["shaft_hz"][r], np.where(env_ok, speed, np.nan))
        read = comb_ok | env_ok
        env_shaft[r] = np.where(read, speed, np.nan)
        for (name, _key), values in zip(DEFECTS, families, strict=True):
            out[name][r] = np.where(read, values, np.nan)
    return env_shaft


@functools.lru_cache(maxsize=4096)
def _defect_orders(bearing: Bearing) -> tuple[float, ...]:
    defect = bearing.defect_orders()
    return tuple(defect[key] for _, key in DEFECTS)


def _asset_arrays(
    device_ids: Sequence[str], rpms: Sequence[float | None], assets: Mapping[str, Asset]
) -> tuple[F64, F64, F64, F64]:
    """Per-row shaft frequency (Hz), bearing defect orders, ISO boundaries and the shaft
    frequency range (Hz) to estimate the speed in where the message has none (NaN if unknown)."""
    b = len(device_ids)
    shaft_hz = np.full(b, np.nan)
    orders = np.full((b, len(DEFECTS)), np.nan)
    bounds = np.full((b, 3), np.nan)
    search = np.full((b, 2), np.nan)
    for i, (dev, rpm) in enumerate(zip(device_ids, rpms, strict=True)):
        asset = assets.get(dev)
        if rpm is not None:
            shaft_hz[i] = rpm / 60.0
        if asset is None:
            continue
        bounds[i] = zone_boundaries_mm_s(asset.machine_group, asset.foundation)
        if asset.bearing is not None:
            orders[i] = _defect_orders(asset.bearing)
        if rpm is None:
            search[i] = search_range_hz(asset.rated_rpm, asset.rpm_range)
    return shaft_hz, orders, bounds, search


def _raw_batch(messages: Sequence[Telemetry]) -> tuple[npt.NDArray[Any], F64]:
    """Equal-length, same-encoding windows as one (B, N) array of raw samples, and the g per
    count of each row (the float64 conversion happens block by block in the feature pass)."""
    first = messages[0].vibration
    assert first is not None
    dtype = np.dtype("<i2") if first.encoding == "int16le+base64" else np.dtype("<f4")
    raw = np.frombuffer(b"".join(m.vibration.raw for m in messages if m.vibration), dtype=dtype)
    gain_g = np.array(
        [
            m.vibration.scale / (STANDARD_GRAVITY_M_S2 if m.vibration.unit == "m/s2" else 1.0)
            for m in messages
            if m.vibration
        ],
    )
    return raw.reshape(len(messages), -1), gain_g


#: Record fields written straight from :func:`window_features`' columns.
_ENGINE_FEATURES: Final = tuple(
    name for name in VIBRATION_FEATURES if name not in ("fs_hz", "n_samples", "iso_zone")
)
_SPEED_NAMES: Final = tuple(f.name for f in SCHEMA_2_FIELDS)
#: ``resolution`` (see :func:`window_features`) -> the record's ``unresolved``.
_UNRESOLVED: Final[dict[float, str]] = {0.0: UNRESOLVED[0]}


def _none_if_nan(values: F64) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]


def compute_features(
    messages: Sequence[Telemetry], assets: Mapping[str, Asset] | None = None
) -> list[dict[str, Any]]:
    """Feature records for a batch of decoded telemetry messages, in input order.

    Windows of equal length and encoding are processed together in one vectorised pass.
    Messages without a vibration window give a record whose vibration fields are None.
    ``iso_zone`` needs the device's asset record; the envelope indicators need its bearing
    geometry and a shaft speed (the shaft-order amplitudes need only the speed): the message's
    ``rpm``, or, without one, the speed estimated from the window around the asset's
    ``rated_rpm`` / ``rpm_range`` (:mod:`rotorwatch.diagnosis.features.speed`; ``rpm_used``,
    ``rpm_source``, ``rpm_confidence`` say which). Orders and bearing lines are not read where
    the window cannot resolve the shaft rate (``unresolved``, :data:`RESOLVE_MIN_BINS`).
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
                **limit_fields(assets.get(msg.device_id)),
                **dict.fromkeys(VIBRATION_FEATURES),
                # Without a window the speed is the message's or none (estimates need a window).
                "rpm_used": msg.rpm,
                "rpm_source": "none" if msg.rpm is None else "message",
                "rpm_confidence": None,
                "unresolved": None,
                "vibration_sensor": None,
                **end_of_life_fields(assets.get(msg.device_id)),
            }
        )
        if msg.vibration is not None:
            groups[(msg.vibration.encoding, msg.vibration.n_samples)].append(i)

    for (_enc, n), idx in groups.items():
        batch = [messages[i] for i in idx]
        raw, gain_g = _raw_batch(batch)
        fs_hz = np.array([m.vibration.fs_hz for m in batch if m.vibration], dtype=np.float64)
        shaft_hz, orders, bounds, search = _asset_arrays(
            [m.device_id for m in batch], [m.rpm for m in batch], assets
        )
        cols = window_features(raw, fs_hz, shaft_hz, orders, gain_g=gain_g, search_hz=search)
        zone_idx = zone_index(cols["velocity_rms_mm_s"], bounds).tolist()
        has_zone = np.isfinite(bounds[:, 0]) & np.isfinite(cols["velocity_rms_mm_s"])
        zones = [
            ZONES[z] if ok else None for z, ok in zip(zone_idx, has_zone.tolist(), strict=True)
        ]
        rpm_used = cols["shaft_hz"] * 60.0
        estimated = np.isnan(shaft_hz) & np.isfinite(rpm_used)
        source = np.where(
            np.isfinite(shaft_hz), "message", np.where(estimated, "estimated", "none")
        )
        searched = np.isfinite(search[:, 0])
        # Column lists transposed to rows in C (zip), one dict.update per record.
        names = ("fs_hz", "n_samples", "iso_zone", *_ENGINE_FEATURES, *_SPEED_NAMES)
        columns = [fs_hz.tolist(), [n] * len(idx), zones]
        columns += [_none_if_nan(cols[name]) for name in _ENGINE_FEATURES]
        columns += [
            _none_if_nan(rpm_used),
            source.tolist(),
            _none_if_nan(np.where(searched, cols["speed_confidence"], np.nan)),
            [_UNRESOLVED.get(r) for r in cols["resolution"].tolist()],
        ]
        for i, row in zip(idx, zip(*columns, strict=True), strict=True):
            records[i].update(zip(names, row, strict=True))
        # A dead, saturated or clipped sensor (its features would read a healthy machine).
        for i, problem in zip(idx, sensor_problems(raw, gain_g), strict=True):
            records[i]["vibration_sensor"] = problem
    return records
