"""The demo run and its report (the CLI brings the fleet: messages, ground truth, assets)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_cloud import feedback_setup, technicians
from local_cloud import report as rp
from local_cloud import report_lake as rp_lake
from local_cloud import report_plots as rp_plots
from local_cloud import report_scoring as rp_scoring
from local_cloud.athena import Result, connect, run_saved, run_sql
from local_cloud.bridge import MqttBridge
from local_cloud.cloud import LAKE_BUCKET, BatchSettings, LocalCloud, ReceivedAlert
from local_cloud.pipeline import Progress, RunFigures, alert_key, play
from rotorwatch.diagnosis.assets import Asset
from rotorwatch.diagnosis.baseline import fleet_progress
from rotorwatch.diagnosis.predictions import SENSOR_FAULTS
from rotorwatch.lake import layout as lake
from rotorwatch.lake.query import list_queries, load

_TIME = "%Y-%m-%d %H:%M"


@dataclass
class DemoResult:
    out: Path
    start_ms: int
    end_ms: int
    figures: RunFigures
    alerts: list[ReceivedAlert]
    truth: list[rp_scoring.FaultTruth]
    detection: rp_scoring.Detection
    states: dict[str, dict[str, Any]]
    assets: dict[str, Asset]
    model_note: str
    scenario: str = ""
    seed: int | None = None
    glue: dict[str, Any] | None = None
    queries: dict[str, Result] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    #: Devices that published telemetry contract v2 (binary); the others v1 (JSON).
    v2_devices: list[str] = field(default_factory=list)
    #: The simulated technicians' answers (local_cloud.technicians), one per WARNING/ALARM.
    answers: list[technicians.Answered] = field(default_factory=list)

    @property
    def lake_dir(self) -> Path:
        return self.out / "lake"


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(_TIME)


def run(
    *,
    out: Path,
    asset_records: Sequence[Mapping[str, Any]],
    assets: Mapping[str, Asset],
    messages: Iterable[tuple[str, bytes, int]],
    truth_rows: list[dict[str, Any]],
    life_h: Mapping[str, float],
    start_ms: int,
    end_ms: int,
    speed: float | None,
    model_artifact: Path | None,
    extract_batch: BatchSettings,
    score_batch: BatchSettings,
    send: Callable[[str, bytes], None] | None = None,
    close_sink: Callable[[], None] | None = None,
    mqtt_port: int | None = None,
    console: Any = None,
    inference_script: Path | None = None,
    scenario: str = "",
    seed: int | None = None,
    v2_devices: Sequence[str] = (),
) -> DemoResult:
    """Play the fleet through the local cloud; returns everything the report needs."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    con = console or Console()
    model = model_artifact if model_artifact is not None and model_artifact.exists() else None
    if model is None:
        note = (
            f"no model artifact at {model_artifact} (run `make model`): the endpoint is missing, "
            "so score_and_alert scores with the ISO/envelope rules and marks predictions degraded"
        )
        con.print(f"[yellow]{note}[/]")
    else:
        note = f"model {model} served through its inference script (code/inference.py)"
    cloud = LocalCloud(
        out / "lake",
        asset_records,
        model_artifact=model,
        inference_script=inference_script,
        extract_batch=extract_batch,
        score_batch=score_batch,
        log_dir=out / "logs",
    )
    with cloud:
        con.print(
            f"local cloud up: moto {cloud.moto_url}, InvokeEndpoint/Firehose {cloud.services.url}"
        )
        bridge = cloud.rule_bridge()
        mqtt_bridge = MqttBridge(bridge, "127.0.0.1", mqtt_port).start() if mqtt_port else None
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[sim]}"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
        )
        with Bar(*columns, console=con, transient=False) as bar:
            task = bar.add_task("fleet day", total=end_ms - start_ms, sim="", counts="")

            def progress(p: Progress) -> None:
                for a in p.alerts:
                    colour = {"ALARM": "red", "WARNING": "yellow"}.get(a.severity, "green")
                    # Escaped: rich would read the "[rotorwatch]" prefix as a style tag and drop it.
                    bar.console.print(f"[{colour}]{escape(a.subject or '')}[/]")
                bar.update(
                    task,
                    completed=max(0, p.sim_ms - start_ms),
                    sim=_utc(p.sim_ms),
                    counts=f"msgs {p.published}  features {p.features}  "
                    f"predictions {p.predictions}  alerts {len(cloud.alerts)}",
                )

            try:
                figures = play(
                    cloud,
                    messages,
                    start_ms=start_ms,
                    speed=speed,
                    send=send,
                    on_progress=progress,
                    bridge=bridge,
                )
            finally:
                if close_sink is not None:
                    close_sink()
                if mqtt_bridge is not None:
                    mqtt_bridge.stop()
            bar.update(task, completed=end_ms - start_ms)
        states = cloud.device_states()
        alerts = list(cloud.alerts)
        truth = rp_scoring.truth_from_rows(truth_rows, life_h)
        # The technicians answer from the truth; their rows join the lake (alert_outcomes).
        answers = technicians.answer(alerts, truth, end_ms=end_ms, seed=seed)
        feedback_setup.sync_lake(cloud.clients["s3"], LAKE_BUCKET, out / "lake")
    return DemoResult(
        out=out,
        start_ms=start_ms,
        end_ms=end_ms,
        figures=figures,
        alerts=alerts,
        truth=truth,
        detection=rp_scoring.score(truth, alerts),
        states=states,
        assets=dict(assets),
        model_note=note,
        scenario=scenario,
        seed=seed,
        v2_devices=list(v2_devices),
        answers=answers,
    )


def _query_params(name: str, result: DemoResult, featured: str | None) -> dict[str, str]:
    if name == "machine_trend" and featured:
        return {"device_id": featured}
    if name == "alert_outcomes":
        # Every alert of the run, however long ago it was simulated.
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return {"days": str(max(1, math.ceil((now_ms - result.start_ms) / 86_400_000) + 1))}
    return {}


def _zone_hours() -> str:
    """machines_by_iso_zone's look-back as the report runs it (its declared default)."""
    (hours,) = [
        p.default for p in load("machines_by_iso_zone").params if p.name == "lookback_hours"
    ]
    return str(hours)


#: The saved query listing point-state changes (the report tells them from the alerts sent).
ALERT_HISTORY_QUERY = "alert_history"


def alerts_table(alerts: Sequence[ReceivedAlert]) -> tuple[Any, list[list[str]]]:
    """The alerts as received, oldest window first: a console table and its rows."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="Alerts as the technicians received them (SNS -> SQS inbox)")
    for c in ("window", "severity", "machine", "subject"):
        t.add_column(c, overflow="fold")
    rows = []
    for a in sorted(alerts, key=lambda a: (alert_key(a.alert_id) or ("", 0, 0))[1]):
        k = alert_key(a.alert_id)
        row = [_utc(k[1]) if k else "", a.severity, a.device_id, a.subject or ""]
        rows.append(row)
        # Escaped: rich read the subject's "[rotorwatch]" prefix as a style tag and dropped it.
        t.add_row(*(escape(x) for x in row))
    return t, rows


def _query_html(name: str, res: Result, result: DemoResult, featured: str | None) -> str:
    """One saved query's section: what it answers (its own header), the parameters it ran
    with (machine_trend once did not say which machine), then its first rows."""
    q = load(name)
    given = _query_params(name, result, featured)
    values = {p.name: str(given.get(p.name, p.default)) for p in q.params}
    params = ", ".join(f"{k}={v}" for k, v in values.items())
    # The header speaks of ":days days"; the reader sees the value it ran with.
    about = re.sub(
        r":([a-z_]+)\b", lambda m: values.get(m[1], m[0]), q.description.replace("\n", " ")
    )
    shown = f"first 30 of {len(res.rows)} rows" if len(res.rows) > 30 else f"{len(res.rows)} rows"
    note = ""
    if name == ALERT_HISTORY_QUERY:
        note = (
            f" These are changes of each window's own (point) state; the {len(result.alerts)} "
            "alerts sent (above) follow the sustained state, which changes only when several "
            "windows agree, so a machine flapping between WARNING and ALARM appears here many "
            "times and pages once."
        )
    if "fault_confidence" in res.columns:
        note += (
            " fault_confidence is the classifier's probability of the fault it names, at most "
            "0.99; on simulated machines held out of training it matches how often such a call "
            "was right (make eval measures the calibration error). It vouches for machines "
            "like the simulated ones, not for real ones."
        )
    return (
        f"<h3>{rp.escape(name)}</h3><p>{rp.escape(about)}"
        f"{rp.escape(note)}</p><p>Ran with {rp.escape(params or 'no parameters')}; "
        f"{shown}.</p>" + rp.table_html(res.columns, res.rows[:30])
    )


def run_queries(result: DemoResult, featured: str | None) -> dict[str, Result]:
    con = connect(result.lake_dir)
    out = {}
    for q in list_queries():
        needs = [p.name for p in q.params if p.default is None]
        params = _query_params(q.name, result, featured)
        if any(n not in params for n in needs):
            continue
        out[q.name] = run_saved(q, result.lake_dir, params, con=con)
    return out


def _featured(result: DemoResult) -> rp_scoring.MachineScore | None:
    """The machine to plot: a caught bearing fault if any (its envelope spectrum tells the story)."""
    caught = result.detection.caught
    for prefix in ("bearing_outer", "bearing_inner", "bearing_ball", ""):
        for m in caught:
            if m.fault.startswith(prefix):
                return m
    return result.detection.faulty[0] if result.detection.faulty else None


def _fleet_rows(result: DemoResult) -> list[list[Any]]:
    con = connect(result.lake_dir)
    rows = run_sql(
        con,
        "SELECT device_id, "
        + ", ".join(f"count_if(iso_zone = '{z}') AS {z.lower()}" for z in "ABCD")
        + ", arg_max(iso_zone, ts) AS last_zone, arg_max(velocity_rms_mm_s, ts) AS last_v, "
        "max(velocity_rms_mm_s) AS max_v FROM features GROUP BY device_id ORDER BY device_id",
    ).records()
    truth = {t.device_id: t for t in result.truth}
    out = []
    for r in rows:
        st = result.states.get(r["device_id"], {})
        t = truth.get(r["device_id"])
        out.append(
            [
                r["device_id"],
                r["a"],
                r["b"],
                r["c"],
                r["d"],
                r["last_zone"],
                f"{r['last_v']:.2f}" if r["last_v"] is not None else "",
                f"{r['max_v']:.2f}" if r["max_v"] is not None else "",
                st.get("state", "HEALTHY"),
                _pipeline_fault(st),
                t.fault if t else "",
            ]
        )
    return out


def _pipeline_fault(state: Mapping[str, Any]) -> str:
    """What the pipeline says is wrong, as its alerts say it: a sensor cause first (m25's row
    read bearing_outer while its page said overheating), the vibration diagnosis beside it."""
    fault, cause = state.get("fault") or "", state.get("sensor_cause")
    return f"{cause} (vibration: {fault or 'n/a'})" if cause else fault


FLEET_COLUMNS = (
    "machine",
    "A",
    "B",
    "C",
    "D",
    "zone now",
    "v now mm/s",
    "v max mm/s",
    "state (sustained)",
    "fault (pipeline)",
    "fault (truth)",
)


def _overheating(result: DemoResult) -> str | None:
    """The machine whose temperature to plot: one the simulator overheated (else one an alert
    called hot)."""
    thermal = SENSOR_FAULTS["lubrication_loss"]
    hot = [t.device_id for t in result.truth if t.fault == "lubrication_loss"]
    hot += [m.device_id for m in result.detection.caught if m.alerted_cause in thermal]
    return hot[0] if hot else None


def make_plots(result: DemoResult, featured: rp_scoring.MachineScore | None) -> list[Path]:
    plots = []
    devices = sorted(result.assets)
    plots.append(
        rp_plots.plot_fleet_health(
            devices, result.alerts, result.start_ms, result.end_ms, result.out / "fleet_health.png"
        )
    )
    hot = _overheating(result)
    if hot is not None:
        rows = run_sql(
            connect(result.lake_dir),
            "SELECT ts, temperature_c, temperature_warning_c, temperature_alarm_c FROM features "
            f"WHERE device_id = '{hot}' ORDER BY ts",
        ).records()
        hot_alerts = [a for a in result.alerts if (k := alert_key(a.alert_id)) and k[0] == hot]
        hot_truth = next((t for t in result.truth if t.device_id == hot), None)
        plots.append(
            rp_plots.plot_temperature_trend(
                rows, hot, hot_alerts, hot_truth, result.out / "temperature_trend.png"
            )
        )
    if featured is None:
        return plots
    asset = result.assets[featured.device_id]
    ts = featured.first_alarm_ms or featured.first_alert_ms
    msg = rp_lake.raw_window(result.lake_dir, featured.device_id, ts)
    if msg is not None and msg.vibration is not None and msg.rpm and asset.bearing is not None:
        plots.append(rp_plots.plot_spectra(msg, asset, featured.fault, result.out / "spectrum.png"))
    # The velocity beside the remaining life the deployed fold gave at each window (the lake's
    # predictions; null where there was no estimate).
    rows = run_sql(
        connect(result.lake_dir),
        "SELECT f.ts, f.velocity_rms_mm_s, p.remaining_life_s, p.remaining_life_low_s, "
        "p.remaining_life_high_s FROM features AS f LEFT JOIN predictions AS p "
        "ON p.device_id = f.device_id AND p.ts = f.ts AND p.seq = f.seq "
        f"WHERE f.device_id = '{featured.device_id}' ORDER BY f.ts",
    ).records()
    device_alerts = [
        a for a in result.alerts if (k := alert_key(a.alert_id)) and k[0] == featured.device_id
    ]
    truth = next((t for t in result.truth if t.device_id == featured.device_id), None)
    plots.append(
        rp_plots.plot_velocity_trend(
            rows, asset, device_alerts, truth, result.out / "velocity_trend.png"
        )
    )
    return plots


def summary_rows(result: DemoResult, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a reliability engineer wants first: what ran, and how well it caught the faults."""
    lead = summary["median_lead_time_h"]
    delay = summary["median_detection_delay_h"]
    return [
        ("scenario", result.scenario or "(given by the caller)"),
        ("seed", "" if result.seed is None else str(result.seed)),
        ("simulated period", f"{_utc(result.start_ms)} to {_utc(result.end_ms)} UTC"),
        ("model", result.model_note),
        ("telemetry contracts", _contracts(result)),
        ("faults caught", f"{summary['caught']} of {summary['faulty_machines']}{_later(summary)}"),
        ("fault named right", f"{summary['fault_named_correctly']} of {summary['caught']} caught"),
        (
            "false alarms",
            f"{summary['false_alarms']} (on {summary['healthy_machines']} healthy machines "
            "and before onsets)",
        ),
        *_sensor_rows(summary),
        ("median first alert after onset", "" if delay is None else f"{delay:.1f} h"),
        ("median lead time before end of life", "" if lead is None else f"{lead:.1f} h"),
        ("alerts sent", str(len(result.alerts))),
        ("messages", str(result.figures.messages)),
    ]


def _sensor_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Failing accelerometers the scenario simulated, and how many the alerts named as one."""
    n = summary.get("sensor_failures", 0)
    if not n:
        return []
    return [
        ("failing sensors shown as sensor problems", f"{summary['sensor_failures_shown']} of {n}")
    ]


def _later(summary: Mapping[str, Any]) -> str:
    """Faults scheduled to begin after the run ended: not counted (a short run once scored
    "caught 4 of 20" with 12 of them not begun)."""
    n = summary["faults_not_started"]
    return f" ({n} more begin after the run ends: not scored)" if n else ""


def outcomes_text(result: DemoResult) -> str:
    """One line: how the technicians answered, and the precision their answers give."""
    answered = [a for a in result.answers if a.verdict is not None]
    q = result.queries.get("alert_outcomes")
    fleet = next((r for r in q.records() if r["site"] == "*"), None) if q else None
    precision = fleet["precision"] if fleet else None
    return (
        f"{len(answered)} of {len(result.answers)} alerts answered by the simulated technicians "
        f"(from the simulator's truth; {technicians.NEVER_ANSWER:.0%} never answer, and an "
        "answer due after the run is not given); precision where answered: "
        + ("n/a" if precision is None else f"{precision:.0%}")
    )


def _outcomes_section(result: DemoResult, con: Any) -> rp.Section:
    """The saved query alert_outcomes over the technicians' answers (feedback table)."""
    from rich.table import Table

    q = result.queries.get("alert_outcomes")
    text = outcomes_text(result)
    t = Table(title="Alert outcomes: what the technicians answered (saved query alert_outcomes)")
    if q is not None:
        for c in q.columns:
            t.add_column(c, overflow="fold")
        for r in q.rows:
            t.add_row(
                *("" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x) for x in r)
            )
    con.print(t)
    con.print(f"[bold]{text}[/]")
    return rp.Section(
        "Alert outcomes (technicians' answers)",
        f"<p>{rp.escape(text)}</p>" + (rp.table_html(q.columns, q.rows) if q else ""),
    )


def _contracts(result: DemoResult) -> str:
    n_v2 = len(result.v2_devices)
    n_v1 = len(result.assets) - n_v2
    return f"v1 JSON: {n_v1} machines; v2 binary: {n_v2}" + (
        f" ({', '.join(sorted(result.v2_devices))})" if result.v2_devices else ""
    )


def _summary_html(result: DemoResult, summary: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{rp.escape(k)}</th><td>{rp.escape(v)}</td></tr>"
        for k, v in summary_rows(result, summary)
    )
    return f"<table class='summary'>{rows}</table>"


def report(result: DemoResult, console: Any = None) -> DemoResult:
    """Print the report, write the plots, report.html and report.json into ``result.out``."""
    from rich.console import Console
    from rich.table import Table

    con = console or Console()
    featured = _featured(result)
    result.queries = run_queries(result, featured.device_id if featured else None)
    result.plots = make_plots(result, featured)
    f = result.figures
    det = result.detection
    summary = det.summary()
    sections: list[rp.Section] = []
    t = Table(title="Summary", show_header=False)
    for name, value in summary_rows(result, summary):
        t.add_row(name, value)
    con.print(t)

    # 1. alerts as received
    t, rows = alerts_table(result.alerts)
    con.print(t)
    example = next(
        (a for a in result.alerts if a.severity == "ALARM"),
        result.alerts[0] if result.alerts else None,
    )
    if example is not None:
        con.print("[bold]One of them in full:[/]")
        con.print(example.body + "\n", markup=False, highlight=False)
    sections.append(
        rp.Section(
            f"Alerts as technicians received them ({len(result.alerts)})",
            rp.table_html(("window", "severity", "machine", "subject"), rows)
            + (f"<p>One in full:</p><pre>{rp.escape(example.body)}</pre>" if example else ""),
        )
    )

    # 2. fleet by ISO zone
    fleet = _fleet_rows(result)
    t = Table(title="Fleet by ISO 10816-3 zone (windows per zone over the run)")
    for c in FLEET_COLUMNS:
        t.add_column(c, overflow="fold")
    for r in fleet:
        t.add_row(*(str(x) for x in r))
    con.print(t)
    zone_q = result.queries.get("machines_by_iso_zone")
    sections.append(
        rp.Section(
            "Fleet by ISO 10816-3 zone",
            "<p>Windows per zone over the whole run, each machine's zone and state now.</p>"
            + rp.table_html(FLEET_COLUMNS, fleet)
            + (
                # "0 machines, 235 windows" read as a contradiction without the two time frames.
                "<p>Saved query machines_by_iso_zone: <b>machines</b> in each zone now (by "
                f"their latest window), <b>windows</b> in it over the last {_zone_hours()} "
                "hours; a zone machines passed through shows windows and no machines.</p>"
                + rp.table_html(zone_q.columns, zone_q.rows)
                if zone_q
                else ""
            ),
        )
    )

    # 3. detection vs ground truth
    t = Table(title="Detection scored against the simulator's ground truth")
    for c in rp_scoring.SCORE_COLUMNS:
        t.add_column(c, overflow="fold")
    srows = rp_scoring.score_rows(det)
    for r in srows:
        t.add_row(*(str(x) for x in r))
    con.print(t)
    lead = summary["median_lead_time_h"]
    verdict = (
        f"caught {summary['caught']}/{summary['faulty_machines']} faults{_later(summary)} "
        f"({summary['fault_named_correctly']} with the right fault named), "
        f"false alarms {summary['false_alarms']} "
        f"(on {summary['healthy_machines']} healthy machines and before onsets), "
        f"median lead time before end of life {lead:.1f} h"
        if lead is not None
        else "no fault caught"
    )
    if summary.get("sensor_failures"):
        verdict += (
            f"; failing sensors shown as sensor problems "
            f"{summary['sensor_failures_shown']}/{summary['sensor_failures']}"
        )
    con.print(f"[bold]{verdict}[/]")
    learned, devices = fleet_progress(result.states.values())
    con.print(f"baselines: {learned}/{devices} devices finished learning (docs/baseline.md)")
    sections.append(
        rp.Section(
            "Detection vs ground truth",
            f"<p>{rp.escape(verdict)}</p>" + rp.table_html(rp_scoring.SCORE_COLUMNS, srows),
        )
    )
    sections.append(_outcomes_section(result, con))

    # 4. throughput and latency
    t = Table(title="Pipeline throughput and latency")
    t.add_column("figure", overflow="fold")
    t.add_column("value", overflow="fold")
    perf = [
        ("messages", f"{f.messages}"),
        ("wall time, first message -> drained", f"{f.total_wall_s:.1f} s"),
        ("sustained throughput", f"{f.records_per_s:.1f} records/s"),
        (
            "lake records (raw / features / predictions)",
            " / ".join(
                str(f.lake_records.get(k, 0))
                for k in (lake.RAW_TABLE, lake.FEATURES_TABLE, lake.PREDICTIONS_TABLE)
            ),
        ),
        (
            "quarantined / failed batches / rule errors",
            f"{f.quarantined} / {f.failed_batches} / {f.bridge.get('rule_errors', 0)}",
        ),
        ("model", result.model_note),
    ]
    for s in f.alert_latency:
        if not math.isnan(s.p50_s):
            perf.append((s.name, f"p50 {s.p50_s:.2f} s, p95 {s.p95_s:.2f} s, max {s.max_s:.2f} s"))
    for name, st in f.functions.items():
        perf.append(
            (
                f"{name}",
                f"{st['invocations']} invocations, mean batch {st['mean_batch']}, "
                f"p50 {st['duration_p50_ms']} ms, p95 {st['duration_p95_ms']} ms, "
                f"{st['ms_per_record']} ms/record, errors {st['function_errors']}, "
                f"partial {st['partial_failures']}",
            )
        )
    if result.glue:
        perf.append(
            ("Glue job (local Spark)", ", ".join(f"{k}={v}" for k, v in result.glue.items()))
        )
    for name, value in perf:
        t.add_row(name, value)
    con.print(t)
    sections.append(rp.Section("Throughput and latency", rp.table_html(("figure", "value"), perf)))

    # 5. saved queries
    qhtml = []
    t = Table(title="Saved Athena queries on DuckDB (rows)")
    t.add_column("query")
    t.add_column("rows")
    for name, res in result.queries.items():
        t.add_row(name, str(len(res.rows)))
        qhtml.append(_query_html(name, res, result, featured.device_id if featured else None))
    con.print(t)
    sections.append(rp.Section("Saved queries (Athena SQL on DuckDB)", "".join(qhtml)))

    # 6. plots, embedded (report.html is one shareable file), after the summary at the top
    sections.insert(0, rp.Section("Plots", "".join(rp.image_html(p, p.stem) for p in result.plots)))
    sections.insert(0, rp.Section("Summary", _summary_html(result, summary)))
    html_path = rp.write_html(result.out / "report.html", "rotorwatch demo", sections)
    result.summary = {
        "scenario": result.scenario,
        "seed": result.seed,
        "detection": summary,
        "machines": det.machines,
        "figures": f.to_dict(),
        "glue": result.glue,
        "queries": {n: len(r.rows) for n, r in result.queries.items()},
        "states": {d: s.get("state") for d, s in result.states.items()},
        "baselines_learned": learned,
        "model": result.model_note,
        "plots": [p.name for p in result.plots],
    }
    rp.dump_json(result.out / "report.json", result.summary)
    con.print(
        f"report: {html_path}  plots: {', '.join(p.name for p in result.plots)}  "
        f"lake: {result.lake_dir}  function logs: {result.out / 'logs'}"
    )
    return result
