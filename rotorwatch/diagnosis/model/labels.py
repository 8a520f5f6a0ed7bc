"""Labelled feature records: the ground truth that training and evaluation both read.

Labels come from the simulator's ground truth (or any labelled source): each record carries
``fault`` (one of :data:`rotorwatch.diagnosis.predictions.FAULTS`, "normal" before a fault's onset) and
optionally ``severity`` (0..1). A fault in its first moments is physically invisible, so fault
windows below ``MIN_LABEL_SEVERITY`` are left out of training and of the classification
metrics alike (labelling them as a fault would teach the classifier noise; labelling them
normal would be a lie). One home, so a model is judged on the rows it was taught on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.predictions import FAULTS

F64 = npt.NDArray[np.float64]

#: Fault windows with a smaller severity (0..1 of the way to end of life) are not trained on.
MIN_LABEL_SEVERITY: Final = 0.05


class TrainingError(ValueError):
    """Training data that cannot make a model."""


def labels_of(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], F64]:
    """(fault label, severity) per record; severity defaults to 1 for a labelled fault."""
    faults, sev = [], np.zeros(len(records))
    for i, rec in enumerate(records):
        fault = rec.get("fault")
        if fault not in FAULTS:
            raise TrainingError(f"record {i}: 'fault' must be one of {FAULTS}, got {fault!r:.40}")
        faults.append(str(fault))
        s = rec.get("severity")
        sev[i] = float(s) if isinstance(s, int | float) else (0.0 if fault == "normal" else 1.0)
    return faults, sev


def trainable(faults: Sequence[str], severity: F64) -> npt.NDArray[np.bool_]:
    """Rows the classifier trains on (normal, or a fault past MIN_LABEL_SEVERITY)."""
    f = np.asarray(faults)
    return np.asarray((f == "normal") | (severity >= MIN_LABEL_SEVERITY))
