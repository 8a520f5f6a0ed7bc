"""Deploy contracts: what a real account needs from the synthesized templates, which neither
moto nor template-shape tests see (``make check-deploy``; README, Testing, says what only a
real account can show).

Each test guards a *class* of mistake found in review (issue 18), not just the one instance:
saved queries Athena cannot run, retained resources that block a redeploy, IoT rule roles
missing what the IoT docs require, error paths that lose large messages, manual steps that
skip what the device policy reads, unpinned layers, Glue arguments matched by prefix, regions
without a serving image, stages that alert nobody, and checkov's findings on prod.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.infra.cdk_helpers import Synth
from tests.infra.cdk_helpers import resources as of_type

pytestmark = pytest.mark.deploy_contract

ROOT = Path(__file__).resolve().parents[2]


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _all_resources(templates: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for stack, t in templates.items():
        for rid, res in t["Resources"].items():
            yield stack, rid, res


# ---- item 2: saved queries run in the Athena console ----------------------------------------


def test_every_named_query_parses_as_athena_sql_with_only_question_mark_parameters(
    synth: Synth,
) -> None:
    import sqlglot
    from sqlglot import exp

    from rotorwatch.lake import query

    named = of_type(synth.template("Analytics"), "AWS::Athena::NamedQuery")
    assert len(named) == len(query.list_queries())
    for res in named.values():
        props = res["Properties"]
        text = props["QueryString"]
        (tree,) = sqlglot.parse(text, read="athena")  # one statement, valid Athena SQL
        placeholders = [p.sql(dialect="athena") for p in tree.find_all(exp.Placeholder)]
        assert set(placeholders) <= {"?"}, (props["Name"], placeholders)
        # Athena binds `?` execution parameters by position: one per @param line.
        assert len(placeholders) == len(query.load(props["Name"]).params), props["Name"]
        assert query.placeholders(text) == [], props["Name"]


# ---- item 3 and 9: retained resources -------------------------------------------------------

#: Properties that give a resource a fixed physical name.
NAME_PROPERTIES = frozenset(
    {
        "Name",
        "BucketName",
        "TableName",
        "LogGroupName",
        "LogStreamName",
        "TopicName",
        "QueueName",
        "FunctionName",
        "RoleName",
        "AliasName",
        "StreamName",
        "DeliveryStreamName",
    }
)
#: Properties that name *another* resource (the parent), not the resource itself.
PARENT_NAME_PROPERTIES = {"AWS::Logs::LogStream": {"LogGroupName"}}
#: What may outlive the stacks: it holds data (or protects data that is kept).
DATA_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::DynamoDB::Table",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::Logs::LogStream",
    }
)


def _retained(res: dict[str, Any]) -> bool:
    return "Retain" in (res.get("DeletionPolicy"), res.get("UpdateReplacePolicy"))


def test_only_data_is_retained_and_nothing_retained_has_a_fixed_name(synth: Synth) -> None:
    """A retained resource with a fixed name makes the stage's next deploy after `cdk destroy`
    fail on "already exists"; one that holds no data has no reason to be retained."""
    retained = [(s, rid, r) for s, rid, r in _all_resources(synth.templates) if _retained(r)]
    assert retained  # the lake, its key, the tables
    for stack, rid, res in retained:
        assert res["Type"] in DATA_TYPES, f"{stack}/{rid} ({res['Type']}) holds no data"
        named = NAME_PROPERTIES - PARENT_NAME_PROPERTIES.get(res["Type"], set())
        named &= set(res.get("Properties", {}))
        assert not named, f"{stack}/{rid} is retained with a fixed {sorted(named)}"


def test_retained_buckets_keep_their_tls_only_policies(synth: Synth) -> None:
    buckets = 0
    for stack, t in synth.templates.items():
        policies = {
            json.dumps(p["Properties"]["Bucket"]): p
            for p in of_type(t, "AWS::S3::BucketPolicy").values()
        }
        for rid, bucket in of_type(t, "AWS::S3::Bucket").items():
            if not _retained(bucket):
                continue
            buckets += 1
            policy = policies[json.dumps({"Ref": rid})]
            assert policy.get("DeletionPolicy") == "Retain", f"{stack}/{rid}: policy deleted"
            assert any(
                s["Effect"] == "Deny"
                and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
            )
    assert buckets == 2


# ---- items 4 and 5: IoT rule actions --------------------------------------------------------

#: What each IoT rule action's role must allow, per the IoT developer guide's action pages.
IOT_ACTION_PERMISSIONS: dict[str, frozenset[str]] = {
    "Kinesis": frozenset({"kinesis:PutRecord"}),
    "S3": frozenset({"s3:PutObject"}),
    "CloudwatchLogs": frozenset(
        {"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}
    ),
    "Republish": frozenset({"iot:Publish"}),
    "Firehose": frozenset({"firehose:PutRecord"}),
    "Sqs": frozenset({"sqs:SendMessage"}),
    "Sns": frozenset({"sns:Publish"}),
}
#: The largest payload each action delivers (bytes); None: no limit that matters here.
IOT_ACTION_MAX_PAYLOAD: dict[str, int | None] = {
    "S3": None,
    "Kinesis": 1024 * 1024,
    "Firehose": 1000 * 1024,
    "Sqs": 256 * 1024,
    "Sns": 256 * 1024,
    "CloudwatchLogs": 256 * 1024,
    "Republish": 128 * 1024,  # an MQTT publish
}


def _role_actions(template: dict[str, Any]) -> dict[str, set[str]]:
    """Role logical id -> every action its identity policies allow."""
    out: dict[str, set[str]] = {}
    for pol in of_type(template, "AWS::IAM::Policy").values():
        acts = {
            a
            for st in pol["Properties"]["PolicyDocument"]["Statement"]
            if st["Effect"] == "Allow"
            for a in _listify(st["Action"])
        }
        for role in pol["Properties"].get("Roles", []):
            out.setdefault(role["Ref"], set()).update(acts)
    return out


def missing_rule_permissions(template: dict[str, Any]) -> list[str]:
    """Every IoT rule action (and error action) whose role lacks a documented permission."""
    roles = _role_actions(template)
    problems = []
    for rid, rule in of_type(template, "AWS::IoT::TopicRule").items():
        payload = rule["Properties"]["TopicRulePayload"]
        actions = [*payload.get("Actions", []), *_listify(payload.get("ErrorAction", []))]
        for action in actions:
            ((kind, props),) = action.items()
            if kind not in IOT_ACTION_PERMISSIONS:
                problems.append(f"{rid}: {kind} has no documented permissions in this test")
                continue
            role = props["RoleArn"]["Fn::GetAtt"][0]
            missing = IOT_ACTION_PERMISSIONS[kind] - roles.get(role, set())
            if missing:
                problems.append(f"{rid}: {kind} role {role} lacks {sorted(missing)}")
    return problems


def test_every_iot_rule_action_role_has_what_the_iot_docs_require(synth: Synth) -> None:
    template = synth.template("Ingestion")
    assert of_type(template, "AWS::IoT::TopicRule")
    assert missing_rule_permissions(template) == []


def test_the_permission_check_catches_a_logs_action_without_describe_log_streams() -> None:
    """The mistake of issue 18 item 4, built on purpose: the check must report it."""
    template = {
        "Resources": {
            "Rule": {
                "Type": "AWS::IoT::TopicRule",
                "Properties": {
                    "TopicRulePayload": {
                        "Actions": [
                            {"CloudwatchLogs": {"RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}}}
                        ]
                    }
                },
            },
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": "x",
                            }
                        ]
                    },
                },
            },
        }
    }
    assert missing_rule_permissions(template) == [
        "Rule: CloudwatchLogs role Role lacks ['logs:DescribeLogStreams']"
    ]


def test_the_error_action_keeps_the_largest_message_a_device_may_send(synth: Synth) -> None:
    """The error action receives IoT Core's error document: the failed message in base64 plus
    metadata. It must take the largest message the contract allows, or that message is lost."""
    from rotorwatch.contract.telemetry import MAX_MESSAGE_BYTES

    error_document = math.ceil(MAX_MESSAGE_BYTES / 3) * 4 + 4096  # base64 + metadata
    rules = of_type(synth.template("Ingestion"), "AWS::IoT::TopicRule")
    for rid, rule in rules.items():
        error_action = rule["Properties"]["TopicRulePayload"].get("ErrorAction")
        assert error_action, f"{rid} has no error action: failed messages would vanish"
        ((kind, _),) = error_action.items()
        limit = IOT_ACTION_MAX_PAYLOAD[kind]
        assert limit is None or limit >= error_document, f"{rid}: {kind} takes {limit} B"


def test_every_rule_failure_and_error_action_failure_is_alarmed(synth: Synth) -> None:
    rules = {
        r["Properties"]["RuleName"]
        for r in of_type(synth.template("Ingestion"), "AWS::IoT::TopicRule").values()
    }
    alarmed: dict[str, set[str]] = {}
    for alarm in of_type(synth.template("Operations"), "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("Namespace") != "AWS/IoT":
            continue
        rule = {d["Name"]: d["Value"] for d in props["Dimensions"]}["RuleName"]
        alarmed.setdefault(rule, set()).add(props["MetricName"])
    for rule in rules:
        assert {"Failure", "ErrorActionFailure"} <= alarmed.get(rule, set()), rule


# ---- item 7: manual provisioning gives the thing what the policy reads ---------------------


def _shell_commands(markdown: str) -> Iterator[list[str]]:
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", markdown, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            code = line.split(" #", 1)[0].strip()
            if code.startswith("aws "):
                yield shlex.split(code)


def test_documented_create_thing_sets_every_attribute_the_device_policy_reads() -> None:
    from rotorwatch.contract.iot_policy import device_policy_document

    policy = json.dumps(device_policy_document(region="r", account_id="1"))
    needed = set(re.findall(r"Thing\.Attributes\[(\w+)\]", policy))
    assert needed == {"site"}
    found = 0
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for argv in _shell_commands(doc.read_text()):
            if argv[:3] != ["aws", "iot", "create-thing"]:
                continue
            found += 1
            assert "--attribute-payload" in argv, f"{doc.name}: {' '.join(argv)}"
            payload = json.loads(argv[argv.index("--attribute-payload") + 1])
            assert needed <= set(payload["attributes"]), f"{doc.name}: {payload}"
    assert found, "no manual `aws iot create-thing` documented"


# ---- item 8: SMS in a new account ------------------------------------------------------------


def test_a_stage_with_phone_numbers_alarms_on_failed_deliveries_and_sms_spend(
    prod_synth: Synth,
) -> None:
    config = prod_synth.built.config
    assert config.alert_phone_numbers
    alarms = {
        k.rstrip("0123456789ABCDEF"): v["Properties"]
        for k, v in of_type(prod_synth.template("Operations"), "AWS::CloudWatch::Alarm").items()
    }
    failed = alarms["AlertDeliveriesFailed"]
    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/SNS", "NumberOfNotificationsFailed")
    spend = alarms["SmsMonthToDateSpend"]
    assert (spend["Namespace"], spend["MetricName"]) == ("AWS/SNS", "SMSMonthToDateSpentUSD")
    assert spend["Threshold"] == config.alarms.sms_spend_usd
    assert "Dimensions" not in spend  # an account-wide metric


def test_readme_tells_how_sms_really_behaves_in_a_new_account() -> None:
    deploy = _section(ROOT / "README.md", "Deploy")
    assert "sandbox" in deploy
    assert "spend limit" in deploy
    assert not re.search(r"SMS[^.]*receive a confirmation", deploy)


def _section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


# ---- item 9: what the stacks resolve at deploy time is pinned -------------------------------


def test_powertools_layer_is_the_version_the_tests_ran(synth: Synth) -> None:
    from cdk_app.constructs.function import POWERTOOLS_LAYER_PARAMETER, POWERTOOLS_VERSION

    assert metadata.version("aws-lambda-powertools") == POWERTOOLS_VERSION
    defaults = {
        p.get("Default")
        for p in synth.template("Processing").get("Parameters", {}).values()
        if p["Type"] == "AWS::SSM::Parameter::Value<String>"
    }
    assert POWERTOOLS_LAYER_PARAMETER in defaults
    assert not any(str(d).endswith("/latest") for d in defaults)
    assert POWERTOOLS_LAYER_PARAMETER.endswith(f"/python3.12/{POWERTOOLS_VERSION}")


def test_glue_job_arguments_parse_by_their_exact_names(synth: Synth) -> None:
    from glue_jobs.machine_health import parse_args
    from rotorwatch.lake import layout as lake

    (job,) = of_type(synth.template("Analytics"), "AWS::Glue::Job").values()
    argv = ["machine_health.py", "--JOB_NAME", "machine-health"]
    for key, value in job["Properties"]["DefaultArguments"].items():
        argv += [key, value if isinstance(value, str) else "s3://lake/"]
    assert parse_args(argv)[lake.JOB_ARG_LAKE_URI] == "s3://lake/"
    # A prefix of the name is not the name (it only ever worked by argparse's abbreviations).
    with pytest.raises(SystemExit):
        parse_args(["machine_health.py", "--lake", "s3://lake/"])


def test_a_region_without_the_serving_image_fails_synth_and_deploy(synth: Synth) -> None:
    from cdk_app.stacks.ml import UnsupportedRegionError, check_region, sklearn_image_accounts

    accounts = sklearn_image_accounts()
    check_region("eu-west-1", accounts)
    check_region(None, accounts)  # environment-agnostic: the template's rule checks it
    with pytest.raises(UnsupportedRegionError, match=r"deploy to one of .*eu-west-1"):
        check_region("xx-nowhere-1", accounts)
    if "ml" in synth.built.skipped:
        pytest.skip(synth.built.skipped["ml"])
    template = synth.template("Ml")
    (assertion,) = template["Rules"]["SupportedRegion"]["Assertions"]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert region == {"Ref": "AWS::Region"}
    assert regions == sorted(template["Mappings"]["SklearnImageAccount"])


@pytest.mark.slow
def test_a_stage_without_recipients_is_told_at_synth_time(tmp_path: Path) -> None:
    from aws_cdk.cx_api import SynthesisMessageLevel

    from cdk_app.app import build_app, load_cdk_json_context
    from cdk_app.constructs.function import SKIP_PIP_CONTEXT

    context = {**load_cdk_json_context(), SKIP_PIP_CONTEXT: True}  # dev: nobody subscribed
    built = build_app(
        context, outdir=str(tmp_path), builtin_validation=False, env={}, strict_artifacts=False
    )
    assert any("alert_emails" in w for w in built.warnings)
    assert any("ops_emails" in w for w in built.warnings)
    assembly = built.app.synth()
    warnings = {
        str(m.entry.data)
        for stack in assembly.stacks
        for m in stack.messages
        if m.level == SynthesisMessageLevel.WARNING
    }
    assert any("machine alerts will reach nobody" in w for w in warnings)
    assert any("alarms will notify nobody" in w for w in warnings)


# ---- reserved concurrency -------------------------------------------------------------------


def test_prod_reserves_concurrency_and_says_what_the_account_needs(
    synth: Synth, prod_synth: Synth
) -> None:
    prod = prod_synth.built.config
    reserved = {
        f["Properties"]["Handler"]: f["Properties"].get("ReservedConcurrentExecutions")
        for f in of_type(prod_synth.template("Processing"), "AWS::Lambda::Function").values()
    }
    assert all(reserved.values()), reserved
    assert sum(reserved.values()) == prod.reserved_concurrency
    assert prod.account_concurrency_needed == prod.reserved_concurrency + 100
    assert any(str(prod.account_concurrency_needed) in w for w in prod_synth.built.warnings)
    # dev reserves nothing: it deploys into a new account (Lambda quota 10).
    dev_functions = of_type(synth.template("Processing"), "AWS::Lambda::Function").values()
    assert not any("ReservedConcurrentExecutions" in f["Properties"] for f in dev_functions)


# ---- checkov beside cdk-nag -----------------------------------------------------------------

CHECKOV = Path(os.environ.get("RW_CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))


@pytest.mark.slow
def test_checkov_finds_nothing_unacknowledged_in_the_prod_templates(prod_synth: Synth) -> None:
    if not CHECKOV.exists():
        if os.environ.get("RW_REQUIRE_CHECKOV"):
            pytest.fail(f"checkov not found at {CHECKOV} (make check-deploy installs it)")
        pytest.skip(f"checkov not installed at {CHECKOV}: run `make check-deploy`")
    templates = sorted(str(p) for p in prod_synth.outdir.glob("*.template.json"))
    result = subprocess.run(
        [str(CHECKOV), "--framework", "cloudformation", "--skip-download", "-o", "json"]
        + [arg for t in templates for arg in ("-f", t)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0  # an unparsed template would pass unseen
    assert summary["resource_count"] == sum(
        len(t["Resources"]) for t in prod_synth.templates.values()
    )
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == [], "new checkov findings: fix them or skip_checkov() with a reason"
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment") or ""
        assert len(reason.split()) >= 4, skipped["check_id"]


# ---- CDK's built-in template validation -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_cdk_builtin_validation_reports_nothing_unacknowledged(tmp_path: Path, stage: str) -> None:
    """Every synth runs CDK's CloudFormation validation; what it reports is either fixed or
    acknowledged next to the construct with a reason (`Validations.of(scope).acknowledge`), so
    a new finding shows up as a failure here instead of as one more line users learn to skip."""
    from cdk_app.app import build_app, load_cdk_json_context
    from cdk_app.constructs.function import SKIP_PIP_CONTEXT

    context = {**load_cdk_json_context(), SKIP_PIP_CONTEXT: True, "stage": stage}
    built = build_app(
        context, outdir=str(tmp_path), builtin_validation=True, env={}, strict_artifacts=False
    )
    built.app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    plugins = report["pluginReports"]
    assert plugins, "CDK's built-in validation did not run"
    found = [
        f"{v['severity']} {v['ruleName']} in "
        f"{[c['constructPath'] for c in v['violatingConstructs']]}: {v['description']}"
        for plugin in plugins
        for v in plugin["violations"]
    ]
    assert found == [], "\n".join(found)
