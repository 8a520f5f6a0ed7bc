"""Data lake layout: S3 prefixes, partitions and table names. One home for all of them.

Used by the CDK app (Firehose prefixes, Glue tables with partition projection), the Lambda
quarantine writer, the Glue job, the local Firehose stand-in and the tests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from rotorwatch.diagnosis.features.schema import FEATURE_FIELDS, Field
from rotorwatch.diagnosis.predictions import PREDICTION_FIELDS
from rotorwatch.lake.schemas import FEEDBACK_FIELDS, HEALTH_FIELDS, RAW_FIELDS, arrow_type

#: Hive-style partition keys, in path order: year=YYYY/month=MM/day=DD/hour=HH (UTC).
PARTITION_KEYS: Final[tuple[str, ...]] = ("year", "month", "day", "hour")

RAW_PREFIX: Final = "raw/telemetry/"
#: Raw windows kept past raw expiry (rotorwatch.lake.raw_keep): a prefix of its own, outside the
#: raw lifecycle rule's ``raw/telemetry/``, with its own rule (no expiry).
RAW_KEPT_PREFIX: Final = "raw_kept/telemetry/"
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


def glue_database(stage: str) -> str:
    """The deployed Glue database of a stage (Glue names allow no '-')."""
    return f"{GLUE_DATABASE}_{stage.replace('-', '_')}"


def athena_workgroup(stage: str) -> str:
    """The deployed Athena workgroup of a stage."""
    return f"{GLUE_DATABASE}-{stage}"


RAW_TABLE: Final = "telemetry_raw"
RAW_KEPT_TABLE: Final = "telemetry_raw_kept"
FEATURES_TABLE: Final = "features"
PREDICTIONS_TABLE: Final = "predictions"
HEALTH_HOURLY_TABLE: Final = "machine_health_hourly"
HEALTH_DAILY_TABLE: Final = "machine_health_daily"
#: Technicians' answers to alerts, and the alerts they could answer (rotorwatch.alerting.feedback_lake).
FEEDBACK_TABLE: Final = "feedback"
FEEDBACK_PREFIX: Final = "feedback/"

# --------------------------------------------------------------------------------------------
# Partitioning: which clock decides the partition, and why.
#
# Every Firehose-written table (raw/telemetry/, features/, predictions/) is partitioned by
# ARRIVAL time: Firehose TIMESTAMP prefixes, the UTC hour Firehose received the record, seconds
# after the device measured it. No per-GB dynamic-partitioning charge and no jq on the hot path;
# a device with a wrong clock cannot spray partitions (Firehose caps active partitions at 500);
# raw keeps every message the IoT rule forwarded (extract_features writes it, issue 15), even
# ones without a usable `ts`. A window that
# arrives late lands in a later hour: a window arrives after it was measured, so a partition
# filter from below at `ts`'s hour loses nothing (the saved queries do this); an upper bound
# must be widened by ARRIVAL_LAG_MAX_MS. The Glue job reads that much more of arrival
# partitions, then writes the curated tables (compacted features/predictions, machine health)
# by EVENT time `ts`, where a partition's health is computed from exactly that partition and
# late data makes the next (idempotent) run recompute the same day.
# --------------------------------------------------------------------------------------------


#: The Glue PySpark job script, relative to the repository root (the CDK app uploads it as an
#: asset; `make glue-local` runs the same file).
GLUE_JOB_SCRIPT: Final = "glue_jobs/machine_health.py"

#: The raw-sampling Glue job (rotorwatch.lake.raw_keep): copies the windows a day keeps to raw_kept/.
RAW_KEEP_JOB_SCRIPT: Final = "glue_jobs/raw_keep.py"
#: Every Glue job script the CDK app deploys (each ships with the same library zip).
GLUE_JOB_SCRIPTS: Final[tuple[str, ...]] = (GLUE_JOB_SCRIPT, RAW_KEEP_JOB_SCRIPT)
#: raw_keep job arguments: the UTC day to sample (YYYY-MM-DD; default: the run day minus
#: raw_keep.SAMPLE_DELAY_DAYS) and the rule (the stage's lake.raw_keep_* settings).
JOB_ARG_DAY: Final = "day"
JOB_ARG_KEEP_MINUTES: Final = "keep_minutes"
JOB_ARG_SAMPLES_PER_HOUR: Final = "samples_per_hour"
#: The stage's raw expiry: the job refuses a day whose raw expiry may already have thinned.
JOB_ARG_RAW_EXPIRE_DAYS: Final = "raw_expire_days"

#: Packages the job script imports (ship them with --extra-py-files; Glue 5 provides numpy).
GLUE_JOB_PY_PACKAGES: Final[tuple[str, ...]] = ("rotorwatch", "glue_jobs")
#: Glue 5.0 runs Spark 3.5 / Python 3.11: the local tests run pyspark 3.5 for parity.
GLUE_VERSION: Final = "5.0"
#: Partition columns are strings in every Glue table, so '07' stays '07' (see projection).
PARTITION_COLUMN_TYPE: Final = "string"

#: Glue job arguments (passed as `--<name> value`; Glue's getResolvedOptions style, underscores).
JOB_ARG_LAKE_URI: Final = "lake_uri"  # s3://bucket/ or file:///path/lake/ (required)
JOB_ARG_WINDOW_START: Final = "window_start"  # ISO 8601 UTC, optional
JOB_ARG_WINDOW_END: Final = "window_end"  # ISO 8601 UTC, optional (default: now)
JOB_ARG_LOOKBACK_HOURS: Final = "lookback_hours"  # used when window_start is absent
#: Default look-back of a scheduled run: the 6-hour schedule plus a day of late data. The job
#: widens the window to whole UTC days, so the default recomputes yesterday and today.
DEFAULT_LOOKBACK_HOURS: Final = 30
#: How often the CDK trigger runs the job (cron, UTC).
JOB_SCHEDULE_CRON: Final = "cron(15 0/6 * * ? *)"

#: How much later than its ``ts`` a window may arrive and still be counted by the Glue job (see
#: "Partitioning" above).
ARRIVAL_LAG_MAX_MS: Final = 24 * 3_600_000
#: S3 lifecycle of raw telemetry (the bulky waveforms): Standard-IA after 30 days, Glacier
#: Flexible Retrieval after 180 (replays of old raw data are rare and can wait hours). Features,
#: predictions and curated tables stay in Standard: Athena reads them.
RAW_IA_AFTER_DAYS: Final = 30
RAW_GLACIER_AFTER_DAYS: Final = 180
#: Days raw telemetry is kept before the lifecycle deletes it (None: kept forever). The operator
#: chooses it per stage (cdk.json ``lake.raw_expire_days``): after it an analyst can no longer
#: replay a window's waveform, only read its features and prediction (kept in Standard).
RAW_EXPIRE_DAYS: Final[int | None] = None
#: Days an expired raw object lingers as a noncurrent version (the lake is versioned) before
#: the raw lifecycle rule deletes it for good.
RAW_NONCURRENT_EXPIRE_DAYS: Final = 1

#: Firehose limits (PutRecordBatch): one record at most 1,000 KiB before base64; the service
#: bills every record in 5 KB increments, so one ~400 B prediction per record bills 5 KB.
FIREHOSE_RECORD_MAX_BYTES: Final = 1000 * 1024
#: The record field stamped closest to arrival, used by the local Firehose stand-in as Firehose's
#: clock: the IoT rule's ``received_at`` (raw, features), then ``scored_at`` (predictions).
ARRIVAL_CLOCK_FIELDS: Final[tuple[str, ...]] = ("received_at", "scored_at")

Format = Literal["parquet", "json.gz"]


@dataclass(frozen=True, slots=True)
class Table:
    """One lake table: where it lives, how it is stored and partitioned, and its columns."""

    name: str
    prefix: str  # S3 key prefix below the bucket root, ends with "/"
    fields: tuple[Field, ...]
    format: Format
    partition_keys: tuple[str, ...]
    event_time: bool  # partitioned by the record's ts (True) or by arrival time (False)
    #: firehose: a delivery stream; raw_object: extract_features, one object per batch; glue: a job;
    #: lambda: a function writes its own objects (feedback)
    writer: Literal["firehose", "raw_object", "glue", "lambda"]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


HEALTH_HOURLY_PREFIX: Final = f"{CURATED_PREFIX}{HEALTH_HOURLY_TABLE}/"
HEALTH_DAILY_PREFIX: Final = f"{CURATED_PREFIX}{HEALTH_DAILY_TABLE}/"
#: Compacted, de-duplicated copies of features/predictions (few large files per hour).
FEATURES_COMPACT_TABLE: Final = "features_compact"
PREDICTIONS_COMPACT_TABLE: Final = "predictions_compact"
FEATURES_COMPACT_PREFIX: Final = f"{CURATED_PREFIX}{FEATURES_COMPACT_TABLE}/"
PREDICTIONS_COMPACT_PREFIX: Final = f"{CURATED_PREFIX}{PREDICTIONS_COMPACT_TABLE}/"

DAY_PARTITION_KEYS: Final = PARTITION_KEYS[:3]

#: Every table in the lake, by Glue table name. The CDK app creates one Glue table per entry.
TABLES: Final[dict[str, Table]] = {
    t.name: t
    for t in (
        Table(RAW_TABLE, RAW_PREFIX, RAW_FIELDS, "json.gz", PARTITION_KEYS, False, "raw_object"),
        Table(
            FEATURES_TABLE,
            FEATURES_PREFIX,
            FEATURE_FIELDS,
            "parquet",
            PARTITION_KEYS,
            False,
            "firehose",
        ),
        Table(
            PREDICTIONS_TABLE,
            PREDICTIONS_PREFIX,
            PREDICTION_FIELDS,
            "parquet",
            PARTITION_KEYS,
            False,
            "firehose",
        ),
        # Partitioned by the window's UTC day (event time): the raw_keep job replaces exactly
        # the day it sampled, so a rerun gives the same partition.
        Table(
            RAW_KEPT_TABLE,
            RAW_KEPT_PREFIX,
            RAW_FIELDS,
            "parquet",
            DAY_PARTITION_KEYS,
            True,
            "glue",
        ),
        Table(
            FEATURES_COMPACT_TABLE,
            FEATURES_COMPACT_PREFIX,
            FEATURE_FIELDS,
            "parquet",
            PARTITION_KEYS,
            True,
            "glue",
        ),
        Table(
            PREDICTIONS_COMPACT_TABLE,
            PREDICTIONS_COMPACT_PREFIX,
            PREDICTION_FIELDS,
            "parquet",
            PARTITION_KEYS,
            True,
            "glue",
        ),
        # Hourly health is partitioned by hour and daily health by day, so a dynamic partition
        # overwrite replaces exactly the periods a run recomputed.
        Table(
            HEALTH_HOURLY_TABLE,
            HEALTH_HOURLY_PREFIX,
            HEALTH_FIELDS,
            "parquet",
            PARTITION_KEYS,
            True,
            "glue",
        ),
        Table(
            HEALTH_DAILY_TABLE,
            HEALTH_DAILY_PREFIX,
            HEALTH_FIELDS,
            "parquet",
            DAY_PARTITION_KEYS,
            True,
            "glue",
        ),
        # Partitioned by the UTC day the row was recorded (recorded_ms).
        Table(
            FEEDBACK_TABLE,
            FEEDBACK_PREFIX,
            FEEDBACK_FIELDS,
            "json.gz",
            DAY_PARTITION_KEYS,
            False,
            "lambda",
        ),
    )
}

#: Firehose-written tables and the logical delivery-stream names used in object keys.
FIREHOSE_TABLES: Final[tuple[str, ...]] = (FEATURES_TABLE, PREDICTIONS_TABLE)
#: Tables partitioned by arrival time: the Firehose ones and raw (extract_features, same layout).
ARRIVAL_TABLES: Final[tuple[str, ...]] = (RAW_TABLE, *FIREHOSE_TABLES)


def table(name: str) -> Table:
    """The :class:`Table` for a Glue table name (``ValueError`` for an unknown name)."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown lake table {name!r}; known: {', '.join(TABLES)}") from None


def partition_values(ts_ms: int) -> dict[str, str]:
    """Partition values for an epoch-millisecond timestamp: zero-padded UTC year/month/day/hour."""
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
        raise TypeError(f"ts_ms must be an int (epoch milliseconds), got {type(ts_ms).__name__}")
    t = datetime.fromtimestamp(ts_ms / 1000.0, tz=UTC)
    return {
        "year": f"{t.year:04d}",
        "month": f"{t.month:02d}",
        "day": f"{t.day:02d}",
        "hour": f"{t.hour:02d}",
    }


def partition_path(ts_ms: int, keys: tuple[str, ...] = PARTITION_KEYS) -> str:
    """``year=YYYY/month=MM/day=DD/hour=HH`` (UTC) for an epoch-ms timestamp, no slashes around."""
    values = partition_values(ts_ms)
    return "/".join(f"{k}={values[k]}" for k in keys)


def object_key(table_name: str, ts_ms: int, file_name: str) -> str:
    """Full S3 key of one object of a table: ``<prefix><partition path>/<file name>``."""
    t = table(table_name)
    return f"{t.prefix}{partition_path(ts_ms, t.partition_keys)}/{file_name}"


def firehose_object_name(stream: str, first_ts_ms: int, content: bytes, extension: str) -> str:
    """A Firehose-style object name: ``<stream>-1-YYYY-MM-DD-HH-MM-SS-<id><extension>``.

    Firehose appends a random id; the local stand-in uses a hash of the content instead, so
    writing the same batch twice gives the same key (deterministic, no duplicate files).
    """
    stamp = datetime.fromtimestamp(first_ts_ms / 1000.0, tz=UTC).strftime("%Y-%m-%d-%H-%M-%S")
    return f"{stream}-1-{stamp}-{hashlib.sha256(content).hexdigest()[:16]}{extension}"


def raw_object_key(arrival_ms: int, shard_id: str, first_sequence: str, last_sequence: str) -> str:
    """Key of the raw object one extract_features batch writes: ``raw/telemetry/<arrival
    partition of the batch's first record>/<shard>-<first>-<last sequence number>.gz``.

    Why one object per batch, not Firehose: at 10,000 devices raw is about 10.7 MB/s, above
    Firehose's Direct PUT quota (5 MiB/s in the largest Regions, 1 MiB/s in most others:
    rotorwatch.deployment.cost.quotas), and a Kinesis-sourced stream bills each ~11 KB window as 15 KB
    and cannot name a v2 window's device. The object holds the records the invocation commits
    (those before its earliest failure) and its key is a function of them (shard, sequence
    range): a retried tail writes its own object, a batch retried whole rewrites the same one,
    so no window is written twice. ``.gz``: Athena and Spark decompress gzip by the extension.
    """
    return (
        f"{RAW_PREFIX}{partition_path(arrival_ms)}/{shard_id}-{first_sequence}-{last_sequence}.gz"
    )


_FIREHOSE_TIMESTAMP: Final = {"year": "yyyy", "month": "MM", "day": "dd", "hour": "HH"}


def _timestamp_path(keys: tuple[str, ...]) -> str:
    return "".join(f"{k}=!{{timestamp:{_FIREHOSE_TIMESTAMP[k]}}}/" for k in keys)


def firehose_prefix(table_name: str) -> str:
    """The S3 ``Prefix`` of a Firehose destination: the table's prefix, then one
    ``key=!{timestamp:...}`` folder per partition key (UTC, Firehose's arrival clock)."""
    t = table(table_name)
    # Raw keeps the layout its retired delivery stream wrote (lake.raw_object_key).
    if t.writer not in ("firehose", "raw_object"):
        raise ValueError(f"{table_name!r} is not written by Firehose")
    return t.prefix + _timestamp_path(t.partition_keys)


def firehose_error_prefix(table_name: str) -> str:
    """The ``ErrorOutputPrefix``: Firehose requires ``!{firehose:error-output-type}`` in it."""
    table(table_name)
    return (
        f"{FIREHOSE_ERRORS_PREFIX}{table_name}/!{{firehose:error-output-type}}/"
        + _timestamp_path(PARTITION_KEYS)
    )


#: Earliest year partition projection enumerates; queries filter on year, so a wide range is cheap.
PROJECTION_FIRST_YEAR: Final = 2024
PROJECTION_LAST_YEAR: Final = 2099


def projection_parameters(
    table_name: str, bucket: str | None = None, *, first_year: int = PROJECTION_FIRST_YEAR
) -> dict[str, str]:
    """Glue table parameters (TBLPROPERTIES) for Athena partition projection of a table.

    Partition columns are ``string`` in the table (so '07' stays '07', as in the S3 keys); the
    projection is ``integer`` with ``digits`` so Athena generates zero-padded values. With
    ``bucket`` the ``storage.location.template`` is included (``s3://<bucket>/<prefix>...``).
    """
    t = table(table_name)
    ranges = {
        "year": (f"{first_year},{PROJECTION_LAST_YEAR}", "4"),
        "month": ("1,12", "2"),
        "day": ("1,31", "2"),
        "hour": ("0,23", "2"),
    }
    params = {"projection.enabled": "true"}
    for k in t.partition_keys:
        rng, digits = ranges[k]
        params[f"projection.{k}.type"] = "integer"
        params[f"projection.{k}.range"] = rng
        params[f"projection.{k}.digits"] = digits
    if bucket is not None:
        template = "/".join(f"{k}=${{{k}}}" for k in t.partition_keys)
        params["storage.location.template"] = f"s3://{bucket}/{t.prefix}{template}/"
    return params


def arrow_schema(table_name: str) -> Any:
    """The pyarrow schema of a table's data columns (partition columns live in the path)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(f.name, arrow_type(f.type), nullable=f.nullable)
            for f in table(table_name).fields
        ]
    )


#: Partition keys of the curated health tables (the CDK app's Glue tables use the same).
HEALTH_HOURLY_PARTITION_KEYS: Final[tuple[str, ...]] = TABLES[HEALTH_HOURLY_TABLE].partition_keys
HEALTH_DAILY_PARTITION_KEYS: Final[tuple[str, ...]] = TABLES[HEALTH_DAILY_TABLE].partition_keys

#: Athena query results (the workgroup enforces this location, SSE-KMS).
ATHENA_RESULTS_PREFIX: Final = "athena-results/"
#: Every top-level prefix of the lake, pairwise disjoint: the lifecycle gives each its rules so
#: no two rules act on the same objects with the same kind of action (cdk_app/stacks/storage.py).
TOP_PREFIXES: Final[tuple[str, ...]] = (
    RAW_PREFIX,
    RAW_KEPT_PREFIX,
    FEATURES_PREFIX,
    PREDICTIONS_PREFIX,
    CURATED_PREFIX,
    "errors/",
    QUARANTINE_PREFIX,
    ATHENA_RESULTS_PREFIX,
    FEEDBACK_PREFIX,
)


def aggregate_lines(
    lines: list[bytes], max_record_bytes: int = FIREHOSE_RECORD_MAX_BYTES
) -> list[tuple[bytes, list[int]]]:
    """Pack newline-terminated JSON lines into few Firehose records of at most
    ``max_record_bytes`` each; returns ``(record, indices of the lines it holds)`` in order.

    Firehose bills each record in 5 KB increments, so one row per record pays for 5 KB whatever
    its size. Its JSON-to-Parquet conversion reads several JSON documents concatenated in one
    record as several rows (AWS: "Convert input data format", combining multiple JSON documents
    into the same record; an array of documents is NOT valid), so the lake rows are the same.
    Every line must end with ``\n``; a line larger than the limit is an error, not split.
    """
    records: list[tuple[bytes, list[int]]] = []
    current: list[bytes] = []
    idx: list[int] = []
    size = 0
    for i, line in enumerate(lines):
        if not line.endswith(b"\n"):
            raise ValueError(f"line {i} does not end with a newline")
        if len(line) > max_record_bytes:
            raise ValueError(f"line {i} is {len(line)} bytes, above the {max_record_bytes} limit")
        if current and size + len(line) > max_record_bytes:
            records.append((b"".join(current), idx))
            current, idx, size = [], [], 0
        current.append(line)
        idx.append(i)
        size += len(line)
    if current:
        records.append((b"".join(current), idx))
    return records
