"""The whole Glue job main() on file:// data written in the exact Firehose layout."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from glue_jobs.machine_health import day_window, main, parse_args
from local_cloud import athena
from local_cloud.firehose import LocalFirehose
from rotorwatch.contract.telemetry import STANDARD_GRAVITY_M_S2, decode, encode, encode_samples
from rotorwatch.diagnosis.assets import Asset
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.lake import layout as lake

DAY0_MS = 1_795_392_000_000  # 2026-11-23 00:00:00 UTC
STEP_MS = 10 * 60_000
N_WINDOWS = 36  # six hours of 10-minute windows
FS_HZ = 4096.0
TONE_HZ = 50.0
ASSETS = {
    d: Asset(device_id=d, machine_group=2, foundation="rigid", rated_rpm=3000.0)
    for d in ("pump-1", "fan-2")
}


def _accel_amplitude_g(velocity_rms_mm_s: float) -> float:
    # A tone of peak acceleration a has velocity amplitude a / (2 pi f); RMS is that / sqrt 2.
    return velocity_rms_mm_s / 1000.0 * 2 * math.pi * TONE_HZ * math.sqrt(2) / STANDARD_GRAVITY_M_S2


def _designed_velocity(device: str, i: int) -> float:
    # pump-1 degrades linearly 1.0 -> 5.0 mm/s over the six hours (zones A to D); fan-2 is steady.
    return 1.0 + 4.0 * i / (N_WINDOWS - 1) if device == "pump-1" else 1.0


def _telemetry(device: str, ts: int, seq: int, velocity: float):
    t = np.arange(4096) / FS_HZ
    x = _accel_amplitude_g(velocity) * np.sin(2 * np.pi * TONE_HZ * t)
    vib = encode_samples(x, fs_hz=FS_HZ, encoding="float32le+base64")
    return decode(
        encode(device_id=device, ts=ts, seq=seq, rpm=3000.0, temperature_c=40.0, vibration=vib)
    )


def _prediction(f: dict) -> dict:
    zone = f["iso_zone"]
    state = {"A": "HEALTHY", "B": "HEALTHY", "C": "WARNING", "D": "ALARM"}[zone]
    return {
        "device_id": f["device_id"],
        "site": "plant",
        "ts": f["ts"],
        "seq": f["seq"],
        "anomaly_score": 0.9 if state != "HEALTHY" else 0.1,
        "fault": "imbalance" if state != "HEALTHY" else "normal",
        "state": state,
        "iso_zone": zone,
        "velocity_rms_mm_s": f["velocity_rms_mm_s"],
        "scored_at": f["ts"] + 1000,
    }


@pytest.fixture(scope="module")
def features() -> list[dict]:
    msgs = [
        _telemetry(d, DAY0_MS + i * STEP_MS, i, _designed_velocity(d, i))
        for d in ASSETS
        for i in range(N_WINDOWS)
    ]
    # One window the evening before: outside the run's day, must not leak into its figures.
    msgs.append(_telemetry("pump-1", DAY0_MS - STEP_MS, 999, 3.0))
    return _arrived(compute_features(msgs, ASSETS), lag_ms=2_000)


def _arrived(records: list[dict], lag_ms: int) -> list[dict]:
    # The IoT rule stamps received_at: the lake is partitioned by arrival, not by ts.
    return [{**r, "received_at": r["ts"] + lag_ms} for r in records]


def _deliver(lake_dir: Path, records: list[dict], table: str) -> None:
    # A small buffer: many small objects per hour, as Firehose writes them.
    with LocalFirehose(lake_dir, buffer_records=5) as fh:
        fh.put_records(table, records)


def _read(lake_dir: Path, table: str) -> list[dict]:
    con = athena.connect(lake_dir)
    return athena.run_sql(con, f"SELECT * FROM {table} ORDER BY ALL").records()


def _files(lake_dir: Path, table: str) -> list[str]:
    root = lake_dir / lake.table(table).prefix
    return sorted(str(p.relative_to(root).parent) for p in root.rglob("*.parquet"))


def test_window_is_widened_to_whole_utc_days() -> None:
    args = parse_args(
        [
            "job",
            "--lake_uri",
            "file:///x",
            "--window_start",
            "2026-11-23T01:00Z",
            "--window_end",
            "2026-11-24T00:00:00+00:00",
            "--JOB_NAME",
            "glue-adds-this",
        ]
    )
    assert day_window(args) == (DAY0_MS, DAY0_MS + 86_400_000)
    args = parse_args(["job", "--lake_uri", "file:///x", "--window_end", "2026-11-23T05:00Z"])
    # 30 h before 23 Nov 05:00 is 21 Nov 23:00: three whole days.
    assert day_window(args) == (DAY0_MS - 2 * 86_400_000, DAY0_MS + 86_400_000)
    with pytest.raises(ValueError, match="not before"):
        day_window(
            parse_args(
                [
                    "job",
                    "--lake_uri",
                    "x",
                    "--window_start",
                    "2026-11-23T05:00Z",
                    "--window_end",
                    "2026-11-23T01:00Z",
                ]
            )
        )


@pytest.mark.slow
def test_job_main_on_firehose_layout_is_correct_and_idempotent(spark, tmp_path, features) -> None:
    # The feature engine reproduces the designed velocities (analytic tone), so the inputs are real.
    on_day = [f for f in features if f["ts"] >= DAY0_MS]
    for f in on_day:
        np.testing.assert_allclose(
            f["velocity_rms_mm_s"], _designed_velocity(f["device_id"], f["seq"]), rtol=0.02
        )
    _deliver(tmp_path, features, lake.FEATURES_TABLE)
    _deliver(tmp_path, features[1:8], lake.FEATURES_TABLE)  # Kinesis redelivered a batch
    _deliver(tmp_path, [_prediction(f) for f in features], lake.PREDICTIONS_TABLE)
    assert len(_files(tmp_path, lake.FEATURES_TABLE)) > 12  # many small objects per hour

    argv = [
        "machine_health.py",
        "--lake_uri",
        tmp_path.as_uri(),
        "--window_start",
        "2026-11-23T02:00:00Z",
        "--window_end",
        "2026-11-23T06:00:00Z",
    ]
    summary = main(argv, spark)
    assert summary["features_in"] > len(on_day)  # the duplicates reached the job
    assert summary[lake.HEALTH_HOURLY_TABLE] == 2 * 6
    assert summary[lake.HEALTH_DAILY_TABLE] == 2

    # Compaction: one file per hour partition, duplicates gone, previous day untouched.
    compact = _read(tmp_path, lake.FEATURES_COMPACT_TABLE)
    assert len(compact) == len(on_day)
    assert Counter(_files(tmp_path, lake.FEATURES_COMPACT_TABLE)) == Counter(
        {f"year=2026/month=11/day=23/hour={h:02d}": 1 for h in range(6)}
    )

    daily = {r["device_id"]: r for r in _read(tmp_path, lake.HEALTH_DAILY_TABLE)}
    pump = daily["pump-1"]
    vel = np.array([f["velocity_rms_mm_s"] for f in on_day if f["device_id"] == "pump-1"])
    assert pump["n_windows"] == N_WINDOWS
    np.testing.assert_allclose(pump["velocity_rms_p95_mm_s"], np.percentile(vel, 95), rtol=1e-9)
    assert Counter(f["iso_zone"] for f in on_day if f["device_id"] == "pump-1") == {
        z: pump[f"zone_{z.lower()}_count"] for z in "ABCD"
    }
    assert pump["worst_zone"] == "D"
    # Designed ramp: 4 mm/s over 35 windows of 10 min = 4 / (350 / 1440) mm/s per day.
    assert pump["trend_slope_mm_s_per_day"] == pytest.approx(4.0 / (350 / 1440), rel=0.02)
    n_bad = sum(1 for f in on_day if f["device_id"] == "pump-1" and f["iso_zone"] in "CD")
    assert pump["anomaly_rate"] == pytest.approx(n_bad / N_WINDOWS)
    assert pump["dominant_fault"] == "imbalance"
    assert daily["fan-2"]["worst_zone"] == "A"
    assert daily["fan-2"]["dominant_fault"] == "normal"
    assert daily["fan-2"]["anomaly_rate"] == 0.0

    hourly = _read(tmp_path, lake.HEALTH_HOURLY_TABLE)
    h3 = next(r for r in hourly if r["device_id"] == "pump-1" and r["hour"] == "03")
    in_h3 = [
        f["velocity_rms_mm_s"] for f in on_day if f["device_id"] == "pump-1" and 18 <= f["seq"] < 24
    ]
    assert h3["n_windows"] == 6
    np.testing.assert_allclose(h3["velocity_rms_p50_mm_s"], np.median(in_h3), rtol=1e-9)

    # Idempotent: the same window again replaces the same partitions with the same rows.
    tables = [
        lake.FEATURES_COMPACT_TABLE,
        lake.PREDICTIONS_COMPACT_TABLE,
        lake.HEALTH_HOURLY_TABLE,
        lake.HEALTH_DAILY_TABLE,
    ]
    before = {t: (_read(tmp_path, t), _files(tmp_path, t)) for t in tables}
    main(argv, spark)
    assert {t: (_read(tmp_path, t), _files(tmp_path, t)) for t in tables} == before

    # Late data: a window for 03:xx arrives after the run, the next day (so it sits in the next
    # day's arrival partition); the next run still finds it and counts it exactly once.
    late = _arrived(
        compute_features(
            [_telemetry("pump-1", DAY0_MS + 3 * 3_600_000 + 5 * 60_000, 500, 2.0)], ASSETS
        ),
        lag_ms=23 * 3_600_000,
    )
    _deliver(tmp_path, late, lake.FEATURES_TABLE)
    main(argv, spark)
    hourly = _read(tmp_path, lake.HEALTH_HOURLY_TABLE)
    assert len(hourly) == 2 * 6
    h3 = next(r for r in hourly if r["device_id"] == "pump-1" and r["hour"] == "03")
    assert h3["n_windows"] == 7
    assert len(_read(tmp_path, lake.FEATURES_COMPACT_TABLE)) == len(on_day) + 1
