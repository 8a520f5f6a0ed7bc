"""The operations stack: dashboard coverage and the alarms on-call acts on."""

from __future__ import annotations

import json
import re
from typing import Any

from rotorwatch.deployment import resources
from tests.infra.cdk_helpers import Synth, only
from tests.infra.cdk_helpers import resources as of_type


def _alarms(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in of_type(t, "AWS::CloudWatch::Alarm").items()}


def _by_prefix(alarms: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    # The construct id plus CDK's 8-hex-digit hash: IotRuleErrors is not IotRuleErrorsV2.
    (found,) = [v for k, v in alarms.items() if re.fullmatch(f"{prefix}[0-9A-F]{{8}}", k)]
    return found


def test_dashboard_shows_every_signal_the_issue_lists(synth: Synth) -> None:
    body = json.dumps(
        only(synth.template("Operations"), "AWS::CloudWatch::Dashboard")["DashboardBody"]
    )
    for needle in (
        "IncomingRecords",
        "IteratorAge",
        "GetRecords.IteratorAgeMilliseconds",
        "Errors",
        "Duration",
        "Throttles",
        resources.QUARANTINED_RECORDS_METRIC,
        resources.ALERTS_SENT_METRIC,
        "DeliveryToS3.DataFreshness",
        "FailedConversion.Records",
        "TopicMatch",
        "NumberOfNotificationsFailed",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert needle in body, needle
    if "ml" not in synth.built.skipped:
        for needle in ("Invocations", "ModelLatency", "Invocation5XXErrors"):
            assert needle in body, needle


def test_alarms_use_config_thresholds_and_notify_the_ops_topic(synth: Synth) -> None:
    t = synth.template("Operations")
    alarms = _alarms(t)
    th = synth.built.config.alarms
    topic = next(iter(of_type(t, "AWS::SNS::Topic")))
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic}]
        assert props["OKActions"] == [{"Ref": topic}]
        assert props["TreatMissingData"] == "notBreaching"
        assert "runbook" in props["AlarmDescription"]
    assert _by_prefix(alarms, "ExtractFeaturesIteratorAge")["Threshold"] == th.iterator_age_ms
    assert _by_prefix(alarms, "ScoreAndAlertErrors")["Threshold"] == th.lambda_errors
    q = _by_prefix(alarms, "QuarantinedRecords")
    assert q["Threshold"] == th.quarantined_records
    assert q["Namespace"] == resources.METRICS_NAMESPACE
    assert q["Dimensions"] == [{"Name": "service", "Value": resources.POWERTOOLS_SERVICE}]
    assert _by_prefix(alarms, "FeaturesFreshness")["Threshold"] == th.firehose_freshness_s
    iot = _by_prefix(alarms, "IotRuleErrors")
    assert iot["Threshold"] == th.iot_rule_errors
    assert (iot["Namespace"], iot["MetricName"]) == ("AWS/IoT", "Failure")
    assert {d["Name"]: d["Value"] for d in iot["Dimensions"]} == {
        "RuleName": "rotorwatch_dev_telemetry",
        "ActionType": "Kinesis",
    }
    lost = _by_prefix(alarms, "IotRuleErrorActionFailures")
    assert lost["MetricName"] == "ErrorActionFailure"
    assert {d["Name"]: d["Value"] for d in lost["Dimensions"]} == {
        "RuleName": "rotorwatch_dev_telemetry",
        "ActionType": "S3",
    }
    # The v2 rule gets the same pair (from IngestionStack.rule_names, not a list here).
    iot_v2 = _by_prefix(alarms, "IotRuleErrorsV2")
    assert {d["Name"]: d["Value"] for d in iot_v2["Dimensions"]} == {
        "RuleName": "rotorwatch_dev_telemetry_v2",
        "ActionType": "Kinesis",
    }
    lost_v2 = _by_prefix(alarms, "IotRuleErrorActionFailuresV2")
    assert {d["Name"]: d["Value"] for d in lost_v2["Dimensions"]} == {
        "RuleName": "rotorwatch_dev_telemetry_v2",
        "ActionType": "S3",
    }
    assert _by_prefix(alarms, "FailedBatches")["Threshold"] == 1
    endpoint = [k for k in alarms if k.startswith("EndpointErrors")]
    assert len(endpoint) == (0 if "ml" in synth.built.skipped else 1)


def test_ops_topic_is_encrypted_and_subscribed(synth: Synth) -> None:
    t = synth.template("Operations")
    assert "KmsMasterKeyId" in only(t, "AWS::SNS::Topic")
    sub = only(t, "AWS::SNS::Subscription")
    assert (sub["Protocol"], sub["Endpoint"]) == ("email", "oncall@example.com")


def _services(principal: Any) -> set[str]:
    if not isinstance(principal, dict) or "Service" not in principal:
        return set()
    services = (
        principal["Service"] if isinstance(principal["Service"], list) else [principal["Service"]]
    )
    # A regional principal (logs.<region>.amazonaws.com) is an Fn::Join: kept as its JSON.
    return {s if isinstance(s, str) else json.dumps(s, sort_keys=True) for s in services}


def test_every_service_that_publishes_to_an_encrypted_topic_may_use_its_key(
    synth: Synth,
) -> None:
    """An AWS service publishing to a KMS-encrypted topic needs kms:GenerateDataKey* and
    kms:Decrypt in the key policy, or SNS drops the message (moto does not check). The class:
    every service a topic policy allows, CloudWatch for every alarm action, EventBridge for
    every rule target, on every encrypted topic of the app."""
    from cdk_app.publishers import KEY_USE

    key = only(synth.template("Storage"), "AWS::KMS::Key")
    allowed: dict[str, set[str]] = {}
    for st in key["KeyPolicy"]["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        # Only a grant under conditions the service documents as supplied lets it encrypt
        # (sns-key-management.html: no source conditions for EventBridge in the key policy).
        condition_keys = {k for op in st.get("Condition", {}).values() for k in op}
        for service in _services(st.get("Principal")):
            use = KEY_USE.get(service)
            if use is not None and not condition_keys <= use.allowed_condition_keys:
                continue
            allowed.setdefault(service, set()).update(actions)
    publishers: set[str] = set()
    for template in synth.templates.values():
        encrypted = {
            rid
            for rid, r in of_type(template, "AWS::SNS::Topic").items()
            if "KmsMasterKeyId" in r["Properties"]
        }
        refs = [{"Ref": rid} for rid in encrypted]
        for policy in of_type(template, "AWS::SNS::TopicPolicy").values():
            if any(t in refs for t in policy["Properties"]["Topics"]):
                for st in policy["Properties"]["PolicyDocument"]["Statement"]:
                    if st["Effect"] == "Allow":
                        publishers |= _services(st.get("Principal"))
        for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
            if any(a in refs for a in alarm["Properties"].get("AlarmActions", [])):
                publishers.add("cloudwatch.amazonaws.com")
        for rule in of_type(template, "AWS::Events::Rule").values():
            if any(t["Arn"] in refs for t in rule["Properties"].get("Targets", [])):
                publishers.add("events.amazonaws.com")
    assert publishers >= {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for service in publishers:
        actions = allowed.get(service, set())
        assert "kms:GenerateDataKey*" in actions, service
        assert "kms:Decrypt" in actions, service


def test_ops_topic_policy_lets_this_accounts_alarms_publish(synth: Synth) -> None:
    # A topic policy replaces SNS's default one: CloudWatch needs its own allow, scoped to our
    # account's alarms, next to the TLS-only deny.
    (policy,) = of_type(synth.template("Operations"), "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    (allow,) = [s for s in allows if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert ":alarm:*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    # Nothing else may publish but the Glue-failure rule, named by its ARN.
    others = [s for s in allows if s is not allow]
    assert [s["Principal"] for s in others] == [{"Service": "events.amazonaws.com"}]
    assert "aws:SourceArn" in others[0]["Condition"]["ArnEquals"]


def test_a_failed_glue_job_run_reaches_the_ops_topic(synth: Synth) -> None:
    """Glue reports a run's end only to EventBridge: every scheduled job's failed, timed-out or
    stopped run goes to the ops topic, and only that rule may publish there."""
    from cdk_app.stacks.operations import GLUE_RUN_FAILED_STATES

    ops = synth.template("Operations")
    jobs = of_type(synth.template("Analytics"), "AWS::Glue::Job")
    (rule,) = of_type(ops, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.glue"]
    assert pattern["detail-type"] == ["Glue Job State Change"]
    assert set(pattern["detail"]["state"]) == set(GLUE_RUN_FAILED_STATES)
    # One entry per job of the stage (an import of each job's name from the analytics stack).
    assert len(pattern["detail"]["jobName"]) == len(jobs) >= 1
    (target,) = rule["Properties"]["Targets"]
    (topic_id,) = of_type(ops, "AWS::SNS::Topic")
    assert target["Arn"] == {"Ref": topic_id}
    paths = target["InputTransformer"]["InputPathsMap"]
    assert {paths[k] for k in paths} >= {"$.detail.jobName", "$.detail.jobRunId", "$.detail.state"}
    assert "Glue job run failed" in target["InputTransformer"]["InputTemplate"]  # runbook section
    (policy,) = of_type(ops, "AWS::SNS::TopicPolicy").values()
    (grant,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    rule_id = next(iter(of_type(ops, "AWS::Events::Rule")))
    assert grant["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def _alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    if "MetricName" in alarm:
        return [alarm]
    return [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]


def test_every_alarm_names_the_dimensions_its_metric_is_published_with(
    synth: Synth, prod_synth: Synth
) -> None:
    """CloudWatch keys a metric by its full dimension set: an alarm naming another set watches
    nothing and cannot fire (IoT ErrorActionFailure on RuleName alone: issue 25). Every alarm,
    both stages, against the documented sets (cdk_app.metric_dimensions, with sources)."""
    from cdk_app.metric_dimensions import PUBLISHED

    checked = 0
    for s in (synth, prod_synth):
        for template in s.templates.values():
            for lid, alarm in _alarms(template).items():
                for metric in _alarm_metrics(alarm):
                    key = (metric["Namespace"], metric["MetricName"])
                    assert key in PUBLISHED, f"{lid}: {key} has no documented dimensions row"
                    names = frozenset(d["Name"] for d in metric.get("Dimensions", []))
                    sets, source = PUBLISHED[key]
                    assert names in sets, f"{lid}: {key} published with {sets} ({source})"
                    checked += 1
    assert checked >= 20


def test_iot_error_action_alarm_names_the_s3_action_type(synth: Synth) -> None:
    alarms = _alarms(synth.template("Operations"))
    for prefix in ("IotRuleErrorActionFailures", "IotRuleErrorActionFailuresV2"):
        dims = {d["Name"]: d["Value"] for d in _by_prefix(alarms, prefix)["Dimensions"]}
        assert dims["ActionType"] == "S3"
        assert set(dims) == {"RuleName", "ActionType"}
