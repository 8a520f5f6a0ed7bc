"""The operations stack: dashboard coverage and the alarms on-call acts on."""

from __future__ import annotations

import json
import re
from typing import Any

from rotorwatch import resources
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
    assert (lost["MetricName"], lost["Dimensions"]) == (
        "ErrorActionFailure",
        [{"Name": "RuleName", "Value": "rotorwatch_dev_telemetry"}],
    )
    # The v2 rule gets the same pair (from IngestionStack.rule_names, not a list here).
    iot_v2 = _by_prefix(alarms, "IotRuleErrorsV2")
    assert {d["Name"]: d["Value"] for d in iot_v2["Dimensions"]} == {
        "RuleName": "rotorwatch_dev_telemetry_v2",
        "ActionType": "Kinesis",
    }
    lost_v2 = _by_prefix(alarms, "IotRuleErrorActionFailuresV2")
    assert lost_v2["Dimensions"] == [{"Name": "RuleName", "Value": "rotorwatch_dev_telemetry_v2"}]
    assert _by_prefix(alarms, "FailedBatches")["Threshold"] == 1
    endpoint = [k for k in alarms if k.startswith("EndpointErrors")]
    assert len(endpoint) == (0 if "ml" in synth.built.skipped else 1)


def test_ops_topic_is_encrypted_and_subscribed(synth: Synth) -> None:
    t = synth.template("Operations")
    assert "KmsMasterKeyId" in only(t, "AWS::SNS::Topic")
    sub = only(t, "AWS::SNS::Subscription")
    assert (sub["Protocol"], sub["Endpoint"]) == ("email", "oncall@example.com")


def test_key_lets_cloudwatch_alarms_publish_to_encrypted_topics(synth: Synth) -> None:
    key = only(synth.template("Storage"), "AWS::KMS::Key")
    principals = [json.dumps(s.get("Principal")) for s in key["KeyPolicy"]["Statement"]]
    assert any("cloudwatch.amazonaws.com" in p for p in principals)


def test_ops_topic_policy_lets_this_accounts_alarms_publish(synth: Synth) -> None:
    # A topic policy replaces SNS's default one: CloudWatch needs its own allow, scoped to our
    # account's alarms, next to the TLS-only deny.
    (policy,) = of_type(synth.template("Operations"), "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert ":alarm:*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
