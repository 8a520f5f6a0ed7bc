"""Saved Athena queries: each parses as Trino and returns the checked answer on DuckDB.

The lake is written by the local Firehose stand-in (the exact Firehose layout), with data
placed relative to now, because the saved queries look back from Athena's current_timestamp.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

import sqlglot

from local_cloud import athena
from local_cloud.firehose import LocalFirehose
from rotorwatch.lake import layout as lake
from rotorwatch.lake import query

MIN_MS = 60_000
STEP_MS = 10 * MIN_MS
NOW_MS = int(time.time() * 1000) // MIN_MS * MIN_MS

# device -> (end of its data relative to now in ms, states, zones, faults, velocities)
FLEET = {
    # Degrading pump: ramps 2.0 -> 2.9 mm/s (0.1 mm/s per 10 min = 14.4 mm/s per day), now in ALARM.
    "pump-1": (
        5 * MIN_MS,
        ["HEALTHY"] * 4 + ["WARNING"] * 2 + ["ALARM"] * 4,
        ["B"] * 4 + ["C"] * 2 + ["D"] * 4,
        ["normal"] * 4 + ["imbalance"] * 2 + ["bearing_outer"] * 4,
        [2.0 + 0.1 * i for i in range(10)],
    ),
    "fan-2": (5 * MIN_MS, ["HEALTHY"] * 10, ["A"] * 10, ["normal"] * 10, [0.8] * 10),
    # Went quiet three hours ago, last seen in WARNING.
    "motor-3": (
        3 * 60 * MIN_MS,
        ["HEALTHY"] * 8 + ["WARNING"] * 2,
        ["B"] * 8 + ["C"] * 2,
        ["normal"] * 8 + ["misalignment"] * 2,
        [2.0] * 8 + [3.0] * 2,
    ),
    # Three days ago only: outside every 24-hour / 2-day look-back, inside the 7-day ones.
    "old-4": (3 * 24 * 60 * MIN_MS, ["ALARM"] * 3, ["D"] * 3, ["looseness"] * 3, [9.0] * 3),
}


#: Remaining-life estimates (s) by (device, window index): pump-1's latest window has one with
#: the longer point estimate but the earlier low end; motor-3's latest; fan-2 none; an older
#: window of pump-1 with a shorter estimate must not count (only the latest window does).
REMAINING_LIFE = {
    ("pump-1", 8): {
        "remaining_life_s": 1800.0,
        "remaining_life_low_s": 900.0,
        "remaining_life_high_s": 3600.0,
    },
    ("pump-1", 9): {
        "remaining_life_s": 3 * 3600.0,
        "remaining_life_low_s": 3600.0,
        "remaining_life_high_s": 9 * 3600.0,
    },
    ("motor-3", 9): {
        "remaining_life_s": 2 * 3600.0,
        "remaining_life_low_s": 1.5 * 3600.0,
        "remaining_life_high_s": 3 * 3600.0,
    },
}


def _records() -> tuple[list[dict], list[dict]]:
    features, predictions = [], []
    for device, (age_ms, states, zones, faults, vel) in FLEET.items():
        n = len(states)
        for i in range(n):
            ts = NOW_MS - age_ms - (n - 1 - i) * STEP_MS
            common = {"device_id": device, "site": "plant-a", "ts": ts, "seq": i}
            features.append(
                {
                    **common,
                    "received_at": ts + 1500,
                    "velocity_rms_mm_s": vel[i],
                    "iso_zone": zones[i],
                    "temperature_c": 40.0,
                    # fan-2's accelerometer went flat for its last two windows.
                    "vibration_sensor": "sensor_flat_line"
                    if device == "fan-2" and i >= n - 2
                    else None,
                }
            )
            predictions.append(
                {
                    **common,
                    "state": states[i],
                    "fault": faults[i],
                    "iso_zone": zones[i],
                    "velocity_rms_mm_s": vel[i],
                    "anomaly_score": 0.9 if states[i] != "HEALTHY" else 0.1,
                    "scored_at": ts + 2000,
                    **REMAINING_LIFE.get((device, i), {}),
                }
            )
    return features, predictions


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    features, predictions = _records()
    with LocalFirehose(root, buffer_records=7) as fh:
        fh.put_records(lake.FEATURES_TABLE, features)
        fh.put_records(lake.PREDICTIONS_TABLE, predictions)
    return root


@pytest.fixture(scope="module")
def con(lake_dir: Path):  # type: ignore[no-untyped-def]
    return athena.connect(lake_dir)


def _ms(t: datetime) -> int:
    """A query's UTC timestamp as epoch ms."""
    assert t.tzinfo is not None, "a *_utc column carries its time zone"
    return round(t.timestamp() * 1000)


def _run(con, name: str, **params: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return athena.run_saved(name, "", params, con=con).records()


ALL = [q.name for q in query.list_queries()]


def test_the_eight_saved_queries_exist() -> None:
    assert set(ALL) == {
        "alert_outcomes",
        "fleet_health_now",
        "machines_by_iso_zone",
        "anomalies_per_day",
        "machine_trend",
        "alert_history",
        "top_offenders",
        "data_freshness",
        "machines_by_remaining_life",
        "sensor_problems_per_day",
    }


@pytest.mark.parametrize("name", ALL)
def test_query_parses_as_trino_and_documents_its_parameters(name: str) -> None:
    q = query.load(name)
    assert q.title
    assert len(q.description) > 40
    tree = sqlglot.parse_one(q.text, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, sqlglot.exp.Query)
    # Each parameter is used exactly once, in header order: Athena's ? parameters are positional.
    assert query.placeholders(q.text) == [p.name for p in q.params]
    athena_sql = query.athena_text(q)
    assert athena_sql.count("?") == len(q.params)
    assert query.placeholders(athena_sql) == []
    sqlglot.parse_one(
        query.render(q, {"device_id": "m"} if name == "machine_trend" else {}), read="trino"
    )


@pytest.mark.parametrize("name", ALL)
def test_query_runs_on_an_empty_lake(name: str, tmp_path: Path) -> None:
    params = {"device_id": "pump-1"} if name == "machine_trend" else {}
    assert athena.run_saved(name, tmp_path, params).rows == []


def test_fleet_health_now_orders_by_severity(con) -> None:  # type: ignore[no-untyped-def]
    rows = _run(con, "fleet_health_now")
    assert [(r["device_id"], r["state"], r["iso_zone"]) for r in rows] == [
        ("pump-1", "ALARM", "D"),
        ("motor-3", "WARNING", "C"),
        ("fan-2", "HEALTHY", "A"),
    ]
    assert rows[0]["fault"] == "bearing_outer"
    assert rows[0]["velocity_rms_mm_s"] == pytest.approx(2.9)
    assert _ms(rows[0]["last_seen_utc"]) == NOW_MS - 5 * MIN_MS


def test_machines_by_iso_zone_counts_machines_and_windows(con) -> None:  # type: ignore[no-untyped-def]
    rows = {r["iso_zone"]: r for r in _run(con, "machines_by_iso_zone")}
    assert {z: r["machines"] for z, r in rows.items()} == {"A": 1, "B": 0, "C": 1, "D": 1}
    assert {z: r["windows"] for z, r in rows.items()} == {"A": 10, "B": 12, "C": 4, "D": 4}
    assert rows["D"]["devices"] == "pump-1"
    assert rows["C"]["devices"] == "motor-3"


def test_machines_by_remaining_life_orders_by_the_low_end(con) -> None:  # type: ignore[no-untyped-def]
    rows = _run(con, "machines_by_remaining_life")
    assert [r["device_id"] for r in rows] == ["pump-1", "motor-3", "fan-2"]
    assert rows[0]["remaining_life_h"] == pytest.approx(3.0)
    assert rows[0]["remaining_life_low_h"] == pytest.approx(1.0)
    assert rows[0]["remaining_life_high_h"] == pytest.approx(9.0)
    # No estimate: nulls, never a number.
    assert rows[2]["remaining_life_h"] is None
    assert rows[2]["remaining_life_low_h"] is None


def test_anomalies_per_day(con) -> None:  # type: ignore[no-untyped-def]
    rows = _run(con, "anomalies_per_day", days="7")
    total: dict[str, list[int]] = {}
    for r in rows:
        t = total.setdefault(r["device_id"], [0, 0, 0])
        t[0] += r["windows"]
        t[1] += r["anomalies"]
        t[2] += r["alarms"]
    assert total == {
        "pump-1": [10, 6, 4],
        "fan-2": [10, 0, 0],
        "motor-3": [10, 2, 0],
        "old-4": [3, 3, 3],
    }
    # One day only: old-4's day is gone (runs a few hours after midnight could drop more).
    assert "old-4" not in {r["device_id"] for r in _run(con, "anomalies_per_day", days="1")}


def test_machine_trend_slope(con) -> None:  # type: ignore[no-untyped-def]
    rows = _run(con, "machine_trend", device_id="pump-1", since="2d")
    assert sum(r["windows"] for r in rows) == 10
    assert max(r["velocity_rms_max_mm_s"] for r in rows) == pytest.approx(2.9)
    assert max(r["worst_zone"] for r in rows) == "D"
    # 0.1 mm/s per 10 minutes is 14.4 mm/s per day.
    assert rows[0]["period_slope_mm_s_per_day"] == pytest.approx(14.4, rel=1e-6)
    assert _run(con, "machine_trend", device_id="no-such-machine") == []


@pytest.mark.parametrize(
    "form", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00"]
)
def test_machine_trend_since_an_absolute_utc_time(con, form: str) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    pump_end = NOW_MS - 5 * MIN_MS
    # Since the 7th of pump-1's 10 windows: exactly the last 4 windows.
    since = datetime.fromtimestamp((pump_end - 3 * STEP_MS) / 1000, UTC).strftime(form)
    rows = _run(con, "machine_trend", device_id="pump-1", since=since)
    assert sum(r["windows"] for r in rows) == 4
    assert min(r["velocity_rms_mean_mm_s"] for r in rows) >= 2.6


def test_time_parameters_are_normalised_to_utc() -> None:
    assert query.parse_time("2026-11-22T07:40:00+01:00") == "2026-11-22 06:40:00"
    assert query.parse_time("2026-11-22") == "2026-11-22 00:00:00"
    assert query.parse_time(" 7d ") == "7d"
    assert query.format_time(1_795_329_600_000) == "2026-11-22 06:40:00"
    for bad in ("yesterday", "7 days", "-7d", "2026-13-01"):
        with pytest.raises(ValueError, match=r"."):
            query.parse_time(bad)


PARTITION_COLUMNS = set(lake.PARTITION_KEYS)


@pytest.mark.parametrize("name", ALL)
def test_partition_filters_compare_partition_columns_directly(name: str) -> None:
    """Athena prunes projected partitions on predicates over the partition columns themselves;
    a function over them (concat(year, month, ...)) makes it enumerate every projected one."""
    tree = sqlglot.parse_one(query.load(name).text, read="trino")
    filtered = set()
    for where in tree.find_all(sqlglot.exp.Where):
        for col in where.find_all(sqlglot.exp.Column):
            if col.name not in PARTITION_COLUMNS:
                continue
            filtered.add(col.name)
            parent = col.parent
            assert isinstance(parent, sqlglot.exp.EQ | sqlglot.exp.GT | sqlglot.exp.GTE), (
                f"{name}: partition column {col.sql()} inside {parent.sql()}"
            )
    assert {"year", "month", "day"} <= filtered, f"{name} does not prune partitions"


def test_alert_history_lists_state_changes_newest_first(con) -> None:  # type: ignore[no-untyped-def]
    rows = _run(con, "alert_history")
    assert [(r["device_id"], r["previous_state"], r["state"]) for r in rows] == [
        ("pump-1", "WARNING", "ALARM"),
        ("pump-1", "HEALTHY", "WARNING"),
        ("motor-3", "HEALTHY", "WARNING"),
    ]
    pump_end = NOW_MS - 5 * MIN_MS
    assert _ms(rows[0]["changed_at_utc"]) == pump_end - 3 * STEP_MS


def test_top_offenders(con) -> None:  # type: ignore[no-untyped-def]
    rows = _run(con, "top_offenders")
    assert [(r["offender_rank"], r["device_id"], r["anomaly_rate"]) for r in rows] == [
        (1, "old-4", 1.0),
        (2, "pump-1", 0.6),
        (3, "motor-3", 0.2),
        (4, "fan-2", 0.0),
    ]
    assert [r["dominant_fault"] for r in rows] == [
        "looseness",
        "bearing_outer",
        "misalignment",
        "normal",
    ]
    assert [r["device_id"] for r in _run(con, "top_offenders", top_n="2")] == ["old-4", "pump-1"]
    # A 1-day look-back no longer sees old-4: pump-1 is the top offender.
    assert _run(con, "top_offenders", days="1")[0]["device_id"] == "pump-1"


def test_data_freshness(con) -> None:  # type: ignore[no-untyped-def]
    rows = {r["device_id"]: r for r in _run(con, "data_freshness")}
    assert set(rows) == {"pump-1", "fan-2", "motor-3"}  # old-4 is beyond the 2-day look-back
    assert rows["motor-3"]["status"] == "STALE"
    assert rows["fan-2"]["status"] == "OK"
    assert rows["fan-2"]["last_ingest_lag_ms"] == 1500
    seen = rows["pump-1"]["last_seen_utc"]
    assert rows["pump-1"]["last_scored_utc"] == seen
    assert _ms(seen) == NOW_MS - 5 * MIN_MS
    # NOW_MS is taken when the module is collected; in a full suite this test runs many minutes
    # later and the query measures age against its own clock: take out the time that passed.
    elapsed_min = (time.time() * 1000 - NOW_MS) / MIN_MS
    assert 170 <= rows["motor-3"]["age_minutes"] - elapsed_min <= 200
    assert _run(con, "data_freshness", stale_minutes="240")[0]["status"] == "OK"


def test_bad_parameters_are_clear_errors() -> None:
    q = query.load("machine_trend")
    with pytest.raises(query.QueryError, match="'device_id' is required"):
        query.render(q, {})
    with pytest.raises(query.QueryError, match="must be a UTC time"):
        query.render(q, {"device_id": "m", "since": "last tuesday"})
    with pytest.raises(query.QueryError, match="must be integer"):
        query.render(query.load("top_offenders"), {"days": "many"})
    with pytest.raises(query.QueryError, match="unknown parameter"):
        query.render(q, {"device_id": "m", "limit": "1"})
    with pytest.raises(query.QueryError, match="no saved query"):
        query.load("../etc/passwd")


def test_string_parameters_are_bound_as_literals_not_spliced(con) -> None:  # type: ignore[no-untyped-def]
    q = query.load("machine_trend")
    sql = query.render(q, {"device_id": "x' OR '1'='1"}, dialect="duckdb")
    assert "'x'' OR ''1''=''1'" in sql
    assert _run(con, "machine_trend", device_id="x' OR '1'='1") == []


def test_cli_runs_a_saved_query_on_the_local_lake(lake_dir: Path) -> None:
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["query", "--list"])
    assert listed.exit_code == 0
    assert "machine_trend(device_id, since=30d)" in listed.output
    out = runner.invoke(
        app, ["query", "fleet_health_now", "--lake", str(lake_dir), "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    first = json.loads(out.output.splitlines()[0])
    assert (first["device_id"], first["state"]) == ("pump-1", "ALARM")
    bad = runner.invoke(app, ["query", "machine_trend", "--lake", str(lake_dir)])
    assert bad.exit_code == 2
    assert "required" in bad.output


NUMBERS = [(q.name, p) for q in query.list_queries() for p in q.params if p.type != "string"]


@pytest.mark.parametrize(("name", "param"), NUMBERS, ids=lambda x: getattr(x, "name", x))
def test_every_number_declares_its_range_and_runs_at_both_ends(
    name: str, param: query.Param, con
) -> None:  # type: ignore[no-untyped-def]
    """A negative look-back answered "no rows" and a huge one a DuckDB traceback: each number
    declares its range beside its declaration, the ends run, one step outside is refused."""
    base = {"device_id": "pump-1"} if name == "machine_trend" else {}
    if param.type == "time":
        ends, outside = ["0d", f"{query.MAX_LOOKBACK_DAYS}d"], [f"{query.MAX_LOOKBACK_DAYS + 1}d"]
    else:
        assert param.min is not None, f"{name}.{param.name}: no range"
        assert param.max is not None, f"{name}.{param.name}: no range"
        ends = [f"{param.min:g}", f"{param.max:g}"]
        outside = [f"{param.min - 1:g}", f"{param.max + 1:g}"]
    for value in ends:
        _run(con, name, **base, **{param.name: value})
    for value in outside:
        with pytest.raises(query.QueryError, match=param.name):
            query.render(query.load(name), {**base, param.name: value})


#: Parameters a query needs beyond its defaults to return rows on this lake.
_NEEDS = {"machine_trend": {"device_id": "pump-1"}}


#: Queries with no time column (and no rows on this lake, which has no feedback table).
_NO_TIMES = {"alert_outcomes"}


@pytest.mark.parametrize("name", [n for n in ALL if n not in _NO_TIMES])
def test_each_instant_shows_once_as_a_utc_time(con, name: str) -> None:  # type: ignore[no-untyped-def]
    """data_freshness showed ``last_ts`` (epoch ms) beside ``last_seen_utc`` (the same instant),
    fleet_health_now and alert_history the same: a time is one column, a UTC timestamp named
    ``*_utc`` that carries its zone, never an epoch-ms integer a reader has to convert."""
    rows = _run(con, name, **_NEEDS.get(name, {}))
    assert rows, name
    for row in rows:
        for column, value in row.items():
            if isinstance(value, datetime):
                assert column.endswith("_utc"), (name, column)
                _ms(value)
            elif isinstance(value, int) and not isinstance(value, bool) and value > 1e12:
                pytest.fail(f"{name}.{column} is epoch ms ({value}); show it as a *_utc time")
