"""The Glue path of `rotorwatch demo`: the lake the local pipeline wrote (handlers, Firehose
stand-in) is what the machine-health job reads; its curated tables answer on DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glue_jobs.machine_health import main
from local_cloud.athena import connect, run_sql
from rotorwatch.lake import layout as lake
from tests.e2e.test_local_demo import FAST, START_MS, compressed_small

pytestmark = pytest.mark.slow


def test_glue_job_on_the_pipeline_lake(spark: Any, tmp_path: Path) -> None:
    from local_cloud import demo
    from simulator.fleet import generate_windows
    from simulator.scenario import parse_scenario

    data = compressed_small()
    sc = parse_scenario(data)
    hours = 2
    windows = list(
        generate_windows(sc, start_ms=START_MS, duration_s=hours * 3600.0, interval_s=600, seed=1)
    )
    result = demo.run(
        out=tmp_path,
        asset_records=data["assets"],
        assets=sc.assets,
        messages=((w.topic, w.payload, w.truth["ts"]) for w in windows),
        truth_rows=[w.truth for w in windows],
        life_h={},
        start_ms=START_MS,
        end_ms=START_MS + hours * 3_600_000,
        speed=None,
        model_artifact=None,  # no endpoint: rules, degraded
        extract_batch=FAST,
        score_batch=FAST,
    )
    assert result.figures.lake_records[lake.PREDICTIONS_TABLE] == len(windows)
    summary = main(
        [
            "machine_health",
            "--lake_uri",
            f"file://{tmp_path / 'lake'}/",
            "--window_start",
            "2026-01-01T00:00:00Z",
            "--window_end",
            "2026-01-01T02:00:00Z",
        ],
        spark=spark,
    )
    assert summary["features_in"] == summary["predictions_in"] == len(windows)
    con = connect(tmp_path / "lake")
    rows = run_sql(
        con,
        f'SELECT device_id, sum(n_windows), sum(n_predictions) FROM "{lake.HEALTH_HOURLY_TABLE}" '
        "GROUP BY 1 ORDER BY 1",
    ).rows
    per_device = len(windows) // len(sc.machines)
    assert rows == [(m, per_device, per_device) for m in sorted(sc.assets)]
    degraded = run_sql(con, "SELECT bool_and(degraded) FROM predictions").rows[0][0]
    assert degraded is True
