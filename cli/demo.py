"""`rotorwatch demo`: the whole pipeline on one machine, then a report people want to look at.

simulator ▶ IoT-rule bridge ▶ Kinesis (moto) ▶ extract_features ▶ Kinesis ▶ score_and_alert
(model via InvokeEndpoint, or the rules) ▶ SNS ▶ the technicians' SQS inbox; Firehose stand-in ▶
./lake; the Glue job on local Spark; the saved Athena queries on DuckDB; plots and report.html.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import app
from rotorwatch.deployment.stage import DEFAULTS

#: Where `make model` leaves the bootstrap artifact (code/inference.py inside).
DEFAULT_MODEL = Path("sagemaker/bootstrap/model.tar.gz")
#: Where the demo writes (the Makefile's DEMO_OUT default), and so its lake: the default of
#: `rotorwatch query --lake` and `make glue-local`, so the commands after `make demo` meet.
DEMO_OUT = Path("out/demo")
DEMO_LAKE = DEMO_OUT / "lake"


#: What a machine without Java is told (the Glue job runs on local Spark, which needs a JVM).
JAVA_MISSING = (
    "the Glue job runs on local Spark, which needs Java 17: install it (Debian/Ubuntu: "
    "sudo apt-get install openjdk-17-jre-headless) or run without it: "
    'make demo DEMO_ARGS="--skip-glue" (rotorwatch demo --skip-glue)'
)


def java_missing() -> bool:
    """No ``java`` where pyspark looks for it: ``$JAVA_HOME/bin/java``, else the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return not os.access(Path(home) / "bin" / "java", os.X_OK)
    return shutil.which("java") is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if exe is None:
        raise typer.BadParameter("--mqtt needs mosquitto (apt-get install mosquitto)")
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("mosquitto did not start")


def contract_mix(device_ids: list[str], v2_share: float) -> dict[str, int]:
    """Telemetry contract per device: ``v2_share`` of them on v2, spread evenly over the list
    (with 0.5, every second machine), so both contracts meet every kind of fault."""
    return {
        d: 2 if int((i + 1) * v2_share) > int(i * v2_share) else 1 for i, d in enumerate(device_ids)
    }


def batch_settings() -> tuple[Any, Any]:
    """The event source mapping settings the CDK app deploys (rotorwatch/deployment/stage.py defaults)."""
    from local_cloud.cloud import BatchSettings

    def one(key: str) -> BatchSettings:
        c = DEFAULTS[key]
        return BatchSettings(int(c["batch_size"]), float(c["window_s"]), int(c["retry_attempts"]))

    return one("extract_features"), one("score_and_alert")


def run_glue(lake_dir: Path, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The machine-health Glue job on local Spark (its own process: the JVM goes away after)."""
    root = Path(__file__).resolve().parents[1]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    )
    iso = "%Y-%m-%dT%H:%M:%SZ"
    cmd = [
        sys.executable,
        "-m",
        "glue_jobs.machine_health",
        "--lake_uri",
        f"file://{lake_dir.resolve()}/",
        "--window_start",
        datetime.fromtimestamp(start_ms / 1000, UTC).strftime(iso),
        "--window_end",
        datetime.fromtimestamp(end_ms / 1000, UTC).strftime(iso),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"Glue job failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@app.command("demo")
def demo_command(
    scenario: Annotated[
        str,
        typer.Option("--scenario", "--fleet", help="Fleet scenario (file or bundled name)."),
    ] = "fleet-24",
    duration: Annotated[str, typer.Option(help="Simulated time (e.g. 6h, 1d).")] = "1d",
    interval: Annotated[str, typer.Option(help="Time between two windows of a machine.")] = "10m",
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 0,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per wall second (0: as fast as it goes).")
    ] = 1440.0,
    out: Annotated[
        Path, typer.Option(help="Output folder: lake/, logs/, plots, report.html.")
    ] = DEMO_OUT,
    mqtt: Annotated[
        bool, typer.Option(help="Publish through a real MQTT broker (a local mosquitto).")
    ] = False,
    skip_glue: Annotated[
        bool, typer.Option(help="Do not run the Glue job on local Spark.")
    ] = False,
    model: Annotated[
        Path, typer.Option(help="Model artifact (make model); missing: the rules score.")
    ] = DEFAULT_MODEL,
    samples: Annotated[int, typer.Option(help="Samples per vibration window.")] = 4096,
    v2_share: Annotated[
        float,
        typer.Option(
            help="Share of the machines that publish telemetry contract v2 (binary, to "
            ".../telemetry/v2); the others publish v1 (JSON). 0: all v1, 1: all v2."
        ),
    ] = 0.5,
    batch_window: Annotated[
        float | None,
        typer.Option(
            help="Event source mapping batching window, s (default: the deployed one, 5 s)."
        ),
    ] = None,
) -> None:
    """Run rotorwatch end to end on this machine (no AWS account) and write a report.

    A simulated fleet streams telemetry through the deployed handler code on a local cloud (moto for Kinesis, S3, DynamoDB, SNS, SQS; the model served by its own inference script; a Firehose stand-in writing ./lake), then the Glue job runs on local Spark and the saved Athena queries on DuckDB. The report scores detection against the simulator's ground truth.
    """
    from rich.console import Console

    from cli.simulate import parse_duration_s
    from local_cloud import demo as run_demo
    from simulator.scenario import ScenarioError, load_scenario

    # Piped output (CI logs) gets report-wide tables instead of rich's 80-column default.
    console = Console(width=None if sys.stdout.isatty() else 150)
    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc)) from None
    duration_s = parse_duration_s(duration)
    interval_s = parse_duration_s(interval)
    if duration_s is None or interval_s is None or duration_s <= 0 or interval_s <= 0:
        raise typer.BadParameter("--duration and --interval must be positive durations")
    extract_batch, score_batch = batch_settings()
    if batch_window is not None:
        if batch_window < 0:
            raise typer.BadParameter("--batch-window must be >= 0")
        extract_batch = dataclasses.replace(extract_batch, window_s=batch_window)
        score_batch = dataclasses.replace(score_batch, window_s=batch_window)
    if speed < 0:
        raise typer.BadParameter(f"--speed must be 0 (as fast as it goes) or more, got {speed:g}")
    if not 0.0 <= v2_share <= 1.0:
        raise typer.BadParameter("--v2-share must be between 0 and 1")
    contracts = contract_mix([m.device_id for m in sc.machines], v2_share)
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"--out {out} is a file; give a folder (it is created)")
    if not skip_glue and java_missing():
        # Spark needs a JVM: without one the whole pipeline ran, then the Glue job died with
        # JAVA_GATEWAY_EXITED and no report was written.
        raise typer.BadParameter(JAVA_MISSING)
    from simulator.fleet import generate_windows

    try:
        # The simulator checks its options on the first window: before anything starts.
        next(
            iter(
                generate_windows(
                    sc,
                    start_ms=0,
                    duration_s=interval_s,
                    interval_s=interval_s,
                    seed=seed,
                    n_samples=samples,
                    contract=contracts,
                )
            ),
            None,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if out.exists():
        shutil.rmtree(out / "lake", ignore_errors=True)
        shutil.rmtree(out / "logs", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    from simulator.run import MqttFleetSink

    interval_ms = round(interval_s * 1000)
    # The simulated day ends now, so the saved queries' "last N hours" windows hold it.
    end_ms = int(time.time() * 1000) // interval_ms * interval_ms
    start_ms = end_ms - round(duration_s * 1000)
    truth_rows: list[dict[str, Any]] = []

    def messages() -> Any:
        for w in generate_windows(
            sc,
            start_ms=start_ms,
            duration_s=duration_s,
            interval_s=interval_s,
            seed=seed,
            n_samples=samples,
            contract=contracts,
        ):
            truth_rows.append(w.truth)
            yield w.topic, w.payload, w.truth["ts"]

    life_h = {m.device_id: m.fault.life_h for m in sc.machines if m.fault is not None}
    broker = None
    with tempfile.TemporaryDirectory(prefix="rotorwatch-mqtt-") as tmp:
        try:
            sink = None
            if mqtt:
                broker = _mosquitto(Path(tmp))
                console.print(f"mosquitto listening on 127.0.0.1:{broker[1]} (plain TCP)")
                sink = MqttFleetSink("127.0.0.1", broker[1], iot_core_limits=False)
            result = run_demo.run(
                out=out,
                asset_records=sc.to_dict()["assets"],
                assets=sc.assets,
                messages=messages(),
                truth_rows=truth_rows,
                life_h=life_h,
                start_ms=start_ms,
                end_ms=end_ms,
                speed=speed or None,
                model_artifact=model,
                extract_batch=extract_batch,
                score_batch=score_batch,
                send=sink.send if sink else None,
                close_sink=sink.close if sink else None,
                mqtt_port=broker[1] if broker else None,
                console=console,
                scenario=scenario,
                seed=seed,
                v2_devices=[d for d, c in contracts.items() if c == 2],
            )
            if not skip_glue:
                with console.status("Glue job (machine_health) on local Spark ..."):
                    t0 = time.monotonic()
                    result.glue = run_glue(out / "lake", start_ms, end_ms)
                    result.glue["wall_s"] = round(time.monotonic() - t0, 1)
            run_demo.report(result, console)
        finally:
            if broker is not None:
                broker[0].terminate()
                broker[0].wait(10)
