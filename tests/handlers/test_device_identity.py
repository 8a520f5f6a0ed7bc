"""A device cannot inject windows for another device through its own topic.

The chain, each link as deployed: the IoT policy lets a certificate publish only on its own
thing's topic; the IoT rule (here its local twin, the rule bridge: same SQL, same partition
key ``${topic(2)}:${topic(3)}``) keys the Kinesis record by that topic's site and device and
leaves the payload as sent; extract_features compares the payload's ``device_id`` with the partition key and
quarantines a mismatch as ``device_mismatch``, counted in the series the DeviceMismatch alarm
selects.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest

from local_cloud.bridge import RuleBridge
from rotorwatch.contract import iot_rule
from rotorwatch.contract.iot_policy import device_policy_document, is_allowed
from rotorwatch.contract.reasons import Reason
from rotorwatch.deployment.resources import (
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
    QUARANTINE_REASON_DIMENSION,
    QUARANTINED_BY_REASON_METRIC,
)
from rotorwatch.lake.layout import QUARANTINE_PREFIX
from tests.events import kinesis_event
from tests.handlers.conftest import REGION, Aws, FakeContext
from tests.handlers.test_metrics_match_alarms import series
from tests.signals import message

pytestmark = pytest.mark.deploy_contract

TS0 = 1_763_900_000_000
SITE = "plant-a"
TELEMETRY_STREAM = "rw-telemetry-test"
ARN = "arn:aws:iot:eu-west-1:123456789012"


def _through_the_rule(tmp_path: Any, published: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Publish through the rule bridge, then read the telemetry stream back as a Lambda event."""
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName=TELEMETRY_STREAM, ShardCount=1)
    bridge = RuleBridge(kinesis, TELEMETRY_STREAM, tmp_path, clock_ms=lambda: TS0 + 500)
    for topic, payload in published:
        assert bridge.publish(topic, payload)
    bridge.flush()
    shard = kinesis.describe_stream(StreamName=TELEMETRY_STREAM)["StreamDescription"]["Shards"][0]
    it = kinesis.get_shard_iterator(
        StreamName=TELEMETRY_STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=it)["Records"]
    return kinesis_event(
        [r["Data"] for r in records], partition_keys=[r["PartitionKey"] for r in records]
    )


def test_a_device_cannot_inject_windows_for_another_through_its_own_topic(
    extract_features: ModuleType,
    aws: Aws,
    context: FakeContext,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = device_policy_document(region="eu-west-1", account_id="123456789012")
    own_topic = iot_rule.telemetry_topic(SITE, "pump-01")
    # The policy: pump-01 may publish on its own topic only, never on pump-02's.
    for topic, allowed in ((own_topic, True), (iot_rule.telemetry_topic(SITE, "pump-02"), False)):
        assert (
            is_allowed(
                policy,
                action="iot:Publish",
                resource=f"{ARN}:topic/{topic}",
                thing_name="pump-01",
                site=SITE,
            )
            is allowed
        )
    honest = message("pump-01", TS0, 1, v1x_mm_s=1.0)
    forged = message("pump-02", TS0, 1, v1x_mm_s=9.0)  # pump-01 claiming to be pump-02
    event = _through_the_rule(tmp_path, [(own_topic, honest), (own_topic, forged)])
    assert [r["kinesis"]["partitionKey"] for r in event["Records"]] == [f"{SITE}:pump-01"] * 2

    capsys.readouterr()
    assert extract_features.handler(event, context) == {"batchItemFailures": []}

    features = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert [f["device_id"] for f in features] == ["pump-01"]  # nothing reached pump-02's state
    (body,) = aws.objects(f"{QUARANTINE_PREFIX}reason=device_mismatch/").values()
    kept = json.loads(body)
    assert (kept["reason"], kept["field"], kept["partition_key"]) == (
        Reason.DEVICE_MISMATCH.value,
        "device_id",
        f"{SITE}:pump-01",
    )
    assert "'pump-02'" in kept["message"]
    # Counted in the series the operations stack alarms on.
    got = series(capsys.readouterr().out)
    alarmed = (
        METRICS_NAMESPACE,
        QUARANTINED_BY_REASON_METRIC,
        tuple(
            sorted(
                (
                    ("service", POWERTOOLS_SERVICE),
                    (QUARANTINE_REASON_DIMENSION, Reason.DEVICE_MISMATCH.value),
                )
            )
        ),
    )
    assert got[alarmed] == 1


def test_basic_ingest_keys_by_the_same_device() -> None:
    # topic() sees the Basic Ingest topic without its $aws/rules/<rule>/ prefix.
    topic = iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry", SITE, "pump-01")
    assert iot_rule.partition_key(topic) == f"{SITE}:pump-01"
    assert iot_rule.project(topic, {"device_id": "pump-02"}, 1) == {
        "device_id": "pump-02",  # left as sent: the handler checks it against the key
        "site": SITE,
        "received_at": 1,
    }


def test_contract_v2_a_device_speaks_only_for_itself_through_its_v2_topic(
    extract_features: ModuleType,
    aws: Aws,
    context: FakeContext,
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """v2 carries no device id: the topic is the whole identity. The policy lets pump-01 publish
    on its own v2 topics only (direct and Basic Ingest of the v2 rule); the v2 rule (the bridge)
    keys the record site/device from that topic; extract_features takes device and site from
    the key. A JSON message forged onto the v2 topic, or a binary one onto the v1 topic, gets
    nowhere."""
    from rotorwatch.contract.telemetry import decode
    from rotorwatch.contract.telemetry_v2 import from_v1

    rule = "rotorwatch_dev_telemetry"
    v2_rule = iot_rule.rule_names(rule)[2]
    policy = device_policy_document(
        region="eu-west-1", account_id="123456789012", basic_ingest_rule=rule
    )
    own_v2 = iot_rule.telemetry_topic(SITE, "pump-01", contract=2)
    for topic, allowed in (
        (own_v2, True),
        (iot_rule.basic_ingest_topic(v2_rule, SITE, "pump-01", contract=2), True),
        (iot_rule.telemetry_topic(SITE, "pump-02", contract=2), False),
        (iot_rule.telemetry_topic("plant-b", "pump-01", contract=2), False),
        (iot_rule.basic_ingest_topic(v2_rule, SITE, "pump-02", contract=2), False),
        # Each contract's topic only behind its own rule.
        (iot_rule.basic_ingest_topic(rule, SITE, "pump-01", contract=2), False),
        (iot_rule.basic_ingest_topic(v2_rule, SITE, "pump-01", contract=1), False),
    ):
        got = is_allowed(
            policy,
            action="iot:Publish",
            resource=f"{ARN}:topic/{topic}",
            thing_name="pump-01",
            site=SITE,
        )
        assert got is allowed, topic

    honest = from_v1(decode(message("pump-01", TS0, 1, v1x_mm_s=1.0)))
    forged_json = message("pump-02", TS0, 2, v1x_mm_s=9.0)  # JSON claiming pump-02, on v2
    binary_on_v1 = from_v1(decode(message("pump-01", TS0, 3)))
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName=TELEMETRY_STREAM, ShardCount=1)
    bridge = RuleBridge(kinesis, TELEMETRY_STREAM, tmp_path, clock_ms=lambda: TS0 + 500)
    assert bridge.publish(own_v2, honest)
    assert bridge.publish(own_v2, forged_json)  # SELECT * passes anything: the handler judges
    # The v1 rule cannot evaluate a binary payload: its error action keeps it, nothing is keyed.
    assert not bridge.publish(iot_rule.telemetry_topic(SITE, "pump-01"), binary_on_v1)
    assert bridge.rule_errors == 1
    bridge.flush()
    shard = kinesis.describe_stream(StreamName=TELEMETRY_STREAM)["StreamDescription"]["Shards"][0]
    it = kinesis.get_shard_iterator(
        StreamName=TELEMETRY_STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=it)["Records"]
    assert [r["PartitionKey"] for r in records] == [f"{SITE}/pump-01"] * 2
    assert records[0]["Data"] == honest  # passed through unchanged
    event = kinesis_event(
        [r["Data"] for r in records],
        partition_keys=[r["PartitionKey"] for r in records],
        arrival_s=1_763_900_001.25,
    )

    assert extract_features.handler(event, context) == {"batchItemFailures": []}

    (features,) = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert (features["device_id"], features["site"], features["received_at"]) == (
        "pump-01",
        SITE,
        1_763_900_001_250,
    )
    (body,) = aws.objects(f"{QUARANTINE_PREFIX}reason=wrong_topic/").values()
    assert json.loads(body)["partition_key"] == f"{SITE}/pump-01"


def test_v2_topics_key_by_site_and_device_and_v1_rule_ignores_them() -> None:
    topic = iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry_v2", SITE, "pump-01", 2)
    assert iot_rule.partition_key(topic) == f"{SITE}/pump-01"
    assert iot_rule.parse_partition_key(f"{SITE}/pump-01") == iot_rule.Publisher(2, SITE, "pump-01")
    assert iot_rule.parse_partition_key(f"{SITE}:pump-01") == iot_rule.Publisher(1, SITE, "pump-01")
    assert iot_rule.parse_partition_key("pump-01") == iot_rule.Publisher(1, None, "pump-01")
    assert iot_rule.project(topic, {"device_id": "pump-01"}, 1) is None  # not the v1 rule's
