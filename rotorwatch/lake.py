"""Data lake layout: S3 prefixes, partitions and table names. One home for all of them.

Used by the CDK app (Firehose prefixes, Glue tables with partition projection), the Lambda
quarantine writer, the Glue job, the local Firehose stand-in and the tests.
"""

from __future__ import annotations

from typing import Final

from rotorwatch.features.schema import Field

#: Hive-style partition keys, in path order: year=YYYY/month=MM/day=DD/hour=HH (UTC).
PARTITION_KEYS: Final[tuple[str, ...]] = ("year", "month", "day", "hour")

RAW_PREFIX: Final = "raw/telemetry/"
FEATURES_PREFIX: Final = "features/"
PREDICTIONS_PREFIX: Final = "predictions/"
CURATED_PREFIX: Final = "curated/"
#: Messages the IoT rule could not deliver (rule error action): nothing is lost.
IOT_ERRORS_PREFIX: Final = "errors/iot-rule/"
#: Records Firehose could not deliver or convert.
FIREHOSE_ERRORS_PREFIX: Final = "errors/firehose/"
#: Telemetry that broke the contract: quarantine/reason=<code>/<date>/<sequence>.json
QUARANTINE_PREFIX: Final = "quarantine/"

GLUE_DATABASE: Final = "rotorwatch"
RAW_TABLE: Final = "telemetry_raw"
FEATURES_TABLE: Final = "features"
PREDICTIONS_TABLE: Final = "predictions"
HEALTH_HOURLY_TABLE: Final = "machine_health_hourly"
HEALTH_DAILY_TABLE: Final = "machine_health_daily"

#: The Glue job's entry script (repository-relative); the CDK app uploads it as an asset.
GLUE_JOB_SCRIPT: Final = "glue_jobs/machine_health.py"

#: Curated tables live under CURATED_PREFIX + table name + "/", partitioned like this
#: (hourly rows carry their hour in period_start_ms, daily rows their day).
HEALTH_HOURLY_PARTITION_KEYS: Final[tuple[str, ...]] = ("year", "month", "day")
HEALTH_DAILY_PARTITION_KEYS: Final[tuple[str, ...]] = ("year", "month")


def _health_fields() -> tuple[Field, ...]:
    return (
        Field("device_id", "string", "", "thing name", nullable=False),
        Field("site", "string", "", "site from the topic"),
        Field(
            "period_start_ms", "bigint", "ms", "start of the hour/day, epoch ms UTC", nullable=False
        ),
        Field("n_windows", "bigint", "", "feature windows in the period"),
        Field("velocity_rms_p50_mm_s", "double", "mm/s", "median velocity RMS"),
        Field("velocity_rms_p95_mm_s", "double", "mm/s", "95th percentile velocity RMS"),
        Field("velocity_rms_max_mm_s", "double", "mm/s", "largest velocity RMS"),
        *(
            Field(f"zone_{z}_count", "bigint", "", f"windows in ISO zone {z.upper()}")
            for z in "abcd"
        ),
        Field("worst_zone", "string", "", "worst ISO zone seen"),
        Field("anomaly_rate", "double", "", "share of windows not HEALTHY, 0-1"),
        Field("mean_anomaly_score", "double", "", "mean anomaly score, 0-1"),
        Field("dominant_fault", "string", "", "most frequent non-normal fault, or normal"),
        Field("velocity_trend_mm_s_per_day", "double", "mm/s/day", "least-squares slope"),
        Field("temperature_mean_c", "double", "degC", "mean temperature"),
    )


#: Columns of the curated machine_health_hourly and machine_health_daily tables.
HEALTH_FIELDS: Final[tuple[Field, ...]] = _health_fields()

#: Athena query results (the workgroup enforces this location, SSE-KMS).
ATHENA_RESULTS_PREFIX: Final = "athena-results/"

#: Columns of the raw telemetry table: contract v1 as the IoT rule delivers it (JSON lines).
RAW_FIELDS: Final[tuple[Field, ...]] = (
    Field("v", "int", "", "contract version"),
    Field("device_id", "string", "", "thing name (from the topic)", nullable=False),
    Field("site", "string", "", "site (from the topic)"),
    Field("ts", "bigint", "ms", "window start, epoch milliseconds UTC", nullable=False),
    Field("seq", "bigint", "", "per-device message counter", nullable=False),
    Field("rpm", "double", "rev/min", "shaft speed"),
    Field("temperature_c", "double", "degC", "temperature"),
    Field("pressure_bar", "double", "bar", "pressure"),
    Field(
        "vibration",
        "struct<fs_hz:double,unit:string,encoding:string,scale:double,data:string>",
        "",
        "one acceleration window, samples base64-encoded",
    ),
    Field("received_at", "bigint", "ms", "when IoT Core received the message, epoch ms"),
)
