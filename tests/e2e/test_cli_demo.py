"""`rotorwatch demo` as a user runs it, shortened: without a model artifact it says so, runs on
the rules (predictions marked degraded) and still writes the whole report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from local_cloud.athena import connect, run_sql

pytestmark = pytest.mark.slow


def test_demo_without_a_model(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--scenario",
            "small",
            "--duration",
            "1h",
            "--interval",
            "10m",
            "--speed",
            "0",
            "--skip-glue",
            "--batch-window",
            "0.2",
            "--model",
            str(tmp_path / "missing.tar.gz"),
            "--out",
            str(out),
        ],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    assert "…" not in result.output  # an 80-column terminal: tables fold, never cut a value
    assert "no model artifact" in result.output
    assert "Detection scored against" in result.output
    summary = json.loads((out / "report.json").read_text())
    assert summary["figures"]["messages"] == 24
    assert summary["glue"] is None
    (degraded,) = run_sql(connect(out / "lake"), "SELECT bool_and(degraded) FROM predictions").rows[
        0
    ]
    assert degraded is True
    assert (out / "report.html").exists()
    assert (out / "logs" / "score_and_alert.log").exists()
