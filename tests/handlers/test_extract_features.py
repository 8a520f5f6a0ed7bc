"""extract_features on real Kinesis event shapes against moto."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from rotorwatch.features import FEATURE_NAMES
from rotorwatch.lake import QUARANTINE_PREFIX
from rotorwatch.telemetry import decode
from tests.events import kinesis_event, load_event, sequence_numbers
from tests.handlers.conftest import FEATURES_STREAM, Aws, FakeContext
from tests.signals import message

TS0 = 1_763_900_000_000


def emf_metrics(stdout: str) -> dict[str, float]:
    """Metric values from the EMF lines Powertools printed (summed over lines)."""
    values: dict[str, float] = {}
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                v = blob[metric["Name"]]
                values[metric["Name"]] = values.get(metric["Name"], 0.0) + (
                    sum(v) if isinstance(v, list) else v
                )
    return values


def test_stored_event_decodes_and_yields_one_feature_record(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    event = load_event("kinesis_telemetry")
    payload = base64.b64decode(event["Records"][0]["kinesis"]["data"])
    assert decode(payload).device_id == "pump-01"

    assert extract_features.handler(event, context) == {"batchItemFailures": []}

    (record,) = aws.feature_records()
    features = json.loads(record["Data"])
    assert record["PartitionKey"] == "pump-01"
    assert tuple(features) == FEATURE_NAMES
    assert features["site"] == "plant-a"  # added by the IoT rule, kept
    assert features["velocity_rms_mm_s"] == pytest.approx(2.0, rel=0.05)
    assert features["iso_zone"] == "B"  # group 2 rigid: B is 1.4-2.8 mm/s, from the assets table


def test_good_bad_and_duplicate_records(
    extract_features: ModuleType, aws: Aws, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [
        message("pump-01", TS0, 1, v1x_mm_s=1.0),
        message("pump-02", TS0, 1, v1x_mm_s=3.5),
        message("pump-01", TS0 + 60_000, 2, v1x_mm_s=6.0),
    ]
    not_json = b"\xff\xfe not json at all"
    wrong_version = json.dumps({"v": 2, "device_id": "pump-01", "ts": TS0, "seq": 9}).encode()
    payloads = [good[0], not_json, good[1], good[0], wrong_version, good[2]]  # good[0] twice
    event = kinesis_event(payloads)
    seqs = sequence_numbers(event)
    capsys.readouterr()

    response = extract_features.handler(event, context)

    assert response == {"batchItemFailures": []}  # bad input never fails the batch
    features = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert [(f["device_id"], f["seq"]) for f in features] == [
        ("pump-01", 1),
        ("pump-02", 1),
        ("pump-01", 2),
    ]
    assert [f["iso_zone"] for f in features] == ["A", "C", "D"]
    assert [r["PartitionKey"] for r in aws.feature_records()] == ["pump-01", "pump-02", "pump-01"]

    quarantined = aws.objects(QUARANTINE_PREFIX)
    assert len(quarantined) == 2
    by_reason = {
        json.loads(body)["reason"]: (key, json.loads(body)) for key, body in quarantined.items()
    }
    assert set(by_reason) == {"not_utf8", "unsupported_version"}
    key, body = by_reason["not_utf8"]
    assert key.startswith(f"{QUARANTINE_PREFIX}reason=not_utf8/year=2025/month=11/day=23/hour=12/")
    assert key.endswith(f"/{seqs[1]}.json")
    assert body["sequence_number"] == seqs[1]
    assert base64.b64decode(body["data_base64"]) == not_json  # the original bytes, not lost
    assert by_reason["unsupported_version"][1]["sequence_number"] == seqs[4]

    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["RecordsQuarantined"] == 2
    assert metrics["DuplicateRecords"] == 1
    assert metrics["FeaturesPut"] == 3


def _throttled(n: int, failed: set[int]) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    for i in range(n):
        if i in failed:
            records.append(
                {
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded",
                }
            )
        else:
            records.append({"SequenceNumber": f"{i}", "ShardId": "shardId-000000000000"})
    return {"FailedRecordCount": len(failed), "Records": records}


def test_throttled_put_records_retries_only_failed_entries_then_reports_the_tail(
    extract_features: ModuleType, context: FakeContext
) -> None:
    payloads = [message("pump-01", TS0 + i * 60_000, i) for i in range(5)]
    payloads.insert(1, b"{}")  # a bad record before the failure: quarantined, not retried
    event = kinesis_event(payloads)
    seqs = sequence_numbers(event)
    entry = {"Data": ANY, "PartitionKey": "pump-01"}
    with Stubber(extract_features.DEPS.kinesis) as stub:
        # 5 entries; entries 1 and 3 are throttled, then only those two are re-sent; entry 3
        # (source position 4) stays throttled through every attempt.
        stub.add_response(
            "put_records",
            _throttled(5, {1, 3}),
            {"StreamName": FEATURES_STREAM, "Records": [entry] * 5},
        )
        stub.add_response(
            "put_records",
            _throttled(2, {1}),
            {"StreamName": FEATURES_STREAM, "Records": [entry] * 2},
        )
        stub.add_response(
            "put_records", _throttled(1, {0}), {"StreamName": FEATURES_STREAM, "Records": [entry]}
        )
        stub.add_response(
            "put_records", _throttled(1, {0}), {"StreamName": FEATURES_STREAM, "Records": [entry]}
        )
        response = extract_features.handler(event, context)
        stub.assert_no_pending_responses()

    # Lambda resumes from the lowest reported sequence number: the tail from source position 4.
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs[4:]]}


def test_quarantine_write_failure_is_retried_not_lost(
    extract_features: ModuleType, context: FakeContext
) -> None:
    event = kinesis_event(
        [message("pump-01", TS0, 1), b"not json", message("pump-01", TS0 + 60_000, 2)]
    )
    seqs = sequence_numbers(event)
    with Stubber(extract_features.DEPS.s3) as stub:
        # (a stubbed error skips the client's retries: it stands for the last attempt failing)
        stub.add_client_error("put_object", "InternalError", http_status_code=500)
        response = extract_features.handler(event, context)
        stub.assert_no_pending_responses()
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs[1:]]}


def test_assets_are_read_once_and_cached_until_ttl(
    extract_features: ModuleType, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = extract_features.DEPS.assets
    calls: list[Any] = []
    real = cache._dynamodb.batch_get_item

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    now = [1000.0]
    monkeypatch.setattr(cache, "_clock", lambda: now[0])
    monkeypatch.setattr(cache._dynamodb, "batch_get_item", counting)
    for i in range(3):
        event = kinesis_event([message("pump-01", TS0 + i, i), message("unknown-9", TS0 + i, i)])
        assert extract_features.handler(event, context) == {"batchItemFailures": []}
    assert len(calls) == 1  # unknown devices are cached as unknown too
    now[0] += cache._ttl_s + 1.0
    extract_features.handler(kinesis_event([message("pump-01", TS0 + 9, 9)]), context)
    assert len(calls) == 2


def test_v1_and_v2_side_by_side_give_the_same_features(
    extract_features: ModuleType, aws: Aws, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    """Contract v2 (binary) in the same batch as v1: the device comes from the partition key,
    the arrival time from the Kinesis record, and the features match v1's for the same window."""
    from rotorwatch.telemetry_v2 import HEADER_BYTES, encode_v2
    from tests.signals import FS_HZ, RPM, window

    x = window(v1x_mm_s=3.5)
    v1 = message("pump-01", TS0, 1, v1x_mm_s=3.5)
    v2 = encode_v2(
        ts=TS0, seq=1, samples=x, fs_hz=FS_HZ, rpm=RPM, temperature_c=41.5, pressure_bar=2.1
    )
    bad_v2 = v2[:60]  # a header and 6 samples: too few
    event = kinesis_event([v1, v2, bad_v2], partition_keys=["pump-01", "pump-02", "pump-02"])
    capsys.readouterr()

    assert extract_features.handler(event, context) == {"batchItemFailures": []}

    f1, f2 = (json.loads(r["Data"]) for r in aws.feature_records())
    assert (f1["device_id"], f2["device_id"]) == ("pump-01", "pump-02")
    assert f2["received_at"] == int(
        event["Records"][1]["kinesis"]["approximateArrivalTimestamp"] * 1000
    )
    for name in ("velocity_rms_mm_s", "accel_rms_g", "crest_factor"):
        assert f2[name] == pytest.approx(f1[name], rel=1e-3), name
    assert f2["iso_zone"] == f1["iso_zone"] == "C"
    (body,) = aws.objects(QUARANTINE_PREFIX).values()
    assert json.loads(body)["reason"] == "too_few_samples"
    # The raw lake: the v1 record as it came, the v2 window as a v1-shaped line (same samples,
    # device from the partition key); the broken v2 record only in quarantine.
    raw_v1, raw_v2 = aws.raw_rows()
    assert raw_v1 == json.loads(v1)
    assert (raw_v2["v"], raw_v2["device_id"], raw_v2["seq"]) == (2, "pump-02", 1)
    assert raw_v2["received_at"] == f2["received_at"]
    assert base64.b64decode(raw_v2["vibration"]["data"]) == v2[HEADER_BYTES:]
    # The features lake gets the very rows the features stream got (Direct PUT, aggregated).
    lake_rows = [
        json.loads(line) for body in aws.objects("features/").values() for line in body.splitlines()
    ]
    assert lake_rows == [f1, f2]
    assert emf_metrics(capsys.readouterr().out)["RecordsQuarantined"] == 1
