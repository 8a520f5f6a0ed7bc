"""The ingestion and storage stacks: what a device and the lake depend on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_app.stacks.ingestion import PARTITION_KEY
from rotorwatch.contract import iot_rule
from rotorwatch.contract.iot_policy import is_allowed
from rotorwatch.lake import layout as lake
from tests.infra.cdk_helpers import Synth, only, resources

REGION, ACCOUNT = "eu-west-1", "123456789012"


def _resolve(value: Any) -> Any:
    """Resolve the few intrinsics our policy uses, as CloudFormation would in one account."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(_resolve(p)) for p in parts)
        if "Ref" in value:
            return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}[
                value["Ref"]
            ]
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def test_streams_are_kms_encrypted_on_demand_with_configured_retention(synth: Synth) -> None:
    t = synth.template("Ingestion")
    streams = resources(t, "AWS::Kinesis::Stream")
    assert len(streams) == 2
    cfg = synth.built.config
    for s in streams.values():
        props = s["Properties"]
        assert props["StreamEncryption"]["EncryptionType"] == "KMS"
        assert props["StreamEncryption"]["KeyId"] == {
            "Fn::ImportValue": "Rotorwatch-dev-DataKeyArn"
        }
        assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
        assert "ShardCount" not in props
    hours = sorted(s["Properties"]["RetentionPeriodHours"] for s in streams.values())
    assert hours == sorted(
        [cfg.telemetry_stream.retention_hours, cfg.features_stream.retention_hours]
    )


def test_rule_uses_shared_sql_and_partitions_by_device(synth: Synth) -> None:
    t = synth.template("Ingestion")
    rules = {
        r["Properties"]["RuleName"]: r["Properties"]
        for r in resources(t, "AWS::IoT::TopicRule").values()
    }
    assert set(rules) == {"rotorwatch_dev_telemetry", "rotorwatch_dev_telemetry_v2"}
    rule = rules["rotorwatch_dev_telemetry"]["TopicRulePayload"]
    assert rule["Sql"] == iot_rule.TELEMETRY_RULE_SQL
    # Nothing is projected over the payload's own device_id (which one would win is
    # undocumented), and what is projected (site, received_at) the cloud never reads: the
    # topic's site and device travel as the partition key.
    assert "AS device_id" not in rule["Sql"]
    assert rule["AwsIotSqlVersion"] == iot_rule.IOT_SQL_VERSION
    (action,) = rule["Actions"]
    assert action["Kinesis"]["PartitionKey"] == PARTITION_KEY == "${topic(2)}:${topic(3)}"
    telemetry_ref = [k for k in resources(t, "AWS::Kinesis::Stream") if k.startswith("Telemetry")]
    assert action["Kinesis"]["StreamName"] == {"Ref": telemetry_ref[0]}
    # A failed message goes to S3 as it is (no republish: that would add base64 and metadata
    # and lose every message over ~96 KB to MQTT's 128 KB limit).
    (kind,) = rule["ErrorAction"]
    assert kind == "S3"
    key = rule["ErrorAction"]["S3"]["Key"]
    assert key.startswith(f"{lake.IOT_ERRORS_PREFIX}year=${{parse_time('yyyy'")
    assert key.endswith("/${newuuid()}.json")


def test_the_v2_rule_passes_binary_through_onto_the_same_stream_keyed_by_site_and_device(
    synth: Synth,
) -> None:
    """Issue 15: contract v2 is deployed. Its rule is a bare `SELECT *` (what AWS documents for a
    binary payload), on its own topic filter, with v1's SQL version, stream, role and error
    action; only the partition key (site/device) differs."""
    t = synth.template("Ingestion")
    rules = {
        r["Properties"]["RuleName"]: r["Properties"]["TopicRulePayload"]
        for r in resources(t, "AWS::IoT::TopicRule").values()
    }
    v1, v2 = rules["rotorwatch_dev_telemetry"], rules["rotorwatch_dev_telemetry_v2"]
    assert v2["Sql"] == "SELECT * FROM 'rw/+/+/telemetry/v2'" == iot_rule.TELEMETRY_V2_RULE_SQL
    assert v2["AwsIotSqlVersion"] == v1["AwsIotSqlVersion"]
    assert v2["RuleDisabled"] is False
    (a1,), (a2,) = v1["Actions"], v2["Actions"]
    assert a2["Kinesis"]["PartitionKey"] == "${topic(2)}/${topic(3)}"
    assert {k: v for k, v in a2["Kinesis"].items() if k != "PartitionKey"} == {
        k: v for k, v in a1["Kinesis"].items() if k != "PartitionKey"
    }
    assert v2["ErrorAction"] == v1["ErrorAction"]
    outputs = t["Outputs"]
    assert outputs["TelemetryV2RuleName"]["Value"] == "rotorwatch_dev_telemetry_v2"


def test_rule_role_may_only_put_to_the_stream_and_errors_prefix(synth: Synth) -> None:
    t = synth.template("Ingestion")
    actions = set()
    for pol in resources(t, "AWS::IAM::Policy").values():
        for st in pol["Properties"]["PolicyDocument"]["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            actions.update(acts)
            assert st["Resource"] != "*"
            if "s3:PutObject" in acts:
                assert json.dumps(st["Resource"]).endswith(f'"/{lake.IOT_ERRORS_PREFIX}*"]]}}')
    assert not any(a.endswith("*") for a in actions), actions
    assert {"kinesis:PutRecord", "s3:PutObject"} <= actions
    assert not any(a.startswith("iot:") for a in actions)


def test_device_policy_lets_a_device_publish_only_as_itself(synth: Synth) -> None:
    doc = _resolve(only(synth.template("Ingestion"), "AWS::IoT::Policy")["PolicyDocument"])
    topic = f"arn:aws:iot:{REGION}:{ACCOUNT}:topic/"
    client = f"arn:aws:iot:{REGION}:{ACCOUNT}:client/"
    own = iot_rule.telemetry_topic("plant-1", "pump-7")
    other = iot_rule.telemetry_topic("plant-1", "pump-8")
    basic_own = iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry", "plant-1", "pump-7")
    basic_other = iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry", "plant-1", "pump-8")

    def allowed(action: str, resource: str, **kw: Any) -> bool:
        kw.setdefault("site", "plant-1")
        return is_allowed(doc, action=action, resource=resource, thing_name="pump-7", **kw)

    assert allowed("iot:Connect", client + "pump-7")
    assert not allowed("iot:Connect", client + "pump-8")
    assert not allowed("iot:Connect", client + "pump-7", attached=False)
    assert allowed("iot:Publish", topic + own)
    assert allowed("iot:Publish", topic + basic_own)
    assert not allowed("iot:Publish", topic + other)
    assert not allowed("iot:Publish", topic + basic_other)
    # Contract v2: its own topics, each behind its own rule.
    v2_rule = "rotorwatch_dev_telemetry_v2"
    assert allowed("iot:Publish", topic + iot_rule.telemetry_topic("plant-1", "pump-7", 2))
    assert allowed(
        "iot:Publish", topic + iot_rule.basic_ingest_topic(v2_rule, "plant-1", "pump-7", 2)
    )
    assert not allowed("iot:Publish", topic + iot_rule.telemetry_topic("plant-1", "pump-8", 2))
    assert not allowed(
        "iot:Publish", topic + iot_rule.basic_ingest_topic(v2_rule, "plant-1", "pump-8", 2)
    )
    assert not allowed(
        "iot:Publish",
        topic + iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry", "plant-1", "pump-7", 2),
    )
    assert not allowed("iot:Publish", topic + "rw/plant-1/pump-7/commands")
    assert not allowed("iot:Publish", topic + "rw-errors/telemetry-rule")
    assert not allowed("iot:Subscribe", f"arn:aws:iot:{REGION}:{ACCOUNT}:topicfilter/rw/#")


def test_thing_group_and_next_step_outputs(synth: Synth) -> None:
    t = synth.template("Ingestion")
    assert only(t, "AWS::IoT::ThingGroup")["ThingGroupName"] == "rotorwatch-dev"
    outputs = t["Outputs"]
    assert "describe-endpoint" in outputs["IotEndpointCommand"]["Value"]
    assert outputs["TelemetryRuleName"]["Value"] == "rotorwatch_dev_telemetry"
    assert {"TelemetryStreamName", "FeaturesStreamName", "DevicePolicyName"} <= set(outputs)


def test_lake_bucket_is_encrypted_versioned_private_tls_only_and_logged(synth: Synth) -> None:
    t = synth.template("Storage")
    buckets = resources(t, "AWS::S3::Bucket")
    lake_bucket = next(v["Properties"] for k, v in buckets.items() if k.startswith("Lake"))
    enc = lake_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert enc["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert enc["BucketKeyEnabled"] is True
    assert lake_bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(lake_bucket["PublicAccessBlockConfiguration"].values())
    assert "DestinationBucketName" in lake_bucket["LoggingConfiguration"]
    for pol in resources(t, "AWS::S3::BucketPolicy").values():
        denies = [
            s for s in pol["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
        ]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)
    rules = {r["Id"]: r for r in lake_bucket["LifecycleConfiguration"]["Rules"]}
    raw = rules["raw-tiering"]
    assert raw["Prefix"] == lake.RAW_PREFIX
    cfg = synth.built.config.lake
    assert [(tr["StorageClass"], tr["TransitionInDays"]) for tr in raw["Transitions"]] == [
        ("STANDARD_IA", cfg.raw_ia_after_days),
        ("GLACIER", cfg.raw_glacier_after_days),
    ]
    key = only(t, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True


def test_provisioned_mode_sets_the_configured_shards() -> None:
    from aws_cdk import App, Stack, aws_kms
    from aws_cdk.assertions import Template

    from cdk_app.stacks.ingestion import _stream
    from rotorwatch.deployment.stage import StreamConfig

    stack = Stack(App(), "S")
    _stream(stack, "T", StreamConfig("provisioned", 4, 48), aws_kms.Key(stack, "K"))
    Template.from_stack(stack).has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "ShardCount": 4,
            "RetentionPeriodHours": 48,
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        },
    )


def test_prod_expires_raw_waveforms_and_provisions_its_streams(prod_synth: Synth) -> None:
    """Issue 15: what prod deploys is what `rotorwatch cost --stage prod` prices."""
    cfg = prod_synth.built.config
    assert cfg.lake.raw_expire_days is not None
    buckets = resources(prod_synth.template("Storage"), "AWS::S3::Bucket")
    lake_bucket = next(v["Properties"] for k, v in buckets.items() if k.startswith("Lake"))
    raw = {r["Id"]: r for r in lake_bucket["LifecycleConfiguration"]["Rules"]}["raw-tiering"]
    assert raw["ExpirationInDays"] == cfg.lake.raw_expire_days
    assert raw["NoncurrentVersionExpiration"] == {"NoncurrentDays": lake.RAW_NONCURRENT_EXPIRE_DAYS}
    # S3 refuses a transition at or after the expiration: only earlier ones are kept.
    assert all(
        tr["TransitionInDays"] < cfg.lake.raw_expire_days for tr in raw.get("Transitions", [])
    )
    streams = resources(prod_synth.template("Ingestion"), "AWS::Kinesis::Stream")
    shards = sorted(s["Properties"]["ShardCount"] for s in streams.values())
    assert shards == sorted([cfg.telemetry_stream.shards, cfg.features_stream.shards])
    assert all(
        s["Properties"]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
        for s in streams.values()
    )


def _rule_actions(rule: dict[str, Any]) -> set[str]:
    kinds = {
        "ExpirationInDays": "expiration",
        "ExpirationDate": "expiration",
        "NoncurrentVersionExpiration": "noncurrent-expiration",
        "NoncurrentVersionExpirationInDays": "noncurrent-expiration",
        "Transitions": "transition",
        "NoncurrentVersionTransitions": "noncurrent-transition",
        "AbortIncompleteMultipartUpload": "abort-multipart",
    }
    return {v for k, v in kinds.items() if k in rule}


def _prefix(rule: dict[str, Any]) -> str:
    return str(rule.get("Prefix", rule.get("Filter", {}).get("Prefix", "")))


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_no_two_lifecycle_rules_act_alike_on_the_same_objects(
    stage: str, synth: Synth, prod_synth: Synth
) -> None:
    """Overlapping filters with the same action conflict (S3 lifecycle-conflicts.html; the
    legacy Prefix form CloudFormation sends refuses overlapping prefixes outright): raw's
    noncurrent versions were under raw-tiering (1 day) and bucket-wide housekeeping (30)."""
    s = prod_synth if stage == "prod" else synth
    buckets = resources(s.template("Storage"), "AWS::S3::Bucket")
    (lake_bucket,) = [b for k, b in buckets.items() if k.startswith("Lake")]
    rules = lake_bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            pa, pb = _prefix(a), _prefix(b)
            if pa.startswith(pb) or pb.startswith(pa):
                shared = _rule_actions(a) & _rule_actions(b)
                assert not shared, (a["Id"], b["Id"], shared)
    # Every top-level prefix still loses its noncurrent versions (raw after its own days).
    covered = {_prefix(r) for r in rules if "noncurrent-expiration" in _rule_actions(r)}
    assert covered == set(lake.TOP_PREFIXES)
