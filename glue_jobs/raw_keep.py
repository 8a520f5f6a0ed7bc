"""Glue job: copy one UTC day's raw windows that outlive raw expiry into raw_kept/.

Arguments (Glue ``getResolvedOptions`` style, ``--name value``; names from rotorwatch.lake.layout)::

    --lake_uri s3://bucket/      lake root (file:///path/lake/ locally)           required
    --day 2026-11-23             UTC day to sample (default: today - 2 days)        optional
    --keep_minutes 30            keep windows this close to a state change          optional
    --samples_per_hour 1         and the first N windows of each device-hour        optional
    --raw_expire_days 14         refuse a day raw expiry may already have thinned   optional

The rule is :mod:`rotorwatch.lake.raw_keep`'s (glue_jobs/sampling.py implements it in Spark). The day
is read from the raw and predictions tables (arrival-time partitions, up to a day of late
arrival), predictions from the day before too, so a change at midnight counts. The day's
partition of ``telemetry_raw_kept`` is replaced (dynamic partition overwrite): a rerun writes
the same rows. A day whose raw has no window writes nothing, so a late rerun can never replace a
good partition with an empty one. Like machine_health.py, the script imports only what the
shipped zip holds (tests/glue/test_glue_packaging.py). Locally: ``python -m glue_jobs.raw_keep
--lake_uri file://$PWD/lake/ --day 2026-11-23``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession

from glue_jobs import machine_health, sampling
from glue_jobs.machine_health import SPARK_CONF, read_days, spark_session
from glue_jobs.transforms import with_partition_columns
from rotorwatch.lake import layout as lake
from rotorwatch.lake import raw_keep

OPTIONAL_ARGS = (
    lake.JOB_ARG_DAY,
    lake.JOB_ARG_KEEP_MINUTES,
    lake.JOB_ARG_SAMPLES_PER_HOUR,
    lake.JOB_ARG_RAW_EXPIRE_DAYS,
)


class JobArgumentError(ValueError):
    """Arguments that name no day this job can sample."""


def parse_args(argv: Sequence[str]) -> dict[str, str | None]:
    """Job arguments, parsed as the machine-health job parses its own."""
    return machine_health.parse_args(argv, OPTIONAL_ARGS, prog="raw_keep")


def _int_arg(args: dict[str, str | None], name: str, default: int) -> int:
    text = args.get(name)
    try:
        return default if text is None else int(text)
    except ValueError:
        raise JobArgumentError(f"--{name} must be an integer, got {text!r}") from None


def plan(args: dict[str, str | None], now: datetime | None = None) -> tuple[int, raw_keep.KeepRule]:
    """The day to sample (start, epoch ms) and the rule, from the arguments."""
    now = now or datetime.now(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    text = args.get(lake.JOB_ARG_DAY)
    if text:
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise JobArgumentError(
                f"--{lake.JOB_ARG_DAY} must be YYYY-MM-DD, got {text!r}"
            ) from None
        day = datetime(d.year, d.month, d.day, tzinfo=UTC)
    else:
        day = today - timedelta(days=raw_keep.SAMPLE_DELAY_DAYS)
    if day + timedelta(days=1) > today:
        raise JobArgumentError(f"{day.date()} is not over yet: sample a day before {today.date()}")
    expire = args.get(lake.JOB_ARG_RAW_EXPIRE_DAYS)
    if expire:
        oldest = today - timedelta(days=_int_arg(args, lake.JOB_ARG_RAW_EXPIRE_DAYS, 0) - 1)
        if day < oldest:
            raise JobArgumentError(
                f"{day.date()} is older than raw expiry allows ({oldest.date()} is the oldest "
                "day whose raw is whole): its kept partition stays as it is"
            )
    try:
        rule = raw_keep.KeepRule(
            _int_arg(args, lake.JOB_ARG_KEEP_MINUTES, raw_keep.DEFAULT_KEEP_MINUTES),
            _int_arg(args, lake.JOB_ARG_SAMPLES_PER_HOUR, raw_keep.DEFAULT_SAMPLES_PER_HOUR),
        )
    except ValueError as exc:
        raise JobArgumentError(str(exc)) from None
    return int(day.timestamp() * 1000), rule


def run(
    spark: SparkSession, args: dict[str, str | None], now: datetime | None = None
) -> dict[str, Any]:
    """Sample one day and replace its kept partition; returns a summary."""
    for key, value in SPARK_CONF.items():
        spark.conf.set(key, value)
    lake_uri = args[lake.JOB_ARG_LAKE_URI]
    if not lake_uri:
        raise JobArgumentError(f"--{lake.JOB_ARG_LAKE_URI} is required")
    day_ms, rule = plan(args, now)
    raw = read_days(spark, lake_uri, lake.RAW_TABLE, day_ms, day_ms + raw_keep.MS_PER_DAY)
    p0, p1 = raw_keep.predictions_range_ms(day_ms, rule)
    predictions = read_days(spark, lake_uri, lake.PREDICTIONS_TABLE, p0, p1)

    windows = sampling.day_windows(raw, day_ms).cache()
    keys = sampling.kept_keys(windows, sampling.state_changes(predictions), rule).cache()
    summary: dict[str, Any] = {
        "day": datetime.fromtimestamp(day_ms / 1000, UTC).date().isoformat(),
        "keep_minutes": rule.keep_minutes,
        "samples_per_hour": rule.samples_per_hour,
        "windows": windows.count(),
        "kept": keys.count(),
    }
    if summary["windows"]:
        t = lake.table(lake.RAW_KEPT_TABLE)
        rows = with_partition_columns(sampling.kept_rows(raw, keys), keys=t.partition_keys)
        (
            # No repartition to one task per day: the de-duplication's shuffle already spreads
            # a day over the session's shuffle partitions (a file each).
            rows.select(*t.column_names, *t.partition_keys)
            .sortWithinPartitions("device_id", "ts", "seq")
            .write.mode("overwrite")
            .partitionBy(*t.partition_keys)
            .option("compression", "snappy")
            .parquet(lake_uri.rstrip("/") + "/" + t.prefix)
        )
    windows.unpersist()
    keys.unpersist()
    return summary


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None) -> dict[str, Any]:
    """Entry point: parse arguments, sample one day, print the summary as JSON."""
    args = parse_args(sys.argv if argv is None else argv)
    try:
        plan(args)  # a wrong day or rule: one line, before Spark starts (the run fails)
    except JobArgumentError as exc:
        raise SystemExit(f"raw_keep: {exc}") from None
    summary = run(spark or spark_session("raw_keep"), args)
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
