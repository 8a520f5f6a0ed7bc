"""Issue 15's levers in the cost model: each priced as the deployed code and config do it."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from cli import app
from rotorwatch.deployment.cost.estimate import estimate
from rotorwatch.deployment.cost.fleet import (
    LAMBDA_EVENT_MAX_BYTES,
    Fleet,
    event_max_records,
    features_shards_for_batching,
    state_writes_per_s,
)
from rotorwatch.deployment.cost.prices import load_prices
from rotorwatch.lake.layout import FIREHOSE_RECORD_MAX_BYTES

PRICES = load_prices("us-east-1")
MONTH_S = 730 * 3600


def test_a_lambda_batch_stops_at_the_6_mb_payload() -> None:
    # 1000-byte feature records travel as 1336 base64 characters + ~300 B of event metadata.
    assert event_max_records(1000) == LAMBDA_EVENT_MAX_BYTES // (1336 + 300)
    fleet = Fleet(devices=10_000, interval_s=1, batch_size=10_000, batch_window_s=60)
    cap = estimate(fleet, PRICES).capacity
    assert cap.score_batch_records == event_max_records(1000)


def test_state_is_written_once_per_device_per_batch() -> None:
    # 1250 devices on a shard, 3750-record batches: each device has 3 windows per batch.
    assert state_writes_per_s(1000.0, 10_000, 8, 3750.0) == pytest.approx(1000 / 3750 * 1250)
    # A batch smaller than the shard's devices: one write per record.
    assert state_writes_per_s(1000.0, 10_000, 1, 500.0) == pytest.approx(1000.0)
    assert features_shards_for_batching(10_000, 3, 3845) == math.ceil(30_000 / 3845)


def test_windows_per_device_batch_cuts_dynamodb_and_adds_features_shards() -> None:
    base = Fleet(
        devices=10_000,
        interval_s=10,
        kinesis_mode="provisioned",
        score_batch_size=4000,
        score_batch_window_s=30,
    )
    one = estimate(base, PRICES)
    three = estimate(replace(base, windows_per_device_batch=3), PRICES)
    writes_one = one.line("DynamoDB", "state writes (on-demand, one per device per batch)")
    writes_three = three.line("DynamoDB", "state writes (on-demand, one per device per batch)")
    assert writes_one.quantity == pytest.approx(1000 * MONTH_S)  # one device per record
    assert writes_three.quantity == pytest.approx(writes_one.quantity / 3)
    assert three.capacity.features_shards == 8 > one.capacity.features_shards
    assert three.total_usd < one.total_usd


def test_aggregated_predictions_bill_their_bytes_not_5_kb_each() -> None:
    fleet = Fleet(devices=1000, interval_s=1, kinesis_mode="provisioned")
    agg = estimate(fleet, PRICES)
    one_each = estimate(replace(fleet, aggregate_predictions=False), PRICES)
    fh = "ingestion (5 KB rounding)"
    saved_gb = one_each.line("Firehose", fh).quantity - agg.line("Firehose", fh).quantity
    batch = agg.capacity.score_batch_records
    assert batch * 400 < FIREHOSE_RECORD_MAX_BYTES  # one record per batch
    per_batch_gb = math.ceil(batch * 400 / 5120) * 5120 / 1024**3
    batches = 1000 * MONTH_S / batch
    assert saved_gb == pytest.approx(1000 * MONTH_S * 5120 / 1024**3 - batches * per_batch_gb)


def test_raw_expiry_stores_only_the_kept_days() -> None:
    fleet = Fleet(devices=100, interval_s=10, kinesis_mode="provisioned")
    kept = estimate(replace(fleet, raw_expire_days=15), PRICES)
    full = estimate(fleet, PRICES)
    # gzip'd in S3 (Assumptions.raw_compression_ratio, measured by bench_raw_gzip.py)
    raw_gb_per_day = 10 * 86_400 * (11_148 + 48) * 0.759 / 1024**3
    features_gb = 365 * 10 * 86_400 * (250 + 120) / 1024**3
    assert kept.line("S3", "Standard storage").quantity == pytest.approx(
        raw_gb_per_day * 15 + features_gb
    )
    assert kept.line("S3", "Standard-IA storage (raw)").quantity == 0
    assert kept.line("S3", "Glacier Flexible Retrieval storage (raw)").quantity == 0
    assert kept.total_usd < full.total_usd


def _cli(devices: int, interval: int) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(
        app,
        [
            "cost",
            "--devices",
            str(devices),
            "--interval",
            str(interval),
            "--stage",
            "prod",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_issue_15_targets_for_the_deployed_prod_stage() -> None:
    """Guards the figures the README quotes: a config or model change that breaks them fails."""
    big = _cli(10_000, 10)
    assert big["total_usd"] / 10_000 <= 0.60
    # prod deploys the shards the 10,000-device fleet needs (the CLI prices them from the fleet).
    assert (big["capacity"]["telemetry_shards"], big["capacity"]["features_shards"]) == (
        big["deployed_shards"]["telemetry"],
        big["deployed_shards"]["features"],
    )
    pilot = _cli(10, 60)
    # $38.65 with raw through Firehose; a raw object per batch adds ~$2 of PUTs at a batch of
    # one window (issue 25: the bill of the stated fleet is what the design is chosen for).
    assert pilot["total_usd"] <= 41.0
    assert pilot["fleet"]["kinesis_mode"] == "provisioned"


def test_raw_objects_bill_a_put_per_batch_and_no_firehose_bytes() -> None:
    fleet = Fleet(devices=1000, interval_s=1, kinesis_mode="provisioned")
    r = estimate(fleet, PRICES)
    batches = 1000 * MONTH_S / r.capacity.extract_batch_records
    puts = r.line("S3", "PUT requests (Firehose deliveries, a raw object per batch)")
    # Each delivery stream flushes when its 128 MiB buffer fills or every 900 s.
    flushes = sum(max(1000 * MONTH_S * size / 1024**2 / 128, MONTH_S / 900) for size in (1000, 400))
    assert puts.quantity == pytest.approx(batches + flushes)
    features_gb = 1000 * MONTH_S * 5120 / 1024**3  # Kinesis-sourced: 5 KB per window
    agg = r.capacity.score_batch_records
    predictions_gb = 1000 * MONTH_S / agg * math.ceil(agg * 400 / 5120) * 5120 / 1024**3
    fh = r.line("Firehose", "ingestion (5 KB rounding)")
    assert fh.quantity == pytest.approx(features_gb + predictions_gb)


def test_direct_put_lines_are_billed_aggregated_per_extract_batch() -> None:
    """The 0.2.0-dev raw and features paths, still priced for the comparison."""
    fleet = Fleet(
        devices=1000,
        interval_s=1,
        kinesis_mode="provisioned",
        raw_path="direct_put",
        features_path="direct_put",
    )
    r = estimate(fleet, PRICES)
    batch = r.capacity.extract_batch_records
    line = 11_148 + 48
    records = math.ceil(batch * line / FIREHOSE_RECORD_MAX_BYTES)
    billed = records * math.ceil(batch * line / records / 5120) * 5120
    raw_gb = 1000 * MONTH_S / batch * billed / 1024**3
    fbilled = math.ceil(batch * 1000 / FIREHOSE_RECORD_MAX_BYTES)
    fbilled *= math.ceil(batch * 1000 / fbilled / 5120) * 5120
    features_gb = 1000 * MONTH_S / batch * fbilled / 1024**3
    agg = r.capacity.score_batch_records
    predictions_gb = 1000 * MONTH_S / agg * math.ceil(agg * 400 / 5120) * 5120 / 1024**3
    fh = r.line("Firehose", "ingestion (5 KB rounding)")
    assert fh.quantity == pytest.approx(raw_gb + features_gb + predictions_gb)
    # Against one 5 KB-rounded record per window (3 increments of an 11.2 KB line):
    assert raw_gb < 1000 * MONTH_S * 3 * 5120 / 1024**3 * 0.75


def test_contract_2_bills_two_iot_units_and_fewer_kinesis_bytes() -> None:
    v1 = estimate(Fleet(devices=10_000, interval_s=10, kinesis_mode="provisioned"), PRICES)
    v2 = estimate(
        Fleet(devices=10_000, interval_s=10, kinesis_mode="provisioned", contract=2), PRICES
    )
    assert v2.capacity.message_bytes == 8240
    rules = "rules triggered"
    assert v2.line("IoT Core", rules).quantity == pytest.approx(
        v1.line("IoT Core", rules).quantity * 2 / 3
    )
    assert v2.capacity.telemetry_shards < v1.capacity.telemetry_shards


def test_deployed_shards_price_the_stages_configured_streams() -> None:
    """prod's cdk.json is sized for 10,000 devices: a pilot on it pays for those shards."""
    result = CliRunner().invoke(
        app,
        ["cost", "--devices", "10", "--interval", "60", "--stage", "prod", "--deployed-shards",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    shards = out["deployed_shards"]["telemetry"] + out["deployed_shards"]["features"]
    kinesis = [line for line in out["lines"] if line["item"] == "shard-hours (provisioned)"]
    assert kinesis[0]["usd"] == pytest.approx(shards * 730 * 0.015)
    assert out["total_usd"] > _cli(10, 60)["total_usd"]
