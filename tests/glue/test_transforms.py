"""The pure transforms on small DataFrames, numbers checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from glue_jobs import transforms
from rotorwatch.lake import layout as lake
from rotorwatch.lake import schemas

pytestmark = pytest.mark.slow

DAY0_MS = 1_795_392_000_000  # 2026-11-23 00:00:00 UTC
MIN_MS = 60_000


def _features(spark, rows):
    schema = schemas.ddl_columns(lake.FEATURE_FIELDS)
    names = lake.TABLES[lake.FEATURES_TABLE].column_names
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema)


def _predictions(spark, rows):
    schema = schemas.ddl_columns(lake.PREDICTION_FIELDS)
    names = lake.TABLES[lake.PREDICTIONS_TABLE].column_names
    return spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], schema)


def test_hourly_health_matches_numpy(spark) -> None:
    # m1, hour 10: 12 windows, velocity rising 0.5 mm/s per 5 min = 144 mm/s per day, zones by value.
    ts = DAY0_MS + 10 * 3_600_000 + np.arange(12) * 5 * MIN_MS
    vel = 2.0 + 0.5 * np.arange(12)
    zones = ["B" if v < 2.8 else "C" if v < 4.5 else "D" for v in vel]  # group 2 rigid
    feats = [
        {
            "device_id": "m1",
            "site": "s1",
            "ts": int(t),
            "seq": i,
            "velocity_rms_mm_s": float(v),
            "iso_zone": z,
            "temperature_c": 40.0 + i,
        }
        for i, (t, v, z) in enumerate(zip(ts, vel, zones, strict=True))
    ]
    # One window without vibration counts as a window, not as a velocity sample.
    feats.append(
        {"device_id": "m1", "site": "s1", "ts": int(ts[0]) + 1, "seq": 99, "temperature_c": 52.0}
    )
    states = ["HEALTHY"] * 6 + ["WARNING"] * 3 + ["ALARM"] * 3
    faults = ["normal"] * 6 + [
        "bearing_outer",
        "imbalance",
        "bearing_outer",
        "bearing_outer",
        "imbalance",
        "imbalance",
    ]
    preds = [
        {
            "device_id": "m1",
            "site": "s1",
            "ts": int(t),
            "seq": i,
            "state": s,
            "fault": f,
            "anomaly_score": i / 11.0,
        }
        for i, (t, s, f) in enumerate(zip(ts, states, faults, strict=True))
    ]
    out = transforms.machine_health(_features(spark, feats), _predictions(spark, preds), "hour")
    rows = out.collect()
    assert len(rows) == 1
    r = rows[0].asDict()
    assert r["period_start_ms"] == DAY0_MS + 10 * 3_600_000
    assert (r["year"], r["month"], r["day"], r["hour"]) == ("2026", "11", "23", "10")
    assert r["n_windows"] == 13
    assert r["n_vibration"] == 12
    np.testing.assert_allclose(r["velocity_rms_p50_mm_s"], np.percentile(vel, 50), rtol=1e-12)
    np.testing.assert_allclose(r["velocity_rms_p95_mm_s"], np.percentile(vel, 95), rtol=1e-12)
    assert r["velocity_rms_max_mm_s"] == pytest.approx(7.5)
    assert r["velocity_rms_mean_mm_s"] == pytest.approx(vel.mean())
    assert [r[f"zone_{z}_count"] for z in "abcd"] == [
        0,
        zones.count("B"),
        zones.count("C"),
        zones.count("D"),
    ]
    assert r["worst_zone"] == "D"
    assert r["temperature_mean_c"] == pytest.approx((sum(40.0 + i for i in range(12)) + 52.0) / 13)
    # 0.5 mm/s every 5 minutes is 0.5 * 288 = 144 mm/s per day.
    assert r["trend_slope_mm_s_per_day"] == pytest.approx(144.0, rel=1e-6)
    assert r["n_predictions"] == 12
    assert r["anomaly_count"] == 6
    assert r["alarm_count"] == 3
    assert r["anomaly_rate"] == pytest.approx(0.5)
    assert r["anomaly_score_mean"] == pytest.approx(0.5)
    # bearing_outer and imbalance both occur 3 times: the tie goes alphabetically.
    assert r["dominant_fault"] == "bearing_outer"
    assert r["last_ts"] == int(ts[-1])


def test_daily_health_one_row_per_day_and_missing_sides(spark) -> None:
    feats = [
        {
            "device_id": "m1",
            "ts": DAY0_MS + h * 3_600_000,
            "seq": h,
            "velocity_rms_mm_s": 1.0,
            "iso_zone": "A",
        }
        for h in (0, 12, 23, 24, 30)  # hours 24 and 30 are the next UTC day
    ]
    preds = [
        {"device_id": "m2", "ts": DAY0_MS + 5, "seq": 1, "state": "HEALTHY", "fault": "normal"}
    ]
    out = transforms.machine_health(_features(spark, feats), _predictions(spark, preds), "day")
    got = {(r.device_id, r.day): r.asDict() for r in out.collect()}
    assert set(got) == {("m1", "23"), ("m1", "24"), ("m2", "23")}
    assert "hour" not in out.columns
    assert got[("m1", "23")]["n_windows"] == 3
    assert got[("m1", "24")]["n_windows"] == 2
    # Constant velocity: slope 0; features only: no predictions, rate unknown (null), not 0.
    assert got[("m1", "23")]["trend_slope_mm_s_per_day"] == pytest.approx(0.0, abs=1e-9)
    assert got[("m1", "23")]["n_predictions"] == 0
    assert got[("m1", "23")]["anomaly_rate"] is None
    # Predictions only: counts from features are 0, a healthy machine's dominant fault is 'normal'.
    assert got[("m2", "23")]["n_windows"] == 0
    assert got[("m2", "23")]["anomaly_rate"] == 0.0
    assert got[("m2", "23")]["dominant_fault"] == "normal"


def test_compact_deduplicates_and_partitions_by_event_time(spark) -> None:
    base = {"device_id": "m1", "state": "HEALTHY"}
    preds = [
        {**base, "ts": DAY0_MS + 7 * 3_600_000, "seq": 1, "anomaly_score": 0.1, "scored_at": 1},
        {
            **base,
            "ts": DAY0_MS + 7 * 3_600_000,
            "seq": 1,
            "anomaly_score": 0.9,
            "scored_at": 2,
        },  # re-scored
        {
            **base,
            "ts": DAY0_MS + 7 * 3_600_000,
            "seq": 1,
            "anomaly_score": 0.1,
            "scored_at": 1,
        },  # redelivered
        {**base, "ts": DAY0_MS + 8 * 3_600_000 - 1, "seq": 2, "anomaly_score": 0.2, "scored_at": 1},
    ]
    out = transforms.compact(_predictions(spark, preds), prefer_latest="scored_at").collect()
    assert len(out) == 2
    by_seq = {r.seq: r for r in out}
    assert by_seq[1].anomaly_score == 0.9
    # Partition values are the same zero-padded strings rotorwatch.lake.layout computes.
    for r in out:
        assert f"year={r.year}/month={r.month}/day={r.day}/hour={r.hour}" == lake.partition_path(
            r.ts
        )
    assert by_seq[2].hour == "07"
