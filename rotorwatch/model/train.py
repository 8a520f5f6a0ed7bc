"""Training: labelled feature records in, a :class:`~rotorwatch.model.model.Model` and metrics out.

Which records are labelled how, and which of them training uses, is
:mod:`rotorwatch.model.labels` (evaluation reads the same). Training is deterministic:
fixed ``random_state``, no early stopping, and one thread (a parallel float reduction could sum
in a different order and change the last bits of a leaf value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from rotorwatch.model.evaluate import calibration_report, metrics
from rotorwatch.model.features import MODEL_FEATURES, feature_matrix
from rotorwatch.model.forest import export_hist_gradient_boosting
from rotorwatch.model.labels import MIN_LABEL_SEVERITY, TrainingError, labels_of, trainable
from rotorwatch.model.model import AnomalyModel, Model
from rotorwatch.predictions import FAULTS

RANDOM_STATE: Final = 20261123
#: Classifier size: small enough to score 500 windows in a few milliseconds in numpy.
MAX_ITER: Final = 20
MAX_DEPTH: Final = 4
LEARNING_RATE: Final = 0.3


def fit(records: Sequence[Mapping[str, Any]]) -> Model:
    """Train the anomaly statistics and the classifier on labelled feature records."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    faults, severity = labels_of(records)
    x = feature_matrix(records)
    keep = trainable(faults, severity)
    y_names = np.asarray(faults)[keep]
    healthy = np.asarray(faults) == "normal"
    if healthy.sum() < 20:
        raise TrainingError("need at least 20 healthy windows to learn healthy behaviour")
    classes = tuple(f for f in FAULTS if f in set(y_names.tolist()))
    if len(classes) < 3:
        raise TrainingError(f"need at least 3 classes to train on, got {classes}")
    y = np.array([classes.index(f) for f in y_names])
    clf = HistGradientBoostingClassifier(
        max_iter=MAX_ITER,
        max_depth=MAX_DEPTH,
        learning_rate=LEARNING_RATE,
        early_stopping=False,
        class_weight="balanced",
        random_state=RANDOM_STATE,
    )
    with threadpool_limits(limits=1):
        clf.fit(x[keep], y)
    return Model(
        anomaly=AnomalyModel.fit(x[healthy]),
        forest=export_hist_gradient_boosting(clf),
        classes=classes,
    )


def data_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What a model was trained on (for the model card)."""
    faults, severity = labels_of(records)
    keep = trainable(faults, severity)
    devices = {str(r.get("device_id")) for r in records}
    ts = [r["ts"] for r in records if isinstance(r.get("ts"), int)]
    return {
        "windows": len(records),
        "windows_trained": int(keep.sum()),
        "devices": len(devices),
        "windows_by_fault": dict(sorted(Counter(faults).items())),
        "min_label_severity": MIN_LABEL_SEVERITY,
        "first_ts": min(ts) if ts else None,
        "last_ts": max(ts) if ts else None,
        "model_inputs": list(MODEL_FEATURES),
    }


#: Every n-th device (sorted by id) is held out to measure the model for its card.
VALIDATION_EVERY: Final = 4


def validation_split(
    records: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(train, validation) records, split by machine so validation machines are unseen."""
    devices = sorted({str(r.get("device_id")) for r in records})
    held = set(devices[VALIDATION_EVERY - 1 :: VALIDATION_EVERY])
    train = [r for r in records if str(r.get("device_id")) not in held]
    valid = [r for r in records if str(r.get("device_id")) in held]
    return train, valid


def versions() -> dict[str, str]:
    """Library versions that made a model (for its card)."""
    import platform

    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def train_with_card(records: Sequence[Mapping[str, Any]]) -> tuple[Model, dict[str, Any]]:
    """Fit on all records, measured first on machines held out of a fit on the rest.

    Returns the model and its card (training data summary, metrics, inputs, versions).
    """
    train, valid = validation_split(records)
    validation: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    if valid and len({str(r["fault"]) for r in train}) >= 3:
        try:
            fold = fit(train)
        except TrainingError:
            fold = None
        if fold is not None:
            validation = metrics(fold, valid)
            # How far the shown confidence is from how often it is right, on machines the fit
            # never saw (rotorwatch.model.calibration; make eval measures it on another fleet).
            rep = calibration_report(fold, valid)["shown"]
            calibration = {k: rep[k] for k in ("windows", "ece", "ece_naming_a_fault")}
    model = fit(records)
    card = {
        "name": "rotorwatch anomaly + fault model",
        "model_version": model.version,
        "intended_use": (
            "Score vibration feature records of rotating machines (ISO 10816-3 group 1/2, "
            "above 600 rpm): anomaly score 0-1, probable fault, HEALTHY/WARNING/ALARM."
        ),
        "training_data": data_summary(records),
        "metrics": {
            "validation_held_out_machines": validation,
            "training": metrics(model, records),
        },
        "features": list(MODEL_FEATURES),
        "classes": list(model.classes),
        "thresholds": {
            "warning_score": model.warning_score,
            "alarm_score": model.alarm_score,
            "min_label_severity": MIN_LABEL_SEVERITY,
        },
        "classifier": {
            "kind": "HistGradientBoostingClassifier exported to arrays",
            "max_iter": MAX_ITER,
            "max_depth": MAX_DEPTH,
            "learning_rate": LEARNING_RATE,
            "random_state": RANDOM_STATE,
        },
        "versions": versions(),
        "confidence_calibration_held_out_machines": calibration,
    }
    return model, card
