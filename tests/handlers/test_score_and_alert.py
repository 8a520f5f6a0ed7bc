"""score_and_alert on real Kinesis event shapes against moto (SNS -> SQS to read alerts)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from rotorwatch.alerting.alerts import PAGING_SEVERITIES
from rotorwatch.contract.telemetry import decode
from rotorwatch.deployment.resources import SCORE_AND_ALERT_HANDLER, EnvKey
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.predictions import PREDICTION_NAMES
from rotorwatch.diagnosis.scoring import ACCEPT, CONTENT_TYPE
from tests.events import kinesis_event, load_event, sequence_numbers
from tests.handlers.conftest import (
    ENDPOINT,
    GLUE_DATABASE,
    WORKGROUP,
    Aws,
    FakeContext,
    load_handler_module,
)
from tests.signals import SITE, asset, message

TS0 = 1_763_900_000_000
MINUTE_MS = 60_000

# Velocity RMS (mm/s) for the ISO zones of the test asset (group 2 rigid: 1.4 / 2.8 / 4.5).
ZONE_V = {"A": 1.0, "B": 2.0, "C": 3.5, "D": 6.0}


def features_event(
    windows: Sequence[tuple[str, int, str]], device: str = "pump-01"
) -> dict[str, Any]:
    """A features-stream event for (ts, seq, zone) windows, computed by the real feature engine."""
    msgs = [
        decode(message(device, ts, seq, v1x_mm_s=ZONE_V[zone], seed=seq))
        for ts, seq, zone in windows
    ]
    feats = compute_features(msgs, {device: asset(device)})
    for f in feats:
        f["site"] = SITE
    payloads = [json.dumps(f).encode() for f in feats]
    return kinesis_event(
        payloads, template="kinesis_features", partition_keys=[device] * len(payloads)
    )


def zones(start_seq: int, zone_string: str) -> list[tuple[int, int, str]]:
    """Windows every 5 minutes, one per zone letter."""
    return [
        (TS0 + (start_seq + i) * 5 * MINUTE_MS, start_seq + i, z) for i, z in enumerate(zone_string)
    ]


@pytest.fixture
def rules_only(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The function deployed before any model exists (no endpoint configured)."""
    monkeypatch.delenv(EnvKey.ENDPOINT_NAME)
    return load_handler_module(SCORE_AND_ALERT_HANDLER)


def test_stored_event_scores_one_window(
    rules_only: ModuleType, aws: Aws, context: FakeContext
) -> None:
    assert rules_only.handler(load_event("kinesis_features"), context) == {"batchItemFailures": []}
    (prediction,) = aws.predictions()
    assert tuple(prediction) == PREDICTION_NAMES
    assert prediction["iso_zone"] == "B"
    assert prediction["state"] == "HEALTHY"
    assert prediction["degraded"] is True
    assert aws.alerts() == []


def _model_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps(rows).encode()
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": ACCEPT}


def test_one_endpoint_call_per_batch_and_iso_overrides_a_lenient_model(
    score_and_alert: ModuleType, aws: Aws, context: FakeContext
) -> None:
    event = features_event(zones(0, "AAD"))
    healthy = {
        "anomaly_score": 0.05,
        "fault": "normal",
        "fault_confidence": 0.9,
        "state": "HEALTHY",
        "model_version": "m-7",
    }
    with Stubber(score_and_alert.DEPS.sagemaker) as stub:
        stub.add_response(
            "invoke_endpoint",
            _model_body([healthy] * 3),
            {"EndpointName": ENDPOINT, "ContentType": CONTENT_TYPE, "Accept": ACCEPT, "Body": ANY},
        )
        assert score_and_alert.handler(event, context) == {"batchItemFailures": []}
        stub.assert_no_pending_responses()
    predictions = sorted(aws.predictions(), key=lambda p: p["seq"])
    assert [p["model_version"] for p in predictions] == ["m-7"] * 3
    assert [p["degraded"] for p in predictions] == [False] * 3
    # The model saw nothing wrong, but zone D is an ALARM point whatever the model says.
    assert [p["state"] for p in predictions] == ["HEALTHY", "HEALTHY", "ALARM"]


class _Raw:
    """Just enough of urllib3's response for botocore to read an error body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kw: Any) -> Any:
        yield self._body


@pytest.mark.parametrize(
    ("status", "error_type", "attempts"),
    [(400, "ValidationException", 1), (503, "ServiceUnavailable", 3)],
    ids=["endpoint-missing", "endpoint-unavailable-after-retries"],
)
def test_sagemaker_down_is_degraded_but_complete(
    score_and_alert: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    error_type: str,
    attempts: int,
) -> None:
    sent: list[str] = []

    def endpoint_down(request: AWSPreparedRequest, **_kw: Any) -> AWSResponse:
        # Answers on the wire (before-send), so the client's real retry policy runs.
        sent.append(request.url)
        body = json.dumps({"message": f"endpoint {ENDPOINT} says no"}).encode()
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": error_type}, _Raw(body))

    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _s: None)  # backoff without waiting
    client = score_and_alert.DEPS.sagemaker
    client.meta.events.register_first("before-send.sagemaker-runtime.InvokeEndpoint", endpoint_down)
    event = features_event(zones(0, "ADDDD"))

    response = score_and_alert.handler(event, context)

    assert len(sent) == attempts  # throttling/5xx retried with backoff; a missing endpoint is not
    assert response == {"batchItemFailures": []}
    predictions = sorted(aws.predictions(), key=lambda p: p["seq"])
    assert len(predictions) == 5
    assert all(p["degraded"] and p["model_version"] == "rules" for p in predictions)
    assert [p["state"] for p in predictions] == ["HEALTHY", "ALARM", "ALARM", "ALARM", "ALARM"]
    severities = [a["attributes"]["severity"] for a in aws.alerts()]
    assert severities == ["WARNING", "ALARM"]  # alerts keep working without the model


def test_sagemaker_client_has_bounded_retries_and_timeouts(score_and_alert: ModuleType) -> None:
    config = score_and_alert.DEPS.sagemaker.meta.config
    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert config.read_timeout <= 10
    assert config.connect_timeout <= 2


def test_redelivered_batch_sends_no_second_alert(
    rules_only: ModuleType, aws: Aws, context: FakeContext
) -> None:
    event = features_event(zones(0, "AADDDD"))
    assert rules_only.handler(event, context) == {"batchItemFailures": []}
    first = aws.alerts()
    assert [a["attributes"]["severity"] for a in first] == ["WARNING", "ALARM"]

    # The same batch again (a retry after a timeout), then a bisected half of it.
    assert rules_only.handler(event, context) == {"batchItemFailures": []}
    half = {"Records": event["Records"][3:]}
    assert rules_only.handler(half, context) == {"batchItemFailures": []}
    assert aws.alerts() == []


def test_machine_going_a_d_a_gives_one_alarm_then_one_recovery(
    rules_only: ModuleType, aws: Aws, context: FakeContext
) -> None:
    # Three batches as the stream delivers them: healthy, a fault, healthy again (5 min windows).
    for windows in (zones(0, "AAAA"), zones(4, "DDDDD"), zones(9, "AAAAAA")):
        assert rules_only.handler(features_event(windows), context) == {"batchItemFailures": []}
    alerts = aws.alerts()
    severities = [a["attributes"]["severity"] for a in alerts]
    # The first D window is an occasional exceedance (WARNING); persistence makes it an ALARM.
    assert severities == ["WARNING", "ALARM", "RECOVERY"]
    assert severities.count("ALARM") == 1
    assert severities.count("RECOVERY") == 1

    alarm, recovery = alerts[1], alerts[2]
    assert alarm["attributes"] == {"severity": "ALARM", "device_id": "pump-01", "site": SITE}
    assert recovery["attributes"] == {"severity": "RECOVERY", "device_id": "pump-01", "site": SITE}
    text = alarm["body"]
    assert "ALARM: pump-01 at plant-a" in text
    assert "ISO 10816-3 zone: D, velocity RMS 6.0" in text
    assert "Probable fault: imbalance" in text  # a lone 1x line
    assert "Since: 2025-11-23 12:33 UTC" in text  # the first D window (seq 4)
    assert "Trend: rising" in text
    assert (
        f"Athena saved query 'machine_trend' in workgroup {WORKGROUP} (database {GLUE_DATABASE})"
        in text
    )
    # The command names the stage that sent it: its workgroup, database and the function's region.
    (run,) = [x for x in text.splitlines() if x.strip().startswith("or run:")]
    assert f"--workgroup {WORKGROUP} --database {GLUE_DATABASE} --region " in run
    assert "healthy again" in recovery["body"].lower()


def test_sms_filter_policy_selects_paging_severities(
    rules_only: ModuleType, aws: Aws, context: FakeContext
) -> None:
    """A subscription filtered on the severity attribute (as the SMS one is) gets only pages."""
    sqs, sns = aws.sqs, aws.sns
    url = sqs.create_queue(QueueName="rw-sms-standin")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=aws.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"severity": list(PAGING_SEVERITIES)}),
        },
    )
    for windows in (zones(0, "AAAA"), zones(4, "DDDDD"), zones(9, "AAAAAA")):
        rules_only.handler(features_event(windows), context)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert sorted(m["MessageAttributes"]["severity"]["StringValue"] for m in got) == [
        "ALARM",
        "RECOVERY",
    ]
    assert len(aws.alerts()) == 3  # the unfiltered (e-mail) subscription got the WARNING too


def test_alert_publish_failure_is_retried_and_sent_once(
    rules_only: ModuleType, aws: Aws, context: FakeContext
) -> None:
    event = features_event(zones(0, "AADDDD"))
    seqs = sequence_numbers(event)
    with Stubber(rules_only.DEPS.publisher._sns) as stub:
        # (a stubbed error skips the client's retries: it stands for the last attempt failing)
        stub.add_client_error("publish", "InternalError", http_status_code=500)
        response = rules_only.handler(event, context)
        stub.assert_no_pending_responses()
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs]}
    assert aws.alerts() == []
    item = aws.dynamodb.get_item(
        TableName=rules_only.SETTINGS.state_table, Key={"device_id": {"S": "pump-01"}}
    )
    assert "pending_alert" in item["Item"]  # committed with the state: not lost

    assert rules_only.handler(event, context) == {"batchItemFailures": []}
    assert [a["attributes"]["severity"] for a in aws.alerts()] == ["WARNING", "ALARM"]
    assert rules_only.handler(event, context) == {"batchItemFailures": []}
    assert aws.alerts() == []


def test_firehose_throttling_reports_every_window_of_the_failed_record(
    rules_only: ModuleType, context: FakeContext
) -> None:
    # The batch's predictions travel in ONE aggregated Firehose record: if Firehose keeps
    # throttling it, every window in it is retried (none is lost, none checkpointed early).
    event = features_event(zones(0, "AAAA"))
    seqs = sequence_numbers(event)
    throttled = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
    with Stubber(rules_only.DEPS.firehose) as stub:
        for _ in range(4):
            stub.add_response(
                "put_record_batch", {"FailedPutCount": 1, "RequestResponses": [throttled]}
            )
        response = rules_only.handler(event, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs]}


def test_predictions_travel_aggregated_and_the_rows_are_unchanged(
    rules_only: ModuleType, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = features_event(zones(0, "AAAA"))
    sent: list[list[bytes]] = []
    real = rules_only.DEPS.firehose.put_record_batch

    def spy(**kwargs: Any) -> Any:
        sent.append([r["Data"] for r in kwargs["Records"]])
        return real(**kwargs)

    monkeypatch.setattr(rules_only.DEPS.firehose, "put_record_batch", spy)
    assert rules_only.handler(event, context) == {"batchItemFailures": []}
    assert len(sent) == 1
    assert len(sent[0]) == 1  # four windows, one 5 KB-billed record
    rows = [json.loads(line) for line in sent[0][0].splitlines()]
    assert [(r["device_id"], r["seq"]) for r in rows] == [("pump-01", i) for i in range(4)]
