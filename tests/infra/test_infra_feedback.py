"""The feedback endpoint in the processing stack: throttled HTTP API, two routes, key rotation,
least-privilege grants, and score_and_alert wired to send links."""

from __future__ import annotations

import json
from typing import Any

from cdk_app.constructs.feedback_api import BURST_LIMIT, RATE_LIMIT_RPS, ROTATION_DAYS
from rotorwatch.deployment import resources
from rotorwatch.deployment.resources import EnvKey
from tests.infra.cdk_helpers import Synth
from tests.infra.cdk_helpers import resources as of_type


def _role_actions(t: dict[str, Any], role_logical_id: str) -> set[str]:
    acts: set[str] = set()
    for pol in of_type(t, "AWS::IAM::Policy").values():
        if role_logical_id in json.dumps(pol["Properties"]["Roles"]):
            for st in pol["Properties"]["PolicyDocument"]["Statement"]:
                a = st["Action"]
                acts.update(a if isinstance(a, list) else [a])
    return acts


def _function(t: dict[str, Any], handler: str) -> dict[str, Any]:
    (fn,) = [
        v["Properties"]
        for v in of_type(t, "AWS::Lambda::Function").values()
        if v["Properties"]["Handler"] == handler
    ]
    return fn


def test_the_api_is_throttled_and_serves_only_the_answer_routes(synth: Synth) -> None:
    t = synth.template("Processing")
    (api,) = of_type(t, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "HTTP"
    routes = sorted(
        r["Properties"]["RouteKey"] for r in of_type(t, "AWS::ApiGatewayV2::Route").values()
    )
    assert routes == ["GET /f/{token}", "POST /f/{token}"]
    (stage,) = of_type(t, "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] == RATE_LIMIT_RPS
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] == BURST_LIMIT
    # Access logs, but never the path or query: they carry the token.
    fmt = props["AccessLogSettings"]["Format"]
    assert "$context.routeKey" in fmt
    for leak in ("$context.path", "$context.http.path", "$context.requestOverride", "rawPath"):
        assert leak not in fmt


def test_the_signing_key_is_a_rotated_secret(synth: Synth) -> None:
    t = synth.template("Processing")
    (secret,) = of_type(t, "AWS::SecretsManager::Secret").values()
    gen = secret["Properties"]["GenerateSecretString"]
    assert gen["PasswordLength"] == 64
    assert "KmsKeyId" in secret["Properties"]
    # Only this account's secrets may invoke the rotation function.
    (permission,) = [
        p
        for p in of_type(t, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    ]
    assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
    (schedule,) = of_type(t, "AWS::SecretsManager::RotationSchedule").values()
    rules = schedule["Properties"]["RotationRules"]
    assert rules["ScheduleExpression"] == f"rate({ROTATION_DAYS} days)"


def test_the_feedback_function_may_do_only_what_an_answer_needs(synth: Synth) -> None:
    t = synth.template("Processing")
    fn = _function(t, resources.FEEDBACK_HANDLER)
    # dev reserves nothing (a new account's quota of 10); prod reserves: test_deploy_contracts.
    assert "ReservedConcurrentExecutions" not in fn
    role = fn["Role"]["Fn::GetAtt"][0]
    assert _role_actions(t, role) == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "secretsmanager:GetSecretValue",
        "s3:PutObject",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    tables = [
        k
        for k, v in of_type(t, "AWS::DynamoDB::Table").items()
        if v["Properties"]["KeySchema"][0]["AttributeName"]
        == resources.FEEDBACK_TABLE_PARTITION_KEY
    ]
    (table,) = tables
    ttl = of_type(t, "AWS::DynamoDB::Table")[table]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": resources.FEEDBACK_TTL_ATTRIBUTE, "Enabled": True}


def test_score_and_alert_sends_links_to_the_api(synth: Synth) -> None:
    t = synth.template("Processing")
    env = _function(t, resources.SCORE_AND_ALERT_HANDLER)["Environment"]["Variables"]
    assert {
        EnvKey.FEEDBACK_TABLE,
        EnvKey.FEEDBACK_SECRET_ARN,
        EnvKey.FEEDBACK_BASE_URL,
        EnvKey.LAKE_BUCKET,
    } <= set(env)
    assert "execute-api" in json.dumps(env[EnvKey.FEEDBACK_BASE_URL])
