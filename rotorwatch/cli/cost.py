"""`rotorwatch cost`: monthly AWS cost and capacity for a fleet, from the documented price table."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from rotorwatch.cli import app
from rotorwatch.cost import (
    Assumptions,
    CostModelError,
    Fleet,
    KinesisMode,
    comparisons,
    estimate,
    load_prices,
)
from rotorwatch.telemetry import Encoding

_ENCODINGS: dict[str, Encoding] = {"int16": "int16le+base64", "float32": "float32le+base64"}


@app.command("cost")
def cost_command(
    devices: Annotated[int, typer.Option(help="Devices publishing telemetry.")],
    interval: Annotated[float, typer.Option(help="Seconds between two windows of one device.")],
    samples: Annotated[int, typer.Option(help="Vibration samples per window.")] = 4096,
    encoding: Annotated[str, typer.Option(help="Sample encoding: int16 or float32.")] = "int16",
    region: Annotated[str, typer.Option(help="Packaged price table to use.")] = "us-east-1",
    prices: Annotated[
        Path | None, typer.Option(help="A price table JSON file (same layout as the packaged one).")
    ] = None,
    basic_ingest: Annotated[
        bool, typer.Option(help="Devices publish via Basic Ingest (no IoT messaging charge).")
    ] = True,
    kinesis: Annotated[
        str, typer.Option(help="Kinesis capacity mode: on-demand or provisioned.")
    ] = "on-demand",
    batch_size: Annotated[int, typer.Option(help="Lambda Kinesis batch size (records).")] = 100,
    batch_window: Annotated[float, typer.Option(help="Lambda batching window (s).")] = 5.0,
    sagemaker_per_batch: Annotated[
        bool, typer.Option(help="One SageMaker call per Lambda batch (else one per record).")
    ] = True,
    retention_days: Annotated[int, typer.Option(help="Days the lake keeps data.")] = 365,
    dynamic_partitioning: Annotated[
        bool,
        typer.Option(
            help="Price Firehose dynamic partitioning on the three deliveries (the deployed "
            "stack uses arrival-time prefixes instead)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Estimate the monthly AWS bill per service and the Kinesis shards / Lambda concurrency a
    fleet needs. List prices, no free tier: check them against the sources printed below."""
    try:
        if encoding not in _ENCODINGS:
            raise CostModelError(f"encoding must be int16 or float32, got {encoding!r}")
        if kinesis not in ("on-demand", "provisioned"):
            raise CostModelError(f"kinesis must be on-demand or provisioned, got {kinesis!r}")
        mode: KinesisMode = "provisioned" if kinesis == "provisioned" else "on-demand"
        fleet = Fleet(
            devices=devices,
            interval_s=interval,
            samples=samples,
            encoding=_ENCODINGS[encoding],
            basic_ingest=basic_ingest,
            kinesis_mode=mode,
            batch_size=batch_size,
            batch_window_s=batch_window,
            sagemaker_per_batch=sagemaker_per_batch,
            retention_days=retention_days,
        )
        table = load_prices(region, prices)
        assumptions = Assumptions(dynamic_partitioning=dynamic_partitioning)
        report = estimate(fleet, table, assumptions)
        compared = comparisons(fleet, table, assumptions)
    except CostModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    if as_json:
        out = report.to_dict()
        out["comparisons"] = [{**asdict(c), "saving_usd": c.saving_usd} for c in compared]
        out["price_sources"] = table.sources
        out["price_status"] = table.status
        typer.echo(json.dumps(out, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    lines = Table(
        title=f"Monthly cost, {devices} devices every {interval:g} s, {samples} samples ({encoding})"
    )
    for col, justify in (
        ("service", "left"),
        ("item", "left"),
        ("quantity", "right"),
        ("unit", "left"),
        ("USD/month", "right"),
    ):
        lines.add_column(col, justify=justify)  # type: ignore[arg-type]
    for line in report.lines:
        lines.add_row(
            line.service, line.item, f"{line.quantity:,.2f}", line.unit, f"{line.usd:,.2f}"
        )
    console.print(lines)

    summary = Table(title="Per service")
    summary.add_column("service")
    summary.add_column("USD/month", justify="right")
    for service, usd in report.by_service().items():
        summary.add_row(service, f"{usd:,.2f}")
    summary.add_row("[b]total[/b]", f"[b]{report.total_usd:,.2f}[/b]")
    console.print(summary)

    cap = report.capacity
    capacity = Table(title="Capacity the fleet needs")
    capacity.add_column("what")
    capacity.add_column("value", justify="right")
    for what, value in (
        ("messages/s", f"{cap.messages_per_s:,.2f}"),
        ("message size (bytes)", f"{cap.message_bytes:,}"),
        ("telemetry stream (MB/s)", f"{cap.telemetry_bytes_per_s / 1024**2:,.3f}"),
        ("Kinesis shards: telemetry / features", f"{cap.telemetry_shards} / {cap.features_shards}"),
        (
            "Lambda records per batch: extract / score",
            f"{cap.extract_batch_records:,.1f} / {cap.score_batch_records:,.1f}",
        ),
        (
            "Lambda concurrency: extract / score",
            f"{cap.extract_concurrency:,.2f} / {cap.score_concurrency:,.2f}",
        ),
        (
            "Lambda concurrency allowed (shards × parallelization)",
            f"{cap.extract_concurrency_limit} / {cap.score_concurrency_limit}",
        ),
        ("SageMaker invocations/s", f"{cap.sagemaker_invocations_per_s:,.2f}"),
        ("SageMaker concurrency", f"{cap.sagemaker_concurrency:,.2f}"),
    ):
        capacity.add_row(what, value)
    console.print(capacity)

    versus = Table(title="Comparisons (whole bill)")
    for col in ("choice", "baseline", "USD/month", "alternative", "USD/month ", "saving"):
        versus.add_column(col, justify="right" if "USD" in col or col == "saving" else "left")
    for c in compared:
        versus.add_row(
            c.title,
            c.baseline,
            f"{c.baseline_usd:,.2f}",
            c.alternative,
            f"{c.alternative_usd:,.2f}",
            f"{c.saving_usd:,.2f}",
        )
    console.print(versus)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(
        f"Prices: {table.region} list prices as of {table.prices_as_of}; they change, check them: "
        + ", ".join(table.sources.values())
    )
