"""The lake's own column schemas (raw, health, feedback) and how a column type reads in DDL and Arrow.

The feature and prediction columns live with the records that carry them
(:mod:`rotorwatch.diagnosis.features.schema`, :mod:`rotorwatch.diagnosis.predictions`);
:mod:`rotorwatch.lake.layout` puts every schema in its table.
"""

from __future__ import annotations

from typing import Any, Final

from rotorwatch.contract.telemetry_v2 import RAW_CONTRACT_FIELD
from rotorwatch.diagnosis.features.schema import Field

#: Raw telemetry, one JSON object per line, written by extract_features: a valid window as its
#: v1 form with the device and site from the record's partition key and received_at its
#: Kinesis arrival (rotorwatch.contract.telemetry_v2.raw_line; contract = 2 when sent as v2), so a
#: device's own site label never lands here and every line replays the same way. An invalid v1
#: record, and one a release up to 0.2.0 keyed by the device alone, as it sat in the stream
#: (the IoT rule's SELECT *, topic(2) AS site, timestamp() AS received_at): there device_id
#: and site are what the record says.
VIBRATION_STRUCT: Final = (
    "struct<fs_hz:double,unit:string,encoding:string,scale:double,data:string>"
)
RAW_FIELDS: Final[tuple[Field, ...]] = (
    Field("v", "int", "", "contract version"),
    Field("device_id", "string", "", "thing name as the device sent it"),
    Field("site", "string", "", "site (from the topic)"),
    Field("ts", "bigint", "ms", "window start, epoch milliseconds UTC"),
    Field("seq", "bigint", "", "per-device message counter"),
    Field("received_at", "bigint", "ms", "when IoT Core received the message, epoch ms"),
    Field("rpm", "double", "rev/min", "shaft speed"),
    Field("temperature_c", "double", "degC", "temperature"),
    Field("pressure_bar", "double", "bar", "pressure"),
    Field("vibration", VIBRATION_STRUCT, "", "acceleration window, still encoded (telemetry v1)"),
    Field(
        RAW_CONTRACT_FIELD, "int", "", "2: sent as binary v2, this line is its v1 form; null: v1"
    ),
)

#: Curated machine health per device and period (hour or UTC day), written by the Glue job.
HEALTH_FIELDS: Final[tuple[Field, ...]] = (
    Field("device_id", "string", "", "thing name", nullable=False),
    Field("site", "string", "", "site from the topic"),
    Field(
        "period_start_ms", "bigint", "ms", "start of the hour / UTC day, epoch ms", nullable=False
    ),
    Field("n_windows", "bigint", "", "feature records (telemetry windows) in the period"),
    Field("n_vibration", "bigint", "", "windows that carried a vibration measurement"),
    Field("velocity_rms_p50_mm_s", "double", "mm/s", "median velocity RMS 10-1000 Hz"),
    Field(
        "velocity_rms_p95_mm_s", "double", "mm/s", "95th percentile velocity RMS (linear interp.)"
    ),
    Field("velocity_rms_max_mm_s", "double", "mm/s", "largest velocity RMS"),
    Field("velocity_rms_mean_mm_s", "double", "mm/s", "mean velocity RMS"),
    Field("zone_a_count", "bigint", "", "windows in ISO 10816-3 zone A"),
    Field("zone_b_count", "bigint", "", "windows in zone B"),
    Field("zone_c_count", "bigint", "", "windows in zone C"),
    Field("zone_d_count", "bigint", "", "windows in zone D"),
    Field("worst_zone", "string", "", "most severe zone seen in the period"),
    Field("temperature_mean_c", "double", "degC", "mean temperature"),
    Field("temperature_max_c", "double", "degC", "highest temperature"),
    Field("temperature_trend_c_per_h", "double", "degC/h", "least-squares slope of temperature"),
    Field("pressure_mean_bar", "double", "bar", "mean pressure"),
    Field("pressure_lowest_bar", "double", "bar", "lowest pressure"),
    Field("pressure_highest_bar", "double", "bar", "highest pressure"),
    Field("pressure_trend_bar_per_h", "double", "bar/h", "least-squares slope of pressure"),
    Field("n_predictions", "bigint", "", "scored windows in the period"),
    Field("anomaly_count", "bigint", "", "predictions in state WARNING or ALARM"),
    Field("alarm_count", "bigint", "", "predictions in state ALARM"),
    Field("anomaly_rate", "double", "", "anomaly_count / n_predictions, 0-1"),
    Field("anomaly_score_mean", "double", "", "mean anomaly score, 0-1"),
    Field("dominant_fault", "string", "", "most frequent fault other than 'normal', else 'normal'"),
    Field("sensor_count", "bigint", "", "predictions with temperature/pressure outside limits"),
    Field("dominant_sensor_cause", "string", "", "most frequent sensor cause (null if none)"),
    Field("trend_slope_mm_s_per_day", "double", "mm/s/day", "least-squares slope of velocity RMS"),
    Field("last_ts", "bigint", "ms", "latest window start in the period, epoch ms"),
)

#: One row per alert that could be answered (kind 'alert') and per answer the record took
#: (kind 'answer'); rotorwatch.alerting.feedback_lake.alert_row / answer_row write them. Few rows
#: (one per alert), so each is one small gzip'd JSON object, written by the Lambda that knows it.
FEEDBACK_FIELDS: Final[tuple[Field, ...]] = (
    Field(
        "record_version",
        "int",
        "",
        "row format version (rotorwatch.alerting.feedback.RECORD_VERSION)",
    ),
    Field("kind", "string", "", "'alert' (an alert that could be answered) or 'answer'"),
    Field("alert_id", "string", "", "the alert (device:ts:seq:severity)"),
    Field("device_id", "string", "", "the machine"),
    Field("site", "string", "", "its site (null if unknown)"),
    Field("severity", "string", "", "WARNING or ALARM"),
    Field("fault_claimed", "string", "", "the fault (or sensor cause) the alert named"),
    Field("alert_ts", "bigint", "ms", "window that raised the alert, epoch ms"),
    Field("recorded_ms", "bigint", "ms", "when the alert was sent / the answer given, epoch ms"),
    Field("verdict", "string", "", "confirmed, other_fault, no_fault_found, repaired (answers)"),
    Field("fault_found", "string", "", "what the technician found (other_fault)"),
    Field("action", "string", "", "what was done"),
    Field("channel", "string", "", "email, sms, cli or demo"),
    Field("correction", "boolean", "", "the answer replaced an earlier one"),
)


def ddl_columns(fields: tuple[Field, ...]) -> str:
    """Spark/Hive DDL column list (``name type, ...``) for a field tuple."""
    return ", ".join(f"`{f.name}` {f.type}" for f in fields)


def _split_struct(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    depth, start = 0, 0
    for i, ch in enumerate(body + ","):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            name, _, typ = body[start:i].partition(":")
            out.append((name.strip(), typ.strip()))
            start = i + 1
    return out


def arrow_type(glue_type: str) -> Any:
    """The pyarrow type for a Glue/Hive type name (string, int, bigint, double, boolean, struct<>).

    pyarrow is imported here, not at module level: the core package stays numpy-only.
    """
    import pyarrow as pa

    simple = {
        "string": pa.string(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "double": pa.float64(),
        "float": pa.float32(),
        "boolean": pa.bool_(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
    }
    t = glue_type.strip().lower()
    if t in simple:
        return simple[t]
    if t.startswith("struct<") and t.endswith(">"):
        return pa.struct([pa.field(n, arrow_type(ty)) for n, ty in _split_struct(t[7:-1])])
    raise ValueError(f"no pyarrow type for Glue type {glue_type!r}")
