"""The documented quotas against the fleet (rotorwatch.deployment.cost.quotas): issue 25."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from cli import app
from cli.cost import stage_config
from rotorwatch.deployment.cost.deployed import stage_quota_checks
from rotorwatch.deployment.cost.estimate import estimate
from rotorwatch.deployment.cost.fleet import Fleet, busiest_second_share, hottest_shard_share
from rotorwatch.deployment.cost.prices import load_prices
from rotorwatch.deployment.cost.quotas import LARGE_REGIONS, QUOTAS, binding, check

PRICES = load_prices()
STATED = Fleet(devices=10_000, interval_s=10, kinesis_mode="provisioned")


def _binds(fleet: Fleet, region: str | None) -> set[str]:
    return {q.key for q in binding(check(estimate(fleet, PRICES), region))}


def test_every_quota_has_a_documentation_source_and_a_positive_limit() -> None:
    for key, q in QUOTAS.items():
        assert q.source.startswith("https://docs.aws.amazon.com/"), key
        assert q.large_region_limit > 0, key
        assert q.other_region_limit > 0, key


def test_the_released_raw_path_was_over_the_direct_put_quota_at_the_stated_fleet() -> None:
    # Issue 25 item 1: ~10.7 MB/s of raw by Direct PUT, 5 MiB/s in Ireland (limits.html).
    assert "firehose_direct_put_throughput" in _binds(
        replace(STATED, raw_path="direct_put"), "eu-west-1"
    )
    # The deployed design (raw objects, Kinesis-sourced features) binds nothing, anywhere.
    assert _binds(STATED, "eu-west-1") == set()
    assert _binds(STATED, None) == set()


def test_direct_put_features_bind_the_small_regions_first() -> None:
    # ~1,000 B per window: 12,000 devices every 10 s are 1.14 MiB/s, over 1 MiB/s.
    fleet = replace(STATED, devices=12_000, features_path="direct_put")
    assert "firehose_direct_put_throughput" in _binds(fleet, "eu-central-1")
    assert "firehose_direct_put_throughput" not in _binds(fleet, "eu-west-1")
    assert "eu-west-1" in LARGE_REGIONS
    # Without a Region, the smallest value applies (the stack could go anywhere).
    assert "firehose_direct_put_throughput" in _binds(fleet, None)


def test_kinesis_shard_quota_binds_on_the_shards_a_stage_deploys() -> None:
    # prod deploys 16 telemetry shards, sized for 10,000 devices: the busiest shard writes 0.72
    # MiB/s on its mean and 0.97 in a busy second (mean + 3 sd; Kinesis counts per second). On
    # 12 shards that second held 1.24 MiB, over the quota although the mean (0.95) fitted;
    # 12,000 devices on 16 shards put ~1.13 MiB in one.
    prod = stage_config("prod")
    assert "kinesis_shard_write_bytes" not in {q.key for q in binding(stage_quota_checks(prod))}
    grown = dataclasses.replace(prod, fleet_devices=12_000)
    assert "kinesis_shard_write_bytes" in {q.key for q in binding(stage_quota_checks(grown))}
    twelve = dataclasses.replace(
        prod, telemetry_stream=dataclasses.replace(prod.telemetry_stream, shards=12)
    )
    assert "kinesis_shard_write_bytes" in {q.key for q in binding(stage_quota_checks(twelve))}


def test_the_cli_lists_every_quota_in_json_and_prints_the_binding_ones() -> None:
    result = CliRunner().invoke(
        app, ["cost", "--stage", "prod", "--devices", "10000", "--interval", "10", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {q["key"] for q in out["quotas"]} == set(QUOTAS)
    for q in out["quotas"]:
        assert {"name", "used", "limit", "unit", "source"} <= set(q)
    text = CliRunner().invoke(
        app,
        ["cost", "--stage", "prod", "--devices", "200000", "--interval", "10"],
        env={"COLUMNS": "400"},
    )
    assert text.exit_code == 0, text.output
    # prod's 12 telemetry shards carry 20x the fleet they were sized for.
    assert "quota: Kinesis write per shard (telemetry stream" in text.stdout
    assert (
        "none binds"
        in CliRunner()
        .invoke(app, ["cost", "--stage", "prod", "--devices", "10000", "--interval", "10"])
        .stdout
    )


def test_synth_warns_when_the_stages_fleet_exceeds_a_quota() -> None:
    from cdk_app.app import stage_warnings

    prod = stage_config("prod")
    assert prod.fleet_devices == 10_000
    assert not any("exceed a quota" in w for w in stage_warnings(prod))
    assert binding(stage_quota_checks(prod)) == []
    grown = dataclasses.replace(prod, fleet_devices=60_000)
    warnings = [w for w in stage_warnings(grown) if "exceed a quota" in w]
    assert any("SageMaker serverless concurrency per endpoint" in w for w in warnings)
    assert stage_quota_checks(stage_config("dev")) == []  # no fleet stated: nothing checked


def test_kinesis_shard_limits_agree_with_the_price_tables_sizing_rates() -> None:
    # The shard sizing (cost.fleet.shards_needed) reads the price table's copy of these.
    rate = PRICES.rate
    assert rate("kinesis", "shard_write_bytes_per_s") == pytest.approx(
        QUOTAS["kinesis_shard_write_bytes"].limit(None) * 1024**2
    )
    assert rate("kinesis", "shard_write_records_per_s") == QUOTAS[
        "kinesis_shard_write_records"
    ].limit(None)
    assert rate("kinesis", "shard_read_bytes_per_s") == pytest.approx(
        QUOTAS["kinesis_shard_read_bytes"].limit(None) * 1024**2
    )


def test_the_busiest_shards_busy_second_is_what_binds_not_the_mean() -> None:
    """10,000 devices every 10 s on 12 shards average 0.89 MiB/s per shard; devices spread by
    partition-key hash put mean + 2 sd on the busiest (0.95 MiB/s), and Kinesis counts the quota
    per second, in which that shard's count varies by about 9 windows around its 89: mean + 3
    sd is 1.24 MiB in a second, over the 1 MiB/s quota. prod therefore deploys 16 (issue 25)."""
    report = estimate(replace(STATED, telemetry_shards=12), PRICES)
    on_12 = check(report, "eu-west-1", deployed_shards=(12, 8))
    (hot,) = [q for q in on_12 if q.key == "kinesis_shard_write_bytes" and "telemetry" in q.what]
    assert hot.binds
    assert hot.used == pytest.approx(
        11_196_000 / 1024**2 * busiest_second_share(12, 10_000, 1_000.0)
    )
    assert 11_196_000 / 1024**2 * hottest_shard_share(12, 10_000) < 1.0  # the mean fits
    assert estimate(STATED, PRICES).capacity.telemetry_shards == 16
    assert stage_config("prod").telemetry_stream.shards == 16
