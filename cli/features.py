"""`rotorwatch features`: telemetry v1 JSON lines in, feature JSON lines out."""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from cli import app
from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import Telemetry
from rotorwatch.contract.telemetry_v2 import CONTRACT_VERSION, MAGIC, decode_line, is_v2, to_line
from rotorwatch.diagnosis.assets import Asset, AssetError, load_assets
from rotorwatch.diagnosis.features import compute_features

#: Lines decoded before one vectorised feature pass (bounded memory for long files).
BATCH_LINES = 500
#: Bad lines named one by one on stderr before the rest are only counted by reason.
MAX_BAD_LINES_SHOWN = 10
#: The device a raw v2 capture's messages are attributed to without --device-id.
V2_CAPTURE_DEVICE = "v2-capture"
#: A record with this field is a feature record (telemetry never carries it).
_FEATURE_MARK = "velocity_rms_mm_s"


def wrong_input(first_line: bytes, name: str) -> str | None:
    """What ``name`` is instead of telemetry lines, from its first line, and what it needs;
    None when it looks like telemetry (v1 JSON, a ``v2 ...`` line or a raw v2 capture).

    The common wrong inputs otherwise printed one error per line (576 ``missing_field 'v'``
    for a feature file, 263 ``not_utf8`` for one binary v2 message)."""
    text = first_line.lstrip()
    if not text:
        return f"{name} is empty: no telemetry to read"
    if text.startswith(b"["):
        return (
            f"{name} is a JSON array; telemetry is one message per line: "
            f"jq -c '.[]' {name} | rotorwatch features -"
        )
    if text.startswith(b"{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None  # a broken line: reported with its line number
        if isinstance(obj, dict) and "v" not in obj and _FEATURE_MARK in obj:
            return (
                f"{name} holds feature records (what rotorwatch features writes), not telemetry: "
                f"score them with rotorwatch score {name}"
            )
    return None


def v2_capture_lines(data: bytes, device_id: str) -> Iterator[bytes]:
    """A raw v2 capture (``mosquitto_sub -F '%p'``: binary messages, each followed by a
    newline) as ``v2 <device_id> <base64>`` file lines.

    A v2 message does not say its length (48 + 2 x n bytes), so messages are split where a
    newline is followed by the v2 magic and version; samples that happen to contain those four
    bytes (about once in 500,000 messages of 4096 samples) make one bad line, not a wrong one.
    """
    start = re.escape(MAGIC + bytes([CONTRACT_VERSION]))
    for message in re.split(rb"\n(?=" + start + rb")", data):
        if len(message) % 2 and message.endswith(b"\n"):  # the capture's last newline
            message = message[:-1]
        yield to_line(device_id, message)


def registry_path(assets: str) -> Path:
    """An asset file, or a bundled scenario by name (``small``): scenarios double as registries."""
    p = Path(assets)
    if not p.exists() and p.suffix == "" and "/" not in assets:
        from simulator.scenario import SCENARIO_DIR

        bundled = SCENARIO_DIR / f"{p.name}.json"
        if bundled.is_file():
            return bundled
    return p


def _no_asset_note(device_id: str, source: str | None) -> str:
    where, fix = (
        (f"no asset record in {source}", "add one to the registry")
        if source
        else ("no --assets registry given", "give --assets FILE or a scenario name like small")
    )
    return (
        f"note: {device_id}: {where}; its lines get no ISO 10816-3 zone and no bearing "
        f"indicators ({fix})"
    )


@app.command("features")
def features_command(
    source: Annotated[
        str,
        typer.Argument(
            help="Telemetry lines (v1 JSON, or 'v2 <device_id> <base64>'), or '-' for stdin."
        ),
    ] = "-",
    assets: Annotated[
        str | None,
        typer.Option(
            help="Asset registry JSON file, or a bundled scenario name (small, fleet-24): "
            "enables ISO zones and bearing indicators."
        ),
    ] = None,
    device_id: Annotated[
        str,
        typer.Option(
            help="Device of a raw v2 capture (mosquitto_sub -F '%p' of .../telemetry/v2): a "
            "v2 message does not carry it, the topic does."
        ),
    ] = V2_CAPTURE_DEVICE,
) -> None:
    """Compute vibration features for telemetry v1 and v2 messages, one JSON line per message.

    A bad line is reported on stderr with its line number and reason code (bytes that are not
    UTF-8 too); good lines are still processed, and the exit status is 1 if any line was bad.
    A device without an asset record is named once on stderr.
    """
    registry: dict[str, Asset] = {}
    if assets:
        try:
            registry = load_assets(registry_path(assets))
        except AssetError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    # Bytes, not text: a line that is not UTF-8 is one bad line, not the end of the file.
    stream: BinaryIO = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    name = "stdin" if source == "-" else source
    first = stream.readline()
    wrong = wrong_input(first, name)
    if wrong is not None:
        stream.close()
        typer.echo(f"error: {wrong}", err=True)
        raise typer.Exit(2)
    lines: Iterable[bytes] = itertools.chain([first], stream)
    if is_v2(first):
        lines = v2_capture_lines(first + stream.read(), device_id)
        if device_id == V2_CAPTURE_DEVICE:
            typer.echo(
                f"note: {name} is a raw v2 capture; its device is called {device_id!r} "
                "(pass --device-id: a v2 message does not carry it)",
                err=True,
            )
    bad = 0
    batch: list[Telemetry] = []
    batch_seen = [0]  # messages decoded, across flushes
    noted: set[str] = set()

    def flush() -> None:
        for msg in batch:
            if msg.device_id not in registry and msg.device_id not in noted:
                noted.add(msg.device_id)
                typer.echo(_no_asset_note(msg.device_id, assets), err=True)
        batch_seen[0] += len(batch)
        for record in compute_features(batch, registry):
            sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
        batch.clear()

    by_reason: Counter[str] = Counter()
    with stream:
        for line_no, line in enumerate(lines, start=1):
            payload = line.rstrip(b"\r\n")
            if not payload.strip():
                continue
            try:
                batch.append(decode_line(payload))
            except TelemetryError as exc:
                bad += 1
                by_reason[exc.reason] += 1
                # A few are a diagnosis; hundreds of the same line bury it.
                if bad <= MAX_BAD_LINES_SHOWN:
                    typer.echo(f"line {line_no}: {exc.reason}: {exc}", err=True)
            if len(batch) >= BATCH_LINES:
                flush()
        flush()
    if bad:
        reasons = ", ".join(f"{n} {r}" for r, n in by_reason.most_common())
        typer.echo(f"{bad} bad line(s) skipped ({reasons})", err=True)
        raise typer.Exit(1)
    if not batch_seen[0]:
        typer.echo(f"error: no telemetry in {name}", err=True)
        raise typer.Exit(1)
