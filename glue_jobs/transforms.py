"""Pure ``DataFrame -> DataFrame`` transforms of the machine-health Glue job.

No I/O and no Glue APIs here: the entry script reads and writes, these functions only reshape,
so each is tested on a small local DataFrame. Timestamps are epoch milliseconds (UTC), as in the
lake; partition values are computed with the Spark session time zone, which the job pins to UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from rotorwatch.diagnosis.features.iso import ZONES
from rotorwatch.diagnosis.predictions import FAULTY_WINDOW_SQL, NORMAL_FAULT
from rotorwatch.lake.layout import PARTITION_KEYS
from rotorwatch.lake.schemas import HEALTH_FIELDS

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
PERIOD_MS: dict[str, int] = {"hour": MS_PER_HOUR, "day": MS_PER_DAY}
#: A delivery is identified by the device, its window start and its message counter.
RECORD_KEY: tuple[str, ...] = ("device_id", "ts", "seq")
#: Point-by-point states that count as anomalous (everything but HEALTHY).
HEALTHY_STATE = "HEALTHY"
ALARM_STATE = "ALARM"

_PARTITION_FORMATS = {"year": "yyyy", "month": "MM", "day": "dd", "hour": "HH"}


def within_window(df: DataFrame, start_ms: int, end_ms: int, ts_col: str = "ts") -> DataFrame:
    """Rows whose ``ts_col`` (epoch ms) lies in ``[start_ms, end_ms)``."""
    return df.where((F.col(ts_col) >= F.lit(start_ms)) & (F.col(ts_col) < F.lit(end_ms)))


def with_partition_columns(
    df: DataFrame, ts_col: str = "ts", keys: Sequence[str] = PARTITION_KEYS
) -> DataFrame:
    """Add zero-padded string partition columns (year, month, day, hour) from an epoch-ms column.

    Uses the session time zone, which must be UTC (the job sets ``spark.sql.session.timeZone``);
    the values equal :func:`rotorwatch.lake.layout.partition_values` for the same timestamp.
    """
    t = F.expr(f"timestamp_millis(`{ts_col}`)")
    for k in keys:
        df = df.withColumn(k, F.date_format(t, _PARTITION_FORMATS[k]))
    return df


def deduplicate(df: DataFrame, prefer_latest: str | None = None) -> DataFrame:
    """One row per (device_id, ts, seq): Kinesis and Firehose deliver at least once.

    With ``prefer_latest`` (e.g. ``scored_at``) the row with the largest value of that column is
    kept (a re-scored window replaces the older prediction); otherwise any one of the copies.
    """
    if prefer_latest is None:
        return df.dropDuplicates(list(RECORD_KEY))
    w = Window.partitionBy(*RECORD_KEY).orderBy(F.col(prefer_latest).desc_nulls_last())
    return df.withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank")


def compact(df: DataFrame, prefer_latest: str | None = None) -> DataFrame:
    """Firehose's many small objects per hour, as one sorted, de-duplicated file per hour.

    Returns the de-duplicated rows with partition columns derived from ``ts`` (event time),
    repartitioned so that writing with ``partitionBy(*PARTITION_KEYS)`` yields one file per
    hour partition, rows sorted by device and time (good Parquet min/max statistics for Athena).
    """
    data_cols = [c for c in df.columns if c not in PARTITION_KEYS]
    out = with_partition_columns(deduplicate(df.select(*data_cols), prefer_latest))
    return out.repartition(*PARTITION_KEYS).sortWithinPartitions("device_id", "ts", "seq")


def _period_start(period: str) -> Column:
    p = PERIOD_MS[period]
    # Epoch 0 is midnight UTC, so flooring to the period aligns with UTC hours and days.
    return (F.floor(F.col("ts") / F.lit(p)) * F.lit(p)).cast("bigint")


def _zone_count(zone: str) -> Column:
    return F.sum(F.when(F.col("iso_zone") == zone, 1).otherwise(0)).cast("bigint")


def _slope(col: str, per_ms: int) -> Column:
    """Least-squares slope of ``col`` against time, per ``per_ms`` (null when time or the value
    does not vary enough to fit: fewer than two windows with a reading)."""
    return F.expr(f"regr_slope({col}, ts / {float(per_ms)})")


def feature_health(features: DataFrame, period: Literal["hour", "day"]) -> DataFrame:
    """Vibration health per device and period from feature records.

    Columns: device_id, period_start_ms, site, n_windows, n_vibration, velocity RMS p50/p95
    (exact percentiles, linear interpolation), max and mean (mm/s), zone_a..d counts, worst
    zone, temperature mean / max (degC) and trend (degC per hour), pressure mean / lowest /
    highest (bar) and trend (bar per hour), least-squares slope of velocity RMS against time in
    mm/s per day (null with fewer than two distinct window times), last_ts. Missing sensor
    readings are left out of their aggregates (null when a period has none), never read as 0.
    """
    v = "velocity_rms_mm_s"
    return (
        features.withColumn("period_start_ms", _period_start(period))
        .groupBy("device_id", "period_start_ms")
        .agg(
            F.max_by("site", "ts").alias("site"),
            F.count(F.lit(1)).cast("bigint").alias("n_windows"),
            F.count(v).cast("bigint").alias("n_vibration"),
            F.expr(f"percentile({v}, 0.5)").alias("velocity_rms_p50_mm_s"),
            F.expr(f"percentile({v}, 0.95)").alias("velocity_rms_p95_mm_s"),
            F.max(v).alias("velocity_rms_max_mm_s"),
            F.avg(v).alias("velocity_rms_mean_mm_s"),
            *(_zone_count(z).alias(f"zone_{z.lower()}_count") for z in ZONES),
            F.max("iso_zone").alias("worst_zone"),  # zone letters sort by severity
            F.avg("temperature_c").alias("temperature_mean_c"),
            F.max("temperature_c").alias("temperature_max_c"),
            _slope("temperature_c", MS_PER_HOUR).alias("temperature_trend_c_per_h"),
            F.avg("pressure_bar").alias("pressure_mean_bar"),
            F.min("pressure_bar").alias("pressure_lowest_bar"),
            F.max("pressure_bar").alias("pressure_highest_bar"),
            _slope("pressure_bar", MS_PER_HOUR).alias("pressure_trend_bar_per_h"),
            F.expr(f"regr_slope({v}, ts / {float(MS_PER_DAY)})").alias("trend_slope_mm_s_per_day"),
            F.max("ts").alias("last_ts"),
        )
    )


def prediction_health(predictions: DataFrame, period: Literal["hour", "day"]) -> DataFrame:
    """Model health per device and period from prediction records.

    Columns: device_id, period_start_ms, p_site, n_predictions, anomaly_count (WARNING or
    ALARM), alarm_count, anomaly_score_mean, dominant_fault (most frequent fault of the
    WARNING/ALARM windows other than 'normal', ties broken alphabetically; 'normal' when there is
    none: :data:`rotorwatch.diagnosis.predictions.FAULTY_WINDOW_SQL`), sensor_count (windows
    with temperature or pressure outside limits), dominant_sensor_cause (most frequent sensor
    cause, ties alphabetically; null when none), p_last_ts.
    """
    p = predictions.withColumn("period_start_ms", _period_start(period))
    counts = p.groupBy("device_id", "period_start_ms").agg(
        F.max_by("site", "ts").alias("p_site"),
        F.count(F.lit(1)).cast("bigint").alias("n_predictions"),
        F.sum(F.when(F.col("state") != HEALTHY_STATE, 1).otherwise(0))
        .cast("bigint")
        .alias("anomaly_count"),
        F.sum(F.when(F.col("state") == ALARM_STATE, 1).otherwise(0))
        .cast("bigint")
        .alias("alarm_count"),
        F.avg("anomaly_score").alias("anomaly_score_mean"),
        F.count("sensor_cause").cast("bigint").alias("sensor_count"),
        F.max("ts").alias("p_last_ts"),
    )
    rank = Window.partitionBy("device_id", "period_start_ms").orderBy(F.desc("n"), F.asc("fault"))
    dominant = (
        p.where(F.expr(FAULTY_WINDOW_SQL))
        .groupBy("device_id", "period_start_ms", "fault")
        .agg(F.count(F.lit(1)).alias("n"))
        .withColumn("_rank", F.row_number().over(rank))
        .where("_rank = 1")
        .select("device_id", "period_start_ms", F.col("fault").alias("dominant_fault"))
    )
    cause_rank = Window.partitionBy("device_id", "period_start_ms").orderBy(
        F.desc("n"), F.asc("sensor_cause")
    )
    dominant_cause = (
        p.where(F.col("sensor_cause").isNotNull())
        .groupBy("device_id", "period_start_ms", "sensor_cause")
        .agg(F.count(F.lit(1)).alias("n"))
        .withColumn("_rank", F.row_number().over(cause_rank))
        .where("_rank = 1")
        .select(
            "device_id", "period_start_ms", F.col("sensor_cause").alias("dominant_sensor_cause")
        )
    )
    return (
        counts.join(dominant, ["device_id", "period_start_ms"], "left")
        .withColumn("dominant_fault", F.coalesce("dominant_fault", F.lit(NORMAL_FAULT)))
        .join(dominant_cause, ["device_id", "period_start_ms"], "left")
    )


def machine_health(
    features: DataFrame, predictions: DataFrame, period: Literal["hour", "day"]
) -> DataFrame:
    """Machine health per device and hour or UTC day: the curated table's rows.

    Joins :func:`feature_health` and :func:`prediction_health` (full outer: a period with only
    features or only predictions still appears, counts of the missing side are 0), adds
    anomaly_rate = anomaly_count / n_predictions (null without predictions) and the partition
    columns of ``period_start_ms`` (year/month/day[/hour]). Columns follow
    :data:`rotorwatch.lake.schemas.HEALTH_FIELDS` with its Glue types.
    """
    joined = feature_health(features, period).join(
        prediction_health(predictions, period), ["device_id", "period_start_ms"], "full_outer"
    )
    zero = F.lit(0).cast("bigint")
    out = (
        joined.withColumn("site", F.coalesce("site", "p_site"))
        .withColumn("last_ts", F.greatest("last_ts", "p_last_ts"))
        .fillna(0, subset=["n_windows", "n_vibration", *(f"zone_{z.lower()}_count" for z in ZONES)])
        .withColumn("n_predictions", F.coalesce("n_predictions", zero))
        .withColumn("anomaly_count", F.coalesce("anomaly_count", zero))
        .withColumn("alarm_count", F.coalesce("alarm_count", zero))
        .withColumn("sensor_count", F.coalesce("sensor_count", zero))
        .withColumn(
            "anomaly_rate",
            F.when(F.col("n_predictions") > 0, F.col("anomaly_count") / F.col("n_predictions")),
        )
    )
    keys = PARTITION_KEYS if period == "hour" else PARTITION_KEYS[:3]
    out = out.select(*(F.col(f.name).cast(f.type).alias(f.name) for f in HEALTH_FIELDS))
    return with_partition_columns(out, "period_start_ms", keys)
