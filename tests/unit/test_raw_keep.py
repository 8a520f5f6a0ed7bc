"""The raw-retention rule on hand-built sequences, and its stage settings."""

from __future__ import annotations

import pytest

from rotorwatch.deployment.stage import DEFAULTS, ConfigError, parse_stage
from rotorwatch.lake import raw_keep
from rotorwatch.lake.raw_keep import KeepRule, change_times, kept_fraction, kept_windows

DAY = 1_795_392_000_000  # 2026-11-23 00:00 UTC
MIN = 60_000
H = 3_600_000


def _every(step_min: int, start: int = DAY, end: int = DAY + 86_400_000) -> list[tuple[int, int]]:
    return [(ts, i) for i, ts in enumerate(range(start, end, step_min * MIN))]


def _states(windows: list[tuple[int, int]], state_at) -> list[tuple[int, int, str]]:
    return [(ts, seq, state_at(ts)) for ts, seq in windows]


def test_a_quiet_day_keeps_the_first_window_of_each_hour() -> None:
    w = _every(10)
    kept = kept_windows(w, _states(w, lambda ts: "HEALTHY"), DAY, KeepRule(30, 1))
    assert sorted(kept) == [x for x in w if x[0] % H == 0]
    assert len(kept) == 24


def test_windows_within_k_of_a_change_are_kept_both_sides() -> None:
    w = _every(10)
    onset = DAY + 12 * H + 5 * 10 * MIN  # 12:50: WARNING from here on
    kept = kept_windows(
        w, _states(w, lambda ts: "WARNING" if ts >= onset else "HEALTHY"), DAY, KeepRule(30, 1)
    )
    near = {x for x in w if abs(x[0] - onset) <= 30 * MIN}
    assert {ts for ts, _ in near} == {onset + k * 10 * MIN for k in range(-3, 4)}
    assert near <= kept
    hourly = {x for x in w if x[0] % H == 0}
    assert kept == hourly | near


def test_k_zero_keeps_only_the_changing_window_beside_the_samples() -> None:
    w = _every(10)
    onset = DAY + 5 * H + 20 * MIN
    kept = kept_windows(
        w, _states(w, lambda ts: "ALARM" if ts >= onset else "HEALTHY"), DAY, KeepRule(0, 1)
    )
    assert kept - {x for x in w if x[0] % H == 0} == {x for x in w if x[0] == onset}


def test_a_change_at_midnight_counts_across_the_day_boundary() -> None:
    # The device was ALARM all of yesterday and recovers with the day's first window.
    yesterday = _every(10, DAY - 86_400_000, DAY)
    today = [(ts, seq + 1000) for ts, seq in _every(10)]
    preds = _states(yesterday, lambda ts: "ALARM") + _states(today, lambda ts: "HEALTHY")
    kept = kept_windows(today, preds, DAY, KeepRule(30, 1))
    assert {ts for ts, _ in kept if ts < DAY + H} == {
        DAY,
        DAY + 10 * MIN,
        DAY + 20 * MIN,
        DAY + 30 * MIN,
    }
    # Without yesterday's predictions the first window has no previous state: no change.
    alone = kept_windows(today, _states(today, lambda ts: "HEALTHY"), DAY, KeepRule(30, 1))
    assert {ts for ts, _ in alone if ts < DAY + H} == {DAY}


def test_a_change_just_after_the_day_keeps_the_day_s_last_windows() -> None:
    w = _every(10, DAY, DAY + 86_400_000 + H)
    onset = DAY + 86_400_000 + 10 * MIN  # 00:10 the next day
    kept = kept_windows(
        w, _states(w, lambda ts: "WARNING" if ts >= onset else "HEALTHY"), DAY, KeepRule(30, 1)
    )
    assert all(DAY <= ts < DAY + 86_400_000 for ts, _ in kept)  # only the sampled day
    last_hour = {ts - DAY - 23 * H for ts, _ in kept if ts >= DAY + 23 * H}
    assert last_hour == {0, 40 * MIN, 50 * MIN}  # 23:00 sampled; 23:40, 23:50 within 30 min


def test_a_device_with_one_window_keeps_it_and_empty_hours_keep_nothing() -> None:
    one = [(DAY + 7 * H + 123, 5)]
    assert kept_windows(one, [], DAY, KeepRule()) == {one[0]}
    sparse = [(DAY + 1 * H + 5 * MIN, 1), (DAY + 1 * H + 6 * MIN, 2), (DAY + 9 * H, 3)]
    assert kept_windows(sparse, [], DAY, KeepRule(30, 1)) == {sparse[0], sparse[2]}
    assert kept_windows(sparse, [], DAY, KeepRule(30, 2)) == set(sparse)
    assert kept_windows([], [(DAY, 1, "HEALTHY")], DAY, KeepRule()) == set()


def test_duplicate_predictions_are_no_change() -> None:
    assert change_times([(1, 1, "HEALTHY"), (1, 1, "HEALTHY"), (2, 2, "HEALTHY")]) == []
    assert change_times([(3, 3, "ALARM"), (1, 1, "HEALTHY"), (2, 2, "HEALTHY")]) == [3]


def test_kept_fraction_counts_samples_and_change_spans() -> None:
    # 10 s windows: 360 per hour; one sample per hour and no change keeps 1/360.
    assert kept_fraction(10.0, KeepRule(30, 1), 0.0) == pytest.approx(1 / 360)
    # One change a day adds 2 x 30 min / 10 s + 1 = 361 windows to the 24 sampled.
    assert kept_fraction(10.0, KeepRule(30, 1), 1.0) == pytest.approx((24 + 361) / 8640)
    assert kept_fraction(3600.0, KeepRule(30, 2), 0.0) == 1.0  # one window an hour: all kept
    assert kept_fraction(10.0, KeepRule(1440, 1), 5.0) == 1.0


def _lake(**over: object) -> dict[str, object]:
    return {"lake": {**DEFAULTS["lake"], **over}}


def test_stage_settings_default_off_and_prod_like_settings_parse() -> None:
    cfg = parse_stage("dev", {})
    assert cfg.lake.raw_keep_enabled is False
    cfg = parse_stage("prod", _lake(raw_expire_days=14, raw_keep_enabled=True, raw_keep_minutes=0))
    assert cfg.lake.keep_rule == KeepRule(0, 1)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"raw_keep_enabled": True}, "needs lake.raw_expire_days"),
        ({"raw_keep_enabled": True, "raw_expire_days": 3}, r"raw_expire_days \(3\) must be >= 4"),
        ({"raw_keep_enabled": "yes"}, "raw_keep_enabled must be true or false"),
        ({"raw_keep_minutes": -1}, r"raw_keep_minutes must be an integer in \[0, 1440\]"),
        ({"raw_keep_per_hour": 0}, r"raw_keep_per_hour must be an integer in \[1, 60\]"),
    ],
)
def test_stage_settings_refuse_what_cannot_work(over: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_stage("prod", _lake(**over))


def test_the_smallest_expiry_leaves_the_job_its_day_and_a_rerun() -> None:
    assert raw_keep.MIN_RAW_EXPIRE_DAYS == raw_keep.SAMPLE_DELAY_DAYS + raw_keep.RERUN_MARGIN_DAYS
    parse_stage("prod", _lake(raw_keep_enabled=True, raw_expire_days=raw_keep.MIN_RAW_EXPIRE_DAYS))
