"""`rotorwatch features`: telemetry v1 JSON lines in, feature JSON lines out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from cli import app
from rotorwatch.assets import Asset, AssetError, load_assets
from rotorwatch.features import compute_features
from rotorwatch.telemetry import Telemetry, TelemetryError
from rotorwatch.telemetry_v2 import decode_line

#: Lines decoded before one vectorised feature pass (bounded memory for long files).
BATCH_LINES = 500


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
    bad = 0
    batch: list[Telemetry] = []
    noted: set[str] = set()

    def flush() -> None:
        for msg in batch:
            if msg.device_id not in registry and msg.device_id not in noted:
                noted.add(msg.device_id)
                typer.echo(_no_asset_note(msg.device_id, assets), err=True)
        for record in compute_features(batch, registry):
            sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
        batch.clear()

    with stream:
        for line_no, line in enumerate(stream, start=1):
            payload = line.rstrip(b"\r\n")
            if not payload.strip():
                continue
            try:
                batch.append(decode_line(payload))
            except TelemetryError as exc:
                bad += 1
                typer.echo(f"line {line_no}: {exc.reason}: {exc}", err=True)
            if len(batch) >= BATCH_LINES:
                flush()
        flush()
    if bad:
        typer.echo(f"{bad} bad line(s) skipped", err=True)
        raise typer.Exit(1)
