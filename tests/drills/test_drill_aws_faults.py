"""Drills: SageMaker throttling, timeouts and a missing endpoint; SNS and Firehose throttling."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from rotorwatch.deployment.resources import EnvKey
from tests.drills.faults import Fault, json_response, query_error_response, throttle, timeout
from tests.drills.figures import Figure, record
from tests.drills.harness import Ledger, Pipeline
from tests.drills.test_drill_poison_and_duplicates import windows
from tests.handlers.conftest import Aws, FakeContext

ZONES = "AADDDDDD"  # healthy, then a fault that persists: WARNING then ALARM, once each
MODEL_ROW = {
    "anomaly_score": 0.05,
    "fault": "normal",
    "fault_confidence": 0.9,
    "state": "HEALTHY",
    "model_version": "m-7",
}


@pytest.fixture(autouse=True)
def no_backoff_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff runs, without the wall-clock wait."""
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _s: None)


@pytest.fixture
def features(extract_features: ModuleType, aws: Aws, context: FakeContext) -> list[bytes]:
    pipe = Pipeline(aws, context)
    _, feats = pipe.extract(extract_features, windows("pump-01", 0, ZONES))
    return feats


def model_ok(request: Any) -> Any:
    n = len(json.loads(request.body))
    return json_response(request.url, [MODEL_ROW] * n)


def check_complete(ledger: Ledger, n: int) -> None:
    assert len(ledger.predicted_windows) == n  # nothing lost
    assert ledger.severities == ["WARNING", "ALARM"]  # alerts kept working, none repeated
    assert ledger.duplicated_alerts == 0


@pytest.mark.parametrize(
    ("case", "answer", "times", "attempts", "degraded"),
    [
        ("throttled twice, then answers", throttle(), 2, 3, False),
        ("throttled on every attempt", throttle(), 99, 3, True),
        ("read timeout on every attempt", timeout, 99, 3, True),
        ("endpoint missing", throttle("ValidationException"), 99, 1, True),
    ],
)
def test_sagemaker_faults(
    score_and_alert: ModuleType,
    aws: Aws,
    context: FakeContext,
    features: list[bytes],
    case: str,
    answer: Any,
    times: int,
    attempts: int,
    degraded: bool,
) -> None:
    client = score_and_alert.DEPS.sagemaker
    fault = Fault(client, "InvokeEndpoint", answer, times=times)
    ok = Fault(client, "InvokeEndpoint", model_ok)  # behind the fault: a healthy endpoint
    client.meta.events.unregister(fault._event, ok._hook)
    client.meta.events.register_last(ok._event, ok._hook)
    pipe = Pipeline(aws, context)
    redeliveries = pipe.score(score_and_alert, features)
    ledger = pipe.collect()
    assert fault.attempts == attempts
    assert redeliveries == 0  # scoring never waits for the model: the rules take over
    assert {p["degraded"] for p in ledger.predictions} == {degraded}
    check_complete(ledger, len(features))
    record(
        Figure(
            f"SageMaker: {case}",
            records_in=len(features),
            records_out=len(ledger.predicted_windows),
            quarantined=0,
            alerts=len(ledger.alerts),
            redeliveries=redeliveries,
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note=f"{fault.attempts} InvokeEndpoint attempts; "
            + ("rules fallback (degraded)" if degraded else "model scored"),
        )
    )


@pytest.fixture
def rules(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    from rotorwatch.deployment.resources import SCORE_AND_ALERT_HANDLER
    from tests.handlers.conftest import load_handler_module

    monkeypatch.delenv(EnvKey.ENDPOINT_NAME)
    module = load_handler_module(SCORE_AND_ALERT_HANDLER)
    monkeypatch.setattr(module.DEPS, "sleep", lambda _s: None)
    return module


@pytest.mark.parametrize(
    ("case", "times"),
    [
        ("SNS throttled twice (client retries)", 2),
        ("SNS throttled on 4 attempts (batch retried)", 4),
    ],
)
def test_sns_throttling(
    rules: ModuleType,
    aws: Aws,
    context: FakeContext,
    features: list[bytes],
    case: str,
    times: int,
) -> None:
    sns = rules.DEPS.publisher._sns
    fault = Fault(sns, "Publish", lambda r: query_error_response(r.url, 400, "Throttling"), times)
    pipe = Pipeline(aws, context)
    redeliveries = pipe.score(rules, features)
    ledger = pipe.collect()
    check_complete(ledger, len(features))
    assert redeliveries == (0 if times < 3 else 1)
    record(
        Figure(
            case,
            records_in=len(features),
            records_out=len(ledger.predicted_windows),
            quarantined=0,
            alerts=len(ledger.alerts),
            redeliveries=redeliveries,
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note=f"{fault.attempts} Publish attempts; the outbox re-sent what was not confirmed",
        )
    )


class FlakyFirehose:
    """PutRecordBatch where the entries at ``fail_positions`` are throttled for ``times`` calls
    (per-entry errors, as Firehose reports them), the rest really delivered (moto)."""

    def __init__(self, real: Any, fail_positions: set[int], times: int) -> None:
        self.real = real
        self.fail = fail_positions
        self.times = times
        self.calls = 0

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, Any]]) -> Any:
        self.calls += 1
        if self.calls > self.times:
            return self.real.put_record_batch(
                DeliveryStreamName=DeliveryStreamName, Records=Records
            )
        responses: list[dict[str, str]] = []
        ok = [r for i, r in enumerate(Records) if i not in self.fail]
        if ok:
            self.real.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=ok)
        for i in range(len(Records)):
            responses.append(
                {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
                if i in self.fail
                else {"RecordId": f"r{i}"}
            )
        failed = sum("ErrorCode" in r for r in responses)
        self.fail = {j for j, i in enumerate(sorted(self.fail)) if i < len(Records)}  # the resend
        return {"FailedPutCount": failed, "RequestResponses": responses}


@pytest.mark.parametrize(
    ("case", "times"),
    [
        ("Firehose throttles the batch record, retried in-call", 2),
        ("Firehose throttles the batch record, batch retried", 4),
    ],
)
def test_firehose_throttling(
    rules: ModuleType,
    aws: Aws,
    context: FakeContext,
    features: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    times: int,
) -> None:
    # The batch's predictions travel aggregated in one Firehose record (entry 0).
    flaky = FlakyFirehose(rules.DEPS.firehose, {0}, times)
    monkeypatch.setattr(rules.DEPS, "firehose", flaky)
    pipe = Pipeline(aws, context)
    redeliveries = pipe.score(rules, features)
    ledger = pipe.collect()
    check_complete(ledger, len(features))
    assert redeliveries == (0 if times < 4 else 1)
    extra = len(ledger.predictions) - len(ledger.predicted_windows)
    # The throttled record held every window of the batch: nothing of it had landed, so the
    # retried batch repeats no lake row.
    assert extra == 0
    record(
        Figure(
            case,
            records_in=len(features),
            records_out=len(ledger.predicted_windows),
            quarantined=0,
            alerts=len(ledger.alerts),
            redeliveries=redeliveries,
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note=f"{flaky.calls} PutRecordBatch calls; {extra} lake rows repeated by the tail retry",
        )
    )
