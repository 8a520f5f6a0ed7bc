"""The scoring contract (what the SageMaker endpoint speaks) and the rules fallback.

Endpoint contract
-----------------
Request: ``CONTENT_TYPE`` body, a JSON array of feature records (names from
:data:`rotorwatch.diagnosis.features.FEATURE_NAMES`, missing values as ``null``), one per window. The
scorer sends only the fields the model reads (``rotorwatch.diagnosis.model.features.INPUT_FIELDS``): less
than half the bytes to serialise, send, bill as SageMaker data processed and parse; the
endpoint ignores any other field, so whole records are accepted too.
The request also carries the scalar sensors and the asset's limits
(:data:`rotorwatch.diagnosis.sensors.SENSOR_FIELDS`: ``temperature_c``, ``pressure_bar``,
``temperature_warning_c``, ``temperature_alarm_c``, ``pressure_min_bar``, ``pressure_max_bar``).
Response: ``ACCEPT`` body, a JSON array of the same length and order, each an object with
:data:`MODEL_OUTPUT_FIELDS`: ``anomaly_score`` (0-1), ``fault`` (one of
:data:`rotorwatch.diagnosis.predictions.FAULTS`), ``fault_confidence`` (0-1), ``state`` (one of
:data:`rotorwatch.diagnosis.predictions.STATES`), ``model_version`` (string) and ``sensor_cause`` (one
of :data:`rotorwatch.diagnosis.predictions.SENSOR_CAUSES`, or null; optional in a response, so an
endpoint deployed before it existed still answers within the contract) and ``fault_leaning``
(optional too: where the window's vibration is healthy, ``fault`` is ``normal`` and this is the
fault the classifier leant to, see :func:`rotorwatch.diagnosis.predictions.window_fault`).

Temperature and pressure
------------------------
Vibration is not the only evidence: :func:`rotorwatch.diagnosis.sensors.judge` reads ``temperature_c``
and ``pressure_bar`` against the asset's limits (temperature defaults from common practice for
rolling-element bearings; pressure only against the asset's own normal range). Its state enters
every path with :func:`worse` (endpoint, rules, :func:`combine`), so a machine vibrating
perfectly at 110 degC still warns. Cause codes (``sensor_cause`` in the row and the prediction):

* ``overheating``: temperature at or above the warning (WARNING) or alarm (ALARM) limit;
* ``pressure_low``: pressure below the asset's normal range (ALARM 20 % below its minimum);
* ``pressure_high``: pressure above the asset's normal range (ALARM 20 % above its maximum).

Once a device has learned its own normal (the score_and_alert Lambda keeps it next to the
vibration baseline, :func:`rotorwatch.diagnosis.sensors.apply_history`; the endpoint is stateless and
never returns these), three more causes can raise a prediction to WARNING:

* ``temperature_rise``: 28 degC (50 degF) or more above its own normal temperature;
* ``temperature_rate``: heating 10 degC/h or faster (over the last hour) while 15 degC or more
  above its own normal;
* ``pressure_drift``: pressure at the same speed (affinity law) 15 % or more from its own normal.

The prediction's ``sensor_reason`` names the sensor, its value and the limit, e.g.
``temperature 112.0 degC >= warning limit 93 degC``. A missing reading judges nothing.

Rules fallback
--------------
When the endpoint is unavailable the same questions are answered from physics alone
(:func:`rules_row`): ISO 10816-3 zone C warns and zone D alarms, clear bearing-defect lines in
the envelope spectrum warn (and alarm when they dominate it), and the probable fault is read from
the envelope indicators and the shaft-order amplitudes. :func:`combine` builds the prediction
record for both paths; its state is never better than the ISO zone says, whatever the model
thinks, so ISO alerts work from day one (as Monitron's do).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from rotorwatch.diagnosis.features.schema import number
from rotorwatch.diagnosis.features.sensor_health import ADVICE, SENSOR_PROBLEMS
from rotorwatch.diagnosis.predictions import (
    FAULTS,
    NORMAL_FAULT,
    PREDICTION_NAMES,
    REMAINING_LIFE_FIELDS,
    SENSOR_CAUSES,
    STATES,
    window_fault,
)
from rotorwatch.diagnosis.sensors import judge

CONTENT_TYPE: Final = "application/json"
ACCEPT: Final = "application/json"
MODEL_OUTPUT_FIELDS: Final[tuple[str, ...]] = (
    "anomaly_score",
    "fault",
    "fault_confidence",
    "state",
    "model_version",
    "sensor_cause",
    "fault_leaning",
)
#: ``model_version`` of predictions the rules made (the model was not consulted).
RULES_MODEL_VERSION: Final = "rules"

HEALTHY, WARNING, ALARM = STATES
_RANK: Final = {s: i for i, s in enumerate(STATES)}

#: ISO 10816-3 zone -> point state. C ("restricted operation, plan a repair") warns; D ("severe
#: enough to cause damage") alarms. A and B are normal operation.
ISO_ZONE_STATE: Final = {"A": HEALTHY, "B": HEALTHY, "C": WARNING, "D": ALARM}

#: Envelope indicators (a defect family's strongest line in the pre-whitened envelope
#: spectrum over its median, see rotorwatch.diagnosis.features.defect_lines; for the balls also
#: their band's evidence, on the same scale: as rare on noise). A healthy bearing sits at 1.5-3
#: (the noise's own spread; at most 4.8 on the healthy IMS rig's bearings); a defect whose
#: impacts repeat at its rate gives 7-25 on the CWRU rig. WARNING at 6: twice the healthy
#: typical, so noise alone does not cross it. ALARM at twice that: the impacts dominate the
#: whitened envelope (whitening bounds the ratio: it measures how regular the impacts are
#: more than how strong; severity is also the ISO zone's business).
ENV_HEALTHY_TYPICAL: Final = 2.5
ENV_WARNING_RATIO: Final = 6.0
ENV_ALARM_RATIO: Final = 12.0
#: Envelope indicator -> bearing fault. Ball faults modulate at the cage rate (FTF), so a cage
#: line also points at the rolling elements.
ENV_FAULTS: Final[tuple[tuple[str, str], ...]] = (
    ("env_bpfo", "bearing_outer"),
    ("env_bpfi", "bearing_inner"),
    ("env_bsf", "bearing_ball"),
    ("env_ftf", "bearing_ball"),
)
#: A family is named only when its score beats every other fault's by this factor; closer than
#: that, the envelope cannot tell them apart and the fault is ``bearing_unclear``.
ENV_NAMING_MARGIN: Final = 1.25
#: Strong impulsiveness (Pearson kurtosis; 3 for Gaussian noise, up to ~6.5 on healthy real
#: bearings) points at metal-to-metal impacts, but never on its own: one knock, a cable tap or
#: an electrical spike in a window gives a kurtosis that grows with the window (one impact of
#: peak A in n samples of noise sigma adds about A^4 / (n sigma^4)), so a short window's kurtosis
#: says more about its length than about a bearing. A bearing's impacts repeat at a defect
#: rate, and that repetition is a line in the envelope spectrum: impulsiveness counts as bearing
#: evidence only where a defect family's line stands at least :data:`ENV_CORROBORATION_RATIO`
#: over the envelope's background (a window that cannot read the lines, no speed, no geometry
#: or a resolution that cannot separate them, has no such line and raises nothing from
#: kurtosis: measured on the FEMTO rig's healthy first hours, 0.1 s windows with single
#: transients of kurtosis 10-157 and no line, 80 of 2,160 windows warned on kurtosis alone).
IMPULSIVE_KURTOSIS: Final = 10.0
#: A line this many times the envelope spectrum's median is not the noise's: a bin of a
#: Rayleigh-distributed (noise) envelope spectrum exceeds t x its median with probability
#: 2^(-t^2), 1 in 65,000 at t = 4, so a family's few dozen searched bins reach it by chance about
#: once in a thousand windows (the engine's speed cross-check trusts a line of the same height).
#: Healthy bearings' lines sit at 1.5-3 and reach 4.8 at most on the healthy IMS rig, which is why
#: a line this high names nothing alone (:data:`ENV_WARNING_RATIO`) but corroborates impacts.
ENV_CORROBORATION_RATIO: Final = 4.0

#: Shaft-order rules compare *velocity* amplitudes (acceleration / order), because the classic
#: rules of thumb are stated on velocity spectra, where 1x is not penalised against 2x and 3x.
#: Misalignment: 2x at least half of 1x. Looseness: a half-order (sub-harmonic) above a quarter of
#: 1x, or 2x and 3x both above 40 % of 1x (a harmonic series). Otherwise 1x dominant: imbalance.
MISALIGNMENT_2X_RATIO: Final = 0.5
LOOSENESS_HALF_ORDER_RATIO: Final = 0.25
LOOSENESS_HARMONIC_RATIO: Final = 0.4
#: Rules know less than a trained classifier: their confidence stays within these bounds.
ORDER_RULE_CONFIDENCE: Final = (0.4, 0.8)

#: anomaly_score of the rules: ISO zone -> score, and the envelope ratio mapped through
#: (healthy, warning, alarm) -> (0.1, 0.5, 0.9) piecewise linearly in log ratio.
ISO_ZONE_SCORE: Final = {"A": 0.1, "B": 0.3, "C": 0.6, "D": 0.9}
_ENV_SCORE_POINTS: Final = (
    (math.log(ENV_HEALTHY_TYPICAL), math.log(ENV_WARNING_RATIO), math.log(ENV_ALARM_RATIO)),
    (0.1, 0.5, 0.9),
)


class ScoringError(ValueError):
    """A request or response that breaks the scoring contract."""


def worse(a: str, b: str) -> str:
    """The more severe of two states."""
    return a if _RANK[a] >= _RANK[b] else b


def state_rank(state: str) -> int:
    """0 for HEALTHY, 1 for WARNING, 2 for ALARM."""
    return _RANK[state]


def _clean(value: Any) -> Any:
    # JSON has no NaN: a value that could not be computed travels as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode_request(
    features: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> bytes:
    """The endpoint request body for a batch of feature records (only ``fields`` if given)."""
    if fields is None:
        rows = [{k: _clean(v) for k, v in rec.items()} for rec in features]
    else:
        rows = [{k: _clean(rec.get(k)) for k in fields} for rec in features]
    return json.dumps(rows, separators=(",", ":"), allow_nan=False).encode("utf-8")


#: The largest request and response payload of a SageMaker serverless invocation (4 MB,
#: "Invoke a serverless endpoint" in the SageMaker developer guide; real-time endpoints take
#: more, so this bound serves both). MB read as 10^6 bytes, the smaller reading: a body between
#: 4,000,000 and 4 MiB (4,194,304) would be refused if the service counts in MB.
ENDPOINT_MAX_PAYLOAD_BYTES: Final = 4_000_000


def encode_requests(
    features: Sequence[Mapping[str, Any]],
    fields: Sequence[str] | None = None,
    *,
    max_bytes: int = ENDPOINT_MAX_PAYLOAD_BYTES,
) -> list[tuple[int, int, bytes]]:
    """The batch's request bodies, split so none exceeds ``max_bytes``: a list of
    (first record, end record, body), in order, covering every record once.

    A Lambda batch can hold thousands of feature records (prod reads up to 4000); the endpoint
    refuses a body over its payload limit, so one InvokeEndpoint per chunk, not per batch.
    """
    if fields is None:
        rows = [{k: _clean(v) for k, v in rec.items()} for rec in features]
    else:
        rows = [{k: _clean(rec.get(k)) for k in fields} for rec in features]
    parts = [json.dumps(r, separators=(",", ":"), allow_nan=False).encode("utf-8") for r in rows]
    out: list[tuple[int, int, bytes]] = []
    start, size = 0, 2  # the brackets
    for i, part in enumerate(parts):
        if len(part) + 2 > max_bytes:
            raise ScoringError(f"record {i}: {len(part)} bytes alone exceed the endpoint's limit")
        if i > start and size + 1 + len(part) > max_bytes:
            out.append((start, i, b"[" + b",".join(parts[start:i]) + b"]"))
            start, size = i, 2
        size += len(part) + (1 if i > start else 0)
    if parts:
        out.append((start, len(parts), b"[" + b",".join(parts[start:]) + b"]"))
    return out


def decode_request(body: bytes | str) -> list[dict[str, Any]]:
    """Parse an endpoint request body (used by the inference script)."""
    try:
        rows = json.loads(body)
    except ValueError as exc:
        raise ScoringError(f"request is not JSON: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ScoringError("request must be a JSON array of feature objects")
    return rows


def encode_response(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The endpoint response body (used by the inference script)."""
    out = [{name: _clean(row.get(name)) for name in MODEL_OUTPUT_FIELDS} for row in rows]
    return json.dumps(out, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _unit(value: Any, name: str, i: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ScoringError(f"row {i}: '{name}' must be a number in [0, 1], got {value!r:.40}")
    return float(value)


def decode_response(body: bytes | str, n_expected: int) -> list[dict[str, Any]]:
    """Parse and validate an endpoint response for ``n_expected`` records.

    Raises
    ------
    ScoringError
        If the body is not a JSON array of ``n_expected`` valid model rows.
    """
    try:
        rows = json.loads(body)
    except ValueError as exc:
        raise ScoringError(f"response is not JSON: {exc}") from None
    if not isinstance(rows, list) or len(rows) != n_expected:
        got = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise ScoringError(f"response must be a JSON array of {n_expected} rows, got {got}")
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ScoringError(f"row {i}: must be an object")
        if row.get("fault") not in FAULTS:
            raise ScoringError(
                f"row {i}: 'fault' must be one of {FAULTS}, got {row.get('fault')!r:.40}"
            )
        if row.get("state") not in STATES:
            raise ScoringError(
                f"row {i}: 'state' must be one of {STATES}, got {row.get('state')!r:.40}"
            )
        version = row.get("model_version")
        if not isinstance(version, str) or not version:
            raise ScoringError(f"row {i}: 'model_version' must be a non-empty string")
        cause = row.get("sensor_cause")
        if cause is not None and cause not in SENSOR_CAUSES:
            raise ScoringError(
                f"row {i}: 'sensor_cause' must be null or one of {SENSOR_CAUSES}, got {cause!r:.40}"
            )
        leaning = row.get("fault_leaning")
        if leaning is not None and leaning not in FAULTS:
            raise ScoringError(
                f"row {i}: 'fault_leaning' must be null or one of {FAULTS}, got {leaning!r:.40}"
            )
        out.append(
            {
                "anomaly_score": _unit(row.get("anomaly_score"), "anomaly_score", i),
                "fault": row["fault"],
                "fault_confidence": _unit(row.get("fault_confidence"), "fault_confidence", i),
                "state": row["state"],
                "model_version": version,
                "sensor_cause": cause,
                "fault_leaning": leaning,
            }
        )
    return out


def iso_state(features: Mapping[str, Any]) -> str:
    """Point state from the ISO zone alone (HEALTHY when the zone is unknown: no asset record)."""
    return ISO_ZONE_STATE.get(features.get("iso_zone") or "", HEALTHY)


def _envelope_peak(features: Mapping[str, Any]) -> tuple[float, str] | None:
    best: tuple[float, str] | None = None
    for name, fault in ENV_FAULTS:
        ratio = number(features, name)
        if ratio is not None and (best is None or ratio > best[0]):
            best = (ratio, fault)
    return best


def bearing_evidence(features: Mapping[str, Any]) -> tuple[str, float] | None:
    """(bearing fault, envelope score) when the envelope shows a clear defect family (a line
    of :data:`ENV_WARNING_RATIO`), or strong impulsiveness shows impacts that repeat at a
    defect family's rate (a line of :data:`ENV_CORROBORATION_RATIO`); None otherwise. Holds on
    any machine: it needs no history and no training data, only the physics of the defect
    frequencies."""
    peak = _envelope_peak(features)
    if peak is None:
        return None  # no line read: impulsiveness alone is no bearing evidence (see above)
    ratio, fault = peak
    kurtosis = number(features, "kurtosis")
    impacts = kurtosis is not None and kurtosis >= IMPULSIVE_KURTOSIS
    if ratio >= ENV_WARNING_RATIO or (impacts and ratio >= ENV_CORROBORATION_RATIO):
        rival = max(
            (number(features, n) or 0.0 for n, f in ENV_FAULTS if f != fault),
            default=0.0,
        )
        return (fault if ratio >= ENV_NAMING_MARGIN * rival else "bearing_unclear"), ratio
    return None


def evidence_state(evidence: tuple[str, float] | None) -> str:
    """Point state of what :func:`bearing_evidence` found."""
    if evidence is None:
        return HEALTHY
    return ALARM if evidence[1] >= ENV_ALARM_RATIO else WARNING


def envelope_state(features: Mapping[str, Any]) -> str:
    """Point state from the bearing evidence (envelope indicators and impulsiveness)."""
    return evidence_state(bearing_evidence(features))


#: Faults named from the shaft orders (0.5x-3x), and the feature each needs read.
SHAFT_FAULTS: Final[tuple[str, ...]] = ("imbalance", "misalignment", "looseness")


def readable(fault: str, features: Mapping[str, Any]) -> bool:
    """Whether the window carries what ``fault`` rests on: shaft faults the shaft orders (a
    known speed the window resolves, see the feature record's ``unresolved``), bearing faults
    an envelope line of their family. A classifier trained on simulated machines names a fault
    from whatever it has; on a window that cannot show that fault's own lines the name is a
    guess, on a rig unlike the simulated ones a confident wrong one."""
    if fault in SHAFT_FAULTS:
        return number(features, "order_1x_g") is not None
    families = [name for name, f in ENV_FAULTS if f == fault]
    if families:
        return any(number(features, name) is not None for name in families)
    return True  # normal, bearing_unclear (impacts need no line)


def rules_state(features: Mapping[str, Any]) -> str:
    """Point state by the rules: the worse of the ISO zone and the envelope indicators."""
    return worse(iso_state(features), envelope_state(features))


def probable_fault(features: Mapping[str, Any]) -> tuple[str, float]:
    """The most likely fault and a confidence in [0, 1], from the features alone.

    A clear envelope line names a bearing defect (or ``bearing_unclear``, see
    :func:`bearing_evidence`). Otherwise, once vibration is above zone A,
    the shaft orders name the fault: sub-harmonics or a harmonic series -> looseness, strong 2x ->
    misalignment, 1x dominant -> imbalance. A zone-A machine without bearing lines is normal.
    """
    evidence = bearing_evidence(features)
    if evidence is not None:
        fault, ratio = evidence
        if fault == "bearing_unclear":
            return fault, 0.5
        return fault, min(0.99, max(0.5, 1.0 - ENV_HEALTHY_TYPICAL / ratio))
    zone = features.get("iso_zone")
    a1 = number(features, "order_1x_g")
    if zone in (None, "A") or a1 is None or a1 <= 0.0:
        # No evidence of a fault (or no shaft speed to read orders at).
        return "normal", 0.5 if zone is None else 0.8
    lo, hi = ORDER_RULE_CONFIDENCE
    v_half = (number(features, "order_0_5x_g") or 0.0) / 0.5 / a1
    v2 = (number(features, "order_2x_g") or 0.0) / 2.0 / a1
    v3 = (number(features, "order_3x_g") or 0.0) / 3.0 / a1
    if v_half >= LOOSENESS_HALF_ORDER_RATIO or min(v2, v3) >= LOOSENESS_HARMONIC_RATIO:
        strength = max(v_half / LOOSENESS_HALF_ORDER_RATIO, min(v2, v3) / LOOSENESS_HARMONIC_RATIO)
        return "looseness", min(hi, lo + 0.2 * (strength - 1.0) + 0.1)
    if v2 >= MISALIGNMENT_2X_RATIO:
        return "misalignment", min(hi, lo + 0.2 * (v2 / MISALIGNMENT_2X_RATIO - 1.0) + 0.1)
    dominance = 1.0 - max(v_half, v2, v3)  # 1.0 when the 1x line is alone
    return "imbalance", lo + (hi - lo) * dominance


#: anomaly_score of a window with bearing evidence (:func:`bearing_evidence`) at least: the
#: score of a line at the warning ratio, so corroborated impacts (a line of 4-6) rank with the
#: findings, above every window without evidence.
EVIDENCE_MIN_SCORE: Final = _ENV_SCORE_POINTS[1][1]


def rules_anomaly_score(features: Mapping[str, Any]) -> float:
    """0-1 severity by the rules: the larger of the ISO-zone and envelope scores (at least
    :data:`EVIDENCE_MIN_SCORE` where the window shows bearing evidence)."""
    score = ISO_ZONE_SCORE.get(features.get("iso_zone") or "", 0.0)
    peak = _envelope_peak(features)
    if peak is not None and peak[0] > 0:
        xs, ys = _ENV_SCORE_POINTS
        env = float(np.interp(math.log(peak[0]), xs, ys, left=ys[0], right=ys[-1]))
        score = max(score, env)
    if bearing_evidence(features) is not None:
        score = max(score, EVIDENCE_MIN_SCORE)
    return score


def rules_row(features: Mapping[str, Any]) -> dict[str, Any]:
    """A model-shaped row (:data:`MODEL_OUTPUT_FIELDS`) decided by the rules alone."""
    fault, confidence = probable_fault(features)
    state = rules_state(features)
    leaning = None
    if window_fault(state, fault) != fault:
        # Healthy vibration names no fault; the rules have no probability of "normal" to give.
        fault, confidence, leaning = NORMAL_FAULT, 0.5, fault
    sensors = judge(features)
    return {
        "anomaly_score": rules_anomaly_score(features),
        "fault": fault,
        "fault_confidence": confidence,
        "state": worse(state, sensors.state),
        "model_version": RULES_MODEL_VERSION,
        "sensor_cause": sensors.cause,
        "fault_leaning": leaning,
    }


def combine(
    model_row: Mapping[str, Any] | None,
    features: Mapping[str, Any],
    *,
    scored_at_ms: int | None = None,
) -> dict[str, Any]:
    """The prediction record (:data:`rotorwatch.diagnosis.predictions.PREDICTION_NAMES`) for one window.

    ``model_row`` is one decoded endpoint row, or None when the model could not be consulted:
    the rules then decide and the record is marked ``degraded``. With a model, the state is the
    worse of the model's and the ISO zone's, so a zone-D machine alarms whatever the model says.
    The fault is :func:`rotorwatch.diagnosis.predictions.window_fault` of the vibration state: ``normal``
    when the vibration is healthy, even where temperature or pressure raise the state (their
    cause is ``sensor_cause``).
    The temperature/pressure verdict (:func:`rotorwatch.diagnosis.sensors.judge`) is applied here too, on
    both paths: an endpoint deployed before the sensor rules cannot hide an overheating machine.
    """
    degraded = model_row is None
    row = rules_row(features) if model_row is None else model_row
    vibration = rules_state(features) if degraded else worse(row["state"], iso_state(features))
    fault, confidence = row["fault"], row["fault_confidence"]
    leaning = row.get("fault_leaning")
    if window_fault(vibration, fault) != fault:
        # An endpoint deployed before the fault of a healthy window was "normal" answers with the
        # classifier's leaning: the same definition applies here, whatever answered.
        # (Such an endpoint's row raised by temperature alone still carries its leaning: the
        # vibration state cannot be told from its row.)
        fault, confidence, leaning = NORMAL_FAULT, None, fault
    sensors = judge(features)
    state = worse(vibration if degraded else row["state"], sensors.state)
    state = worse(state, iso_state(features))
    cause, reason = sensors.cause, sensors.reason
    problem = features.get("vibration_sensor")
    if problem in SENSOR_PROBLEMS:
        # A dead or saturated accelerometer reads a healthy machine: never HEALTHY, and named
        # (a temperature or pressure cause the scalar sensors found keeps the first word).
        state = worse(state, STATES[1])
        if cause is None:
            cause, reason = problem, ADVICE[problem]
    values = {
        "device_id": features["device_id"],
        "site": features.get("site"),
        "ts": features["ts"],
        "seq": features["seq"],
        "anomaly_score": row["anomaly_score"],
        "fault": fault,
        "fault_confidence": confidence,
        "state": state,
        "iso_zone": features.get("iso_zone"),
        "velocity_rms_mm_s": number(features, "velocity_rms_mm_s"),
        "sensor_cause": cause,
        "sensor_reason": reason,
        "degraded": degraded,
        "model_version": row["model_version"],
        "scored_at": scored_at_ms,
        "fault_leaning": leaning,
        # A single window says nothing about a trend: the device's fold fills these.
        **dict.fromkeys(REMAINING_LIFE_FIELDS),
    }
    return {name: values[name] for name in PREDICTION_NAMES}
