"""IngestionStack: IoT Core (rule, policy, thing group) into the Kinesis streams.

Devices publish to rw/<site>/<device_id>/telemetry, or to the same topic behind Basic Ingest
($aws/rules/<TelemetryRuleName>/rw/<site>/<device_id>/telemetry), which reaches the rule
without the broker's messaging charge. Both go through the one rule below; its SQL comes from
rotorwatch.iot_rule so the local bridge applies the same projection.
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
from rotorwatch import iot_rule, lake
from rotorwatch.iot_policy import device_policy_document
from rotorwatch.stage import StageConfig, StreamConfig

#: IoT substitution template for the partition key: the device id from the topic (the one the
#: device policy authorised), so each device's records stay in order on one shard and
#: extract_features can check the payload's claim against it.
PARTITION_KEY = iot_rule.PARTITION_KEY_TEMPLATE


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
        self.rule_name = rule_name(config.stage, "telemetry")

        # Telemetry rule: one Kinesis action, keyed by the topic's device. A message the Kinesis
        # action fails on goes, as IoT Core's error-action document (failures + the original
        # payload in base64), straight to S3: an error action that republished it to MQTT would
        # lose every message over ~96 KB (base64 plus metadata exceed the 128 KB publish limit).
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
        self.telemetry_rule = iot.CfnTopicRule(
            self,
            "TelemetryRule",
            rule_name=self.rule_name,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=iot_rule.TELEMETRY_RULE_SQL,
                aws_iot_sql_version=iot_rule.IOT_SQL_VERSION,
                rule_disabled=False,
                description="Device telemetry to the Kinesis telemetry stream, keyed by device",
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        kinesis=iot.CfnTopicRule.KinesisActionProperty(
                            stream_name=self.telemetry_stream.stream_name,
                            partition_key=PARTITION_KEY,
                            role_arn=rule_role.role_arn,
                        )
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    s3=iot.CfnTopicRule.S3ActionProperty(
                        bucket_name=lake_bucket.bucket_name,
                        key=error_object_key(),
                        role_arn=rule_role.role_arn,
                    )
                ),
            ),
        )

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
            description="Basic Ingest: publish to $aws/rules/<this>/rw/<site>/<device>/telemetry",
        )
        CfnOutput(
            self,
            "DevicePolicyName",
            value=self.device_policy.ref,
            description="Attach to each device certificate (rotorwatch provision does)",
        )
        CfnOutput(self, "ThingGroupName", value=self.thing_group.ref)
        CfnOutput(
            self,
            "IotEndpointCommand",
            value="aws iot describe-endpoint --endpoint-type iot:Data-ATS "
            "--query endpointAddress --output text",
            description="Run this to get the MQTT endpoint to point devices/simulator at",
        )
