"""`rotorwatch features`: telemetry v1 JSON lines in, feature JSON lines out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from rotorwatch.assets import AssetError, load_assets
from rotorwatch.cli import app
from rotorwatch.features import compute_features
from rotorwatch.telemetry import Telemetry, TelemetryError, decode

#: Lines decoded before one vectorised feature pass (bounded memory for long files).
BATCH_LINES = 500


@app.command("features")
def features_command(
    source: Annotated[
        str, typer.Argument(help="Telemetry v1 JSON lines file, or '-' for standard input.")
    ] = "-",
    assets: Annotated[
        Path | None,
        typer.Option(help="Asset registry JSON file (enables ISO zones and bearing indicators)."),
    ] = None,
) -> None:
    """Compute vibration features for telemetry v1 messages, one JSON line per message.

    A bad line is reported on stderr with its line number and reason code; good lines are still
    processed, and the exit status is 1 if any line was bad.
    """
    try:
        registry = load_assets(assets) if assets else {}
    except AssetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    stream: TextIO = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    bad = 0
    batch: list[Telemetry] = []

    def flush() -> None:
        for record in compute_features(batch, registry):
            sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
        batch.clear()

    with stream:
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                batch.append(decode(line.rstrip("\n")))
            except TelemetryError as exc:
                bad += 1
                typer.echo(f"line {line_no}: {exc.reason}: {exc}", err=True)
            if len(batch) >= BATCH_LINES:
                flush()
        flush()
    if bad:
        typer.echo(f"{bad} bad line(s) skipped", err=True)
        raise typer.Exit(1)
