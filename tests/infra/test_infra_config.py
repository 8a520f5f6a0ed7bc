"""The typed stage config: cdk.json stages parse, bad values fail with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from rotorwatch.deployment.stage import ConfigError, from_context, parse_stage


def _ctx(**dev: Any) -> dict[str, Any]:
    return {"stage": "dev", "rotorwatch:stages": {"dev": dev}}


def test_cdk_json_stages_parse() -> None:
    from cdk_app.app import load_cdk_json_context

    ctx = load_cdk_json_context()
    for stage in ctx["rotorwatch:stages"]:
        cfg = from_context({**ctx, "stage": stage})
        assert cfg.stage == stage
        assert cfg.firehose.parquet_buffer_mib >= 64
    prod = from_context({**ctx, "stage": "prod"})
    assert prod.telemetry_stream.retention_hours == 168
    assert prod.alert_phone_numbers == ("+441234567890",)


def test_account_and_region_come_from_context_then_cli_env_never_lookups() -> None:
    assert from_context(_ctx()).account is None
    env = {"CDK_DEFAULT_ACCOUNT": "111111111111", "CDK_DEFAULT_REGION": "eu-west-1"}
    cfg = from_context(_ctx(), env)
    assert (cfg.account, cfg.region) == ("111111111111", "eu-west-1")
    cfg = from_context({**_ctx(), "account": "222222222222", "region": "us-east-1"}, env)
    assert (cfg.account, cfg.region) == ("222222222222", "us-east-1")


def test_overrides_merge_over_defaults() -> None:
    cfg = parse_stage("dev", {"streams": {"telemetry": {"mode": "provisioned", "shards": 4}}})
    assert (cfg.telemetry_stream.mode, cfg.telemetry_stream.shards) == ("provisioned", 4)
    assert cfg.features_stream.mode == "on-demand"
    wd = parse_stage("dev", {"watchdog": {"silence_after_s": 600}}).watchdog
    assert (wd.silence_after_s, wd.rate_minutes) == (600, 5)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"firehose": {"parquet_buffer_mib": 32}}, "parquet_buffer_mib"),
        ({"streams": {"telemetry": {"mode": "fast"}}}, "mode"),
        ({"alert_phone_numbers": ["01234 567890"]}, "E.164"),
        ({"alert_emails": ["not-an-address"]}, "e-mail"),
        ({"lake": {"raw_ia_after_days": 60, "raw_glacier_after_days": 70}}, "raw_glacier"),
        ({"lambda": {"log_retention_days": 10}}, "log_retention_days"),
        ({"endpoint": {"memory_mb": 1500}}, "memory_mb"),
        ({"shards": 3}, "unknown setting"),
        ({"watchdog": {"silence_after_s": 10}}, "silence_after_s"),
        # A reservation below what the stream needs throttles from the first batch: an
        # on-demand stream starts with 4 shards, a provisioned one has its own.
        ({"extract_features": {"reserved_concurrency": 3}}, "4 shards x parallelization 1"),
        (
            {
                "streams": {"features": {"mode": "provisioned", "shards": 2}},
                "score_and_alert": {"parallelization": 3, "reserved_concurrency": 5},
            },
            "below the 6 concurrent batches",
        ),
        ({"watchdog": {"reserved_concurrency": 0}}, "reserved_concurrency"),
        ({"alarms": {"sms_spend_usd": 0}}, "sms_spend_usd"),
    ],
)
def test_bad_values_are_rejected_with_the_setting_named(
    override: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_stage("dev", override)


def test_reserved_concurrency_is_summed_with_the_unreserved_floor() -> None:
    dev = parse_stage("dev", {})
    assert (dev.reserved_concurrency, dev.account_concurrency_needed) == (0, 0)
    cfg = parse_stage(
        "prod",
        {
            "extract_features": {"reserved_concurrency": 8},
            "score_and_alert": {"reserved_concurrency": 4},
            "watchdog": {"reserved_concurrency": 1},
        },
    )
    # + the feedback function (5) and its key rotation (1), which reserve where others do.
    assert (cfg.reserved_concurrency, cfg.account_concurrency_needed) == (19, 119)


def test_unknown_stage_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="'qa' is not defined"):
        from_context({"stage": "qa", "rotorwatch:stages": {"dev": {}}})
