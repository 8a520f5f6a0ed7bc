"""`rotorwatch demo --mqtt`: the simulator publishes over MQTT 5 to a real mosquitto, the rule
bridge subscribes to the rule's topic filter and every message reaches the telemetry stream,
projected as the IoT rule projects it. Skipped without mosquitto (`make system-deps`)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from cli.demo import _mosquitto
from local_cloud.bridge import MqttBridge, RuleBridge
from simulator.fleet import generate, load_scenario
from simulator.run import MqttFleetSink, run

pytestmark = pytest.mark.slow


def test_messages_from_the_broker_reach_kinesis(tmp_path: Path) -> None:
    if shutil.which("mosquitto", path="/usr/sbin:/usr/bin:/sbin") is None:
        pytest.skip("mosquitto not installed")
    proc, port = _mosquitto(tmp_path)
    try:
        with mock_aws():
            k = boto3.client("kinesis", region_name="eu-west-1")
            k.create_stream(StreamName="t", ShardCount=1)
            bridge = RuleBridge(k, "t", tmp_path / "lake")
            mqtt = MqttBridge(bridge, "127.0.0.1", port).start()
            sent = list(
                generate(
                    load_scenario("small"), start_ms=0, duration_s=3000, interval_s=600, seed=0
                )
            )
            run(iter(sent), MqttFleetSink("127.0.0.1", port, iot_core_limits=False))
            deadline = time.monotonic() + 20
            while bridge.received < len(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
            mqtt.stop()
            shard = k.describe_stream(StreamName="t")["StreamDescription"]["Shards"][0]["ShardId"]
            it = k.get_shard_iterator(
                StreamName="t", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            got = k.get_records(ShardIterator=it, Limit=1000)["Records"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert len(sent) == 20
    assert len(got) == len(sent)
    rows = [json.loads(r["Data"]) for r in got]
    assert {(r["device_id"], r["seq"]) for r in rows} == {
        (json.loads(p)["device_id"], json.loads(p)["seq"]) for _t, p in sent
    }
    assert all(r["site"] == "plant-a" and isinstance(r["received_at"], int) for r in rows)


def test_v2_windows_through_the_broker_come_out_as_features(tmp_path: Path) -> None:
    """A mixed fleet over MQTT: v2 devices publish binary to .../telemetry/v2, the bridge (the
    v2 rule) passes it unchanged keyed <site>/<device>, and the cloud's decoder and feature
    engine (what extract_features runs) give every window its features, device and site."""
    if shutil.which("mosquitto", path="/usr/sbin:/usr/bin:/sbin") is None:
        pytest.skip("mosquitto not installed")
    from rotorwatch.contract.iot_rule import topic_contract
    from rotorwatch.contract.published import decode_published
    from rotorwatch.diagnosis.features import compute_features
    from simulator.fleet import generate_windows

    scenario = load_scenario("small")
    v2 = {m.device_id for m in scenario.machines[::2]}
    windows = list(
        generate_windows(
            scenario,
            start_ms=0,
            duration_s=3000,
            interval_s=600,
            seed=0,
            contract=dict.fromkeys(v2, 2),
        )
    )
    sent = [(w.topic, w.payload) for w in windows]
    assert {w.device_id for w in windows if topic_contract(w.topic) == 2} == v2
    proc, port = _mosquitto(tmp_path)
    try:
        with mock_aws():
            k = boto3.client("kinesis", region_name="eu-west-1")
            k.create_stream(StreamName="t", ShardCount=1)
            bridge = RuleBridge(k, "t", tmp_path / "lake", clock_ms=lambda: 42_000)
            mqtt = MqttBridge(bridge, "127.0.0.1", port).start()
            run(iter(sent), MqttFleetSink("127.0.0.1", port, iot_core_limits=False))
            deadline = time.monotonic() + 20
            while bridge.received < len(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
            mqtt.stop()
            shard = k.describe_stream(StreamName="t")["StreamDescription"]["Shards"][0]["ShardId"]
            it = k.get_shard_iterator(
                StreamName="t", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            got = k.get_records(ShardIterator=it, Limit=1000)["Records"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert bridge.rule_errors == 0
    assert len(got) == len(sent)
    binary = {(w.payload, f"plant-a/{w.device_id}") for w in windows if w.device_id in v2}
    assert {(r["Data"], r["PartitionKey"]) for r in got} >= binary  # unchanged, site/device
    # Kinesis' arrival stands for received_at in v2: the bridge's clock (see RuleBridge).
    arrival = {
        r["SequenceNumber"]: ms for r in got if (ms := bridge.arrivals_ms.get(r["SequenceNumber"]))
    }
    assert len(arrival) == len(got)
    messages = [
        decode_published(r["Data"], r["PartitionKey"], arrival[r["SequenceNumber"]]) for r in got
    ]
    rows = compute_features(messages, scenario.assets)
    assert len(rows) == len(sent)
    assert {(r["device_id"], r["seq"]) for r in rows} == {
        (w.device_id, w.truth["seq"]) for w in windows
    }
    assert all(r["site"] == "plant-a" and r["received_at"] == 42_000 for r in rows)
    assert all(r["velocity_rms_mm_s"] > 0 for r in rows if r["device_id"] in v2)
