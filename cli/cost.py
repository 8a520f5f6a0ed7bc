"""`rotorwatch cost`: monthly AWS cost and capacity for a fleet, from the documented price table."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import app
from rotorwatch.contract.telemetry import Encoding
from rotorwatch.deployment.cost.deployed import deployed_settings
from rotorwatch.deployment.cost.estimate import estimate
from rotorwatch.deployment.cost.fleet import Assumptions, Fleet, KinesisMode
from rotorwatch.deployment.cost.levers import comparisons
from rotorwatch.deployment.cost.prices import CostModelError, load_prices
from rotorwatch.deployment.cost.quotas import binding, check, describe
from rotorwatch.deployment.stage import ConfigError, StageConfig, from_context

_ENCODINGS: dict[str, Encoding] = {"int16": "int16le+base64", "float32": "float32le+base64"}
REPO_ROOT = Path(__file__).resolve().parents[1]


def stage_config(stage: str | None, cdk_json: Path | None = None) -> StageConfig:
    """The validated config of ``stage`` in cdk.json (its default stage if None)."""
    context = dict(json.loads((cdk_json or REPO_ROOT / "cdk.json").read_text())["context"])
    if stage is not None:
        context["stage"] = stage
    return from_context(context, env={})


def _shards_note(cfg: StageConfig, mode: str, deployed: bool, capacity: Any) -> str:
    """Provisioned streams are priced at the shards the fleet needs unless --deployed-shards:
    the headline says so when that is not what the stage deploys (prod deploys 11 + 8; a
    one-device estimate priced 1 + 1 while claiming "as prod deploys it")."""
    needed = (capacity.telemetry_shards, capacity.features_shards)
    configured = (cfg.telemetry_stream.shards, cfg.features_stream.shards)
    if mode != "provisioned" or deployed or needed == configured:
        return ""
    return (
        f", but with the {needed[0]} + {needed[1]} provisioned shards this fleet needs "
        f"(it deploys {configured[0]} + {configured[1]}: --deployed-shards prices those)"
    )


@app.command("cost")
def cost_command(
    devices: Annotated[int, typer.Option(help="Devices publishing telemetry.")],
    interval: Annotated[float, typer.Option(help="Seconds between two windows of one device.")],
    stage: Annotated[
        str | None,
        typer.Option(
            help="Price what this cdk.json stage deploys (batching, stream mode, memory, Glue "
            "schedule...; default: cdk.json's default stage)."
        ),
    ] = None,
    samples: Annotated[int, typer.Option(help="Vibration samples per window.")] = 4096,
    contract: Annotated[
        int,
        typer.Option(
            help="Telemetry contract the devices publish: 1 (JSON) or 2 (binary, to "
            ".../telemetry/v2 through its own IoT rule; docs/telemetry.md)."
        ),
    ] = 1,
    encoding: Annotated[str, typer.Option(help="Sample encoding: int16 or float32.")] = "int16",
    region: Annotated[str, typer.Option(help="Packaged price table to use.")] = "us-east-1",
    prices: Annotated[
        Path | None, typer.Option(help="A price table JSON file (same layout as the packaged one).")
    ] = None,
    basic_ingest: Annotated[
        bool, typer.Option(help="Devices publish via Basic Ingest (no IoT messaging charge).")
    ] = True,
    kinesis: Annotated[
        str | None,
        typer.Option(
            help="Kinesis capacity mode: on-demand or provisioned (default: the stage's)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Lambda Kinesis batch size (default: the stage's).")
    ] = None,
    batch_window: Annotated[
        float | None, typer.Option(help="Lambda batching window, s (default: the stage's).")
    ] = None,
    sagemaker_per_batch: Annotated[
        bool, typer.Option(help="One SageMaker call per Lambda batch (else one per record).")
    ] = True,
    retention_days: Annotated[int, typer.Option(help="Days the lake keeps data.")] = 365,
    state_changes_per_day: Annotated[
        float,
        typer.Option(
            help="Assumed changes of a device's predicted state per day (raw sampling keeps "
            "the windows around each; lake.raw_keep_enabled)."
        ),
    ] = 1.0,
    dynamic_partitioning: Annotated[
        bool,
        typer.Option(
            help="Price Firehose dynamic partitioning on the three deliveries (the deployed "
            "stack uses arrival-time prefixes instead)."
        ),
    ] = False,
    deployed_shards: Annotated[
        bool,
        typer.Option(
            help="Provisioned streams: price the stage's configured shards (at least what the "
            "fleet needs) instead of exactly what the fleet needs."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Estimate the monthly AWS bill per service and the Kinesis shards / Lambda concurrency a
    fleet needs. List prices, no free tier: check them against the sources printed below."""
    try:
        if not interval > 0:
            raise CostModelError(f"--interval must be more than 0 s, got {interval:g}")
        cfg = stage_config(stage)
        deployed_fleet, deployed_assumptions = deployed_settings(cfg)
        if encoding not in _ENCODINGS:
            raise CostModelError(f"encoding must be int16 or float32, got {encoding!r}")
        kinesis = kinesis or deployed_fleet["kinesis_mode"]
        if kinesis not in ("on-demand", "provisioned"):
            raise CostModelError(f"kinesis must be on-demand or provisioned, got {kinesis!r}")
        mode: KinesisMode = "provisioned" if kinesis == "provisioned" else "on-demand"
        overrides: dict[str, Any] = {"kinesis_mode": mode}
        if deployed_shards:
            overrides.update(
                telemetry_shards=cfg.telemetry_stream.shards,
                features_shards=cfg.features_stream.shards,
            )
        if batch_size is not None:
            overrides.update(batch_size=batch_size, score_batch_size=batch_size)
        if batch_window is not None:
            overrides.update(batch_window_s=batch_window, score_batch_window_s=batch_window)
        # The state table is written once per device per score batch: a batching window of W s
        # holds W / interval windows of each device (the features shards are sized for it).
        windows_per_batch = max(1, int(cfg.score_and_alert.window_s // interval))
        if batch_window is not None:
            windows_per_batch = max(1, int(batch_window // interval))
        fleet = Fleet(
            devices=devices,
            windows_per_device_batch=windows_per_batch,
            interval_s=interval,
            samples=samples,
            encoding=_ENCODINGS[encoding],
            contract=contract,
            basic_ingest=basic_ingest,
            sagemaker_per_batch=sagemaker_per_batch,
            retention_days=retention_days,
            state_changes_per_device_day=state_changes_per_day,
            **{**deployed_fleet, **overrides},
        )
        table = load_prices(region, prices)
        assumptions = Assumptions(dynamic_partitioning=dynamic_partitioning, **deployed_assumptions)
        report = estimate(fleet, table, assumptions)
        compared = comparisons(fleet, table, assumptions)
        # Quotas of the stage's Region when cdk.json names one, else of the priced Region.
        quota_region = cfg.region or region
        quotas = check(
            report,
            quota_region,
            endpoint_max_concurrency=cfg.endpoint.max_concurrency,
            # Per-shard quotas on the shards the stage deploys, unless asked to price others.
            deployed_shards=(cfg.telemetry_stream.shards, cfg.features_stream.shards)
            if mode == "provisioned" and deployed_fleet["kinesis_mode"] == "provisioned"
            else None,
        )
    except (CostModelError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    if as_json:
        out = report.to_dict()
        out["comparisons"] = [{**asdict(c), "saving_usd": c.saving_usd} for c in compared]
        out["price_sources"] = table.sources
        out["price_status"] = table.status
        out["stage"] = cfg.stage
        out["quota_region"] = quota_region
        out["quotas"] = [q.to_dict() for q in quotas]
        out["deployed_shards"] = {
            "telemetry": cfg.telemetry_stream.shards,
            "features": cfg.features_stream.shards,
        }
        typer.echo(json.dumps(out, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    # The answer first: what the month costs (a narrow terminal sees it before any table).
    console.print(
        f"[b]Total: ${report.total_usd:,.2f}/month[/b] for {devices} device(s), a window every "
        f"{interval:g} s ({samples} {encoding} samples), as stage {cfg.stage!r} deploys it"
        + _shards_note(cfg, mode, deployed_shards, report.capacity)
    )
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
        # Fold, never cut: "newline-del…" on an 80-column terminal hid what the choice was.
        versus.add_column(
            col, justify="right" if "USD" in col or col == "saving" else "left", overflow="fold"
        )
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
    lines = Table(title="Every billed item")
    for col, justify in (
        ("service", "left"),
        ("item", "left"),
        ("quantity", "right"),
        ("unit", "left"),
        ("USD/month", "right"),
    ):
        lines.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for line in report.lines:
        lines.add_row(
            line.service, line.item, f"{line.quantity:,.2f}", line.unit, f"{line.usd:,.2f}"
        )
    console.print(lines)
    if report.fleet.kinesis_mode == "provisioned":
        deployed = (cfg.telemetry_stream.shards, cfg.features_stream.shards)
        sized = (cap.telemetry_shards, cap.features_shards)
        if deployed != sized:
            console.print(
                f"[yellow]note:[/yellow] priced with the shards this fleet needs "
                f"(telemetry {sized[0]}, features {sized[1]}); stage {cfg.stage!r} deploys "
                f"{deployed[0]} / {deployed[1]}: set streams.telemetry.shards and "
                "streams.features.shards in cdk.json"
            )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    binds = binding(quotas)
    console.print(
        f"Quotas ({quota_region}): {len(quotas)} checked, "
        + (f"{len(binds)} bind:" if binds else "none binds (--json lists them all)")
    )
    for q in binds:
        console.print(f"[red]quota:[/red] {describe(q)}")
    console.print(
        f"Prices: {table.region} list prices as of {table.prices_as_of}; they change, check them: "
        + ", ".join(table.sources.values())
    )
