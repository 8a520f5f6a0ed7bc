"""Glue job: compact the lake's features/predictions and compute hourly and daily machine health.

Arguments (Glue ``getResolvedOptions`` style, ``--name value``; names from rotorwatch.lake.layout)::

    --lake_uri s3://bucket/            lake root (file:///path/lake/ locally)   required
    --window_start 2026-11-23T00:00Z   optional, ISO 8601 (default: window_end - lookback)
    --window_end 2026-11-23T06:00Z     optional, ISO 8601 (default: now)
    --lookback_hours 30                optional

The window is widened to whole UTC days: a day's percentiles need all of its windows, so every
day the window touches is recomputed from all of that day's data and its partitions are replaced
(dynamic partition overwrite). Re-running a window gives the same files' content: the job is
idempotent, and late data is picked up by the next run that covers its day. That is why there
is an explicit window instead of job bookmarks: a bookmark would hand the job only the files
that are new since the last run, not the whole day the health figures describe.

On Glue the script runs on its own: Glue puts on ``sys.path`` only what ``--extra-py-files``
ships (the CDK app zips every package in ``rotorwatch.lake.layout.GLUE_JOB_PY_PACKAGES``), so this file
imports nothing from the repository that is not in that zip (tests/glue/test_glue_packaging.py
runs the synthesized asset that way). Locally, with the repository on PYTHONPATH (the
Makefile exports it): ``make glue-local``, or ``python -m glue_jobs.machine_health --lake_uri
file://$PWD/lake/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from glue_jobs import transforms
from rotorwatch.lake import layout as lake
from rotorwatch.lake import schemas

OPTIONAL_ARGS = (lake.JOB_ARG_WINDOW_START, lake.JOB_ARG_WINDOW_END, lake.JOB_ARG_LOOKBACK_HOURS)

SPARK_CONF = {
    # Replace only the partitions a run writes, never the whole table.
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # Partition values stay strings: hour=07 must not become 7.
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    # Partition values and period boundaries are UTC, like the Firehose prefixes.
    "spark.sql.session.timeZone": "UTC",
}


def parse_args(
    argv: Sequence[str], optional: Sequence[str] = OPTIONAL_ARGS, prog: str = "machine_health"
) -> dict[str, str | None]:
    """Job arguments (``--lake_uri`` and the ``optional`` ones): Glue's getResolvedOptions when
    awsglue is present, else argparse. Every job of this package parses its arguments here.

    getResolvedOptions fails on a missing option, so optional ones are only asked for when the
    caller passed them (the usual Glue idiom).
    """
    argv = list(argv)
    wanted = [lake.JOB_ARG_LAKE_URI] + [a for a in optional if f"--{a}" in argv]
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        # Exact names only: a prefix ("--lake" for --lake_uri) works by argparse's abbreviation
        # matching alone, and breaks as soon as another option shares the prefix.
        parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False)
        parser.add_argument(f"--{lake.JOB_ARG_LAKE_URI}", required=True)
        for name in optional:
            parser.add_argument(f"--{name}")
        known, _ = parser.parse_known_args(argv[1:])  # Glue adds its own --JOB_NAME etc.
        resolved: dict[str, str | None] = vars(known)
    else:
        resolved = dict(getResolvedOptions(argv, wanted))
    return {name: resolved.get(name) for name in (lake.JOB_ARG_LAKE_URI, *optional)}


def _parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def day_window(args: dict[str, str | None], now: datetime | None = None) -> tuple[int, int]:
    """The run's ``[start_ms, end_ms)``, widened to whole UTC days."""
    end = (
        _parse_time(args[lake.JOB_ARG_WINDOW_END] or "")
        if args.get(lake.JOB_ARG_WINDOW_END)
        else None
    )
    end = end or now or datetime.now(UTC)
    start_arg = args.get(lake.JOB_ARG_WINDOW_START)
    hours = int(args.get(lake.JOB_ARG_LOOKBACK_HOURS) or lake.DEFAULT_LOOKBACK_HOURS)
    start = _parse_time(start_arg) if start_arg else end - timedelta(hours=hours)
    if start >= end:
        raise ValueError(f"window start {start.isoformat()} is not before end {end.isoformat()}")
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    day1 = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if day1 < end:
        day1 += timedelta(days=1)
    return int(day0.timestamp() * 1000), int(day1.timestamp() * 1000)


def _exists(spark: SparkSession, uri: str) -> bool:
    # The Hadoop FileSystem of the session: file:// locally, S3 on Glue.
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return bool(path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path))


def read_days(
    spark: SparkSession, lake_uri: str, table_name: str, start_ms: int, end_ms: int
) -> DataFrame:
    """A table's rows whose ``ts`` is in ``[start_ms, end_ms)``, listing only the day folders
    they can be in: for an arrival-time table, up to ``lake.ARRIVAL_LAG_MAX_MS`` later."""
    t = lake.table(table_name)
    root = lake_uri.rstrip("/") + "/" + t.prefix
    day_keys = lake.DAY_PARTITION_KEYS
    last_ms = end_ms if t.event_time else end_ms + lake.ARRIVAL_LAG_MAX_MS
    paths = []
    for ms in range(start_ms, last_ms, transforms.MS_PER_DAY):
        uri = root + lake.partition_path(ms, day_keys) + "/"
        if _exists(spark, uri):
            paths.append(uri)
    schema = schemas.ddl_columns(t.fields) + "".join(f", `{k}` string" for k in t.partition_keys)
    if not paths:
        return spark.createDataFrame([], schema)
    reader = spark.read.schema(schema).option("basePath", root)
    # Firehose writes telemetry_raw as gzip'd JSON lines (Spark decompresses by extension).
    df = reader.json(paths) if t.format == "json.gz" else reader.parquet(*paths)
    return transforms.within_window(df, start_ms, end_ms)


def _write(df: DataFrame, lake_uri: str, table_name: str) -> None:
    t = lake.table(table_name)
    columns = [*t.column_names, *t.partition_keys]
    (
        df.select(*columns)
        .write.mode("overwrite")
        .partitionBy(*t.partition_keys)
        .option("compression", "snappy")
        .parquet(lake_uri.rstrip("/") + "/" + t.prefix)
    )


def run(
    spark: SparkSession, args: dict[str, str | None], now: datetime | None = None
) -> dict[str, Any]:
    """Compact, aggregate and write one window; returns a summary (row counts per table)."""
    for key, value in SPARK_CONF.items():
        spark.conf.set(key, value)
    lake_uri = args[lake.JOB_ARG_LAKE_URI]
    if not lake_uri:
        raise ValueError(f"--{lake.JOB_ARG_LAKE_URI} is required")
    start_ms, end_ms = day_window(args, now)
    features = read_days(spark, lake_uri, lake.FEATURES_TABLE, start_ms, end_ms)
    predictions = read_days(spark, lake_uri, lake.PREDICTIONS_TABLE, start_ms, end_ms)

    compact_features = transforms.compact(features).cache()
    compact_predictions = transforms.compact(predictions, prefer_latest="scored_at").cache()
    summary: dict[str, Any] = {
        "window_start": datetime.fromtimestamp(start_ms / 1000, UTC).isoformat(),
        "window_end": datetime.fromtimestamp(end_ms / 1000, UTC).isoformat(),
        "features_in": features.count(),
        "predictions_in": predictions.count(),
    }
    outputs = {
        lake.FEATURES_COMPACT_TABLE: compact_features,
        lake.PREDICTIONS_COMPACT_TABLE: compact_predictions,
        # Health is computed from the de-duplicated rows: a re-delivered window counts once.
        lake.HEALTH_HOURLY_TABLE: transforms.machine_health(
            compact_features, compact_predictions, "hour"
        ),
        lake.HEALTH_DAILY_TABLE: transforms.machine_health(
            compact_features, compact_predictions, "day"
        ),
    }
    for name, df in outputs.items():
        df = df.cache()
        n = df.count()
        summary[name] = n
        if n:  # nothing to replace: an empty write would still be a no-op, skip the job stage
            _write(df, lake_uri, name)
        df.unpersist()
    compact_features.unpersist()
    compact_predictions.unpersist()
    return summary


def spark_session(app_name: str = "machine_health") -> SparkSession:
    """Glue's session when running on Glue, else a local one (file:// paths); every job of
    this package starts its session here."""
    try:
        from awsglue.context import GlueContext  # type: ignore[import-not-found]
        from pyspark.context import SparkContext
    except ImportError:
        builder = (
            SparkSession.builder.master("local[2]")
            .appName(app_name)
            # A local lake is small: 200 shuffle tasks per stage would dominate the run time.
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.showConsoleProgress", "false")
        )
        for key, value in SPARK_CONF.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    return GlueContext(SparkContext.getOrCreate()).spark_session


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None) -> dict[str, Any]:
    """Entry point: parse arguments, run one window, print the summary as JSON."""
    args = parse_args(sys.argv if argv is None else argv)
    summary = run(spark or spark_session(), args)
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
