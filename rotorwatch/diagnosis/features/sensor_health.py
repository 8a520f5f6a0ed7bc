"""Vibration sensor health read from the raw window: flat-lined, saturated or clipped.

A dead accelerometer does not say so: a window of zeros, of one constant or pinned at full scale
has no vibration in the 10-1000 Hz band, so it scores velocity 0 mm/s, ISO zone A and HEALTHY,
and nobody learns that the machine is no longer watched. Real sensors die (open cable: a flat
line), saturate (the machine shakes beyond the sensor's or the ADC's range: samples pinned at
the converter's full scale) and clip (an amplifier or a loose sensor limits the signal below
full scale: plateaus at the window's extremes). Each is detected here on the samples as sent,
and named so the technician can act on the sensor, never read as a healthy machine.

Checks, first match wins (a flat line at full scale is a dead sensor first):

``sensor_flat_line``
    Peak-to-peak within :data:`FLAT_PTP_COUNTS` counts (int16) or :data:`FLAT_PTP_G` g
    (float32). A live accelerometer always shows its noise floor: a few counts at any sensible
    scale, about 1e-4 g for MEMS, 1e-6 g for the quietest piezo sensors.
``sensor_saturated``
    At least :data:`SATURATION_MIN_SAMPLES` int16 samples at the converter's full scale
    (-32768 or 32767). Encoders scale the window's peak to 90 % of full scale
    (:func:`rotorwatch.contract.telemetry.auto_scale`), so a sample there means the converter ran out of
    range. float32 windows have no full scale: not judged.
``sensor_clipped``
    At least :data:`CLIP_FRACTION` of the samples sit exactly at the window's largest or at its
    smallest value, and (int16) that extreme is at least :data:`CLIP_MIN_COUNTS` counts from
    the window's median. A sine of amplitude A counts spends about sqrt(1 / A) / pi of its
    samples at its extreme value (1 % at 1024 counts), a sine clipped at 95 % of its amplitude
    10 %: a threshold of 5 % tells them apart. Small signals are not judged (at 20 counts an
    undamaged sine sits 7 % of the time at its extreme).

Everything here is pure numpy on a (windows, samples) batch.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

FLAT_LINE: Final = "sensor_flat_line"
SATURATED: Final = "sensor_saturated"
CLIPPED: Final = "sensor_clipped"
#: Every sensor problem, worst first (the feature ``vibration_sensor`` and the prediction's
#: ``sensor_cause`` carry one of these, or null).
SENSOR_PROBLEMS: Final[tuple[str, ...]] = (FLAT_LINE, SATURATED, CLIPPED)

FLAT_PTP_COUNTS: Final = 2
FLAT_PTP_G: Final = 1e-6
INT16_MIN: Final = -32768
INT16_MAX: Final = 32767
SATURATION_MIN_SAMPLES: Final = 3
CLIP_FRACTION: Final = 0.05
CLIP_MIN_COUNTS: Final = 1024

#: What the technician reads (the alert's "Sensor:" line and the SMS), per problem.
ADVICE: Final[dict[str, str]] = {
    FLAT_LINE: "accelerometer reads a flat line: check its cable, connector, power and mounting",
    SATURATED: "accelerometer saturated (samples at full scale): vibration beyond its range, "
    "or a loose sensor; check the machine and the sensor's range",
    CLIPPED: "accelerometer signal clipped: check the sensor's mounting and its amplifier",
}


#: Samples per pass of the extremes' counts (a 64 KiB mask, in cache).
_COUNT_CHUNK_SAMPLES: Final = 1 << 16


def _count_true(mask: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
    """True values per row of a C-contiguous boolean array. A bool is one byte, 0 or 1: eight
    of them read as one 64-bit word hold as many set bits as true values, and counting bits
    word by word is about twice as fast as summing the booleans (which widens each to int64)."""
    if mask.shape[1] % 8:
        return np.asarray(mask.sum(axis=1))
    return np.asarray(np.bitwise_count(mask.view(np.uint64)).sum(axis=1))


def sensor_problems(
    raw: npt.NDArray[np.int16] | npt.NDArray[np.float32], gain_g: npt.NDArray[np.float64]
) -> list[str | None]:
    """The problem of each window of a batch (None where the sensor looks alive).

    Parameters
    ----------
    raw : ndarray, shape (B, N), int16 or float32
        The samples as the device sent them (counts for int16).
    gain_g : ndarray, shape (B,)
        g per raw unit of each row (the int16 scale, or 1/9.80665 for m/s2 windows).
    """
    if raw.ndim != 2 or gain_g.shape != (raw.shape[0],):
        raise ValueError("raw must be (B, N) and gain_g (B,)")
    counts = raw.dtype == np.int16
    # Extremes and equality tests read the samples as sent (int16 or float32 values are exact
    # in either width); only the rows a test needs in wider arithmetic are widened below.
    x = raw if counts else raw.astype(np.float64)
    top, bottom = x.max(axis=1), x.min(axis=1)  # in the samples' own dtype, for the == below
    hi, lo = (top.astype(np.int32), bottom.astype(np.int32)) if counts else (top, bottom)
    n = x.shape[1]
    # How many samples sit at each extreme, a few rows at a time through one small mask (a
    # mask of the whole batch is megabytes of fresh pages per call).
    at_hi, at_lo = np.empty(len(x), dtype=np.intp), np.empty(len(x), dtype=np.intp)
    chunk = max(1, _COUNT_CHUNK_SAMPLES // max(n, 1))
    mask = np.empty((min(chunk, len(x)), n), dtype=np.bool_)
    for s in range(0, len(x), chunk):
        e = min(s + chunk, len(x))
        for extreme, count in ((top, at_hi), (bottom, at_lo)):
            np.equal(x[s:e], extreme[s:e, None], out=mask[: e - s])
            count[s:e] = _count_true(mask[: e - s])
    if counts:
        flat = (hi - lo) <= FLAT_PTP_COUNTS
        # Samples at full scale are the row's extremes where an extreme is full scale (the two
        # ends are different samples, or one constant row): counted above.
        at_full_scale = np.where(hi >= INT16_MAX, at_hi, 0) + np.where(lo <= INT16_MIN, at_lo, 0)
        saturated = at_full_scale >= SATURATION_MIN_SAMPLES
    else:
        flat = (hi - lo) * np.abs(gain_g) <= FLAT_PTP_G
        saturated = np.zeros(len(x), dtype=bool)
    clipped = np.maximum(at_hi, at_lo) >= CLIP_FRACTION * n
    if counts and clipped.any():
        # The median (a sort per row) only where the plateau test already holds: the rows it
        # can still clear.
        rows = np.flatnonzero(clipped)
        median = np.median(x[rows].astype(np.int32), axis=1)
        level = np.where(at_hi[rows] >= at_lo[rows], hi[rows] - median, median - lo[rows])
        clipped[rows] = level >= CLIP_MIN_COUNTS
    out: list[str | None] = []
    for f, s, c in zip(flat.tolist(), saturated.tolist(), clipped.tolist(), strict=True):
        out.append(FLAT_LINE if f else SATURATED if s else CLIPPED if c else None)
    return out
