"""Model metrics on labelled feature records (pure numpy; no scikit-learn at serving time).

The whole alert path replayed over a labelled fleet (false alarms, lead time) is
:mod:`rotorwatch.alerting.replay`: it sits above the model, the baseline and the alert state machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.model.calibration import expected_calibration_error, reliability
from rotorwatch.diagnosis.model.labels import labels_of, trainable
from rotorwatch.diagnosis.model.model import Model

F64 = npt.NDArray[np.float64]

#: Severity ranges (0..1 of the way to end of life) for recall by fault stage.
SEVERITY_BUCKETS = ((0.05, 0.1), (0.1, 0.25), (0.25, 1.01))


def roc_auc(score: F64, positive: npt.NDArray[np.bool_]) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    pos, neg = int(positive.sum()), int((~positive).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(score.size)
    sorted_scores = score[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def macro_f1(truth: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes present in the truth."""
    t, p = np.asarray(truth), np.asarray(pred)
    scores = []
    for c in classes:
        if not np.any(t == c):
            continue
        tp = float(np.sum((t == c) & (p == c)))
        fp = float(np.sum((t != c) & (p == c)))
        fn = float(np.sum((t == c) & (p != c)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else float("nan")


def metrics(model: Model, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Classification accuracy / macro-F1 (of the model's call, ``fault_leaning`` where the
    window's fault is ``normal`` because its vibration is healthy) and anomaly ROC AUC on
    labelled records.

    Classification is judged on the rows training would use (normal, or a fault past
    MIN_LABEL_SEVERITY); ``accuracy_all_windows`` also counts the barely-started faults. The
    anomaly AUC separates truly healthy windows (label normal) from fault windows past
    MIN_LABEL_SEVERITY.
    """
    faults, severity = labels_of(records)
    rows = model.score(records)
    # The model's call: the window's fault, or, where its vibration was healthy (fault normal),
    # the fault it leant to. The classifier is judged on every labelled window; whether a window
    # is flagged is the state's business (false alarms, lead times).
    pred = np.asarray([r.get("fault_leaning") or r["fault"] for r in rows])
    score = np.asarray([r["anomaly_score"] for r in rows])
    truth = np.asarray(faults)
    keep = trainable(faults, severity)
    healthy = truth == "normal"
    auc_rows = keep
    return {
        "windows": len(records),
        "windows_judged": int(keep.sum()),
        "accuracy": float(np.mean(pred[keep] == truth[keep])),
        "macro_f1": macro_f1(truth[keep].tolist(), pred[keep].tolist(), model.classes),
        "accuracy_all_windows": float(np.mean(pred == truth)),
        "anomaly_roc_auc": roc_auc(score[auc_rows], ~healthy[auc_rows]),
        "fault_recall_by_severity": {
            f"{lo:g}-{hi:g}": float(np.mean(pred[sel] == truth[sel]))
            for lo, hi in SEVERITY_BUCKETS
            if np.any(sel := (truth != "normal") & (severity >= lo) & (severity < hi))
        },
        "per_class_recall": {
            c: float(np.mean(pred[keep & (truth == c)] == c))
            for c in model.classes
            if np.any(keep & (truth == c))
        },
    }


def shown_calls(
    model: Model, records: Sequence[Mapping[str, Any]], *, uncapped: bool = False
) -> tuple[F64, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(shown confidence, was the shown fault right, does it name a fault) per judged window
    (normal, or a fault past MIN_LABEL_SEVERITY) that carries a confidence.

    What a person reads is the pair (``fault``, ``fault_confidence``): "normal" on a window of a
    started fault is wrong, a named fault on a healthy machine is wrong.
    """
    faults, severity = labels_of(records)
    rows = model.score(records, uncapped=uncapped)
    keep = trainable(faults, severity)
    conf = np.asarray(
        [np.nan if r["fault_confidence"] is None else r["fault_confidence"] for r in rows],
        dtype=np.float64,
    )
    keep &= np.isfinite(conf)
    named = np.asarray([r["fault"] for r in rows])
    truth = np.asarray(faults)
    return conf[keep], (named == truth)[keep], (named != "normal")[keep]


def calibration_report(model: Model, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Expected calibration error of the confidence people read (``shown``: capped) and of the
    classifier's figure before the cap (``uncapped``), over every judged window and over the
    windows that name a fault (what alerts show), with the shown figure's reliability table."""
    out: dict[str, Any] = {}
    for label, uncapped in (("uncapped", True), ("shown", False)):
        conf, ok, named = shown_calls(model, records, uncapped=uncapped)
        out[label] = {
            "windows": int(conf.size),
            "ece": expected_calibration_error(conf, ok),
            "windows_naming_a_fault": int(named.sum()),
            "ece_naming_a_fault": expected_calibration_error(conf[named], ok[named]),
            "max_confidence": float(conf.max()) if conf.size else float("nan"),
            "reliability": reliability(conf, ok),
        }
    return out
