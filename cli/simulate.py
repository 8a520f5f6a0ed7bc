"""`rotorwatch simulate`, `rotorwatch provision`, `rotorwatch deprovision`: the device side.

Thin adapters over ``simulator/`` (imported inside each command, so the CLI stays cheap to load).
"""

from __future__ import annotations

import datetime as dt
import errno
import itertools
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from cli import app
from rotorwatch.contract.iot_rule import CONTRACTS

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration_s(text: str) -> float | None:
    """'90', '90s', '10m', '6h', '1.5d' -> seconds; 'forever' -> None."""
    if text.strip().lower() in ("forever", "inf", "none"):
        return None
    m = _DURATION_RE.match(text)
    if not m:
        raise typer.BadParameter(f"not a duration: {text!r} (use e.g. 90s, 10m, 6h, 1d or forever)")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def parse_start_ms(text: str) -> int:
    """'now', epoch milliseconds, or an ISO-8601 time (UTC unless it says otherwise)."""
    if text == "now":
        return int(time.time() * 1000)
    if text.isdigit():
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"not a time: {text!r} (use now, epoch ms or 2026-01-01T00:00:00Z)"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


#: How far ahead of the cloud's clock a window may be stamped before score_and_alert sets it
#: aside as a FutureWindow (its max_future_skew default, 10 min), with a margin for clock skew.
LIVE_FUTURE_TOLERANCE_MS = 5 * 60 * 1000


def live_start_ms(
    start: str, duration_s: float | None, speed: float, now_ms: int
) -> tuple[int, str | None]:
    """The first window's time for a feed to a real broker, and a note if it was moved.

    Paced at ``speed`` simulated seconds per second, a window ``t`` into the run is published
    ``t / speed`` after the start; a deployed stack refuses windows stamped in its future. So
    an accelerated run given ``--start now`` replays the period that ends now instead, and an
    explicit start whose windows would be in the future when sent is an error.
    """
    if duration_s is None:
        if speed != 1 or start != "now":
            raise typer.BadParameter(
                "--duration forever is a live feed and runs in real time: "
                "use --speed 1 and --start now, or give a duration"
            )
        return now_ms, None
    duration_ms = round(duration_s * 1000)
    sent_by_ms = now_ms + (duration_ms / speed if speed else 0.0)
    if start == "now" and speed != 1:
        start_ms = now_ms - duration_ms
        note = (
            f"accelerated feed (--speed {speed:g}): windows stamped from "
            f"{_iso(start_ms)} to now, so none is in the stack's future when it is sent"
        )
        return start_ms, note
    start_ms = now_ms if start == "now" else parse_start_ms(start)
    ahead_ms = start_ms + duration_ms - sent_by_ms
    if ahead_ms > LIVE_FUTURE_TOLERANCE_MS:
        raise typer.BadParameter(
            f"the last window would be stamped {ahead_ms / 60000:.0f} min ahead of the clock when "
            "sent, and a deployed stack sets future windows aside: use --start now, an earlier "
            "--start, or --speed 1"
        )
    return start_ms, None


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command("simulate")
def simulate_command(
    scenario: Annotated[
        str,
        typer.Option(help="Scenario file, or a bundled one by name: small (4 machines), fleet-24."),
    ] = "small",
    start: Annotated[
        str,
        typer.Option(help="Time of the first window: now, epoch ms, or ISO-8601 (UTC if no zone)."),
    ] = "now",
    duration: Annotated[
        str, typer.Option(help="Simulated time: 90s, 10m, 6h, 1d ... or 'forever' for a live feed.")
    ] = "1d",
    interval: Annotated[
        str, typer.Option(help="Time between two windows of one device (e.g. 10m, 30s).")
    ] = "10m",
    seed: Annotated[
        int, typer.Option(help="Random seed: same seed and options, byte-identical output.")
    ] = 0,
    speed: Annotated[
        float,
        typer.Option(
            help="Pacing: 0 = as fast as possible; 1 = real time (a live feed); 1440 = a day per minute."
        ),
    ] = 0.0,
    out: Annotated[
        str | None,
        typer.Option(
            help="Write telemetry lines here (v1 JSON, or 'v2 <device_id> <base64>' with --contract 2; '-' = stdout). Default: stdout unless --mqtt-host."
        ),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="Write ground truth here: one JSON line per message (device, fault, onset_ms, severity)."
        ),
    ] = None,
    mqtt_host: Annotated[
        str | None,
        typer.Option(
            help="Publish over MQTT 5 to this broker (IoT Core: your *-ats.iot.<region>.amazonaws.com)."
        ),
    ] = None,
    mqtt_port: Annotated[
        int, typer.Option(help="Broker port (IoT Core mTLS: 8883; plain brokers: often 1883).")
    ] = 8883,
    credentials_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder written by `rotorwatch provision`: per-device certificate and key; its devices.json "
            "also supplies the endpoint and CA when --mqtt-host/--ca are not given."
        ),
    ] = None,
    ca: Annotated[
        Path | None, typer.Option(help="CA bundle of the broker (IoT Core: AmazonRootCA1.pem).")
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(help="Client certificate (PEM) shared by all devices (test brokers)."),
    ] = None,
    key: Annotated[Path | None, typer.Option(help="Private key (PEM) for --cert.")] = None,
    rate: Annotated[
        float,
        typer.Option(
            help="Publishes per second per connection at most (IoT Core's default quota is 100)."
        ),
    ] = 100.0,
    basic_ingest: Annotated[
        str | None,
        typer.Option(
            help="Publish to IoT Basic Ingest $aws/rules/<RULE>/rw/... (no messaging charge); "
            "RULE is the stack output TelemetryRuleName (a v2 device uses the v2 rule)."
        ),
    ] = None,
    iot_core_limits: Annotated[
        bool,
        typer.Option(
            help="Apply the SDK's IoT Core validation and flow control (512 KB/s, 100 TPS)."
        ),
    ] = True,
    fs_hz: Annotated[float, typer.Option(help="Sample rate, Hz.")] = 8192.0,
    samples: Annotated[int, typer.Option(help="Samples per vibration window.")] = 4096,
    seq_start: Annotated[
        int, typer.Option(help="First seq of every device (to resume a feed).")
    ] = 0,
    contract: Annotated[
        int,
        typer.Option(
            help="Telemetry contract: 1 (JSON, base64 window, to rw/<site>/<device>/telemetry) "
            "or 2 (binary int16, to .../telemetry/v2; docs/telemetry.md); files hold v2 as "
            "'v2 <device_id> <base64>' lines."
        ),
    ] = 1,
) -> None:
    """Simulate a fleet of rotating machines and publish their telemetry (contract v1 JSON, or v2 binary with --contract 2).

    Each machine vibrates according to its physics (shaft orders, bearing impacts ringing a structural resonance, noise) and may develop a fault (imbalance, misalignment, looseness, bearing outer/inner race or ball) that grows until ISO 10816-3 zone D. --truth records what was really wrong, window by window.

    Output: JSON lines (stdout or --out), or MQTT 5 with one connection per device: QoS 1, mTLS with the credentials from `rotorwatch provision`, reconnect with backoff, 128 KB messages, --rate publishes per second per connection.

    Example: rotorwatch simulate --scenario small --duration 6h --start 2026-01-01T00:00:00Z > telemetry.jsonl

    Example: rotorwatch simulate --credentials-dir credentials --speed 1440 --duration 1d
    (accelerated against a broker: the windows are stamped from a day ago up to now, so a
    deployed stack never receives a window from its future)
    """
    from simulator.fleet import generate_windows
    from simulator.mqtt import PublishError
    from simulator.run import JsonLinesSink, MqttFleetSink, Sink, paced, run
    from simulator.scenario import ScenarioError, load_scenario

    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    if contract not in CONTRACTS:
        raise _fail(f"--contract must be one of {CONTRACTS}, got {contract}")
    _check_rule_name(basic_ingest)
    duration_s = parse_duration_s(duration)
    interval_s = parse_duration_s(interval)
    if interval_s is None or interval_s <= 0:
        raise _fail("--interval must be a positive duration")
    if duration_s is not None and duration_s <= 0:
        raise _fail("--duration must be more than 0 (or forever, for a live feed)")
    if speed < 0:
        raise _fail(f"--speed must be 0 (as fast as possible) or more, got {speed:g}")
    if duration_s is None:
        # An unpaced endless run wrote 88 MB in 15 s stamped weeks ahead: forever is real time.
        live_start_ms(start, duration_s, speed, 0)
    manifest: dict[str, Any] = {}
    if credentials_dir is not None and (credentials_dir / "devices.json").exists():
        manifest = json.loads((credentials_dir / "devices.json").read_text(encoding="utf-8"))
    host = mqtt_host or manifest.get("endpoint")
    if host is not None and out is not None:
        raise _fail("choose one output: --out or MQTT")
    if host is None:
        start_ms = parse_start_ms(start)
        if out in (None, "-") and stdout_is_terminal():
            raise _fail(
                "telemetry is megabytes of base64: give --out FILE, pipe it (| head), "
                "or --mqtt-host to publish"
            )
    else:
        start_ms, note = live_start_ms(start, duration_s, speed, int(time.time() * 1000))
        if note:
            typer.echo(f"note: {note}", err=True)
    if (cert is None) != (key is None):
        raise _fail("--cert and --key go together")
    ca_path = str(ca) if ca else manifest.get("ca_path")
    if ca_path is not None and not Path(ca_path).exists():
        raise _fail(
            f"CA file {ca_path} not found (IoT Core: download it from https://www.amazontrust.com/repository/AmazonRootCA1.pem)"
        )

    # The generator checks its own options (seq, samples, Nyquist...) on its first window:
    # take that window before any output is opened, so a bad option never touches a file.
    windows = generate_windows(
        sc,
        start_ms=start_ms,
        duration_s=duration_s,
        interval_s=interval_s,
        seed=seed,
        fs_hz=fs_hz,
        n_samples=samples,
        seq_start=seq_start,
        basic_ingest_rule=basic_ingest,
        contract=contract,
    )
    first: Iterator[Any]
    try:
        first = iter([next(windows)])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    except StopIteration:
        first = iter(())
    windows = itertools.chain(first, windows)

    stream: IO[bytes] | None = None
    sink: Sink
    files = _Outputs()
    if host is None:
        stream = sys.stdout.buffer if out in (None, "-") else files.open(Path(out))
        sink = JsonLinesSink(stream)
    else:
        sink = MqttFleetSink(
            host,
            mqtt_port,
            ca_path=ca_path,
            cert_path=str(cert) if cert else None,
            key_path=str(key) if key else None,
            credentials_dir=str(credentials_dir) if credentials_dir else None,
            rate_per_s=rate,
            iot_core_limits=iot_core_limits,
        )
    truth_stream = files.open(truth) if truth else None

    def messages() -> Any:
        from rotorwatch.contract.telemetry_v2 import to_line

        for w in windows:
            if truth_stream is not None:
                truth_stream.write(json.dumps(w.truth, separators=(",", ":")).encode() + b"\n")
            payload = w.payload
            if contract == 2 and host is None:
                # On MQTT the v2 topic names the device; in a file the line does.
                payload = to_line(w.device_id, payload)
            yield w.topic, payload, w.truth["ts"]

    t0 = time.monotonic()
    try:
        count = run(paced(messages(), start_ms=start_ms, speedup=speed or None), sink)
    except (PublishError, FileNotFoundError, ValueError) as exc:
        files.discard()
        raise _fail(str(exc), 1) from None
    except KeyboardInterrupt:
        count = -1
    except BaseException:
        files.discard()
        raise
    # Complete, or interrupted by the user (what was written is whole lines, and theirs).
    files.commit()
    where = f"mqtt://{host}:{mqtt_port}" if host else (out or "stdout")
    typer.echo(
        f"{count if count >= 0 else 'interrupted:'} messages from {len(sc.machines)} machines to {where} "
        f"in {time.monotonic() - t0:.1f} s",
        err=True,
    )


class _Outputs:
    """Files a run writes, each first to a temporary file beside it, renamed over the target
    only when the run ends well: a run that fails (a bad option, a broker error) leaves an
    existing file as it was. A bad option once emptied a 6.4 MB telemetry file."""

    def __init__(self) -> None:
        self._open: list[tuple[IO[bytes], Path, Path]] = []

    def open(self, path: Path) -> IO[bytes]:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not path.parent.is_dir():
            raise FileNotFoundError(errno.ENOENT, "No such folder", str(path.parent))
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        stream = os.fdopen(fd, "wb")
        self._open.append((stream, Path(tmp), path))
        return stream

    def commit(self) -> None:
        for stream, tmp, path in self._open:
            stream.close()
            os.replace(tmp, path)
        self._open.clear()

    def discard(self) -> None:
        for stream, tmp, _path in self._open:
            stream.close()
            tmp.unlink(missing_ok=True)
        self._open.clear()


def _check_rule_name(basic_ingest: str | None) -> None:
    from rotorwatch.contract.iot_rule import rule_names

    if basic_ingest is not None:
        try:
            rule_names(basic_ingest)
        except ValueError as exc:
            raise _fail(f"--basic-ingest: {exc}") from None


def _iot_session(region: str | None) -> tuple[Any, str, str, str]:
    from cli.aws import session as aws_session

    session = aws_session(region)
    ident = session.client("sts").get_caller_identity()
    partition = ident["Arn"].split(":")[1]
    return session, session.region_name, ident["Account"], partition


@app.command("provision")
def provision_command(
    scenario: Annotated[
        str, typer.Option(help="Scenario whose devices to create (file or bundled name).")
    ] = "small",
    out: Annotated[
        Path, typer.Option(help="Folder for the credentials and devices.json manifest.")
    ] = Path("credentials"),
    policy_name: Annotated[
        str, typer.Option(help="IoT policy attached to every device certificate.")
    ] = "rotorwatch-device",
    thing_group: Annotated[
        str, typer.Option(help="Thing group the devices join.")
    ] = "rotorwatch-fleet",
    basic_ingest: Annotated[
        str | None,
        typer.Option(
            help="Also allow publishing to the Basic Ingest topics of the telemetry rules "
            "(stack output TelemetryRuleName; each contract behind its own rule)."
        ),
    ] = None,
    assets_table: Annotated[
        str | None,
        typer.Option(
            help="DynamoDB assets table to write the asset records into (the stack output)."
        ),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="AWS region (default: your AWS configuration).")
    ] = None,
) -> None:
    """Create IoT things, a thing group, keys and certificates and the least-privilege policy.

    A device may connect only as its own thing name and publish only to its own telemetry topics, rw/<site>/<thing>/telemetry (contract v1) and rw/<site>/<thing>/telemetry/v2 (contract v2), and their Basic Ingest forms. Certificates and private keys are written to OUT/<thing>/; download Amazon Root CA 1 to OUT/AmazonRootCA1.pem. Safe to re-run.
    """
    from simulator.provision import Device, provision
    from simulator.scenario import ScenarioError, load_scenario

    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    _check_rule_name(basic_ingest)
    session, region_name, account, partition = _iot_session(region)
    table = session.resource("dynamodb").Table(assets_table) if assets_table else None
    manifest = provision(
        [Device(m.device_id, sc.site_of(m), m.asset) for m in sc.machines],
        iot=session.client("iot"),
        out_dir=out,
        region=region_name,
        account_id=account,
        partition=partition,
        policy_name=policy_name,
        thing_group=thing_group,
        basic_ingest_rule=basic_ingest,
        assets_table=table,
    )
    typer.echo(
        f"provisioned {len(manifest['things'])} things; endpoint {manifest['endpoint']}", err=True
    )
    typer.echo(f"next: curl -o {manifest['ca_path']} {manifest['ca_url']}", err=True)
    typer.echo(
        f"then: rotorwatch simulate --scenario {scenario} --credentials-dir {out} --speed 1",
        err=True,
    )


@app.command("deprovision")
def deprovision_command(
    out: Annotated[Path, typer.Option(help="Folder that `rotorwatch provision` wrote.")] = Path(
        "credentials"
    ),
    assets_table: Annotated[
        str | None, typer.Option(help="Also delete the devices' asset records here.")
    ] = None,
    keep_policy: Annotated[
        bool, typer.Option(help="Keep the IoT policy and the thing group.")
    ] = False,
    region: Annotated[
        str | None, typer.Option(help="AWS region (default: your AWS configuration).")
    ] = None,
) -> None:
    """Tear down what `rotorwatch provision` created: certificates, things, group, policy, files."""
    from simulator.provision import MANIFEST_FILE, deprovision

    if not (out / MANIFEST_FILE).exists():
        raise _fail(f"{out / MANIFEST_FILE} not found: nothing provisioned there")
    session, _region, _account, _partition = _iot_session(region)
    table = session.resource("dynamodb").Table(assets_table) if assets_table else None
    removed = deprovision(
        iot=session.client("iot"),
        out_dir=out,
        assets_table=table,
        delete_policy=not keep_policy,
        delete_thing_group=not keep_policy,
    )
    typer.echo(f"removed {len(removed)} things", err=True)
