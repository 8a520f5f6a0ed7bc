"""The raw-sampling job main() on local Spark over a small lake in Firehose's layout: exactly
the windows rotorwatch.lake.raw_keep keeps land in raw_kept/, once, and a rerun changes nothing."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from glue_jobs.raw_keep import JobArgumentError, main, parse_args, plan
from local_cloud.firehose import LocalFirehose
from rotorwatch.lake import layout as lake
from rotorwatch.lake import raw_keep
from rotorwatch.lake.raw_keep import KeepRule, kept_windows

DAY = 1_795_392_000_000  # 2026-11-23 00:00 UTC
MIN = 60_000
STEP = 10 * MIN
LAG = 3_000  # arrival after the window's ts
DATA = base64.b64encode(bytes(512)).decode("ascii")


def _state(device: str, ts: int) -> str:
    if device == "pump-1":  # WARNING from 09:20 to 14:00 on the day
        return (
            "WARNING" if DAY + 9 * 3_600_000 + 20 * MIN <= ts < DAY + 14 * 3_600_000 else "HEALTHY"
        )
    if device == "fan-2":  # ALARM all of the day before, recovers at midnight
        return "ALARM" if ts < DAY else "HEALTHY"
    return "HEALTHY"


def _windows(device: str) -> list[tuple[int, int]]:
    if device == "lone-3":  # one window all day
        return [(DAY + 17 * 3_600_000 + 7 * MIN, 1)]
    start, end = DAY - 86_400_000, DAY + 86_400_000 + 3_600_000
    return [(ts, i) for i, ts in enumerate(range(start, end, STEP))]


def _raw(device: str, ts: int, seq: int) -> dict[str, Any]:
    return {
        "v": 1,
        "device_id": device,
        "site": "plant",
        "ts": ts,
        "seq": seq,
        "received_at": ts + LAG,
        "rpm": 1480.0,
        "vibration": {
            "fs_hz": 4096.0,
            "unit": "g",
            "encoding": "int16le+base64",
            "scale": 0.001,
            "data": DATA,
        },
    }


def _prediction(device: str, ts: int, seq: int) -> dict[str, Any]:
    return {
        "device_id": device,
        "site": "plant",
        "ts": ts,
        "seq": seq,
        "state": _state(device, ts),
        "scored_at": ts + LAG + 1000,
    }


DEVICES = ("pump-1", "fan-2", "lone-3")


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    raw = [_raw(d, ts, seq) for d in DEVICES for ts, seq in _windows(d)]
    raw.append(_raw("pump-1", DAY + 9 * 3_600_000 + 20 * MIN, 999))  # a redelivered twin below
    raw.append(_raw("pump-1", DAY + 9 * 3_600_000 + 20 * MIN, 999))
    raw.append({"device_id": "pump-1", "ts": DAY + 5 * MIN, "seq": 7, "received_at": DAY + 5 * MIN})
    preds = [_prediction(d, ts, seq) for d in DEVICES for ts, seq in _windows(d)]
    with LocalFirehose(tmp_path, buffer_records=200) as fh:
        fh.put_records(lake.RAW_TABLE, raw)
        fh.put_records(lake.PREDICTIONS_TABLE, preds)
    return tmp_path


def _expected(rule: KeepRule) -> set[tuple[str, int, int]]:
    out = set()
    for d in DEVICES:
        w = _windows(d)
        if d == "pump-1":
            w = [*w, (DAY + 9 * 3_600_000 + 20 * MIN, 999)]
        preds = [(ts, seq, _state(d, ts)) for ts, seq in _windows(d)]
        out |= {(d, ts, seq) for ts, seq in kept_windows(w, preds, DAY, rule)}
    return out


def _kept(lake_dir: Path) -> list[tuple[str, int, int]]:
    root = lake_dir / lake.table(lake.RAW_KEPT_TABLE).prefix
    rows = pq.ParquetDataset(root).read().to_pylist()
    assert all(r["vibration"]["data"] == DATA for r in rows)  # the waveform travels whole
    return sorted((r["device_id"], r["ts"], r["seq"]) for r in rows)


def _run(spark: Any, lake_dir: Path, *extra: str) -> dict[str, Any]:
    argv = ["job", "--lake_uri", lake_dir.as_uri() + "/", "--day", "2026-11-23", *extra]
    return main(argv, spark=spark)


def test_the_job_keeps_exactly_the_rule_s_windows_and_a_rerun_changes_nothing(
    spark: Any, lake_dir: Path
) -> None:
    summary = _run(spark, lake_dir, "--keep_minutes", "30")
    expected = _expected(KeepRule(30, 1))
    kept = _kept(lake_dir)
    assert kept == sorted(expected)
    assert summary["kept"] == len(expected)
    # The rule did select: 24 samples a device-hour, the 7 windows around each of pump-1's two
    # changes, fan-2's first 30 minutes (its recovery at midnight) and lone-3's one window.
    pump = [ts for d, ts, _ in kept if d == "pump-1"]
    assert DAY + 9 * 3_600_000 + 50 * MIN in pump
    assert DAY + 8 * 3_600_000 + 40 * MIN not in pump
    fan = sorted(ts for d, ts, _ in kept if d == "fan-2" and ts < DAY + 3_600_000)
    assert fan == [DAY, DAY + STEP, DAY + 2 * STEP, DAY + 3 * STEP]
    assert [ts for d, ts, _ in kept if d == "lone-3"] == [DAY + 17 * 3_600_000 + 7 * MIN]
    day_folder = lake_dir / lake.RAW_KEPT_PREFIX / "year=2026/month=11/day=23"
    assert [p.name for p in (lake_dir / lake.RAW_KEPT_PREFIX).glob("year=*/month=*/day=*")] == [
        "day=23"
    ]
    files = sorted(p.name for p in day_folder.glob("*.parquet"))

    again = _run(spark, lake_dir, "--keep_minutes", "30")
    assert again == summary
    assert _kept(lake_dir) == kept
    assert len(list(day_folder.glob("*.parquet"))) == len(files)  # replaced, not appended


def test_k_zero_keeps_the_samples_and_the_changing_windows(spark: Any, lake_dir: Path) -> None:
    _run(spark, lake_dir, "--keep_minutes", "0", "--samples_per_hour", "2")
    assert _kept(lake_dir) == sorted(_expected(KeepRule(0, 2)))


def test_a_day_without_raw_writes_nothing(spark: Any, tmp_path: Path) -> None:
    summary = main(["job", "--lake_uri", tmp_path.as_uri() + "/", "--day", "2026-11-23"], spark)
    assert summary["windows"] == 0
    assert not (tmp_path / lake.RAW_KEPT_PREFIX).exists()


def test_plan_defaults_to_two_days_back_and_refuses_days_it_cannot_sample() -> None:
    now = datetime(2026, 11, 25, 1, 45, tzinfo=UTC)
    day, rule = plan(parse_args(["job", "--lake_uri", "file:///x"]), now)
    assert day == DAY
    assert rule == KeepRule()
    assert raw_keep.SAMPLE_DELAY_DAYS == 2
    for extra, message in (
        (["--day", "2026-11-25"], "not over yet"),
        (["--day", "2026-11-10", "--raw_expire_days", "14"], "older than raw expiry allows"),
        (["--day", "23/11/2026"], "YYYY-MM-DD"),
        (["--keep_minutes", "x"], "must be an integer"),
        (["--samples_per_hour", "0"], "samples_per_hour must be in"),
    ):
        with pytest.raises(JobArgumentError, match=message):
            plan(parse_args(["job", "--lake_uri", "file:///x", *extra]), now)
    # The oldest day raw expiry leaves whole is still sampled.
    plan(
        parse_args(
            ["job", "--lake_uri", "file:///x", "--day", "2026-11-12", "--raw_expire_days", "14"]
        ),
        now,
    )


def test_a_window_raw_expiry_removed_is_replayed_from_raw_kept(spark: Any, lake_dir: Path) -> None:
    from local_cloud.report_lake import raw_window

    onset = DAY + 9 * 3_600_000 + 20 * MIN  # pump-1's change: kept
    quiet = DAY + 3 * 3_600_000 + 30 * MIN  # mid-hour, no change near: not kept
    before = raw_window(lake_dir, "pump-1", quiet)
    assert before is not None
    assert before.ts == quiet
    _run(spark, lake_dir)
    shutil.rmtree(lake_dir / lake.RAW_PREFIX)  # what raw_expire_days does to raw/
    msg = raw_window(lake_dir, "pump-1", onset)
    assert msg is not None
    assert msg.ts == onset
    assert msg.vibration is not None
    assert msg.vibration.fs_hz == 4096.0
    assert raw_window(lake_dir, "pump-1", quiet) is None  # what an analyst can no longer replay
    latest = raw_window(lake_dir, "pump-1")
    assert latest is not None
    assert latest.ts < DAY + 86_400_000
