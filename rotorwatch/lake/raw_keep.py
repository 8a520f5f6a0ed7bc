"""Which raw waveforms outlive raw expiry: the windows near a state change, and a sample per hour.

Raw telemetry (``raw/telemetry/``) is the bulkiest data in the lake; a stage may expire it after
``lake.raw_expire_days``. With ``lake.raw_keep_enabled`` a daily Glue job
(``glue_jobs/raw_keep.py``) copies, for each UTC day, the windows this rule selects into
``raw_kept/`` (table ``telemetry_raw_kept``), which no expiry touches. For one device and day a
window is kept when

(a) it lies within ``keep_minutes`` of a change of the device's predicted state: a prediction
    whose ``state`` differs from the device's previous prediction (in ``(ts, seq)`` order,
    across the day boundary: the job reads the previous day's predictions too), or
(b) it is among the device's first ``samples_per_hour`` windows of its UTC hour.

So an analyst can replay every window around an onset or a recovery, and one waveform per
device-hour elsewhere; never the other windows of a quiet hour (their features and
predictions stay). This module is the rule as plain functions (the Spark job implements it
column-wise and its test checks both agree) and the arithmetic the cost model prices it with.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

MS_PER_MINUTE: Final = 60_000
MS_PER_HOUR: Final = 3_600_000
MS_PER_DAY: Final = 86_400_000

#: Defaults of the stage settings ``lake.raw_keep_*`` (rotorwatch.deployment.stage).
DEFAULT_KEEP_MINUTES: Final = 30
DEFAULT_SAMPLES_PER_HOUR: Final = 1
KEEP_MINUTES_MAX: Final = 24 * 60
SAMPLES_PER_HOUR_MAX: Final = 60

#: The job samples day D on day D + SAMPLE_DELAY_DAYS: the day must be over, and a window may
#: arrive up to lake.ARRIVAL_LAG_MAX_MS (a day) after it was measured.
SAMPLE_DELAY_DAYS: Final = 2
#: Days a failed run can still be rerun before S3 expires the raw day it needs.
RERUN_MARGIN_DAYS: Final = 2
#: The smallest ``lake.raw_expire_days`` that leaves the job its day: sampled on D + 2, rerun
#: possible until D + 4 (S3 expires an object N days after its creation, rounded up to the next
#: midnight UTC, so raw of day D is there at least until D + N).
MIN_RAW_EXPIRE_DAYS: Final = SAMPLE_DELAY_DAYS + RERUN_MARGIN_DAYS

#: When the daily run starts (UTC): after the machine-health run at 00:15 has compacted the
#: day before, and long before raw of the sampled day expires.
JOB_SCHEDULE_CRON: Final = "cron(45 1 * * ? *)"
#: A run that has not finished by then is stopped (and the next day's run samples its own day:
#: rerun a stopped day by hand, with --day, before raw expires).
JOB_TIMEOUT_HOURS: Final = 4


@dataclass(frozen=True, slots=True)
class KeepRule:
    """The selection rule's two knobs (``lake.raw_keep_minutes``, ``lake.raw_keep_per_hour``)."""

    keep_minutes: int = DEFAULT_KEEP_MINUTES
    samples_per_hour: int = DEFAULT_SAMPLES_PER_HOUR

    def __post_init__(self) -> None:
        if not 0 <= self.keep_minutes <= KEEP_MINUTES_MAX:
            raise ValueError(f"keep_minutes must be in [0, {KEEP_MINUTES_MAX}]")
        if not 1 <= self.samples_per_hour <= SAMPLES_PER_HOUR_MAX:
            raise ValueError(f"samples_per_hour must be in [1, {SAMPLES_PER_HOUR_MAX}]")

    @property
    def keep_ms(self) -> int:
        return self.keep_minutes * MS_PER_MINUTE


def change_times(predictions: Iterable[tuple[int, int, str]]) -> list[int]:
    """``ts`` (epoch ms) of each prediction whose state differs from the device's previous one.

    ``predictions`` are one device's ``(ts, seq, state)``, in any order, duplicates allowed (the
    lake delivers at least once: a duplicate of the same window is not a change). The first
    prediction has no previous one, so it is no change.
    """
    ordered = sorted(set(predictions))
    out: list[int] = []
    for (_, _, before), (ts, _, state) in itertools.pairwise(ordered):
        if state != before:
            out.append(ts)
    return out


def kept_windows(
    windows: Iterable[tuple[int, int]],
    predictions: Iterable[tuple[int, int, str]],
    day_start_ms: int,
    rule: KeepRule,
) -> set[tuple[int, int]]:
    """The ``(ts, seq)`` of one device's windows of the UTC day at ``day_start_ms`` to keep.

    ``windows``: the device's raw windows (any day; only the day's are considered);
    ``predictions``: its predictions ``(ts, seq, state)`` of the day and around it (the day
    before, for a change at midnight; ``keep_minutes`` after, for a change just past midnight).
    """
    day_end_ms = day_start_ms + MS_PER_DAY
    day = sorted({w for w in windows if day_start_ms <= w[0] < day_end_ms})
    changes = change_times(predictions)
    kept: set[tuple[int, int]] = set()
    per_hour: dict[int, int] = {}
    for ts, seq in day:
        hour = ts // MS_PER_HOUR
        if per_hour.get(hour, 0) < rule.samples_per_hour:
            per_hour[hour] = per_hour.get(hour, 0) + 1
            kept.add((ts, seq))
        elif any(abs(ts - c) <= rule.keep_ms for c in changes):
            kept.add((ts, seq))
    return kept


def kept_fraction(interval_s: float, rule: KeepRule, changes_per_device_day: float) -> float:
    """Expected share of a device's windows the rule keeps, for the cost model.

    ``samples_per_hour`` windows per hour, plus for each state change the windows within
    ``keep_minutes`` either side (``2 K / interval + 1``), assuming changes are far enough apart
    that their spans do not overlap and a sampled window is rarely inside a span (both make the
    true share smaller, so this is an upper bound). Capped at 1.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be > 0")
    if changes_per_device_day < 0:
        raise ValueError("changes_per_device_day must be >= 0")
    windows_per_hour = 3600.0 / interval_s
    sampled = min(float(rule.samples_per_hour), windows_per_hour) * 24.0
    span = min(2.0 * rule.keep_minutes * 60.0 / interval_s + 1.0, windows_per_hour * 24.0)
    per_day = windows_per_hour * 24.0
    return min(1.0, (sampled + changes_per_device_day * span) / per_day)


def sample_day_ms(run_day_start_ms: int) -> int:
    """The UTC day (start, epoch ms) a run on the day at ``run_day_start_ms`` samples."""
    return run_day_start_ms - SAMPLE_DELAY_DAYS * MS_PER_DAY


def predictions_range_ms(day_start_ms: int, rule: KeepRule) -> tuple[int, int]:
    """``[start, end)`` of prediction ``ts`` the job reads for a day: the whole day before (the
    device's previous state at midnight, and changes up to K before it) to K after the day."""
    return day_start_ms - MS_PER_DAY, day_start_ms + MS_PER_DAY + rule.keep_ms + 1
