"""Bearing envelope demodulation: the candidate bands, the segments a long window is read in,
the fused pass's per-thread scratch buffers (here because their shape follows those bands) and
the envelope spectrum, for a block and for one window (plots, reports).
"""

from __future__ import annotations

import threading
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.features.defect_lines import ENVELOPE_MIN_BIN
from rotorwatch.diagnosis.features.spectrum import F64, _window

#: Candidate envelope demodulation bands as fractions of the sample rate, each a quarter of it
#: wide (the baseband FFT is a quarter as long). The first is the default when no band is more
#: impulsive than another (a healthy machine). Together they cover 0.05-0.5 fs, so a resonance
#: anywhere above the shaft-order region is found at 12 kHz as at 48 kHz.
ENVELOPE_BANDS_FS: Final = ((0.2, 0.45), (0.05, 0.3), (0.125, 0.375), (0.25, 0.5))
#: A resonance is a property of the machine, in Hz, not of the sensor's rate: bands that are
#: fractions of the sample rate start higher the faster a sensor samples (0.05 fs is 3.2 kHz
#: at 64 kHz, 4.9 kHz at 97.7 kHz), above where the rates the envelope thresholds were set on
#: (8.2-25.6 kHz: the simulator, CWRU, IMS, FEMTO) search from (0.4-1.3 kHz; the CWRU rig's
#: impacts ring below 6 kHz). A sensor faster than this rate also gets the lowest band of a sensor at
#: half its rate, a quarter, ... down to the first such rate at or below this one: its bands
#: then reach down as low, in Hz, as those of the rates the thresholds were validated at, and
#: a sensor at or below it is read exactly as before.
ENVELOPE_LADDER_TOP_HZ: Final = 25_600.0
#: The band of :data:`ENVELOPE_BANDS_FS` each ladder step halves: the lowest, which starts
#: above the shaft-order region at every rate.
_LADDER_BAND: Final = ENVELOPE_BANDS_FS[1]
#: The envelope is computed at fs / ENVELOPE_DECIMATION (its spectrum reaches fs / 8).
ENVELOPE_DECIMATION: Final = 4
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

#: Samples per block of the fused pass (rows x window length): 64 windows of 4096 samples. A
#: block of float64 windows plus its scratch buffers stays in the L3 cache (the block's windows
#: alone are 2 MiB, four times a 512 KiB L2), where the element-wise passes of the statistics
#: cost a fraction of streaming a whole batch from memory. The scratch buffers (~10 MB at this
#: size) are kept per thread and window length and reused by every block of every call: fresh
#: multi-megabyte arrays cost a page fault per 4 KiB, and on a sandboxed host those faults cost
#: more than the arithmetic (measured: ~27 faults per window before). Every step of a block is
#: row by row (tests/unit/test_features_batch_independent.py), so the block size is free to
#: follow the per-block cost of ~100 numpy calls (~0.5 ms): 64 rows of 4096 samples halve it
#: against 32 (128 measured no faster).
BLOCK_SAMPLES: Final = 64 * 4096
#: Rows of a batch per call of the speed comb (:func:`.speed.estimate_shaft_hz`). Each row
#: searches its own grid, so the grouping changes no estimate; it bounds the comb's
#: (rows, candidates, orders) scratch arrays.
COMB_ROWS: Final = 32


def block_rows(n: int) -> int:
    """Rows per block of the fused pass for windows of ``n`` samples: about
    :data:`BLOCK_SAMPLES` of them, a multiple of :data:`COMB_ROWS` (long windows: COMB_ROWS)."""
    return COMB_ROWS * max(1, BLOCK_SAMPLES // (COMB_ROWS * max(n, 1)))


def _ladder_steps(fs_hz: F64) -> npt.NDArray[np.int64]:
    """How many halvings of the lowest band each rate adds (see :data:`ENVELOPE_LADDER_TOP_HZ`):
    0 at or below it, else the halvings that bring the rate to it or under."""
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.ceil(np.log2(np.asarray(fs_hz, dtype=np.float64) / ENVELOPE_LADDER_TOP_HZ))
    return np.where(np.isfinite(steps) & (steps > 0), steps, 0).astype(np.int64)


def _band_fractions(steps: int = 0) -> tuple[tuple[float, float], ...]:
    """The candidate bands as fractions of the sample rate: :data:`ENVELOPE_BANDS_FS`, then the
    lowest of them halved ``steps`` times (one more band per halving)."""
    lo, hi = _LADDER_BAND
    return (*ENVELOPE_BANDS_FS, *((lo / 2**j, hi / 2**j) for j in range(1, steps + 1)))


def _envelope_bands(n: int, steps: int = 0) -> tuple[tuple[int, int], ...]:
    """(first bin, end bin) of each candidate demodulation band (at most n / 4 bins wide)."""
    m = n // ENVELOPE_DECIMATION
    out = []
    for lo, hi in _band_fractions(steps):
        k_lo = max(round(lo * n), 1)
        out.append((k_lo, min(round(hi * n), k_lo + m, n // 2)))
    return tuple(out)


_SCRATCH = threading.local()
_BAND_BUFFERS: Final = frozenset({"analytic", "envelope", "moment"})


def _carve(buf: npt.NDArray[Any], offset: int, shape: tuple[int, ...], dtype: Any) -> Any:
    """An array of ``shape`` and ``dtype`` over ``buf``'s memory from byte ``offset``."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    memory = buf.reshape(-1).view(np.uint8)
    if offset + size > memory.size:
        raise ValueError("the carved array does not fit its buffer")
    return memory[offset : offset + size].view(dtype).reshape(shape)


class _Scratch:
    """Work buffers for one block of ``rows`` windows of ``n`` samples, reused block after block."""

    def __init__(self, rows: int, n: int, bands: int = len(ENVELOPE_BANDS_FS)) -> None:
        k = n // 2 + 1
        m = n // ENVELOPE_DECIMATION
        self.x = np.empty((rows, n))
        self.x2 = np.empty((rows, n))
        self.spec = np.empty((rows, k), dtype=np.complex128)
        self.ms = np.empty((rows, k))
        self.tmp = np.empty((rows, k))
        self.re_im2 = np.empty((rows, 2 * k))  # the spectrum's squared parts
        # The envelope's buffers lie over the memory of buffers whose step is over by then (the
        # windows, their squares, the squared parts), so a block touches ~5 MB, not ~8.6.
        # complex64: the envelope's short inverse FFT is twice as fast in single precision.
        # The whitened spectrum, each band's inverse FFT reading its slice in place.
        self.white = _carve(self.re_im2, 0, (rows, k), np.complex64)
        if bands <= len(ENVELOPE_BANDS_FS):
            self.envelope = _carve(self.re_im2, 8 * rows * k, (bands, rows, m), np.float32)
            self.analytic = _carve(self.x2, 0, (bands, rows, m), np.complex64)
            # The bands' squared envelopes, then their squares (the spectral kurtosis's moments).
            self.moment = _carve(self.x, 0, (bands, rows, m), np.float64)
        else:  # a fast sensor's ladder bands: more than the spent buffers hold
            self.envelope = np.empty((bands, rows, m), dtype=np.float32)
            self.analytic = np.empty((bands, rows, m), dtype=np.complex64)
            self.moment = np.empty((bands, rows, m))
        self.selected = np.empty((rows, m), dtype=np.float32)  # the kept band's envelope
        self.env_spec = np.empty((rows, m // 2 + 1), dtype=np.complex64)
        # Its spectrum in double precision (over the band buffers, spent by then).
        self.wide = _carve(self.x2, 0, (rows, m), np.float64)
        self.wide_spec = _carve(self.x, 0, (rows, m // 2 + 1), np.complex128)

    @staticmethod
    def get(rows: int, n: int, bands: int = len(ENVELOPE_BANDS_FS)) -> _Scratch:
        """This thread's buffers for blocks of ``rows`` windows of ``n`` samples and ``bands``
        candidate bands."""
        cache: dict[tuple[int, int, int], _Scratch] = _SCRATCH.__dict__.setdefault("by_shape", {})
        scratch = cache.get((rows, n, bands))
        if scratch is None:
            scratch = cache[(rows, n, bands)] = _Scratch(rows, n, bands)
        return scratch

    def view(self, rows: int) -> _Scratch:
        """The first ``rows`` rows of every buffer (the batch's last, shorter block)."""
        part = object.__new__(_Scratch)
        for name, buf in vars(self).items():
            # The envelope buffers carry the candidate band first, then the rows.
            setattr(part, name, buf[:, :rows] if name in _BAND_BUFFERS else buf[:rows])
        return part


def _envelope_segments(n: int, fs_hz: F64) -> npt.NDArray[np.int64]:
    """How many segments each window's envelope analysis reads (see :data:`ENVELOPE_SEGMENT_S`)."""
    count = np.floor(n / fs_hz / ENVELOPE_SEGMENT_S).astype(np.int64)
    return np.clip(count, 1, max(n // ENVELOPE_SEGMENT_MIN_SAMPLES, 1))


def _envelope_spectrum(
    s: _Scratch, spec: Any, env_spec: Any, power: Any = None, steps: Any = None
) -> npt.NDArray[np.intp]:
    """Pre-whiten, demodulate every candidate band, keep the most impulsive band's envelope
    and write its magnitude spectrum into ``env_spec`` (see the module docstring, step 3).
    ``power``, if given, is ``|spec|^2`` already computed (the fused pass has it); ``steps``
    (B,), if given, each row's ladder bands (:func:`_ladder_steps`; none if not given): the
    block demodulates as many as its buffers hold, and a row chooses among its own only."""
    b, k = spec.shape
    # Cepstral pre-whitening: unit magnitude, phase kept (the impacts' timing is in the phase).
    # The whitened spectrum is X times 1 / |X| in double (what numpy's complex division by a
    # real computes), rounded once to single precision, where every band's FFT reads it.
    inv_mag = s.tmp
    if power is None:
        np.multiply(spec.real, spec.real, out=inv_mag)
        inv_mag += spec.imag * spec.imag
        power = inv_mag
    np.sqrt(power, out=inv_mag)
    floor = np.maximum(inv_mag.max(axis=1, keepdims=True) * 1e-12, 1e-300)
    np.maximum(inv_mag, floor, out=inv_mag)
    np.divide(1.0, inv_mag, out=inv_mag)
    np.multiply(spec, inv_mag, out=s.white, casting="same_kind")
    m = s.analytic.shape[2]
    bands = _envelope_bands(2 * (k - 1), s.analytic.shape[0] - len(ENVELOPE_BANDS_FS))
    for c, (k_lo, k_hi) in enumerate(bands):
        # The band shifted to baseband (zero-padded to m bins where it is narrower).
        np.fft.ifft(s.white[:, k_lo:k_hi], n=m, axis=1, out=s.analytic[c])
    np.abs(s.analytic, out=s.envelope)
    # Spectral kurtosis of each band: E|a|^4 / (E|a|^2)^2 - 2 (0 for Gaussian noise), every
    # band in one call per step; the means as np.mean takes them (a pairwise sum along the
    # row, divided by its length).
    # Widened by a plain copy, then squared in place: a ufunc that casts as it goes allocates
    # its cast buffers (fresh pages) on every call.
    e2 = s.moment
    e2[...] = s.envelope
    np.square(e2, out=e2)
    mean_e2 = np.add.reduce(e2, axis=2) / m
    e4 = np.square(e2, out=s.moment)
    sk = np.add.reduce(e4, axis=2) / m / np.maximum(mean_e2**2, 1e-300) - 2.0
    if len(bands) > len(ENVELOPE_BANDS_FS):
        # A row's candidates are the base bands and its own ladder's (a mixed batch's slower
        # rows were demodulated in the faster rows' ladder bands too, never chosen).
        own = len(ENVELOPE_BANDS_FS) + (np.zeros(b, np.int64) if steps is None else steps)
        sk[np.arange(len(bands))[:, None] >= own[None, :]] = -np.inf
    best: npt.NDArray[np.intp] = np.argmax(sk, axis=0)
    # The kept band's envelope and its spectrum in this block's own buffers (fresh arrays of
    # this size cost fresh pages on every block).
    envelope = s.selected
    if s.envelope.flags.c_contiguous:
        np.take(s.envelope.reshape(-1, m), best * b + np.arange(b), axis=0, out=envelope)
    else:  # a batch's last, shorter block: its rows are a slice of each band's buffer
        envelope[...] = s.envelope[best, np.arange(b)]
    envelope -= envelope.mean(axis=1, keepdims=True)
    # numpy computes a float32 rfft in double precision (the window cast to float64, the
    # spectrum rounded to complex64), through cast buffers allocated on every call: the same
    # steps here, in this block's buffers.
    s.wide[...] = envelope
    np.fft.rfft(s.wide, axis=1, out=s.wide_spec)
    s.env_spec[...] = s.wide_spec
    np.abs(s.env_spec, out=env_spec)
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
    steps = _ladder_steps(np.array([float(fs_hz)]))
    s = _Scratch(1, n, len(ENVELOPE_BANDS_FS) + int(steps[0]))
    s.x[0] = x - x.mean()
    w, _sum_w2 = _window(n)
    spec = np.fft.rfft(s.x * w, axis=1)
    env = np.empty((1, n // ENVELOPE_DECIMATION // 2 + 1), dtype=np.float32)
    band = _envelope_spectrum(s, spec, env, steps=steps)
    k_lo, k_hi = _envelope_bands(n, int(steps[0]))[int(band[0])]
    mag = env[0].astype(np.float64)
    mag /= max(float(np.median(mag[ENVELOPE_MIN_BIN:])), 1e-300)
    return np.arange(mag.size) * fs_hz / n, mag, (k_lo * fs_hz / n, k_hi * fs_hz / n)
