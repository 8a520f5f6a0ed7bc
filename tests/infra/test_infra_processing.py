"""The processing stack: functions, event source mappings, tables, alerts topic, grants."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from cdk_app.constructs.function import (
    PIP_PLATFORM,
    POWERTOOLS_LAYER_PARAMETER,
    LocalBundler,
    bundle_hash,
    runtime_requirements,
)
from rotorwatch.alerting.alerts import PAGING_SEVERITIES
from rotorwatch.deployment import resources
from rotorwatch.deployment.resources import EnvKey
from rotorwatch.lake import layout as lake
from tests.infra.cdk_helpers import Synth
from tests.infra.cdk_helpers import resources as of_type

ROOT = Path(__file__).resolve().parents[2]


def _functions(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        v["Properties"]["Handler"]: v["Properties"]
        for v in of_type(t, "AWS::Lambda::Function").values()
    }


def _statements(t: dict[str, Any], role_prefix: str) -> list[dict[str, Any]]:
    out = []
    for pol in of_type(t, "AWS::IAM::Policy").values():
        roles = json.dumps(pol["Properties"]["Roles"])
        if role_prefix in roles:
            out.extend(pol["Properties"]["PolicyDocument"]["Statement"])
    return out


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    acts: set[str] = set()
    for st in statements:
        acts.update(st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    return acts


def test_both_handlers_use_the_factory_defaults(synth: Synth) -> None:
    t = synth.template("Processing")
    fns = _functions(t)
    assert set(fns) == {
        resources.EXTRACT_FEATURES_HANDLER,
        resources.SCORE_AND_ALERT_HANDLER,
        resources.WATCHDOG_HANDLER,
        resources.FEEDBACK_HANDLER,
        resources.FEEDBACK_KEY_ROTATION_HANDLER,
    }
    for props in fns.values():
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        env = props["Environment"]["Variables"]
        assert env[EnvKey.STAGE] == "dev"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == resources.METRICS_NAMESPACE
        (layer,) = props["Layers"]
        # Resolved at deploy time from the public SSM parameter, never looked up at synth.
        param = t["Parameters"][layer["Ref"]]
        assert param["Type"] == "AWS::SSM::Parameter::Value<String>"
        assert param["Default"] == POWERTOOLS_LAYER_PARAMETER
    for lg in of_type(t, "AWS::Logs::LogGroup").values():
        assert lg["Properties"]["RetentionInDays"] == synth.built.config.function.log_retention_days
        assert "KmsKeyId" in lg["Properties"]


def test_environment_carries_every_name_the_handlers_need(synth: Synth) -> None:
    fns = _functions(synth.template("Processing"))
    ef = fns[resources.EXTRACT_FEATURES_HANDLER]["Environment"]["Variables"]
    assert {EnvKey.FEATURES_STREAM_NAME, EnvKey.QUARANTINE_BUCKET, EnvKey.ASSETS_TABLE} <= set(ef)
    sa = fns[resources.SCORE_AND_ALERT_HANDLER]["Environment"]["Variables"]
    assert {
        EnvKey.STATE_TABLE,
        EnvKey.ALERTS_TOPIC_ARN,
        EnvKey.PREDICTIONS_DELIVERY_STREAM,
        EnvKey.ENDPOINT_NAME,
        EnvKey.ATHENA_WORKGROUP,
        EnvKey.GLUE_DATABASE,
    } <= set(sa)
    expected = "" if "ml" in synth.built.skipped else "rotorwatch-dev-scoring"
    assert sa[EnvKey.ENDPOINT_NAME] == expected
    assert sa[EnvKey.ATHENA_WORKGROUP] == "rotorwatch-dev"


def test_event_source_mappings_bound_retries_and_report_partial_failures(synth: Synth) -> None:
    t = synth.template("Processing")
    esms = [v["Properties"] for v in of_type(t, "AWS::Lambda::EventSourceMapping").values()]
    assert len(esms) == 2
    queue = next(iter(of_type(t, "AWS::SQS::Queue")))
    cfg = synth.built.config
    for esm in esms:
        batch = (
            cfg.extract_features
            if "Telemetry" in json.dumps(esm["EventSourceArn"])
            else cfg.score_and_alert
        )
        assert esm["BatchSize"] == batch.batch_size
        assert esm["MaximumBatchingWindowInSeconds"] == batch.window_s
        assert esm["BisectBatchOnFunctionError"] is True
        assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert esm["MaximumRetryAttempts"] == batch.retry_attempts
        assert esm["MaximumRecordAgeInSeconds"] == batch.max_record_age_s
        assert esm["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": [queue, "Arn"]
        }
    q = of_type(t, "AWS::SQS::Queue")[queue]["Properties"]
    assert "KmsMasterKeyId" in q


def test_tables_have_pitr_kms_and_the_agreed_keys(synth: Synth) -> None:
    t = synth.template("Processing")
    tables = {k: v for k, v in of_type(t, "AWS::DynamoDB::Table").items()}
    keys = {}
    for name, tbl in tables.items():
        p = tbl["Properties"]
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert p["SSESpecification"]["SSEEnabled"] is True
        assert p["SSESpecification"]["SSEType"] == "KMS"
        assert tbl["DeletionPolicy"] == "Retain"
        keys[name.rstrip("0123456789ABCDEF")] = {
            (k["AttributeName"], k["KeyType"]) for k in p["KeySchema"]
        }
    assert keys["Assets"] == {("device_id", "HASH")}
    # The handler's StateStore keys items by device_id alone: a sort key would make every
    # read and write fail on DynamoDB with "key element does not match the schema".
    assert keys["State"] == {(resources.STATE_TABLE_PARTITION_KEY, "HASH")}


def test_alerts_topic_filters_sms_to_paging_and_email_to_all_severities(synth: Synth) -> None:
    t = synth.template("Processing")
    topic = next(iter(of_type(t, "AWS::SNS::Topic").values()))["Properties"]
    assert "KmsMasterKeyId" in topic
    subs = {
        s["Properties"]["Protocol"]: s["Properties"]
        for s in of_type(t, "AWS::SNS::Subscription").values()
    }
    # The handler's paging severities (an ALARM page is followed by its RECOVERY).
    assert resources.SMS_SEVERITIES == PAGING_SEVERITIES
    assert subs["sms"]["FilterPolicy"] == {resources.SEVERITY_ATTRIBUTE: ["ALARM", "RECOVERY"]}
    assert subs["email"]["FilterPolicy"] == {
        resources.SEVERITY_ATTRIBUTE: ["WARNING", "ALARM", "RECOVERY", "NO_DATA", "DATA_RESUMED"]
    }
    assert subs["sms"]["Endpoint"] == "+441234567890"
    # Filter on message attributes (the handler sets them), not the body.
    assert all(
        s.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
        for s in subs.values()
    )


def test_grants_are_least_privilege(synth: Synth) -> None:
    t = synth.template("Processing")
    ef = _statements(t, "ExtractFeaturesRole")
    sa = _statements(t, "ScoreAndAlertRole")
    ef_actions, sa_actions = _actions(ef), _actions(sa)
    assert not any(a in ("*", "s3:*", "kinesis:*", "dynamodb:*") for a in ef_actions | sa_actions)
    # The feature function writes to the features stream and the quarantine and raw prefixes.
    assert {"kinesis:PutRecords", "s3:PutObject"} <= ef_actions
    assert "dynamodb:PutItem" not in ef_actions
    assert not any(a.startswith("firehose:") for a in ef_actions)
    puts = [st for st in ef if "s3:PutObject" in json.dumps(st["Action"])]
    resources = json.dumps([st["Resource"] for st in puts])
    for prefix in (lake.QUARANTINE_PREFIX, lake.RAW_PREFIX):
        assert f'"/{prefix}*"' in resources, prefix
    assert resources.count('"/') == 2  # nothing else of the bucket
    # The scoring function writes state, alerts and predictions; to S3 only the feedback
    # prefix (the alerts technicians may answer, rotorwatch.alerting.feedback_lake.alert_row).
    assert {"dynamodb:UpdateItem", "sns:Publish", "firehose:PutRecordBatch"} <= sa_actions
    assert {a for a in sa_actions if a.startswith("s3:")} == {"s3:PutObject"}
    sa_puts = [st for st in sa if "s3:PutObject" in json.dumps(st["Action"])]
    assert [
        json.dumps(st["Resource"]).endswith(f'"/{lake.FEEDBACK_PREFIX}*"]]}}') for st in sa_puts
    ] == [True]
    # Issue 26 item 11: on the state table only the calls its code makes (it may not delete,
    # batch-write, scan or replace whole items), no assets table (it never reads it), no
    # re-encryption. (The feedback table's grants are for answer links: test_infra_feedback.)
    state = next(n for n in of_type(t, "AWS::DynamoDB::Table") if n.startswith("State"))
    on_state = [st for st in sa if state in json.dumps(st["Resource"])]
    dynamo = {a for a in _actions(on_state) if a.startswith("dynamodb:")}
    assert dynamo == {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
    assert not any(a.startswith("kms:ReEncrypt") for a in sa_actions)
    assets = next(n for n in of_type(t, "AWS::DynamoDB::Table") if n.startswith("Assets"))
    assert assets not in json.dumps(sa)
    if "ml" not in synth.built.skipped:
        invoke = [st for st in sa if st["Action"] == "sagemaker:InvokeEndpoint"]
        assert "endpoint/rotorwatch-dev-scoring" in json.dumps(invoke)


# ---- the Docker-free bundle ----------------------------------------------------------------


def test_runtime_requirements_are_the_pinned_core_dependencies() -> None:
    reqs = runtime_requirements(ROOT / "pyproject.toml")
    assert any(r.startswith("numpy==") for r in reqs)


def test_unpinned_lambda_dependency_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["numpy>=2"]\n')
    with pytest.raises(ValueError, match="pinned exactly"):
        runtime_requirements(tmp_path / "pyproject.toml")


def _fake_pip(tmp_path: Path, exit_code: int = 0) -> Path:
    log = tmp_path / "pip-args.json"
    script = tmp_path / "fake_pip.py"
    script.write_text(
        "import json, pathlib, sys\n"
        f"pathlib.Path({str(log)!r}).write_text(json.dumps(sys.argv[1:]))\n"
        "args = sys.argv[1:]\n"
        "target = pathlib.Path(args[args.index('--target') + 1])\n"
        "(target / 'numpy').mkdir(parents=True, exist_ok=True)\n"
        "(target / 'numpy' / '__init__.py').write_text('# fake wheel')\n"
        "(target / 'numpy' / '_core' / 'tests').mkdir(parents=True, exist_ok=True)\n"
        "(target / 'numpy' / '_core' / 'tests' / 'test_x.py').write_text('')\n"
        "(target / 'bin').mkdir(exist_ok=True)\n"
        f"sys.stderr.write('boom' if {exit_code} else '')\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_local_bundler_copies_sources_and_asks_pip_for_the_lambda_platform(tmp_path: Path) -> None:
    fake = _fake_pip(tmp_path)
    out = tmp_path / "bundle"
    out.mkdir()
    bundler = LocalBundler(ROOT, ["numpy==2.4.6"], pip=[sys.executable, str(fake)])
    assert bundler.try_bundle(str(out)) is True
    assert (out / "lambdas" / "extract_features" / "__init__.py").is_file()
    assert (out / "rotorwatch" / "contract" / "telemetry.py").is_file()
    assert not list(out.rglob("__pycache__"))
    assert (out / "numpy" / "__init__.py").is_file()
    assert (out / "numpy" / "_core").is_dir()
    assert not (out / "numpy" / "_core" / "tests").exists()  # pruned
    assert not (out / "bin").exists()
    args = json.loads((tmp_path / "pip-args.json").read_text())
    assert args[0] == "install"
    assert args[args.index("--platform") + 1] == PIP_PLATFORM == "manylinux_2_28_aarch64"
    assert args[args.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in args
    assert args[args.index("--target") + 1] == str(out)
    assert args[-1] == "numpy==2.4.6"


def test_local_bundler_reports_pip_failure(tmp_path: Path) -> None:
    fake = _fake_pip(tmp_path, exit_code=1)
    out = tmp_path / "bundle"
    out.mkdir()
    bundler = LocalBundler(ROOT, ["numpy==2.4.6"], pip=[sys.executable, str(fake)])
    with pytest.raises(RuntimeError, match=r"(?s)pip could not fetch.*boom"):
        bundler.try_bundle(str(out))


def test_skip_pip_copies_sources_only(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    LocalBundler(ROOT, ["numpy==2.4.6"], skip_pip=True, pip=["/nonexistent/pip"]).try_bundle(
        str(out)
    )
    assert (out / "lambdas").is_dir()
    assert not (out / "numpy").exists()


def test_bundle_hash_changes_with_sources_and_pins(tmp_path: Path) -> None:
    for pkg in ("rotorwatch", "lambdas"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    base = bundle_hash(tmp_path, ["numpy==2.4.6"], skip_pip=False)
    assert base == bundle_hash(tmp_path, ["numpy==2.4.6"], skip_pip=False)
    assert base != bundle_hash(tmp_path, ["numpy==2.4.5"], skip_pip=False)
    assert base != bundle_hash(tmp_path, ["numpy==2.4.6"], skip_pip=True)
    (tmp_path / "lambdas" / "x.py").write_text("x = 1")
    assert base != bundle_hash(tmp_path, ["numpy==2.4.6"], skip_pip=False)
    os.makedirs(tmp_path / "lambdas" / "__pycache__")
    (tmp_path / "lambdas" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    changed = bundle_hash(tmp_path, ["numpy==2.4.6"], skip_pip=False)
    assert changed == bundle_hash(tmp_path, ["numpy==2.4.6"], skip_pip=False)


def test_synthesized_bundle_mirrors_the_sources(synth: Synth) -> None:
    fn = _functions(synth.template("Processing"))[resources.EXTRACT_FEATURES_HANDLER]
    asset = synth.outdir / f"asset.{fn['Code']['S3Key'].removesuffix('.zip')}"

    def py_files(base: Path, pkg: str) -> set[str]:
        return {p.relative_to(base).as_posix() for p in (base / pkg).rglob("*.py")}

    for pkg in ("lambdas", "rotorwatch"):
        assert py_files(asset, pkg) == py_files(ROOT, pkg)
    assert not (asset / "numpy").exists()  # the unit synth skips pip


def test_watchdog_runs_on_a_schedule_with_the_configured_gap(synth: Synth) -> None:
    t = synth.template("Processing")
    env = _functions(t)[resources.WATCHDOG_HANDLER]["Environment"]["Variables"]
    assert env[EnvKey.SILENCE_AFTER_S] == "1800"  # default: 30 min
    assert {EnvKey.STATE_TABLE, EnvKey.ALERTS_TOPIC_ARN} <= set(env)
    (rule,) = of_type(t, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = rule["Properties"]["Targets"]
    assert "Watchdog" in json.dumps(target["Arn"])
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    perms = [
        p["Properties"]
        for p in of_type(t, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert len(perms) == 1


def test_watchdog_may_only_scan_and_update_state_and_publish(synth: Synth) -> None:
    t = synth.template("Processing")
    wd = _statements(t, "WatchdogRole")
    ddb = {a for a in _actions(wd) if a.startswith("dynamodb:")}
    assert ddb == {"dynamodb:Scan", "dynamodb:UpdateItem"}
    assert "sns:Publish" in _actions(wd)
    assert not any(a.split(":")[0] in ("s3", "kinesis", "firehose") for a in _actions(wd))
    scans = [st for st in wd if "dynamodb:Scan" in json.dumps(st["Action"])]
    assert all(
        "StateE" in json.dumps(st["Resource"]) or "State" in json.dumps(st["Resource"])
        for st in scans
    )
    assert not any("Assets" in json.dumps(st["Resource"]) for st in wd)
