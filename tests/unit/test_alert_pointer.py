"""Every alert's "Look closer" pointer runs, exactly as the alert words it, and answers with the
machine's trend (issue 13: it named a parameter the query did not take)."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

pytest.importorskip("duckdb")

from typer.testing import CliRunner

from cli import app
from local_cloud.firehose import LocalFirehose
from rotorwatch.alerting import alert_messages, alerts
from rotorwatch.lake import layout as lake
from rotorwatch.lake.query import AthenaTarget
from tests.athena_duckdb import DuckDbAthena

STEP_MS = 10 * 60_000
NOW_MS = int(time.time() * 1000) // STEP_MS * STEP_MS
#: Two days of a machine that turns bad in the last six hours (velocity 2 -> 9 mm/s).
N = 2 * 144
STATES = ["HEALTHY"] * (N - 36) + ["ALARM"] * 36


def _feature(i: int) -> dict[str, object]:
    ts = NOW_MS - (N - 1 - i) * STEP_MS
    velocity = 2.0 if STATES[i] == "HEALTHY" else 2.0 + 7.0 * (i - (N - 36)) / 36
    return {
        "device_id": "pump-01",
        "site": "plant-a",
        "ts": ts,
        "seq": i,
        "received_at": ts + 1500,
        "velocity_rms_mm_s": velocity,
        "iso_zone": "B" if velocity < 2.8 else "D",
        "temperature_c": 40.0,
    }


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    with LocalFirehose(root, buffer_records=50) as fh:
        fh.put_records(lake.FEATURES_TABLE, [_feature(i) for i in range(N)])
    return root


def _alarm() -> alerts.Alert:
    state = alerts.DeviceState("pump-01")
    raised = []
    for i in range(N):
        f = _feature(i)
        state, alert = alerts.step(
            state, {**f, "state": STATES[i], "fault": "bearing_outer", "fault_confidence": 0.9}
        )
        if alert is not None:
            raised.append(alert)
    assert raised, "the machine never alerted"
    return raised[-1]


#: A prod stack in another region than the reader's default: the pointer must carry all three.
PROD = AthenaTarget(lake.athena_workgroup("prod"), lake.glue_database("prod"), "eu-central-1")


def test_the_pointer_names_only_parameters_the_query_takes() -> None:
    text = alert_messages.message(_alarm(), athena=PROD)
    (line,) = [x for x in text.splitlines() if x.startswith("Look closer:")]
    named = dict(p.split("=", 1) for p in line.split(" with ", 1)[1].split(", "))
    from rotorwatch.lake.query import load

    assert set(named) <= {p.name for p in load(alert_messages.TREND_QUERY_NAME).params}
    assert "device_id" in named


def test_a_prod_alert_command_runs_as_worded_against_prod_and_shows_the_episode(
    lake_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account has only prod's workgroup and database, in prod's region; the reader's own
    defaults (the dev stage, eu-west-1) would find nothing."""
    alarm = _alarm()
    text = alert_messages.message(alarm, athena=PROD)
    (line,) = [x for x in text.splitlines() if x.strip().startswith("or run:")]
    words = shlex.split(line.split("or run:", 1)[1])
    assert words[:3] == ["rotorwatch", "query", alert_messages.TREND_QUERY_NAME]
    assert "--athena" in words
    # Athena answered by DuckDB over the local lake: the command itself runs unchanged.
    athena = DuckDbAthena(lake_dir, workgroup=PROD.workgroup, database=PROD.database)
    regions: list[str | None] = []

    def prod_region_only(service: str, region: str | None = None) -> DuckDbAthena:
        regions.append(region)
        return athena

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setattr("cli.aws.client", prod_region_only)
    result = CliRunner().invoke(app, [*words[1:], "--format", "json"])
    assert result.exit_code == 0, result.output
    assert regions == [PROD.region]
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert athena.calls[0]["WorkGroup"] == "rotorwatch-prod"
    assert athena.calls[0]["QueryExecutionContext"]["Database"] == "rotorwatch_prod"
    # A day of baseline before the episode, and the episode itself up to the alert.
    windows = sum(int(r["windows"]) for r in rows)
    episode_start = alarm.since_ms
    expected = sum(
        1 for i in range(N) if _feature(i)["ts"] >= episode_start - alert_messages.TREND_BASELINE_MS
    )
    assert windows == expected
    assert max(float(r["velocity_rms_max_mm_s"]) for r in rows) > 8.0
    assert float(rows[-1]["period_slope_mm_s_per_day"]) > 0
