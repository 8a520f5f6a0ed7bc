"""Velocity RMS: the acceleration power of each bin integrated to velocity (mm/s) over the ISO
10816 band, at the frequency each bin's power came from.
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np

from rotorwatch.contract.telemetry import STANDARD_GRAVITY_M_S2
from rotorwatch.diagnosis.features.spectrum import F64, ORDER_HALF_WIDTH_BINS

VELOCITY_BAND_HZ: Final = (10.0, 1000.0)
_MM_PER_M: Final = 1000.0
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
    # Each row's products summed by numpy's own pairwise sum along the row: a matrix product
    # (BLAS gemv) rounded a row differently with the number of rows beside it, so a window's
    # velocity moved by an ulp with its batch (and a BLAS dot splits long rows by thread count).
    total += np.add.reduce(ms_per_bin[:, k_lo : k_hi + 1] * gain, axis=1)
    if k_band_hi > k_hi:  # the rest of the band at each bin's own frequency
        rest = ms_per_bin[:, k_hi + 1 : k_band_hi + 1]
        total += np.add.reduce(rest * _velocity_gain(k_hi + 1, k_band_hi, df_hz), axis=1)
    return total


@functools.lru_cache(maxsize=64)
def _velocity_gain(k_lo: int, k_hi: int, df_hz: float) -> F64:
    # |V(f)|^2 / |A(f)|^2 for A in g and V in mm/s: (g0 * 1000 / (2 pi f))^2 per bin.
    f_hz = np.arange(k_lo, k_hi + 1) * df_hz
    gain = np.asarray(_VELOCITY_GAIN_HZ2 / f_hz**2, np.float64)
    gain.flags.writeable = False  # shared by every caller through the cache
    return gain
