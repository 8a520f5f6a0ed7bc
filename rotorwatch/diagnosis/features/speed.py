"""Shaft speed from the vibration itself, for devices with no tachometer.

A rotating shaft puts lines at its speed and its orders (1x, 2x, 3x ...) into the spectrum:
imbalance at 1x, misalignment at 2x, looseness and any non-linearity at the higher orders. The
speed is the fundamental of that comb. Per window, over a search range the asset gives (its
nameplate ``rated_rpm`` with room for slip, or an ``rpm_range`` for a variable-speed drive):

1. **Whiten**: the log power spectrum over its running median (a line's height over the local
   background), clipped to [0, :data:`LINE_CAP_DB`] so one huge line cannot carry the comb alone.
2. **Harmonic comb with half-order penalty**: each candidate fundamental f0 scores the whitened
   spectrum summed at h f0 (h = 1 .. :data:`COMB_HARMONICS`) minus the same at (h - 1/2) f0. The
   penalty keeps the comb off f0 / 2 (every other tooth empty) and off 2 f0 (the odd orders then
   sit on its half-orders), so a range spanning an octave still finds the shaft, and a comb with
   no 1x line at all (misalignment) still finds it from its higher orders.
3. **Refine**: the strongest candidate's standing lines, each placed to a fraction of a bin by a
   parabola through its log power, give f0 as the weighted median of place / h (order h pins
   it h times more finely than 1x; a median ignores a chance noise peak next to a tooth).
4. **Confidence** (0-1): the share of the comb's orders (weighted 1 / h) with a line at least
   :data:`LINE_MIN_DB` over the background at the estimate, less the share at its half-orders.
   A bin of broadband noise (exponentially distributed power) stands 10 dB over its median once
   in 2^10, so chance teeth rarely add anything even over a 6:1 drive range; a single line (1x
   alone: 0.34) is not a comb; 1x and 2x (0.51), 1x-4x (0.71), or 2x-8x without 1x (0.59) are.

The estimate is used only when its confidence reaches :data:`MIN_CONFIDENCE`; below it the
window's speed stays unknown and nothing that needs it is diagnosed.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: Orders of the comb (those below :data:`COMB_MAX_FS` x the sample rate).
COMB_HARMONICS: Final = 10
#: The comb reads no higher than this fraction of the sample rate (anti-alias roll-off above).
COMB_MAX_FS: Final = 0.4
#: A line counts as standing when it is this far over the local background (power, dB). At 6 dB
#: white noise alone reached the confidence bar in 3.5 % of windows over a 600-3600 rpm range
#: (a noise bin stands 6 dB high once in 16); at 10 dB in none of 200.
LINE_MIN_DB: Final = 10.0
#: Order h of the comb weighs 1 / h (score and confidence). The shaft's own lines are strongest
#: at its first orders, while a bearing's defect line and its harmonics can sit on the higher
#: teeth of a comb a few per cent off the shaft (BPFI 5.42x on a 6205 is the 5th tooth of 1.08x):
#: weighted equally, ten teeth let those lines pull the estimate off; weighted by 1 / h, the
#: 1x-3x lines decide and the higher ones refine. A 1x line alone scores 0.34 of the weight.
ORDER_WEIGHTS: Final = "1/h"
#: Whitened lines are clipped here: a comb needs several orders, not one loud line.
LINE_CAP_DB: Final = 20.0
#: Half-width in bins of the running median that estimates the background under the lines.
BACKGROUND_HALF_BINS: Final = 12
#: The lowest fundamental read, in bins: below it 1x is inside the window's own leakage.
MIN_FUNDAMENTAL_BINS: Final = 1.5
#: Below this confidence the estimate is not used (see the module docstring, step 4).
MIN_CONFIDENCE: Final = 0.5
#: Without an ``rpm_range``, the search spans the nameplate speed by these factors: an
#: induction motor runs between its rated (full-load) speed and synchronous speed, a few per cent
#: above; a nameplate rounded or read off a sister machine is a few per cent off either way.
NAMEPLATE_SEARCH: Final = (0.95, 1.05)

_LN_DB: Final = np.log(10.0) / 10.0  # dB of power -> natural log


def search_range_hz(rated_rpm: float, rpm_range: tuple[float, float] | None) -> tuple[float, float]:
    """Shaft frequencies (Hz) searched for a machine with this nameplate speed or speed range."""
    if rpm_range is not None:
        return rpm_range[0] / 60.0, rpm_range[1] / 60.0
    lo, hi = NAMEPLATE_SEARCH
    return rated_rpm * lo / 60.0, rated_rpm * hi / 60.0


def estimate_shaft_hz(
    power: npt.NDArray[np.floating], df_hz: F64, lo_hz: F64, hi_hz: F64
) -> tuple[F64, F64]:
    """Shaft frequency and its confidence from one-sided power spectra.

    Parameters
    ----------
    power : ndarray, shape (R, K)
        Power (or mean square) per bin of each window's Hann-windowed spectrum, bin 0 at DC.
    df_hz : ndarray, shape (R,)
        Bin spacing of each row in Hz.
    lo_hz, hi_hz : ndarray, shape (R,)
        Search range of the fundamental in Hz (0 < lo_hz <= hi_hz).

    Returns
    -------
    shaft_hz : ndarray (R,)
        Estimated shaft frequency in Hz; NaN where the range cannot be read (1x below
        :data:`MIN_FUNDAMENTAL_BINS` bins or no order below :data:`COMB_MAX_FS`).
    confidence : ndarray (R,)
        0-1 (see the module docstring); NaN where ``shaft_hz`` is.
    """
    r, k = power.shape
    if df_hz.shape != (r,) or lo_hz.shape != (r,) or hi_hz.shape != (r,):
        raise ValueError("df_hz, lo_hz and hi_hz must have one value per row of power")
    if np.any(~(lo_hz > 0)) or np.any(~(hi_hz >= lo_hz)):
        raise ValueError("search ranges need 0 < lo_hz <= hi_hz")
    shaft = np.full(r, np.nan)
    conf = np.full(r, np.nan)
    if r == 0:
        return shaft, conf
    h = np.arange(1, COMB_HARMONICS + 1, dtype=np.float64)
    wh = 1.0 / h  # the low orders weigh most (see ORDER_WEIGHTS)
    nyq_bin = COMB_MAX_FS * 2.0 * (k - 1)
    # Every size below is the row's own, never the batch's widest: a window's estimate must not
    # depend on which windows share its batch (a retried Kinesis batch regroups them).
    # Only the bins the row's comb can reach are whitened (its top order at its top candidate);
    # the array is as wide as the widest row needs, and each row's bins beyond its own reach
    # repeat its last one, the edge its running median holds (as if the row stood alone).
    lo_b, hi_b = lo_hz / df_hz, hi_hz / df_hz
    k_top = np.ceil(COMB_HARMONICS * hi_hz / df_hz) + BACKGROUND_HALF_BINS + 3
    k_top = np.minimum(k_top, k).astype(np.int64)  # (R,)
    width = int(k_top.max())
    logp = np.log(np.maximum(np.asarray(power[:, :width], dtype=np.float64), 1e-300))
    rows = np.arange(r)
    beyond = np.arange(width)[None, :] >= k_top[:, None]
    if beyond.any():
        logp = np.where(beyond, logp[rows, k_top - 1][:, None], logp)
    background = _running_median(logp, BACKGROUND_HALF_BINS)
    z = np.clip(logp - background, 0.0, LINE_CAP_DB * _LN_DB)
    reach = np.minimum(nyq_bin, k_top - 2)[:, None]  # (R, 1) a tooth is read below this bin

    # Candidates: fine enough that the top order moves half a bin, each row its own count
    # (a row's candidates do not change with the batch's widest range), padded to the batch's
    # largest count with candidates that never win.
    steps = np.clip(np.ceil((hi_b - lo_b) * 2 * COMB_HARMONICS), 1, 2000).astype(np.int64)
    j = np.arange(int(steps.max()) + 1)[None, :]
    # The fractions np.linspace(0, 1, steps + 1) gives each row (j times one step, the last 1).
    frac = np.where(j >= steps[:, None], 1.0, j * (1.0 / steps[:, None]))  # padding: the top
    f0_b = lo_b[:, None] + (hi_b - lo_b)[:, None] * frac  # (R, J) in bins
    teeth = f0_b[:, :, None] * h  # (R, J, H)
    halves = f0_b[:, :, None] * (h - 0.5)
    valid = teeth < reach[:, :, None]
    comb = _sample(z, teeth) - _sample(z, halves)
    score = np.where(valid, comb * wh, 0.0).sum(axis=2)
    score[j > steps[:, None]] = -np.inf
    best = np.argmax(score, axis=1)
    f0 = f0_b[rows, best]  # (R,) bins

    # Refine on the standing orders: each line's peak bin near h f0, by parabola.
    kc = np.rint(f0[:, None] * h).astype(np.int64)  # (R, H)
    ok = (kc >= 1) & (kc + 1 < np.minimum(k_top, nyq_bin + 1)[:, None])
    top = (k_top - 2)[:, None]
    kcc = np.clip(kc, 1, top)
    nb = np.stack([np.take_along_axis(logp, kcc + d, axis=1) for d in (-1, 0, 1)])  # (3, R, H)
    peak = np.argmax(nb, axis=0) - 1  # the local maximum among the three nearest bins
    kp = np.clip(kcc + peak, 1, top)
    la, lb, lc = (np.take_along_axis(logp, kp + d, axis=1) for d in (-1, 0, 1))
    denom = la - 2.0 * lb + lc
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (la - lc) / denom, 0.0)
    f_line = kp + np.clip(delta, -0.5, 0.5)
    standing = ok & (np.take_along_axis(z, kp, axis=1) >= LINE_MIN_DB * _LN_DB)
    # A line more than a bin from its tooth belongs to something else.
    standing &= np.abs(f_line - f0[:, None] * h) <= 1.0
    # Each standing line gives f0 as its place / h (h times finer at order h); their weighted
    # median, weighted by height, is the estimate: a chance noise peak next to a high tooth
    # would drag a least-squares fit, not a median.
    each = np.where(standing, f_line / h, np.inf)
    w = np.where(standing, np.take_along_axis(z, kp, axis=1), 0.0)
    order = np.argsort(each, axis=1)
    cum = np.cumsum(np.take_along_axis(w, order, axis=1), axis=1)
    mid = np.argmax(cum >= 0.5 * cum[:, -1:], axis=1)
    refined = np.take_along_axis(each, order[rows, mid][:, None], axis=1)[:, 0]
    f0 = np.where(standing.any(axis=1), np.clip(refined, lo_b, hi_b), f0)

    # Confidence at the refined estimate.
    teeth1 = f0[:, None] * h
    valid1 = (teeth1 < reach) & (teeth1 >= 1.0)
    n_valid = (valid1 * wh).sum(axis=1)
    stand_at = (_sample(z, teeth1[:, None, :])[:, 0] >= LINE_MIN_DB * _LN_DB) & valid1
    stand_half = _sample(z, (f0[:, None] * (h - 0.5))[:, None, :])[:, 0] >= LINE_MIN_DB * _LN_DB
    stand_half &= valid1
    with np.errstate(divide="ignore", invalid="ignore"):
        c = ((stand_at * wh).sum(axis=1) - (stand_half * wh).sum(axis=1)) / n_valid
    readable = (lo_b >= MIN_FUNDAMENTAL_BINS) & (n_valid > 0)
    shaft = np.where(readable, f0 * df_hz, np.nan)
    conf = np.where(readable, np.clip(c, 0.0, 1.0), np.nan)
    return shaft, conf


def _sample(z: F64, bins: F64) -> F64:
    """``z`` (R, K) at fractional ``bins`` (R, ...) by linear interpolation (0 outside)."""
    r, k = z.shape
    flat = bins.reshape(r, -1)
    i0 = np.floor(flat).astype(np.int64)
    t = flat - i0
    inside = (i0 >= 0) & (i0 + 1 < k)
    i0c = np.clip(i0, 0, k - 2)
    a = np.take_along_axis(z, i0c, axis=1)
    b = np.take_along_axis(z, i0c + 1, axis=1)
    return np.where(inside, a + (b - a) * t, 0.0).reshape(bins.shape)


#: Rows per slice of the running median: bounds its (rows, bins, window) working copy.
_MEDIAN_ROWS: Final = 32


def _running_median(x: F64, half: int) -> F64:
    """Median over ``2 * half + 1`` bins along the last axis, edges held (as
    ``scipy.ndimage.median_filter(x, size=(1, 2 * half + 1), mode="nearest")``, checked in
    tests/unit/test_speed.py). numpy only: the core ships in the Lambda bundle and the Glue zip
    without scipy."""
    padded = np.pad(x, ((0, 0), (half, half)), mode="edge")
    out = np.empty_like(x)
    for start in range(0, x.shape[0], _MEDIAN_ROWS):
        rows = slice(start, start + _MEDIAN_ROWS)
        windows = np.lib.stride_tricks.sliding_window_view(padded[rows], 2 * half + 1, axis=1)
        out[rows] = np.median(windows, axis=-1)
    return out
