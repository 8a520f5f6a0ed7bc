"""Raw retention as prod deploys it (lake.raw_keep_enabled): the daily sampling job, its
least-privilege role, the kept table and prefix, and raw expiry still applying to raw/ only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rotorwatch.lake import layout as lake
from rotorwatch.lake import raw_keep
from tests.infra.cdk_helpers import Synth, resources


def _job(t: dict[str, Any], name: str) -> dict[str, Any]:
    (props,) = [
        r["Properties"] for cid, r in resources(t, "AWS::Glue::Job").items() if cid.startswith(name)
    ]
    return props


def _role_statements(t: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    (role_id,) = [cid for cid in resources(t, "AWS::IAM::Role") if cid.startswith(role_prefix)]
    out: list[dict[str, Any]] = []
    for policy in resources(t, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def _actions(st: dict[str, Any]) -> set[str]:
    a = st["Action"]
    return {a} if isinstance(a, str) else set(a)


def _prefixes(st: dict[str, Any]) -> set[str]:
    res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
    text = [json.dumps(r) for r in res]
    return {
        p
        for p in (
            lake.RAW_PREFIX,
            lake.PREDICTIONS_PREFIX,
            lake.RAW_KEPT_PREFIX,
            lake.FEATURES_PREFIX,
            lake.CURATED_PREFIX,
        )
        if any(f"/{p}*" in s for s in text)
    }


def test_prod_runs_the_sampling_job_daily_with_the_stage_s_rule(prod_synth: Synth) -> None:
    cfg = prod_synth.built.config.lake
    assert cfg.raw_keep_enabled
    assert cfg.raw_expire_days is not None
    t = prod_synth.template("Analytics")
    job = _job(t, "RawKeepJob")
    assert job["GlueVersion"] == "5.0"
    assert "SecurityConfiguration" in job
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] == 1
    args = job["DefaultArguments"]
    assert args[f"--{lake.JOB_ARG_KEEP_MINUTES}"] == str(cfg.raw_keep_minutes)
    assert args[f"--{lake.JOB_ARG_SAMPLES_PER_HOUR}"] == str(cfg.raw_keep_per_hour)
    assert args[f"--{lake.JOB_ARG_RAW_EXPIRE_DAYS}"] == str(cfg.raw_expire_days)
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert "--extra-py-files" in args
    assert f"--{lake.JOB_ARG_LAKE_URI}" in args
    assert json.dumps(job["Command"]["ScriptLocation"]).count(".py") == 1
    (trigger,) = [
        r["Properties"]
        for r in resources(t, "AWS::Glue::Trigger").values()
        if r["Properties"]["Schedule"] == raw_keep.JOB_SCHEDULE_CRON
    ]
    assert trigger["Type"] == "SCHEDULED"
    assert trigger["StartOnCreation"] is True
    assert raw_keep.JOB_SCHEDULE_CRON == "cron(45 1 * * ? *)"  # daily, once


def test_the_sampling_role_reads_raw_and_predictions_and_writes_raw_kept_only(
    prod_synth: Synth,
) -> None:
    t = prod_synth.template("Analytics")
    statements = _role_statements(t, "RawKeepJobRole")
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    reads = [s for s in s3_statements if _actions(s) == {"s3:GetObject"}]
    writes = [s for s in s3_statements if _actions(s) & {"s3:PutObject", "s3:DeleteObject"}]
    assert set().union(*(_prefixes(s) for s in reads)) == {
        lake.RAW_PREFIX,
        lake.PREDICTIONS_PREFIX,
        lake.RAW_KEPT_PREFIX,
    }
    assert [_prefixes(s) for s in writes] == [{lake.RAW_KEPT_PREFIX}]
    assert not any(a.startswith("glue:") for s in statements for a in _actions(s))


def test_the_kept_table_is_in_the_catalog_partitioned_by_day(prod_synth: Synth) -> None:
    t = prod_synth.template("Analytics")
    (table,) = [
        r["Properties"]["TableInput"]
        for r in resources(t, "AWS::Glue::Table").values()
        if r["Properties"]["TableInput"]["Name"] == lake.RAW_KEPT_TABLE
    ]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month", "day"]
    assert lake.RAW_KEPT_PREFIX in json.dumps(table["StorageDescriptor"]["Location"])
    assert table["Parameters"]["classification"] == "parquet"


def _rules(synth: Synth) -> dict[str, dict[str, Any]]:
    buckets = resources(synth.template("Storage"), "AWS::S3::Bucket")
    (lake_bucket,) = [b for cid, b in buckets.items() if cid.startswith("Lake")]
    return {r["Id"]: r for r in lake_bucket["Properties"]["LifecycleConfiguration"]["Rules"]}


def test_kept_windows_do_not_expire_and_raw_still_does(prod_synth: Synth) -> None:
    rules = _rules(prod_synth)
    cfg = prod_synth.built.config.lake
    kept = rules["raw-kept-tiering"]
    assert kept["Prefix"] == lake.RAW_KEPT_PREFIX
    assert "ExpirationInDays" not in kept
    assert [(x["StorageClass"], x["TransitionInDays"]) for x in kept["Transitions"]] == [
        ("STANDARD_IA", cfg.raw_ia_after_days)
    ]
    raw = rules["raw-tiering"]
    assert raw["Prefix"] == lake.RAW_PREFIX
    assert raw["ExpirationInDays"] == cfg.raw_expire_days
    assert not lake.RAW_KEPT_PREFIX.startswith(lake.RAW_PREFIX)  # raw's rule cannot reach it


def test_dev_deploys_no_sampling_job_and_no_kept_rule(synth: Synth) -> None:
    assert not synth.built.config.lake.raw_keep_enabled
    assert "raw-kept-tiering" not in _rules(synth)
    jobs = resources(synth.template("Analytics"), "AWS::Glue::Job")
    assert not any(cid.startswith("RawKeepJob") for cid in jobs)


def test_synth_refuses_an_expiry_that_leaves_the_job_no_day(tmp_path: Any) -> None:
    from cdk_app.app import build_app, load_cdk_json_context
    from rotorwatch.deployment.stage import ConfigError

    context = load_cdk_json_context()
    context["stage"] = "prod"
    context["rotorwatch:stages"]["prod"]["lake"]["raw_expire_days"] = 2
    with pytest.raises(ConfigError, match=r"raw_expire_days \(2\) must be >= 4"):
        build_app(
            context, outdir=str(tmp_path), builtin_validation=False, env={}, strict_artifacts=False
        )


def test_cdk_synth_says_in_one_line_why_the_expiry_is_too_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cdk_app import app as cdk_app_main

    context = cdk_app_main.load_cdk_json_context()
    context["stage"] = "prod"
    context["rotorwatch:stages"]["prod"]["lake"]["raw_expire_days"] = 3
    monkeypatch.setattr(cdk_app_main, "load_cdk_json_context", lambda: context)
    with pytest.raises(SystemExit) as exited:
        cdk_app_main.main()
    message = str(exited.value.code)
    assert message.startswith("rotorwatch synth: lake.raw_expire_days (3) must be >= 4")
    assert "\n" not in message
