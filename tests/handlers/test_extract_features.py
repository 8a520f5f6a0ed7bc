"""extract_features on real Kinesis event shapes against moto."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from rotorwatch.contract.telemetry import decode
from rotorwatch.diagnosis.features import FEATURE_NAMES
from rotorwatch.lake.layout import QUARANTINE_PREFIX
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
        stub.add_response("put_object", {})  # the batch's raw object
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
    """Contract v2 (binary) in the same batch as v1: the device and site come from the v2
    rule's partition key, the arrival time from the Kinesis record, and the features match
    v1's for the same window."""
    from rotorwatch.contract.telemetry_v2 import HEADER_BYTES, encode_v2
    from tests.signals import FS_HZ, RPM, window

    x = window(v1x_mm_s=3.5)
    v1 = message("pump-01", TS0, 1, v1x_mm_s=3.5)
    v2 = encode_v2(
        ts=TS0, seq=1, samples=x, fs_hz=FS_HZ, rpm=RPM, temperature_c=41.5, pressure_bar=2.1
    )
    bad_v2 = v2[:60]  # a header and 6 samples: too few
    event = kinesis_event(
        [v1, v2, bad_v2], partition_keys=["pump-01", "plant-a/pump-02", "plant-a/pump-02"]
    )
    capsys.readouterr()

    assert extract_features.handler(event, context) == {"batchItemFailures": []}

    f1, f2 = (json.loads(r["Data"]) for r in aws.feature_records())
    assert (f1["device_id"], f2["device_id"]) == ("pump-01", "pump-02")
    assert f2["site"] == "plant-a"
    assert f2["received_at"] == int(
        event["Records"][1]["kinesis"]["approximateArrivalTimestamp"] * 1000
    )
    for name in ("velocity_rms_mm_s", "accel_rms_g", "crest_factor"):
        assert f2[name] == pytest.approx(f1[name], rel=1e-3), name
    assert f2["iso_zone"] == f1["iso_zone"] == "C"
    (body,) = aws.objects(QUARANTINE_PREFIX).values()
    assert json.loads(body)["reason"] == "too_few_samples"
    # The raw lake: the v1 record as it came, the v2 window as its v1 form (same samples,
    # device and site from the partition key, contract 2); the broken v2 record only in
    # quarantine.
    raw_v1, raw_v2 = aws.raw_rows()
    assert raw_v1 == json.loads(v1)
    assert (raw_v2["v"], raw_v2["contract"], raw_v2["device_id"], raw_v2["site"]) == (
        1,
        2,
        "pump-02",
        "plant-a",
    )
    assert raw_v2["seq"] == 1
    assert raw_v2["received_at"] == f2["received_at"]
    assert base64.b64decode(raw_v2["vibration"]["data"]) == v2[HEADER_BYTES:]
    # The features lake is the features stream's (a Kinesis-sourced Firehose): nothing direct.
    assert aws.objects("features/") == {}
    assert emf_metrics(capsys.readouterr().out)["RecordsQuarantined"] == 1


def _v1_as_the_rule_made_it(received_at_ms: int) -> bytes:
    """pump-01's window as contract v1 through the v1 rule (site and received_at added), with a
    scale a float32 holds exactly, so v2's float32 header carries the very same scale."""
    from rotorwatch.contract import iot_rule
    from rotorwatch.contract.telemetry import encode, encode_samples
    from tests.signals import FS_HZ, RPM, window

    sent = encode(
        device_id="pump-01",
        ts=TS0,
        seq=7,
        rpm=RPM,
        temperature_c=41.5,
        pressure_bar=2.1,
        vibration=encode_samples(window(v1x_mm_s=3.5), fs_hz=FS_HZ, scale=2.0**-12),
    )
    topic = iot_rule.telemetry_topic("plant-a", "pump-01")
    row = iot_rule.project(topic, json.loads(sent), received_at_ms)
    assert row is not None
    return json.dumps(row).encode()


def test_the_same_window_as_v1_and_as_v2_gives_the_same_feature_row(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    """Issue 15: a device switching contracts changes nothing downstream. The whole row is
    equal: the device and site come from the v2 key, received_at from the Kinesis arrival (here
    the same instant the v1 rule stamped)."""
    from rotorwatch.contract.telemetry import decode
    from rotorwatch.contract.telemetry_v2 import from_v1

    arrival_s = 1_763_900_000.5
    v1 = _v1_as_the_rule_made_it(int(arrival_s * 1000))
    v2 = from_v1(decode(v1))
    assert len(v2) < len(v1) * 0.75
    # Two invocations: in one batch the second would be a duplicate (same device, ts, seq).
    event_v1 = kinesis_event([v1], arrival_s=arrival_s)  # both: received_at is the arrival
    assert extract_features.handler(event_v1, context) == {"batchItemFailures": []}
    event_v2 = kinesis_event([v2], partition_keys=["plant-a/pump-01"], arrival_s=arrival_s)
    assert extract_features.handler(event_v2, context) == {"batchItemFailures": []}

    row_v1, row_v2 = (json.loads(r["Data"]) for r in aws.feature_records())
    assert row_v2 == row_v1


def test_a_v2_window_replays_from_the_raw_lake_to_the_same_features(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    """The runbook's replay (a raw line put back on the telemetry stream, keyed by its
    device_id) works for a window a device sent as v2: its raw line is its v1 form."""
    from rotorwatch.contract.telemetry import decode
    from rotorwatch.contract.telemetry_v2 import from_v1

    v2 = from_v1(decode(_v1_as_the_rule_made_it(0)))
    event = kinesis_event([v2], partition_keys=["plant-a/pump-01"])
    assert extract_features.handler(event, context) == {"batchItemFailures": []}
    (row,) = aws.raw_rows()
    line = json.dumps(row).encode()
    replayed = kinesis_event([line], partition_keys=[row["device_id"]])
    assert extract_features.handler(replayed, context) == {"batchItemFailures": []}

    first, again = (json.loads(r["Data"]) for r in aws.feature_records())
    assert again == first
    assert aws.objects(QUARANTINE_PREFIX) == {}


@pytest.mark.parametrize(
    ("payload_kind", "key"),
    [("v2", "pump-01"), ("v1", "plant-a/pump-01")],
    ids=["binary-through-the-v1-rule", "json-through-the-v2-rule"],
)
def test_a_contract_through_the_other_contracts_rule_is_quarantined_as_wrong_topic(
    extract_features: ModuleType,
    aws: Aws,
    context: FakeContext,
    payload_kind: str,
    key: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rotorwatch.contract.telemetry_v2 import from_v1

    v1 = message("pump-01", TS0, 1)
    payload = from_v1(decode(v1)) if payload_kind == "v2" else v1
    capsys.readouterr()
    event = kinesis_event(
        [payload, message("pump-01", TS0 + 1, 2)], partition_keys=[key, "pump-01"]
    )
    assert extract_features.handler(event, context) == {"batchItemFailures": []}

    assert len(aws.feature_records()) == 1  # the batch goes on
    (body,) = aws.objects(f"{QUARANTINE_PREFIX}reason=wrong_topic/").values()
    assert "telemetry" in json.loads(body)["message"]
    assert emf_metrics(capsys.readouterr().out)["RecordsQuarantined"] == 1


def test_a_retried_tail_writes_each_raw_window_once(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    """Issue 25: the raw object holds exactly the records an invocation commits (those before
    the earliest failure, from which Lambda resumes), so a throttled tail is retried into an
    object of its own and no raw window is written twice."""
    payloads = [message("pump-01", TS0 + i * 60_000, i) for i in range(4)]
    event = kinesis_event(payloads)
    seqs = sequence_numbers(event)
    entry = {"Data": ANY, "PartitionKey": "pump-01"}
    with Stubber(extract_features.DEPS.kinesis) as stub:
        # Entry 2 stays throttled through every attempt: Lambda resumes from position 2.
        stub.add_response(
            "put_records",
            _throttled(4, {2}),
            {"StreamName": FEATURES_STREAM, "Records": [entry] * 4},
        )
        for _ in range(3):
            stub.add_response(
                "put_records",
                _throttled(1, {0}),
                {"StreamName": FEATURES_STREAM, "Records": [entry]},
            )
        response = extract_features.handler(event, context)
        stub.assert_no_pending_responses()
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in seqs[2:]]}
    assert [r["seq"] for r in aws.raw_rows()] == [0, 1]
    # What Lambda redelivers: the tail, same shard, same sequence numbers.
    tail = {"Records": event["Records"][2:]}
    assert extract_features.handler(tail, context) == {"batchItemFailures": []}
    assert sorted(r["seq"] for r in aws.raw_rows()) == [0, 1, 2, 3]
    assert len(aws.objects("raw/telemetry/")) == 2


def test_a_batch_retried_whole_rewrites_its_raw_object(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    event = kinesis_event([message("pump-01", TS0 + i * 60_000, i) for i in range(3)])
    assert extract_features.handler(event, context) == {"batchItemFailures": []}
    assert extract_features.handler(event, context) == {"batchItemFailures": []}
    (key,) = aws.objects("raw/telemetry/")
    assert [r["seq"] for r in aws.raw_rows()] == [0, 1, 2]
    assert key.endswith(".gz")
