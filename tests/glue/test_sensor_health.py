"""Temperature and pressure in the machine-health job (local Spark), checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from glue_jobs import transforms
from rotorwatch.lake import layout as lake
from rotorwatch.lake import schemas

pytestmark = pytest.mark.slow

DAY0_MS = 1_795_392_000_000  # 2026-11-23 00:00:00 UTC
MIN_MS = 60_000


def _frame(spark, fields, table, rows):
    names = lake.TABLES[table].column_names
    return spark.createDataFrame(
        [tuple(r.get(n) for n in names) for r in rows], schemas.ddl_columns(fields)
    )


def test_temperature_and_pressure_max_and_trend_per_hour_and_day(spark) -> None:
    # m1, hour 10: a bearing heating 1 degC per 5 min (12 degC/h) while the pump's discharge
    # pressure falls 0.05 bar per 5 min (-0.6 bar/h); one window without either reading.
    ts = DAY0_MS + 10 * 3_600_000 + np.arange(12) * 5 * MIN_MS
    temp = 60.0 + np.arange(12) * 1.0
    pressure = 4.0 - np.arange(12) * 0.05
    feats = [
        {
            "device_id": "m1",
            "ts": int(t),
            "seq": i,
            "velocity_rms_mm_s": 1.0,
            "temperature_c": float(c),
            "pressure_bar": float(p),
        }
        for i, (t, c, p) in enumerate(zip(ts, temp, pressure, strict=True))
    ]
    feats.append({"device_id": "m1", "ts": int(ts[-1]) + 1, "seq": 99})
    causes = [None] * 7 + ["overheating"] * 3 + ["pressure_low"] * 2
    preds = [
        {"device_id": "m1", "ts": int(t), "seq": i, "state": "HEALTHY", "sensor_cause": c}
        for i, (t, c) in enumerate(zip(ts, causes, strict=True))
    ]
    f = _frame(spark, lake.FEATURE_FIELDS, lake.FEATURES_TABLE, feats)
    p = _frame(spark, lake.PREDICTION_FIELDS, lake.PREDICTIONS_TABLE, preds)
    for period in ("hour", "day"):
        rows = transforms.machine_health(f, p, period).collect()
        assert len(rows) == 1
        r = rows[0].asDict()
        assert r["n_windows"] == 13
        assert r["temperature_max_c"] == pytest.approx(71.0)
        assert r["temperature_mean_c"] == pytest.approx(temp.mean())  # the empty window: left out
        hours = (ts - ts[0]) / 3_600_000
        assert r["temperature_trend_c_per_h"] == pytest.approx(np.polyfit(hours, temp, 1)[0])
        assert r["temperature_trend_c_per_h"] == pytest.approx(12.0)
        assert r["pressure_mean_bar"] == pytest.approx(pressure.mean())
        assert r["pressure_lowest_bar"] == pytest.approx(3.45)
        assert r["pressure_highest_bar"] == pytest.approx(4.0)
        assert r["pressure_trend_bar_per_h"] == pytest.approx(-0.6)
        assert r["sensor_count"] == 5
        assert r["dominant_sensor_cause"] == "overheating"


def test_no_readings_no_sensor_figures(spark) -> None:
    feats = [{"device_id": "m2", "ts": DAY0_MS + i * MIN_MS, "seq": i} for i in range(3)]
    preds = [{"device_id": "m2", "ts": DAY0_MS, "seq": 0, "state": "HEALTHY"}]
    f = _frame(spark, lake.FEATURE_FIELDS, lake.FEATURES_TABLE, feats)
    p = _frame(spark, lake.PREDICTION_FIELDS, lake.PREDICTIONS_TABLE, preds)
    r = transforms.machine_health(f, p, "day").collect()[0].asDict()
    for name in ("temperature_max_c", "temperature_trend_c_per_h", "pressure_lowest_bar"):
        assert r[name] is None, name  # missing stays missing, never 0
    assert (r["sensor_count"], r["dominant_sensor_cause"]) == (0, None)
