"""Data lake layout: S3 prefixes, partitions and table names. One home for all of them.

Used by the CDK app (Firehose prefixes, Glue tables with partition projection), the Lambda
quarantine writer, the Glue job, the local Firehose stand-in and the tests.
"""

from __future__ import annotations

from typing import Final

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
