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
