"""Training: labelled feature records in, a :class:`~rotorwatch.diagnosis.model.model.Model` and metrics out.

Which records are labelled how, and which of them training uses, is
:mod:`rotorwatch.diagnosis.model.labels` (evaluation reads the same). Training is deterministic:
fixed ``random_state``, no early stopping, and one thread (a parallel float reduction could sum
in a different order and change the last bits of a leaf value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from rotorwatch.diagnosis.model.evaluate import calibration_report, metrics
from rotorwatch.diagnosis.model.features import MODEL_FEATURES, feature_matrix
from rotorwatch.diagnosis.model.forest import export_hist_gradient_boosting
from rotorwatch.diagnosis.model.labels import (
    MIN_LABEL_SEVERITY,
    TrainingError,
    labels_of,
    trainable,
)
from rotorwatch.diagnosis.model.model import AnomalyModel, Model
from rotorwatch.diagnosis.predictions import FAULTS

RANDOM_STATE: Final = 20261123
#: Classifier size: small enough to score 500 windows in a few milliseconds in numpy.
MAX_ITER: Final = 20
MAX_DEPTH: Final = 4
LEARNING_RATE: Final = 0.3


#: Sample weight of one technician-labelled window against one window of ``records``; the
#: class balance (``class_weight="balanced"``) applies on top, so a class only the answers name
#: is learned even at weight 1, while answers that contradict a large class ("no fault found"
#: on windows the simulated fleet calls a fault) need weight to outvote it. Measured on the
#: 14-machine test fleet (tests/unit/test_technician_labels.py): at 10, answers naming
#: looseness (absent from the simulated fleet) on one machine make the model call looseness on
#: 77 % of another looseness machine's windows (0 % before) with the rest of the fleet's
#: accuracy unchanged (0.921); at 25 that accuracy fell to 0.828. At 10, "no fault found" on
#: one imbalance machine's windows lowers the imbalance calls on another imbalance machine from
#: 76 % of its windows to 4 % (at 1 and 5: to 52 and 50 %).
LABEL_WEIGHT: Final = 10.0


def fit(records: Sequence[Mapping[str, Any]], labelled: Sequence[Mapping[str, Any]] = ()) -> Model:
    """Train the anomaly statistics and the classifier on labelled feature records.

    ``labelled``: technicians' labelled windows (:mod:`rotorwatch.diagnosis.model.technician_labels`),
    added to the classifier's training at :data:`LABEL_WEIGHT` each. The anomaly statistics
    stay those of ``records``' healthy windows: they describe the training fleet's healthy
    behaviour, which a few hours of one real machine would only blur; the classifier is what
    decides whether a window far from it is a fault, and that is what an answer corrects.
    Without ``labelled`` the computation is exactly the one without the argument.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    faults, severity = labels_of(records)
    x = feature_matrix(records)
    keep = trainable(faults, severity)
    y_names = np.asarray(faults)[keep]
    healthy = np.asarray(faults) == "normal"
    if healthy.sum() < 20:
        raise TrainingError("need at least 20 healthy windows to learn healthy behaviour")
    x_fit, weights = x[keep], None
    if labelled:
        l_faults, l_severity = labels_of(labelled)
        l_keep = trainable(l_faults, l_severity)
        x_fit = np.concatenate([x_fit, feature_matrix(labelled)[l_keep]])
        y_names = np.concatenate([y_names, np.asarray(l_faults)[l_keep]])
        weights = np.concatenate(
            [np.ones(int(keep.sum())), np.full(int(l_keep.sum()), LABEL_WEIGHT)]
        )
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
        if weights is None:
            clf.fit(x_fit, y)
        else:
            clf.fit(x_fit, y, sample_weight=weights)
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


def label_agreement(model: Model, labelled: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many technician-labelled windows the classifier calls as labelled (model card)."""
    _anomaly, proba = model.predict_arrays(feature_matrix(labelled))
    calls = [model.classes[int(k)] for k in np.argmax(proba, axis=1)]
    faults, _sev = labels_of(labelled)
    agree = sum(c == f for c, f in zip(calls, faults, strict=True))
    return {"windows": len(labelled), "classifier_agrees": agree}


def train_with_card(
    records: Sequence[Mapping[str, Any]],
    labelled: Sequence[Mapping[str, Any]] = (),
    label_audit: Mapping[str, Any] | None = None,
) -> tuple[Model, dict[str, Any]]:
    """Fit on all records, measured first on machines held out of a fit on the rest.

    ``labelled``: technicians' labelled windows, in every fit (the held-out machines are
    ``records``' own, so validation stays comparable with a model trained without them);
    ``label_audit``: what joining them kept and dropped, for the card.

    Returns the model and its card (training data summary, metrics, inputs, versions).
    """
    train, valid = validation_split(records)
    validation: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    if valid and len({str(r["fault"]) for r in train}) >= 3:
        try:
            fold = fit(train, labelled)
        except TrainingError:
            fold = None
        if fold is not None:
            validation = metrics(fold, valid)
            # How far the shown confidence is from how often it is right, on machines the fit
            # never saw (rotorwatch.diagnosis.model.calibration; make eval measures it on another fleet).
            rep = calibration_report(fold, valid)["shown"]
            calibration = {k: rep[k] for k in ("windows", "ece", "ece_naming_a_fault")}
    model = fit(records, labelled)
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
    if labelled or label_audit is not None:
        # Only when labels were given: the card of a model without them is unchanged.
        card["technician_labels"] = {
            **(dict(label_audit) if label_audit is not None else {}),
            "label_weight": LABEL_WEIGHT,
            "after_training": label_agreement(model, labelled) if labelled else None,
        }
    return model, card
