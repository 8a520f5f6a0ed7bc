"""The prediction record (scoring output) and the vocabularies it uses. One home for both.

The SageMaker inference script, the rules fallback in the score_and_alert Lambda, the Glue
predictions table and the tests all use these names.
"""

from __future__ import annotations

from typing import Final

from rotorwatch.diagnosis.features.schema import Field
from rotorwatch.diagnosis.features.sensor_health import SENSOR_PROBLEMS

#: Fault classes of the classifier ("normal" = no fault).
FAULTS: Final[tuple[str, ...]] = (
    "normal",
    "imbalance",
    "misalignment",
    "looseness",
    "bearing_outer",
    "bearing_inner",
    "bearing_ball",
    # Impacts the envelope cannot attribute: two defect families equally clear, or strong
    # impulsiveness with no family at all. An honest "bearing, type unclear" beats a confident
    # wrong name.
    "bearing_unclear",
)

#: What can really be wrong with a machine (ground-truth labels, simulated faults): every
#: prediction but the diagnosis-only ``bearing_unclear``.
FAULT_CAUSES: Final[tuple[str, ...]] = tuple(f for f in FAULTS if f != "bearing_unclear")

#: Simulated faults that show first in temperature or pressure, not in vibration (ground-truth
#: labels only; the classifier does not learn them), and the sensor causes that report each
#: (see SENSOR_CAUSES below): lubrication loss heats the bearing hours before its vibration
#: changes; a worn impeller loses head (discharge pressure) while the pump still runs smoothly.
SENSOR_FAULTS: Final[dict[str, tuple[str, ...]]] = {
    "lubrication_loss": ("overheating", "temperature_rise", "temperature_rate"),
    "impeller_wear": ("pressure_low", "pressure_drift"),
}

#: Why the scalar sensors raised a window's state (:mod:`rotorwatch.diagnosis.sensors`): a cause code
#: next to the vibration ``fault``, null when temperature and pressure are within limits.
#: ``overheating``: bearing temperature at or above the asset's warning/alarm limit;
#: ``pressure_low`` / ``pressure_high``: pressure outside the asset's normal operating range;
#: against the device's own learned history (after its learning period): ``temperature_rise``
#: (far above its normal temperature), ``temperature_rate`` (heating fast while above it),
#: ``pressure_drift`` (pressure at the same speed far from its normal).
SENSOR_CAUSES: Final[tuple[str, ...]] = (
    "overheating",
    "pressure_low",
    "pressure_high",
    "temperature_rise",
    "temperature_rate",
    "pressure_drift",
)

#: Machine health states, in order of severity (as Monitron names them).
STATES: Final[tuple[str, ...]] = ("HEALTHY", "WARNING", "ALARM")

#: The fault of a window with nothing wrong in its vibration.
NORMAL_FAULT: Final = FAULTS[0]


def window_fault(vibration_state: str, fault: str) -> str:
    """The fault of a window: the named fault where the window's *vibration* state (the model's
    or the rules', with the ISO zone) is WARNING or ALARM, else ``normal``.

    One definition for every path: the endpoint's rows (:meth:`rotorwatch.diagnosis.model.Model.score`),
    the rules fallback (:func:`rotorwatch.diagnosis.scoring.rules_row`), the prediction record
    (:func:`rotorwatch.diagnosis.scoring.combine`), and, as :data:`FAULTY_WINDOW_SQL`, the lake's saved
    queries and the machine-health Glue job. A classifier always leans towards some class;
    on a healthy window that leaning is no finding, and a temperature or pressure cause is
    reported as ``sensor_cause``, not as a vibration fault.
    """
    return fault if vibration_state != STATES[0] else NORMAL_FAULT


#: :func:`window_fault` over stored prediction rows, as a SQL predicate (Athena, Spark SQL,
#: DuckDB): the windows whose ``fault`` is a finding. ``state <> 'HEALTHY'`` also keeps out
#: rows written before the fault of a healthy window was ``normal`` (they carried the
#: classifier's leaning). Every saved query that counts faults filters on exactly this text.
FAULTY_WINDOW_SQL: Final = (
    f"state <> '{STATES[0]}' AND fault IS NOT NULL AND fault <> '{NORMAL_FAULT}'"
)

PREDICTION_FIELDS: Final[tuple[Field, ...]] = (
    Field("device_id", "string", "", "thing name", nullable=False),
    Field("site", "string", "", "site from the topic"),
    Field("ts", "bigint", "ms", "window start, epoch milliseconds UTC", nullable=False),
    Field("seq", "bigint", "", "per-device message counter", nullable=False),
    Field("anomaly_score", "double", "", "0-1, distance from healthy behaviour (higher is worse)"),
    Field(
        "fault",
        "string",
        "",
        f"fault of the window (normal whenever its vibration is healthy), one of {', '.join(FAULTS)}",
    ),
    Field("fault_confidence", "double", "", "probability of `fault`, 0-1 (null if unknown)"),
    Field("state", "string", "", "point-by-point state HEALTHY / WARNING / ALARM", nullable=False),
    Field("iso_zone", "string", "", "ISO 10816-3 zone A-D"),
    Field(
        "sensor_cause",
        "string",
        "",
        f"temperature/pressure cause, one of {', '.join(SENSOR_CAUSES)}; or the vibration "
        f"sensor's problem, one of {', '.join(SENSOR_PROBLEMS)}",
    ),
    Field("sensor_reason", "string", "", "the sensor, its value and the limit it crossed"),
    Field("velocity_rms_mm_s", "double", "mm/s", "velocity RMS 10-1000 Hz"),
    Field("degraded", "boolean", "", "true when the model was unavailable and rules decided"),
    Field("model_version", "string", "", "model artifact version, or 'rules' when degraded"),
    Field("scored_at", "bigint", "ms", "when the prediction was made, epoch ms"),
    Field(
        "fault_leaning",
        "string",
        "",
        "where the vibration is healthy (fault normal): the fault the classifier or rules lean"
        " to, no finding; null otherwise",
    ),
    # Remaining life (rotorwatch.diagnosis.life): null while no degradation is visible or no limit is known.
    Field("remaining_life_s", "double", "s", "time until the end-of-life limit at this rate"),
    Field("remaining_life_low_s", "double", "s", "remaining life, low end of the interval"),
    Field("remaining_life_high_s", "double", "s", "remaining life, high end of the interval"),
)

#: The remaining-life columns: filled by the device's fold (rotorwatch.alerting.fold), not by scoring.
REMAINING_LIFE_FIELDS: Final[tuple[str, str, str]] = (
    "remaining_life_s",
    "remaining_life_low_s",
    "remaining_life_high_s",
)

PREDICTION_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in PREDICTION_FIELDS)
