"""Local stand-ins spoken to through botocore, as the handlers speak to them: InvokeEndpoint runs
the artifact's inference script, Firehose PutRecordBatch lands rows in the lake layout, and the
IoT-rule bridge projects, partitions and keeps what the rule could not evaluate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_cloud.athena import connect, run_sql
from local_cloud.bridge import RuleBridge
from local_cloud.firehose import LocalFirehose
from local_cloud.services import LocalModel, LocalServices, ModelError
from rotorwatch.diagnosis.scoring import (
    ACCEPT,
    CONTENT_TYPE,
    decode_response,
    encode_request,
    rules_row,
)
from rotorwatch.lake import layout as lake
from tests.e2e.test_local_demo import STANDIN_VERSION, build_model

FEATURES = [
    {"device_id": "pump-01", "ts": 1, "seq": 0, "iso_zone": "D", "velocity_rms_mm_s": 9.0},
    {"device_id": "pump-02", "ts": 2, "seq": 0, "iso_zone": "A", "velocity_rms_mm_s": 1.0},
]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[LocalServices]:
    s = LocalServices(LocalFirehose(tmp_path / "lake")).start()
    s.endpoints["m"] = LocalModel(build_model(tmp_path))
    s.delivery_streams["preds"] = lake.PREDICTIONS_TABLE
    yield s
    s.stop()


def client(service: str, url: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_invoke_endpoint_runs_the_inference_script(services: LocalServices) -> None:
    rt = client("sagemaker-runtime", services.url)
    response = rt.invoke_endpoint(
        EndpointName="m", ContentType=CONTENT_TYPE, Accept=ACCEPT, Body=encode_request(FEATURES)
    )
    rows = decode_response(response["Body"].read(), 2)
    assert [r["state"] for r in rows] == [rules_row(f)["state"] for f in FEATURES]
    assert {r["model_version"] for r in rows} == {STANDIN_VERSION}
    assert services.endpoints["m"].invocations == 1


def test_unknown_endpoint_and_script_errors_are_client_errors(services: LocalServices) -> None:
    rt = client("sagemaker-runtime", services.url)
    with pytest.raises(ClientError, match="not found"):
        rt.invoke_endpoint(EndpointName="nope", ContentType=CONTENT_TYPE, Body=b"[]")
    with pytest.raises(ClientError, match="unsupported content type"):
        rt.invoke_endpoint(EndpointName="m", ContentType="text/csv", Body=b"1,2")


def test_missing_artifact_or_incomplete_script(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make model"):
        LocalModel(tmp_path / "model.tar.gz")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("def model_fn(d):\n    return 1\n")
    with pytest.raises(ModelError, match="input_fn"):
        LocalModel(tmp_path)


def test_firehose_put_record_batch_lands_in_the_lake(services: LocalServices) -> None:
    fh = client("firehose", services.url)
    rows = [
        {**rules_row(f), **{k: f[k] for k in ("device_id", "ts", "seq")}, "degraded": True}
        for f in FEATURES
    ]
    resp = fh.put_record_batch(
        DeliveryStreamName="preds",
        Records=[{"Data": json.dumps(r).encode() + b"\n"} for r in rows],
    )
    assert resp["FailedPutCount"] == 0
    with pytest.raises(ClientError, match="not found"):
        fh.put_record_batch(DeliveryStreamName="other", Records=[{"Data": b"{}"}])
    services.flush()
    got = run_sql(
        connect(services.firehose.lake_dir), "SELECT device_id FROM predictions ORDER BY 1"
    )
    assert got.rows == [("pump-01",), ("pump-02",)]


@pytest.mark.slow
def test_bridge_projects_partitions_and_keeps_rule_errors(tmp_path: Path) -> None:
    with mock_aws():
        k = boto3.client("kinesis", region_name="eu-west-1")
        k.create_stream(StreamName="t", ShardCount=1)
        bridge = RuleBridge(k, "t", tmp_path, clock_ms=lambda: 1_767_225_600_123)
        big = "x" * 100_000  # 60 of these exceed PutRecords' 5 MiB: the bridge splits the call
        for i in range(60):
            assert bridge.publish(
                "rw/plant-a/pump-01/telemetry",
                json.dumps({"v": 1, "device_id": "spoof", "ts": i, "seq": i, "pad": big}).encode(),
            )
        assert not bridge.publish("rw/plant-a/pump-01/telemetry", b"\xff not json")
        assert not bridge.publish("other/topic", b"{}")
        bridge.flush()
        shard = k.describe_stream(StreamName="t")["StreamDescription"]["Shards"][0]["ShardId"]
        it = k.get_shard_iterator(StreamName="t", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        got = k.get_records(ShardIterator=it["ShardIterator"], Limit=10_000)["Records"]
    assert len(got) == 60
    first = json.loads(got[0]["Data"])
    # As the rule: the payload keeps its own claim, the topic's device is the partition key
    # (extract_features quarantines the mismatch as device_mismatch).
    assert first["device_id"] == "spoof"
    assert first["site"] == "plant-a"
    assert first["received_at"] == 1_767_225_600_123
    assert got[0]["PartitionKey"] == "plant-a:pump-01"
    assert (bridge.forwarded, bridge.rule_errors, bridge.not_matched) == (60, 1, 1)
    errors = list((tmp_path / lake.IOT_ERRORS_PREFIX).rglob("*.json"))
    assert len(errors) == 1
    assert "not JSON" in errors[0].read_text()
