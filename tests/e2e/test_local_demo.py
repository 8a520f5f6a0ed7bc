"""A shortened `rotorwatch demo`: the small fleet through the local cloud, end to end.

The small scenario's fault schedule is compressed (onset after 30 min, end of life after 5 h)
so a 5-hour run shows every fault growing to the end; everything else is the bundled scenario.
The model is a stand-in inference script (tests/e2e/standin_inference.py) packaged the way
`make model` packages the real one, so predictions travel InvokeEndpoint -> inference script.
"""

from __future__ import annotations

import io
import json
import shlex
import tarfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from local_cloud import demo
from local_cloud.athena import connect, run_saved, run_sql
from local_cloud.cloud import BatchSettings
from rotorwatch.lake import layout as lake
from simulator.fleet import generate_windows
from simulator.scenario import SCENARIO_DIR, parse_scenario
from tests.athena_duckdb import DuckDbAthena
from tests.e2e import chromium

pytestmark = pytest.mark.slow

START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
DURATION_S = 5 * 3600.0
INTERVAL_S = 600.0
STANDIN_VERSION = "standin-rules-1"
#: Short batching windows: the test waits for results, not for realism of the 5 s default.
FAST = BatchSettings(batch_size=500, window_s=0.2, retry_attempts=3)


def compressed_small() -> dict[str, Any]:
    data = json.loads((SCENARIO_DIR / "small.json").read_text(encoding="utf-8"))
    for f in data["faults"]:
        f["onset_h"], f["life_h"] = 0.5, 5.0
    return dict(data)


def build_model(root: Path) -> Path:
    """model.tar.gz with model.json and code/inference.py, as the serving container expects."""
    path = root / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (
            ("model.json", json.dumps({"version": STANDIN_VERSION}).encode()),
            ("code/inference.py", (Path(__file__).parent / "standin_inference.py").read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def play_fleet(out: Path, data: dict[str, Any], model: Path | None) -> demo.DemoResult:
    sc = parse_scenario(data)
    truth: list[dict[str, Any]] = []

    def messages() -> Any:
        for w in generate_windows(
            sc, start_ms=START_MS, duration_s=DURATION_S, interval_s=INTERVAL_S, seed=3
        ):
            truth.append(w.truth)
            yield w.topic, w.payload, w.truth["ts"]

    return demo.run(
        out=out,
        asset_records=data["assets"],
        assets=sc.assets,
        messages=messages(),
        truth_rows=truth,
        life_h={m.device_id: m.fault.life_h for m in sc.machines if m.fault is not None},
        start_ms=START_MS,
        end_ms=START_MS + int(DURATION_S * 1000),
        speed=None,
        model_artifact=model,
        extract_batch=FAST,
        score_batch=FAST,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoResult:
    root = tmp_path_factory.mktemp("demo")
    result = play_fleet(root / "out", compressed_small(), build_model(root))
    return demo.report(result)


N_MESSAGES = 4 * int(DURATION_S / INTERVAL_S)


def test_every_window_reaches_every_table(run: demo.DemoResult) -> None:
    f = run.figures
    assert f.drained
    assert not f.poller_errors
    assert f.messages == N_MESSAGES
    assert f.lake_records == {
        lake.RAW_TABLE: N_MESSAGES,
        lake.FEATURES_TABLE: N_MESSAGES,
        lake.PREDICTIONS_TABLE: N_MESSAGES,
    }
    con = connect(run.lake_dir)
    for table in (lake.RAW_TABLE, lake.FEATURES_TABLE, lake.PREDICTIONS_TABLE):
        (n,) = run_sql(con, f'SELECT count(DISTINCT (device_id, ts, seq)) FROM "{table}"').rows[0]
        assert n == N_MESSAGES, table
    assert f.failed_batches == 0
    assert f.quarantined == 0


def test_predictions_came_from_the_endpoint(run: demo.DemoResult) -> None:
    rows = run_sql(
        connect(run.lake_dir),
        "SELECT model_version, degraded, count(*) AS n FROM predictions GROUP BY 1, 2",
    ).rows
    assert rows == [(STANDIN_VERSION, False, N_MESSAGES)]
    assert run.figures.model is not None
    assert run.figures.model["invocations"] >= 1


def test_injected_faults_alerted_and_healthy_machine_quiet(run: demo.DemoResult) -> None:
    det = run.detection
    faulty = {m.device_id: m for m in det.faulty}
    assert set(faulty) == {"pump-02", "fan-03", "comp-04"}
    for m in faulty.values():
        assert m.caught, f"{m.device_id} ({m.fault}) was not alerted"
        assert m.first_alert_ms is not None
        assert m.onset_ms is not None
        assert m.first_alert_ms >= m.onset_ms
    assert det.false_alarms == 0
    assert not [a for a in run.alerts if a.device_id == "pump-01"]
    assert run.states["pump-01"]["state"] == "HEALTHY"
    # The alert a technician reads names the machine, the fault and where to look next.
    alarm = next(a for a in run.alerts if a.device_id == "pump-02")
    assert "pump-02" in alarm.body
    assert "machine_trend" in alarm.body
    # A confidence never reads as certainty, and says what it is measured on.
    for a in run.alerts:
        assert "100%" not in a.body, a.body
        assert "100 %" not in a.body, a.body
        if "Probable fault: normal" not in a.body and "(right " in a.body:
            assert "of the time on held-out simulated machines)" in a.body


def test_saved_queries_answer_from_the_lake(run: demo.DemoResult) -> None:
    # The run is in the past (2026-01-01): ask the "now" queries for a long enough look-back.
    fleet = run_saved("fleet_health_now", run.lake_dir, {"lookback_hours": "100000"}).records()
    assert sorted(r["device_id"] for r in fleet) == ["comp-04", "fan-03", "pump-01", "pump-02"]
    trend = run_saved(
        "machine_trend", run.lake_dir, {"device_id": "pump-02", "since": "2026-01-01"}
    )
    assert len(trend.rows) == 1  # one UTC day of data
    history = run_saved("alert_history", run.lake_dir, {"days": "10000"}).records()
    assert {r["device_id"] for r in history} >= {"pump-02", "fan-03", "comp-04"}


def test_every_alerts_look_closer_command_runs_as_worded(
    run: demo.DemoResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command each delivered alert names, run word for word (Athena answered by DuckDB
    over the demo's lake), shows that machine's trend."""
    athena = DuckDbAthena(run.lake_dir)
    monkeypatch.setattr("cli.aws.client", lambda *a, **k: athena)
    rises = [a for a in run.alerts if a.severity != "RECOVERY"]
    assert rises
    for alert in rises:
        (line,) = [x for x in alert.body.splitlines() if x.strip().startswith("or run:")]
        words = shlex.split(line.split("or run:", 1)[1])
        result = CliRunner().invoke(app, [*words[1:], "--format", "json"])
        assert result.exit_code == 0, result.output
        rows = [json.loads(x) for x in result.stdout.splitlines()]
        assert sum(int(r["windows"]) for r in rows) > 0, (alert.device_id, line)


def test_report_files(run: demo.DemoResult) -> None:
    for name in ("report.html", "report.json", "fleet_health.png", "velocity_trend.png"):
        assert (run.out / name).stat().st_size > 1000, name
    assert "spectrum.png" in [p.name for p in run.plots]
    summary = json.loads((run.out / "report.json").read_text())
    assert summary["detection"]["caught"] == 3
    # One shareable file: every image is embedded, none points at a file beside it.
    page = (run.out / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == len(run.plots)
    assert ".png'" not in page
    # The summary comes first: what ran and how well it caught the faults.
    assert page.index("<h2>Summary</h2>") < page.index("<h2>Plots</h2>")
    assert "faults caught</th><td>3 of 3" in page


#: What one window may spend in the pipeline besides the two batching windows: the handlers,
#: moto round trips and the pollers' idle polls on a busy 2-core machine (measured: < 2 s).
PROCESSING_SLACK_S = 15.0


def test_latency_per_hop_is_positive_and_bounded_by_the_batching_windows(
    run: demo.DemoResult,
) -> None:
    # Every hop is stamped on one clock (wall time), whatever the simulated clock says: a day
    # played in minutes, or a run dated in the past like this one, must not read as hours.
    total, *hops = run.figures.alert_latency
    bound_s = FAST.window_s * 2 + PROCESSING_SLACK_S
    assert 0 < total.p50_s <= total.max_s < bound_s
    assert len(hops) == 3
    for h in hops:
        assert 0 <= h.p50_s <= h.max_s < bound_s, h
    assert sum(h.p50_s for h in hops) == pytest.approx(total.p50_s, abs=bound_s)
    assert len(run.figures.alert_latencies_s) == len(run.alerts)
    assert all(0 < s < bound_s for s in run.figures.alert_latencies_s)


@pytest.mark.skipif(
    chromium.executable() is None, reason="chromium not installed (make system-deps)"
)
def test_report_in_a_real_browser_fits_800_px(run: demo.DemoResult) -> None:
    """Debian's chromium, headless: the report lays out at 800 px without sideways scrolling,
    and renders (a screenshot of a real page, not an empty one)."""
    page = run.out / "report.html"
    page_width, page_height = chromium.layout_px(page, width_px=800)
    assert page_width <= 800
    # The whole page (a fixed 4000 px once cut the report's second half off).
    png = chromium.screenshot(page, run.out / "report-800px.png", width_px=800)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (800, page_height)
    assert page_height > 4000
    assert len(data) > 100_000  # text, tables and plots, not a blank page


#: The metric each function emits once per invocation (lambdas/*/app.py).
PER_INVOCATION_METRIC = {"extract_features": "RecordsReceived", "score_and_alert": "Predictions"}


def test_function_logs_hold_each_invocations_emf_metrics(run: demo.DemoResult) -> None:
    """The README says logs/ holds Powertools JSON and EMF metrics: 11 lines for 17
    invocations once said otherwise."""
    invocations: dict[str, int] = {}
    for name, stats in run.figures.functions.items():
        fn = name.split("/", 1)[0]
        invocations[fn] = invocations.get(fn, 0) + int(stats["invocations"])
    assert set(PER_INVOCATION_METRIC) <= set(invocations)  # (the feedback function too)
    for fn, metric in PER_INVOCATION_METRIC.items():
        lines = [json.loads(x) for x in (run.out / "logs" / f"{fn}.log").read_text().splitlines()]
        emf = [x for x in lines if "_aws" in x and metric in x]
        assert len(emf) == invocations[fn] > 0, fn
        assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Rotorwatch"


def test_technicians_answer_from_the_truth_and_the_report_counts_them(
    run: demo.DemoResult,
) -> None:
    """Every WARNING/ALARM was registered with links; the simulated technicians answered most
    from the truth; alert_outcomes counts exactly those answers."""
    rises = [a for a in run.alerts if a.severity in ("WARNING", "ALARM")]
    assert len(run.answers) == len(rises) > 0
    assert all("What did you find?" in a.body for a in rises)
    answered = [a for a in run.answers if a.verdict is not None]
    assert answered
    # No false alarms in this run (see above): nobody found "no fault" at a faulty machine.
    assert all(a.verdict != "no_fault_found" for a in answered)
    outcomes = run_saved("alert_outcomes", run.lake_dir, {"days": "10000"}).records()
    fleet = next(r for r in outcomes if r["site"] == "*")
    assert fleet["alerts"] == len(rises)
    assert fleet["answered"] == len(answered)
    assert fleet["unanswered"] == len(rises) - len(answered)
    assert fleet["precision"] == 1.0
    assert "precision where answered: 100%" in demo.outcomes_text(run)
