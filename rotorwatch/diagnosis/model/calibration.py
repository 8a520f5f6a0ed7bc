"""The confidence the model shows, and how well it is calibrated: "90 %" must mean right
nine times in ten.

What a person reads is the pair (``fault``, ``fault_confidence``) after every override of
:meth:`rotorwatch.diagnosis.model.model.Model.score` (physics first, healthy vibration names no fault).
Its calibration is measured, not assumed: the expected calibration error (ECE) on machines held
out of the fit, in the model card (:func:`rotorwatch.diagnosis.model.train.train_with_card`), in
``make eval`` on a fleet neither fit saw, and in a test against :data:`ECE_BOUND`.

Measured on the bootstrap model (README, Model): on held-out simulated machines
the figure is already calibrated within ECE 0.012 (0.004 over the windows that name a fault),
and maps fitted on one held-out fold (isotonic, temperature scaling) made it *worse* on
another fleet (0.024, 0.021): the simulated fleets differ more from each other than the figure
is off. So no map is shipped; what ships is the check, and two limits stated wherever the
figure is shown:

* it vouches for machines like the simulated ones, not for real ones, nor for faults the
  classifier was never taught (a sensor fault is named by the sensor path, not here);
* no figure above :data:`MAX_SHOWN_CONFIDENCE`: a finite held-out set cannot support 100 %
  (the held-out fleet has a few thousand fault windows), and a real machine differs from every
  simulated one.

Pure numpy; runs on Python 3.10 (ships with the endpoint).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: The highest confidence ever shown (see the module docstring).
MAX_SHOWN_CONFIDENCE: Final = 0.99
#: The served model's ECE on held-out simulated machines stays below this (tested, and
#: printed by make eval), over every judged window and over those that name a fault.
ECE_BOUND: Final = 0.05
#: Equal-width confidence bins of the expected calibration error.
ECE_BINS: Final = 10


def expected_calibration_error(confidence: F64, correct: B, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the row-weighted mean, over ``bins`` equal-width confidence
    bins, of |accuracy - mean confidence| (0 is perfect; NaN without rows).

    Guo et al., "On Calibration of Modern Neural Networks" (2017), eq. 3.
    """
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if c.size == 0:
        return float("nan")
    which = np.minimum((c * bins).astype(np.int64), bins - 1)
    n = np.bincount(which, minlength=bins).astype(np.float64)
    sum_c = np.bincount(which, weights=c, minlength=bins)
    sum_ok = np.bincount(which, weights=ok.astype(np.float64), minlength=bins)
    used = n > 0
    gap = np.abs(sum_ok[used] - sum_c[used])  # n * |acc - conf| per bin
    return float(gap.sum() / c.size)


def reliability(confidence: F64, correct: B, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """Per non-empty bin: its range, rows, mean confidence and accuracy (a reliability table)."""
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    which = np.minimum((c * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if np.any(sel):
            out.append(
                {
                    "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                    "rows": int(sel.sum()),
                    "mean_confidence": float(c[sel].mean()),
                    "accuracy": float(ok[sel].mean()),
                }
            )
    return out


def shown(confidence: float) -> float:
    """The figure a row carries: the model's, never above :data:`MAX_SHOWN_CONFIDENCE`."""
    return min(confidence, MAX_SHOWN_CONFIDENCE)
