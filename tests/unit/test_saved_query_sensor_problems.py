"""The sensor_problems_per_day saved query (DuckDB over the Firehose layout the local stand-in
writes): windows and devices per vibration sensor problem and UTC day, each window once even
when the lake holds it twice, checked against a count in Python."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")

from local_cloud import athena
from local_cloud.firehose import LocalFirehose
from rotorwatch.diagnosis.features.sensor_health import (
    CLIPPED,
    FLAT_LINE,
    SATURATED,
    SENSOR_PROBLEMS,
)
from rotorwatch.lake import layout as lake

DAY_MS = 86_400_000
STEP_MS = 30 * 60_000
TODAY_MS = int(time.time() * 1000) // DAY_MS * DAY_MS


def _problem(device: str, day: int, i: int) -> str | None:
    """pump-1's accelerometer dies (flat line) from yesterday's 5th window; fan-2 saturates
    three days ago and clips two days ago; motor-3 clips a third of yesterday's windows; old-4
    is flat 10 days ago (outside a 7-day look-back); tank-5 is healthy throughout. Whole past
    days only, so the answer does not depend on the hour the test runs."""
    if device == "pump-1" and day == 1 and i >= 5:
        return FLAT_LINE
    if device == "fan-2" and day == 3:
        return SATURATED
    if device == "fan-2" and day == 2:
        return CLIPPED
    if device == "motor-3" and day == 1 and i % 3 == 0:
        return CLIPPED
    if device == "old-4" and day == 10:
        return FLAT_LINE
    return None


def _features() -> list[dict[str, Any]]:
    rows = []
    for device in ("pump-1", "fan-2", "motor-3", "old-4", "tank-5"):
        for day in (1, 2, 3, 10):
            start = TODAY_MS - day * DAY_MS
            for i in range(12):
                ts = start + i * STEP_MS
                rows.append(
                    {
                        "device_id": device,
                        "site": "plant-a",
                        "ts": ts,
                        "seq": day * 100 + i,
                        "received_at": ts + 1500,
                        "velocity_rms_mm_s": 0.0 if _problem(device, day, i) else 1.1,
                        "vibration_sensor": _problem(device, day, i),
                    }
                )
    return rows


def _expected(rows: list[dict[str, Any]], since_ms: int) -> list[dict[str, Any]]:
    windows: dict[tuple[str, str], int] = defaultdict(int)
    devices: dict[tuple[str, str], set[str]] = defaultdict(set)
    day_windows: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["ts"] < since_ms:
            continue
        day = datetime.fromtimestamp(r["ts"] / 1000, UTC).strftime("%Y-%m-%d")
        day_windows[day] += 1
        if r["vibration_sensor"]:
            windows[day, r["vibration_sensor"]] += 1
            devices[day, r["vibration_sensor"]].add(r["device_id"])
    return [
        {
            "utc_date": day,
            "sensor_problem": problem,
            "windows": n,
            "devices": len(devices[day, problem]),
            "share_of_windows": round(n / day_windows[day], 4),
        }
        for (day, problem), n in windows.items()
    ]


@pytest.mark.parametrize("copies", [1, 2])
def test_sensor_problems_per_day_counts_each_window_once(copies: int, tmp_path: Path) -> None:
    rows = _features()
    with LocalFirehose(tmp_path, buffer_records=7) as fh:
        for _ in range(copies):  # a redelivered batch lands its windows again
            fh.put_records(lake.FEATURES_TABLE, rows)
    got = athena.run_saved("sensor_problems_per_day", tmp_path, {"days": "7"}).records()
    expected = _expected(rows, TODAY_MS - 6 * DAY_MS)
    # Newest day first, then the most windows: the query's order.
    expected.sort(key=lambda r: (r["utc_date"], -r["windows"], r["sensor_problem"]))
    expected.sort(key=lambda r: r["utc_date"], reverse=True)
    assert [dict(r) for r in got] == expected
    assert {r["sensor_problem"] for r in got} == set(SENSOR_PROBLEMS)
    # Yesterday: pump-1's dead sensor (7 windows) before motor-3's clipping (4 windows).
    yesterday = datetime.fromtimestamp((TODAY_MS - DAY_MS) / 1000, UTC).strftime("%Y-%m-%d")
    assert [
        (r["sensor_problem"], r["windows"], r["devices"]) for r in got if r["utc_date"] == yesterday
    ] == [(FLAT_LINE, 7, 1), (CLIPPED, 4, 1)]
