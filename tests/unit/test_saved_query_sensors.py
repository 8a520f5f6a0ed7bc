"""The machine_trend saved query carries temperature and pressure (DuckDB over the Firehose
layout the local stand-in writes), checked against numpy per UTC day."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("duckdb")

from local_cloud import athena
from local_cloud.firehose import LocalFirehose
from rotorwatch.lake import layout as lake

MIN_MS = 60_000
NOW_MS = int(time.time() * 1000) // MIN_MS * MIN_MS
# A pump over the last 5 hours, a window every 10 min: its bearing heats 6 degC per hour and its
# discharge pressure falls 0.1 bar per hour; every fifth window carries no sensor readings.
TS = NOW_MS - 5 * 60 * MIN_MS + np.arange(30) * 10 * MIN_MS
HOURS = (TS - TS[0]) / 3_600_000
TEMP = 55.0 + 6.0 * HOURS
PRESSURE = 4.0 - 0.1 * HOURS
HAS_SENSORS = np.arange(30) % 5 != 4


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    root: Path = tmp_path_factory.mktemp("lake")
    feats = [
        {
            "device_id": "pump-9",
            "site": "plant-a",
            "ts": int(t),
            "seq": i,
            "received_at": int(t) + 1500,
            "velocity_rms_mm_s": 1.2,
            "iso_zone": "A",
            "temperature_c": float(TEMP[i]) if HAS_SENSORS[i] else None,
            "pressure_bar": float(PRESSURE[i]) if HAS_SENSORS[i] else None,
        }
        for i, t in enumerate(TS)
    ]
    with LocalFirehose(root, buffer_records=7) as fh:
        fh.put_records(lake.FEATURES_TABLE, feats)
    return athena.run_saved("machine_trend", root, {"device_id": "pump-9", "since": "2d"}).records()


def test_machine_trend_has_temperature_and_pressure_max_and_trend_per_day(rows: list[dict]) -> None:
    days = np.array([datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d") for t in TS])
    assert [r["utc_date"] for r in rows] == sorted(set(days))
    for r in rows:
        sel = (days == r["utc_date"]) & HAS_SENSORS
        assert r["windows"] == int(np.sum(days == r["utc_date"]))
        if not sel.any():
            # The windows end just after a UTC midnight (the test's "now"), and the new day's
            # only window is one without sensor readings: nothing to take a maximum of.
            assert r["temperature_max_c"] is None
            assert r["pressure_lowest_bar"] is None
            assert r["pressure_highest_bar"] is None
            assert r["temperature_trend_c_per_h"] is None
            continue
        assert r["temperature_max_c"] == pytest.approx(TEMP[sel].max())
        assert r["pressure_lowest_bar"] == pytest.approx(PRESSURE[sel].min())
        assert r["pressure_highest_bar"] == pytest.approx(PRESSURE[sel].max())
        if sel.sum() > 1:
            assert r["temperature_trend_c_per_h"] == pytest.approx(6.0, rel=1e-6)
            assert r["pressure_trend_bar_per_h"] == pytest.approx(-0.1, rel=1e-6)
        else:
            assert r["temperature_trend_c_per_h"] is None
