"""Temperature through both handlers on moto: the asset's limits in the assets table travel in
the feature record, score_and_alert judges them (rules and endpoint) and the alert says so."""

from __future__ import annotations

import dataclasses
import io
import json
from types import ModuleType
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from lambdas.common.dynamo import to_attributes
from rotorwatch.contract.telemetry import encode, encode_samples
from rotorwatch.diagnosis.scoring import ACCEPT, CONTENT_TYPE
from tests.events import kinesis_event
from tests.handlers.conftest import ASSETS_TABLE, ENDPOINT, Aws, FakeContext
from tests.signals import ASSET_RECORD, FS_HZ, RPM, window

TS0 = 1_763_900_000_000
DEVICE = "pump-07"
LIMITS = {"temperature_warning_c": 60, "temperature_alarm_c": 75}


def _telemetry(temps: list[float], first_seq: int = 0) -> dict[str, Any]:
    payloads = [
        encode(
            device_id=DEVICE,
            ts=TS0 + i * 300_000,
            seq=i,
            rpm=RPM,
            temperature_c=t,
            pressure_bar=4.0,
            vibration=encode_samples(window(v1x_mm_s=0.8, seed=i), fs_hz=FS_HZ),
        )
        for i, t in enumerate(temps, start=first_seq)
    ]
    return kinesis_event(payloads, partition_keys=[DEVICE] * len(payloads))


def _features(
    extract_features: ModuleType,
    aws: Aws,
    context: FakeContext,
    temps: list[float],
    limits: dict[str, float] | None = LIMITS,
    first_seq: int = 0,
) -> dict[str, Any]:
    record = {**ASSET_RECORD, "device_id": DEVICE} | ({"limits": limits} if limits else {})
    aws.dynamodb.put_item(TableName=ASSETS_TABLE, Item=to_attributes(record))
    event = _telemetry(temps, first_seq)
    assert extract_features.handler(event, context) == {"batchItemFailures": []}
    records = [r["Data"] for r in aws.feature_records()][-len(temps) :]
    feats = [json.loads(r) for r in records]
    expected = (None, None) if limits is None else (60, 75)
    assert {(f["temperature_warning_c"], f["temperature_alarm_c"]) for f in feats} == {expected}
    assert {f["iso_zone"] for f in feats} == {"A"}  # vibrating like new
    return kinesis_event(
        records, template="kinesis_features", partition_keys=[DEVICE] * len(records)
    )


def test_rules_fallback_warns_on_the_assets_own_limit(
    extract_features: ModuleType,
    score_and_alert: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = _features(extract_features, aws, context, [50.0, 50.0, 66.0, 67.0, 68.0, 69.0])
    # No model deployed yet: the rules decide.
    settings = dataclasses.replace(score_and_alert.DEPS.settings, endpoint_name=None)
    monkeypatch.setattr(score_and_alert.DEPS, "settings", settings)
    assert score_and_alert.handler(event, context) == {"batchItemFailures": []}
    preds = sorted(aws.predictions(), key=lambda p: p["seq"])
    assert [p["sensor_cause"] for p in preds] == [None, None] + ["overheating"] * 4
    assert [p["state"] for p in preds] == ["HEALTHY"] * 2 + ["WARNING"] * 4
    assert preds[-1]["sensor_reason"] == "temperature 69.0 degC >= warning limit 60 degC"
    (alert,) = aws.alerts()
    assert alert["attributes"]["severity"] == "WARNING"
    assert (
        "Sensor: temperature 67.0 degC >= warning limit 60 degC (overheating), since "
        in (alert["body"])
    )


def test_the_endpoint_gets_the_readings_and_limits_and_an_old_endpoint_cannot_hide_them(
    extract_features: ModuleType, score_and_alert: ModuleType, aws: Aws, context: FakeContext
) -> None:
    event = _features(extract_features, aws, context, [80.0, 80.0, 80.0])
    # An endpoint deployed before the sensor rules: no sensor_cause, HEALTHY.
    old = {
        "anomaly_score": 0.05,
        "fault": "normal",
        "fault_confidence": 0.9,
        "state": "HEALTHY",
        "model_version": "m-old",
    }
    body = json.dumps([old] * 3).encode()
    sent: list[bytes] = []
    client = score_and_alert.DEPS.sagemaker
    client.meta.events.register(
        "provide-client-params.sagemaker-runtime.InvokeEndpoint",
        lambda params, **_kw: sent.append(params["Body"]),
    )
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": ACCEPT},
            {"EndpointName": ENDPOINT, "ContentType": CONTENT_TYPE, "Accept": ACCEPT, "Body": ANY},
        )
        assert score_and_alert.handler(event, context) == {"batchItemFailures": []}
    (request,) = [json.loads(b) for b in sent]
    assert {(r["temperature_c"], r["temperature_alarm_c"]) for r in request} == {(80.0, 75)}
    preds = aws.predictions()
    assert {(p["state"], p["sensor_cause"], p["degraded"]) for p in preds} == {
        ("ALARM", "overheating", False)
    }


def test_a_rise_above_the_devices_own_normal_warns_and_restarts_with_the_baseline(
    extract_features: ModuleType,
    score_and_alert: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After its learning period a machine at 72 degC, far under the default 93 degC limit but
    32 degC over its own normal, warns; `rotorwatch baseline reset` restarts that history."""
    settings = dataclasses.replace(
        score_and_alert.DEPS.settings, endpoint_name=None, baseline_windows=4
    )
    monkeypatch.setattr(score_and_alert.DEPS, "settings", settings)
    event = _features(extract_features, aws, context, [40.0] * 4 + [72.0] * 3, limits=None)
    assert score_and_alert.handler(event, context) == {"batchItemFailures": []}
    preds = sorted(aws.predictions(), key=lambda p: p["seq"])
    assert [p["sensor_cause"] for p in preds] == [None] * 4 + ["temperature_rise"] * 3
    assert preds[-1]["sensor_reason"] == (
        "temperature 72.0 degC is 32.0 degC above its own normal 40.0 degC (limit +28 degC)"
    )
    (alert,) = aws.alerts()
    assert (
        "Sensor: temperature 72.0 degC is 32.0 degC above its own normal 40.0 degC "
        "(limit +28 degC) (temperature_rise), since "
    ) in alert["body"]
    item = aws.dynamodb.get_item(
        TableName=score_and_alert.DEPS.settings.state_table, Key={"device_id": {"S": DEVICE}}
    )["Item"]
    assert item["sensor_history"]["M"]["count"] == {"N": "4"}
    # The operator restarts learning after maintenance (what `rotorwatch baseline reset` does).
    aws.dynamodb.update_item(
        TableName=settings.state_table,
        Key={"device_id": {"S": DEVICE}},
        UpdateExpression="REMOVE baseline SET baseline_resets = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    event = _features(extract_features, aws, context, [72.0], limits=None, first_seq=7)
    assert score_and_alert.handler(event, context) == {"batchItemFailures": []}
    last = max(aws.predictions(), key=lambda p: p["seq"])
    assert (last["seq"], last["sensor_cause"]) == (7, None)  # learning again
