"""Pure ``DataFrame -> DataFrame`` transforms of the raw-sampling job (glue_jobs/raw_keep.py).

The rule is :mod:`rotorwatch.lake.raw_keep`'s, column-wise: a window of the day is kept when it lies
within ``keep_minutes`` of a change of its device's predicted state, or is among the device's
first ``samples_per_hour`` windows of its UTC hour. tests/glue/test_raw_keep_job.py checks that
this and :func:`rotorwatch.lake.raw_keep.kept_windows` keep the same windows.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from glue_jobs.transforms import RECORD_KEY, deduplicate, within_window
from rotorwatch.lake.raw_keep import MS_PER_DAY, MS_PER_HOUR, KeepRule


def state_changes(predictions: DataFrame) -> DataFrame:
    """``(device_id, change_ts)``: each prediction whose state differs from the device's
    previous one in ``(ts, seq)`` order. A re-scored window counts once (its latest score)."""
    p = deduplicate(predictions.select(*RECORD_KEY, "state", "scored_at"), "scored_at")
    w = Window.partitionBy("device_id").orderBy("ts", "seq")
    prev = F.lag("state").over(w)
    return (
        p.withColumn("_prev", prev)
        .where(F.col("_prev").isNotNull() & (F.col("_prev") != F.col("state")))
        .select("device_id", F.col("ts").alias("change_ts"))
    )


def day_windows(raw: DataFrame, day_start_ms: int) -> DataFrame:
    """The keys ``(device_id, ts, seq)`` of the day's raw windows that carry a waveform (a
    message without one, or one the contract refused without a device or time, has nothing
    to replay)."""
    keyed = raw.where(
        F.col("device_id").isNotNull()
        & F.col("ts").isNotNull()
        & F.col("seq").isNotNull()
        & F.col("vibration").isNotNull()
    )
    return (
        within_window(keyed, day_start_ms, day_start_ms + MS_PER_DAY).select(*RECORD_KEY).distinct()
    )


def kept_keys(windows: DataFrame, changes: DataFrame, rule: KeepRule) -> DataFrame:
    """The keys of the windows to keep, from the day's window keys and the state changes.

    Windows and changes are merged into one time line per device: the nearest change before
    and after each window come from two running window functions (no range join, so a
    device's many windows never meet its changes pairwise).
    """
    events = windows.withColumn("change_ts", F.lit(None).cast("bigint")).unionByName(
        changes.select(
            "device_id",
            F.col("change_ts").alias("ts"),
            F.lit(None).cast("bigint").alias("seq"),
            "change_ts",
        )
    )
    by_time = Window.partitionBy("device_id").orderBy("ts", F.col("seq").asc_nulls_first())
    before = by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    after = by_time.rowsBetween(Window.currentRow, Window.unboundedFollowing)
    near = events.select(
        *RECORD_KEY,
        F.last("change_ts", ignorenulls=True).over(before).alias("_prev"),
        F.first("change_ts", ignorenulls=True).over(after).alias("_next"),
    ).where(F.col("seq").isNotNull())
    k = F.lit(rule.keep_ms)
    near = near.where(
        ((F.col("ts") - F.col("_prev")) <= k) | ((F.col("_next") - F.col("ts")) <= k)
    ).select(*RECORD_KEY)
    hour = F.floor(F.col("ts") / F.lit(MS_PER_HOUR))
    in_hour = Window.partitionBy("device_id", hour).orderBy("ts", "seq")
    sampled = (
        windows.withColumn("_n", F.row_number().over(in_hour))
        .where(F.col("_n") <= F.lit(rule.samples_per_hour))
        .select(*RECORD_KEY)
    )
    return sampled.unionByName(near).distinct()


def kept_rows(raw: DataFrame, keys: DataFrame) -> DataFrame:
    """The raw rows of the kept keys, one per key (raw is delivered at least once). The keys
    are a small share of the day: broadcast, so the bulky waveforms are never shuffled."""
    rows = raw.join(F.broadcast(keys), list(RECORD_KEY), "left_semi")
    return rows.dropDuplicates(list(RECORD_KEY))
