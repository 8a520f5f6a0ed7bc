"""IngestionStack: IoT Core (rule, policy, thing group) into the Kinesis streams.

Devices publish contract v1 (JSON) to rw/<site>/<device_id>/telemetry and contract v2 (binary)
to rw/<site>/<device_id>/telemetry/v2, or to the same topics behind Basic Ingest
($aws/rules/<rule name>/rw/...), which reaches the rule without the broker's messaging charge.
One rule per contract (rotorwatch.contract.iot_rule.RULES: SQL, topic filter, partition key), both onto
the telemetry stream, so the local bridge applies the same projections.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk_app import refs
from cdk_app.nag import acknowledge
from rotorwatch.contract import iot_rule
from rotorwatch.contract.iot_policy import device_policy_document
from rotorwatch.deployment.stage import StageConfig, StreamConfig
from rotorwatch.lake import layout as lake

#: IoT substitution template for the v1 partition key: the device id from the topic (the one
#: the device policy authorised), so each device's records stay in order on one shard and
#: extract_features can check the payload's claim against it. (v2: iot_rule.RULES.)
PARTITION_KEY = iot_rule.PARTITION_KEY_TEMPLATE


#: Each rule's description (v1's as first deployed, so adding v2 leaves the v1 rule untouched).
_RULE_DESCRIPTIONS = {
    1: "Device telemetry to the Kinesis telemetry stream, keyed by device",
    2: "Telemetry contract v2 (binary, passed through) to the Kinesis telemetry stream, "
    "keyed by site/device",
}


def error_object_key() -> str:
    """S3 key template of a failed message: errors/iot-rule/year=…/hour=…/<uuid>.json (UTC)."""
    ts = "timestamp()"
    return (
        f"{lake.IOT_ERRORS_PREFIX}"
        + "/".join(
            f"{k}=${{parse_time('{fmt}', {ts})}}"
            for k, fmt in zip(lake.PARTITION_KEYS, ("yyyy", "MM", "dd", "HH"), strict=True)
        )
        + "/${newuuid()}.json"
    )


def rule_name(stage: str, leaf: str) -> str:
    # Rule names allow [A-Za-z0-9_] only; Basic Ingest topics embed the name, so it is fixed.
    return f"rotorwatch_{stage.replace('-', '_')}_{leaf}"


def _stream(scope: Construct, cid: str, cfg: StreamConfig, key: kms.IKey) -> kinesis.Stream:
    provisioned = cfg.mode == "provisioned"
    stream = kinesis.Stream(
        scope,
        cid,
        stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
        shard_count=cfg.shards if provisioned else None,
        retention_period=Duration.hours(cfg.retention_hours),
        encryption=kinesis.StreamEncryption.KMS,
        encryption_key=key,
        removal_policy=RemovalPolicy.DESTROY,  # replayable from the raw lake; no state here
    )
    acknowledge(
        stream,
        "AwsSolutions-KDS3",
        "Deliberate: a customer-managed key (one key, rotation on, auditable grants) instead of "
        "the AWS-managed aws/kinesis key the rule prefers.",
    )
    return stream


class IngestionStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: StageConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        key = refs.data_key(self, config)
        lake_bucket = refs.lake_bucket(self, config, key)
        self.telemetry_stream = _stream(self, "TelemetryStream", config.telemetry_stream, key)
        self.features_stream = _stream(self, "FeaturesStream", config.features_stream, key)
        #: Every telemetry rule's name by contract (v1 JSON, v2 binary: rotorwatch.contract.iot_rule).
        self.rule_names = {r.contract: rule_name(config.stage, r.leaf) for r in iot_rule.RULES}
        self.rule_name = self.rule_names[1]

        # One role for the rules: each may put to the telemetry stream and store a failed
        # message under the errors prefix. A message a Kinesis action fails on goes, as IoT
        # Core's error-action document (failures + the original payload in base64), straight to
        # S3: an error action that republished it to MQTT would lose every message over ~96 KB
        # (base64 plus metadata exceed the 128 KB publish limit).
        rule_role = iam.Role(
            self, "TelemetryRuleRole", assumed_by=iam.ServicePrincipal("iot.amazonaws.com")
        )
        refs.grant_stream_put(rule_role, self.telemetry_stream, key)
        refs.grant_lake_put(rule_role, lake_bucket, lake.IOT_ERRORS_PREFIX, key)
        acknowledge(
            rule_role,
            refs.lake_prefix_finding(config, lake.IOT_ERRORS_PREFIX),
            "Error objects get unique keys under the errors prefix; the grant is limited to it.",
        )
        self.telemetry_rules = {
            r.contract: self._telemetry_rule(r, self.rule_names[r.contract], rule_role, lake_bucket)
            for r in iot_rule.RULES
        }
        self.telemetry_rule = self.telemetry_rules[1]

        # One policy for the whole fleet; IoT Core substitutes the thing name at connect time.
        self.device_policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_document=device_policy_document(
                region=self.region,
                account_id=self.account,
                partition=self.partition,
                basic_ingest_rule=self.rule_name,
            ),
        )
        self.thing_group = iot.CfnThingGroup(
            self,
            "Fleet",
            thing_group_name=f"rotorwatch-{config.stage}",
            thing_group_properties=iot.CfnThingGroup.ThingGroupPropertiesProperty(
                thing_group_description=f"rotorwatch {config.stage} devices"
            ),
        )

        CfnOutput(self, "TelemetryStreamName", value=self.telemetry_stream.stream_name)
        CfnOutput(self, "FeaturesStreamName", value=self.features_stream.stream_name)
        CfnOutput(
            self,
            "TelemetryRuleName",
            value=self.rule_name,
            description="Contract v1 (JSON) Basic Ingest: publish to "
            "$aws/rules/<this>/rw/<site>/<device>/telemetry",
        )
        CfnOutput(
            self,
            "DevicePolicyName",
            value=self.device_policy.ref,
            description="Attach to each device certificate (rotorwatch provision does)",
        )
        CfnOutput(
            self,
            "TelemetryV2RuleName",
            value=self.rule_names[2],
            description="Contract v2 (binary) Basic Ingest: publish to "
            "$aws/rules/<this>/rw/<site>/<device>/telemetry/v2",
        )
        CfnOutput(self, "ThingGroupName", value=self.thing_group.ref)
        CfnOutput(
            self,
            "IotEndpointCommand",
            value="aws iot describe-endpoint --endpoint-type iot:Data-ATS "
            "--query endpointAddress --output text",
            description="Run this to get the MQTT endpoint to point devices/simulator at",
        )

    def _telemetry_rule(
        self, rule: iot_rule.TelemetryRule, name: str, role: iam.IRole, bucket: Any
    ) -> iot.CfnTopicRule:
        """One telemetry rule: its contract's SQL, a Kinesis action onto the telemetry stream
        keyed by its partition key template, and the shared S3 error action."""
        suffix = "" if rule.contract == 1 else f"V{rule.contract}"
        return iot.CfnTopicRule(
            self,
            f"TelemetryRule{suffix}",
            rule_name=name,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=rule.sql,
                aws_iot_sql_version=iot_rule.IOT_SQL_VERSION,
                rule_disabled=False,
                description=_RULE_DESCRIPTIONS[rule.contract],
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        kinesis=iot.CfnTopicRule.KinesisActionProperty(
                            stream_name=self.telemetry_stream.stream_name,
                            partition_key=rule.partition_key_template,
                            role_arn=role.role_arn,
                        )
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    s3=iot.CfnTopicRule.S3ActionProperty(
                        bucket_name=bucket.bucket_name,
                        key=error_object_key(),
                        role_arn=role.role_arn,
                    )
                ),
            ),
        )
