"""Query cells as people read them (the CLI's tables and the demo report)."""

from __future__ import annotations

import datetime as dt

from rotorwatch.lake.display import cell


def test_epoch_ms_in_time_columns_reads_as_utc() -> None:
    ms = 1_795_329_600_000
    for column in ("ts", "last_ts", "changed_at_ms", "received_at"):
        assert cell(column, ms) == "2026-11-22 06:40 UTC"
    # A duration in ms, or a count, is not a time.
    assert cell("last_ingest_lag_ms", 1500) == "1500"
    assert cell("windows", ms) == str(ms)
    aware = dt.datetime(2026, 11, 22, 7, 40, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert cell("last_seen_utc", aware) == "2026-11-22 06:40 UTC"


def test_floats_get_sensible_decimals() -> None:
    assert cell("velocity_rms_mm_s", 9.935412345) == "9.94"
    assert cell("anomaly_rate", 0.012345) == "0.0123"
    assert cell("x", 0.0) == "0.00"
    assert cell("slope", -20.8412) == "-20.84"
    assert cell("x", None) == ""
    assert cell("degraded", True) == "true"
