"""The scoring model: an anomaly distance from healthy behaviour plus a fault classifier.

* **Anomaly score** (0-1, higher is worse; the reported score combines this distance with the
  physics score of :func:`rotorwatch.diagnosis.scoring.rules_anomaly_score` where the window shows a
  finding, and is the physics score or half the distance where it does not, see
  :meth:`Model.score`): robust z-scores of the model inputs against healthy
  windows (median and scaled MAD per input), combined as the root mean square of the
  ``ANOMALY_TOP_K`` largest ones (one fault moves a few inputs a lot; averaging over all of them
  would dilute it), then mapped by ``1 - 0.5 ** (d / d_ref)`` where ``d_ref`` is the healthy
  windows' ``ANOMALY_REF_QUANTILE`` quantile: 0.5 at the edge of healthy behaviour, towards 1
  far beyond it. Inputs are scale-free (see :mod:`rotorwatch.diagnosis.model.features`), so one set of
  statistics serves machines of every size.
* **Fault classifier**: gradient-boosted trees over :data:`rotorwatch.diagnosis.predictions.FAULTS`,
  stored as plain arrays (:mod:`rotorwatch.diagnosis.model.forest`).
* **Physics first** (:func:`rotorwatch.diagnosis.scoring.bearing_evidence`): a clear defect family in the
  pre-whitened envelope (or strong impulsiveness that a defect line corroborates) names and raises a bearing fault on any
  machine, with no history; the classifier names what physics leaves.
* **State**: the bearing evidence's state; WARNING when the window is outside healthy
  behaviour (score >= ``WARNING_SCORE``), the classifier names a fault the window can show
  (:func:`rotorwatch.diagnosis.scoring.readable`: shaft faults need resolved shaft orders, bearing faults
  an envelope line of their family) and the ISO zone is B or worse (a distance to the simulated
  training fleet is no evidence on a zone-A machine unlike it); never ALARM from the classifier
  and the distance alone (the endpoint knows no device history: an ALARM needs evidence that
  holds on any machine, the bearing lines, ISO zone D or the sensors); never better than the
  ISO zone's state
  (:func:`rotorwatch.diagnosis.scoring.iso_state`), so zone C warns and zone D alarms regardless; and
  never better than the temperature/pressure verdict (:func:`rotorwatch.diagnosis.sensors.judge`, its
  cause in ``sensor_cause``).

Serving needs numpy only. Training (:mod:`rotorwatch.diagnosis.model.train`) needs scikit-learn.
This module must run on Python 3.10 (the SageMaker scikit-learn 1.4-2 image).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.model.calibration import shown
from rotorwatch.diagnosis.model.features import MODEL_FEATURES, feature_matrix
from rotorwatch.diagnosis.model.forest import Forest, predict_proba
from rotorwatch.diagnosis.predictions import FAULTS, NORMAL_FAULT, STATES, window_fault
from rotorwatch.diagnosis.scoring import (
    EVIDENCE_MIN_SCORE,
    bearing_evidence,
    evidence_state,
    iso_state,
    readable,
    rules_anomaly_score,
    worse,
)
from rotorwatch.diagnosis.sensors import judge

F64 = npt.NDArray[np.float64]
HEALTHY, WARNING, ALARM = STATES

#: Version of the model file layout (model.json).
MODEL_FORMAT: Final = 1
MODEL_FILE: Final = "model.json"
CARD_FILE: Final = "model_card.json"

ANOMALY_TOP_K: Final = 3
ANOMALY_REF_QUANTILE: Final = 0.995
#: Score at d = d_ref is 0.5; at 2 d_ref 0.75; at 3.3 d_ref 0.9.
WARNING_SCORE: Final = 0.6
ALARM_SCORE: Final = 0.9
#: The most the distance alone gives a window without a finding: just below the score of the
#: weakest bearing evidence (:data:`rotorwatch.diagnosis.scoring.EVIDENCE_MIN_SCORE`), so a window far
#: from the training fleet (its distance saturates: 0.5 x 1.0 in float64 beyond ~54 d_ref)
#: never ties with a window whose envelope shows a defect.
DISTANCE_ONLY_MAX_SCORE: Final = math.nextafter(EVIDENCE_MIN_SCORE, 0.0)
#: Normalised MAD of a Gaussian (MAD * 1.4826 estimates sigma).
_MAD_TO_SIGMA: Final = 1.4826


@dataclass(frozen=True)
class AnomalyModel:
    """Healthy-behaviour statistics per model input."""

    center: F64
    scale: F64
    d_ref: float
    top_k: int = ANOMALY_TOP_K

    def distance(self, x: F64) -> F64:
        """Root mean square of the ``top_k`` largest |z| per row (NaN inputs ignored)."""
        z = np.abs((x - self.center[None, :]) / self.scale[None, :])
        z = np.where(np.isnan(z), 0.0, z)
        k = min(self.top_k, z.shape[1])
        top = -np.partition(-z, k - 1, axis=1)[:, :k]
        return np.asarray(np.sqrt(np.mean(top * top, axis=1)))

    def score(self, x: F64) -> F64:
        """0-1 anomaly score per row."""
        return np.asarray(1.0 - np.power(0.5, self.distance(x) / self.d_ref))

    @classmethod
    def fit(cls, x_healthy: F64, top_k: int = ANOMALY_TOP_K) -> AnomalyModel:
        center = np.nanmedian(x_healthy, axis=0)
        mad = np.nanmedian(np.abs(x_healthy - center[None, :]), axis=0) * _MAD_TO_SIGMA
        # An input that never varies on healthy machines (or is always missing) must not
        # divide by zero; its spread floor is a small fraction of a log unit.
        scale = np.where(np.isfinite(mad) & (mad > 1e-3), mad, 1e-3)
        center = np.where(np.isfinite(center), center, 0.0)
        partial = cls(center=center, scale=scale, d_ref=1.0, top_k=top_k)
        d_ref = float(np.quantile(partial.distance(x_healthy), ANOMALY_REF_QUANTILE))
        return cls(center=center, scale=scale, d_ref=max(d_ref, 1e-6), top_k=top_k)

    def to_dict(self) -> dict[str, Any]:
        return {
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "d_ref": self.d_ref,
            "top_k": self.top_k,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnomalyModel:
        return cls(
            center=np.asarray(d["center"], dtype=np.float64),
            scale=np.asarray(d["scale"], dtype=np.float64),
            d_ref=float(d["d_ref"]),
            top_k=int(d["top_k"]),
        )


class ModelError(ValueError):
    """A model file that cannot be used."""


@dataclass(frozen=True)
class Model:
    """The serving model (anomaly statistics + classifier); see the module docstring."""

    anomaly: AnomalyModel
    forest: Forest
    classes: tuple[str, ...]
    features: tuple[str, ...] = MODEL_FEATURES
    warning_score: float = WARNING_SCORE
    alarm_score: float = ALARM_SCORE

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "features": list(self.features),
            "classes": list(self.classes),
            "warning_score": self.warning_score,
            "alarm_score": self.alarm_score,
            "anomaly": self.anomaly.to_dict(),
            "forest": self.forest.to_dict(),
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the same model always gives the same bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @functools.cached_property
    def version(self) -> str:
        """Content hash of the model: the ``model_version`` of every prediction it makes."""
        return "rw-" + hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Model:
        if d.get("format") != MODEL_FORMAT:
            raise ModelError(f"model format {d.get('format')!r} is not {MODEL_FORMAT}")
        if tuple(d["features"]) != MODEL_FEATURES:
            raise ModelError("model was trained on different inputs than this code computes")
        classes = tuple(d["classes"])
        if not set(classes) <= set(FAULTS) or "normal" not in classes:
            raise ModelError(f"model classes {classes} are not fault names")
        return cls(
            anomaly=AnomalyModel.from_dict(d["anomaly"]),
            forest=Forest.from_dict(d["forest"]),
            classes=classes,
            features=tuple(d["features"]),
            warning_score=float(d["warning_score"]),
            alarm_score=float(d["alarm_score"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Model:
        try:
            return cls.from_dict(json.loads(text))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"cannot read model: {exc}") from None

    def predict_arrays(self, x: F64) -> tuple[F64, F64]:
        """(anomaly score (n,), class probabilities (n, n_classes)) for model inputs ``x``."""
        return self.anomaly.score(x), predict_proba(self.forest, x)

    def _p_normal(self, proba: F64) -> float:
        """The classifier's probability of ``normal`` (every model has the class)."""
        return float(proba[self.classes.index(NORMAL_FAULT)])

    def _p_class(self, proba: F64, fault: str) -> float:
        """The classifier's probability of ``fault`` (0 for a fault it does not know)."""
        return float(proba[self.classes.index(fault)]) if fault in self.classes else 0.0

    def score(
        self, records: Sequence[Mapping[str, Any]], *, uncapped: bool = False
    ) -> list[dict[str, Any]]:
        """Model rows (:data:`rotorwatch.diagnosis.scoring.MODEL_OUTPUT_FIELDS`) for feature records.

        ``fault_confidence`` is the figure people read, its calibration measured on held-out
        machines and capped (:mod:`rotorwatch.diagnosis.model.calibration`); ``uncapped`` gives it before
        the cap (what make eval compares).
        """
        if not records:
            return []
        x = feature_matrix(records)
        anomaly, proba = self.predict_arrays(x)
        best = np.argmax(proba, axis=1)
        version = self.version
        out = []
        for i, rec in enumerate(records):
            a = float(anomaly[i])
            k = int(best[i])
            fault, confidence = self.classes[k], float(proba[i, k])
            leaning = None
            if not readable(fault, rec):
                # The window cannot show that fault's own lines (no speed, or a resolution that
                # cannot separate them): the classifier's name is no finding.
                fault, confidence, leaning = NORMAL_FAULT, self._p_normal(proba[i]), fault
            # Physics first: a clear defect family in the envelope names the bearing fault on
            # any machine; the classifier learned the simulator and names what physics leaves.
            evidence = bearing_evidence(rec)
            # Impacts with no defect family (bearing_unclear) keep a fault the classifier names:
            # looseness rattles too.
            if evidence is not None and (evidence[0] != "bearing_unclear" or fault == "normal"):
                # The classifier's probability of the fault physics names, not of the one it
                # named (a figure for another fault would be read as this one's).
                p = self._p_class(proba[i], evidence[0])
                fault, confidence, leaning = evidence[0], max(p, 0.5), None
            state = HEALTHY
            # The statistical distance is measured to the training fleet's healthy windows: on
            # a machine unlike them it is large without a fault. It may raise a state only
            # where the ISO zone already says the machine is outside new-machine condition,
            # and to WARNING at most: this endpoint knows no device history, and an ALARM needs
            # evidence that holds on any machine (bearing lines, the ISO zone, the sensors).
            zone_known_not_a = rec.get("iso_zone") in ("B", "C", "D")
            finding = fault != "normal" and a >= self.warning_score and zone_known_not_a
            if finding:
                state = WARNING
            # Bearing evidence (a defect line, or impacts a line corroborates) is a finding on any
            # machine, like a fault the window shows.
            finding = finding or evidence is not None
            state = worse(worse(state, evidence_state(evidence)), iso_state(rec))
            if window_fault(state, fault) != fault:
                # Healthy vibration: no fault, however the classifier leans (kept apart).
                fault, confidence, leaning = NORMAL_FAULT, self._p_normal(proba[i]), fault
            sensors = judge(rec)  # temperature / pressure against the asset's limits
            state = worse(state, sensors.state)
            physics = rules_anomaly_score(rec)
            out.append(
                {
                    # Ranked by evidence that holds on any machine (the ISO zone, the bearing
                    # lines: rotorwatch.diagnosis.scoring.rules_anomaly_score); where the window shows a
                    # finding (a named defect line, or a fault it raised with its own lines) the
                    # distance adds to it as independent evidence (1 - (1 - p)(1 - a)), else it
                    # counts at half (0.5 at most: the edge of healthy): a window of a rig unlike
                    # the training fleet is far from it, not faulty.
                    "anomaly_score": 1.0 - (1.0 - physics) * (1.0 - a)
                    if finding
                    else max(physics, min(0.5 * a, DISTANCE_ONLY_MAX_SCORE)),
                    "fault": fault,
                    "fault_confidence": confidence if uncapped else shown(confidence),
                    "state": state,
                    "model_version": version,
                    "sensor_cause": sensors.cause,
                    "fault_leaning": leaning,
                }
            )
        return out
