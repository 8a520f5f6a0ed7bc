"""ProcessingStack: the real-time path (two Lambdas), device state and the alerts topic.

telemetry stream ─▶ extract_features ─▶ features stream ─▶ score_and_alert ─▶ SNS alerts
                         └▶ lake/quarantine/                   ├▶ predictions Firehose
                                                               └▶ DynamoDB state
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cdk_app import refs
from cdk_app.constructs.feedback_api import FeedbackApi
from cdk_app.constructs.function import RotorwatchFunction, bundle_code, powertools_layer
from cdk_app.nag import acknowledge, skip_checkov
from rotorwatch.deployment import resources
from rotorwatch.deployment.resources import EnvKey
from rotorwatch.deployment.stage import BatchConfig, StageConfig
from rotorwatch.lake import layout as lake

#: Said at synth time when a stage would deploy an alerts topic nobody receives.
NO_ALERT_RECIPIENTS = (
    "stage {stage} has no alert_emails and no alert_phone_numbers: machine alerts will reach "
    "nobody (subscribe later with `aws sns subscribe --topic-arn <AlertsTopicArn> ...`)"
)


def severity_filter(severities: tuple[str, ...]) -> dict[str, sns.SubscriptionFilter]:
    return {
        resources.SEVERITY_ATTRIBUTE: sns.SubscriptionFilter.string_filter(
            allowlist=list(severities)
        )
    }


class ProcessingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: StageConfig,
        telemetry_stream: kinesis.IStream,
        features_stream: kinesis.IStream,
        predictions_stream: firehose.IDeliveryStream,
        glue_database: str,
        athena_workgroup: str,
        endpoint_name: str | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        key = refs.data_key(self, config)
        self._key = key
        lake_bucket = refs.lake_bucket(self, config, key)

        # Tables keep what the pipeline cannot rebuild (asset registry, alert state): retained.
        # One item per device in each, keyed as the handlers read and write them (no sort key).
        self.assets_table = self._device_table("Assets", resources.ASSETS_TABLE_PARTITION_KEY, key)
        self.state_table = self._device_table("State", resources.STATE_TABLE_PARTITION_KEY, key)

        self.alerts_topic = sns.Topic(
            self, "Alerts", display_name="rotorwatch alerts", master_key=key, enforce_ssl=True
        )
        for email in config.alert_emails:
            self.alerts_topic.add_subscription(
                subs.EmailSubscription(
                    email, filter_policy=severity_filter(resources.EMAIL_SEVERITIES)
                )
            )
        for phone in config.alert_phone_numbers:
            self.alerts_topic.add_subscription(
                subs.SmsSubscription(phone, filter_policy=severity_filter(resources.SMS_SEVERITIES))
            )
        if not (config.alert_emails or config.alert_phone_numbers):
            Annotations.of(self).add_warning_v2(
                "rotorwatch:no-alert-recipients", NO_ALERT_RECIPIENTS.format(stage=config.stage)
            )

        # Batches that exhausted their retries land here (metadata only: shard and sequence
        # range), so they can be replayed from the stream or the raw lake.
        self.failures = sqs.Queue(
            self,
            "FailedBatches",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.failures,
            "AwsSolutions-SQS3",
            "This queue is itself the on-failure destination of the event source mappings; "
            "nothing consumes it automatically, so it needs no dead-letter queue of its own.",
        )

        code = bundle_code(self)
        layer = powertools_layer(self)

        self.extract_features = RotorwatchFunction(
            self,
            "ExtractFeatures",
            handler=resources.EXTRACT_FEATURES_HANDLER,
            description="Telemetry batch -> features stream; bad records to quarantine",
            code=code,
            layer=layer,
            config=config,
            key=key,
            environment={
                EnvKey.FEATURES_STREAM_NAME: features_stream.stream_name,
                EnvKey.QUARANTINE_BUCKET: lake_bucket.bucket_name,
                EnvKey.ASSETS_TABLE: self.assets_table.table_name,
            },
            reserved_concurrency=config.extract_features.reserved_concurrency,
        )
        ef_role = self.extract_features.role
        refs.grant_stream_put(ef_role, features_stream, key)
        self.assets_table.grant_read_data(ef_role)
        refs.grant_lake_put(ef_role, lake_bucket, lake.QUARANTINE_PREFIX, key)
        acknowledge(
            ef_role,
            refs.lake_prefix_finding(config, lake.QUARANTINE_PREFIX),
            "Quarantined records get unique keys (reason/date/sequence) under the quarantine "
            "prefix; the grant covers that prefix only.",
        )
        # The raw lake: one object per batch under raw/telemetry/ (lake.raw_object_key).
        refs.grant_lake_put(ef_role, lake_bucket, lake.RAW_PREFIX, key)
        acknowledge(
            ef_role,
            refs.lake_prefix_finding(config, lake.RAW_PREFIX),
            "Raw objects get keys unique per batch (shard and sequence range) under the raw "
            "prefix; the grant covers that prefix only.",
        )
        self._consume(self.extract_features.function, telemetry_stream, config.extract_features)

        score_env = {
            EnvKey.STATE_TABLE: self.state_table.table_name,
            EnvKey.ALERTS_TOPIC_ARN: self.alerts_topic.topic_arn,
            EnvKey.PREDICTIONS_DELIVERY_STREAM: predictions_stream.delivery_stream_name,
            EnvKey.ATHENA_WORKGROUP: athena_workgroup,
            EnvKey.GLUE_DATABASE: glue_database,
            # Empty when the ml stack is not deployed: the handler scores with the rules.
            EnvKey.ENDPOINT_NAME: endpoint_name or "",
            EnvKey.BASELINE_WINDOWS: str(config.baseline_learning_windows),
        }
        # Technicians answer alerts (issue 28): links in the alerts, the endpoint behind them.
        self.feedback = FeedbackApi(
            self,
            "Feedback",
            config=config,
            key=key,
            code=code,
            layer=layer,
            state_table=self.state_table,
            lake_bucket=lake_bucket,
        )
        score_env.update(self.feedback.environment(lake_bucket))
        self.score_and_alert = RotorwatchFunction(
            self,
            "ScoreAndAlert",
            handler=resources.SCORE_AND_ALERT_HANDLER,
            description="Features batch -> one SageMaker call -> state, predictions, alerts",
            code=code,
            layer=layer,
            config=config,
            key=key,
            environment=score_env,
            reserved_concurrency=config.score_and_alert.reserved_concurrency,
        )
        sa_role = self.score_and_alert.role
        # Exactly what the handler calls on the state table: BatchGetItem to read a batch's
        # devices, UpdateItem to write its own attributes and clear the outbox. No PutItem,
        # DeleteItem, BatchWriteItem or Scan (CDK's read-write grant gave all of them), and no
        # assets table: extract_features puts an asset's limits in the feature record.
        iam.Grant.add_to_principal(
            grantee=sa_role,
            actions=["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
            resource_arns=[self.state_table.table_arn],
        )
        self.feedback.grant_alert_links(sa_role, lake_bucket, key)
        acknowledge(
            sa_role,
            refs.lake_prefix_finding(config, lake.FEEDBACK_PREFIX),
            "Alert rows get content-hash keys under the feedback prefix; the grant covers that "
            "prefix only.",
        )
        iam.Grant.add_to_principal(
            grantee=sa_role,
            actions=["sns:Publish"],
            resource_arns=[self.alerts_topic.topic_arn],
        )
        # Publishing to a KMS-encrypted topic needs GenerateDataKey and Decrypt on its key; the
        # state table's items are read and written under the same key (no ReEncrypt: nothing
        # moves between keys).
        refs.grant_key_encrypt(sa_role, key)
        refs.grant_key_decrypt(sa_role, key)
        iam.Grant.add_to_principal(
            grantee=sa_role,
            actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
            resource_arns=[predictions_stream.delivery_stream_arn],
        )
        if endpoint_name:
            iam.Grant.add_to_principal(
                grantee=sa_role,
                actions=["sagemaker:InvokeEndpoint"],
                resource_arns=[
                    self.format_arn(
                        service="sagemaker",
                        resource="endpoint",
                        resource_name=endpoint_name.lower(),
                    )
                ],
            )
        self._consume(self.score_and_alert.function, features_stream, config.score_and_alert)

        self.watchdog = self._watchdog(config, code, layer, key)

        for role in (ef_role,):
            # DynamoDB and Kinesis read grants from CDK use KMS action wildcards.
            for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
                acknowledge(
                    role,
                    f"AwsSolutions-IAM5[Action::{action}]",
                    "Added by CDK's DynamoDB/Kinesis grants on our one data key (resource "
                    "is that key only); the DynamoDB client needs the data-key variants.",
                )

        CfnOutput(
            self,
            "AssetsTableName",
            value=self.assets_table.table_name,
            description="rotorwatch provision writes each device's asset record here",
        )
        CfnOutput(self, "StateTableName", value=self.state_table.table_name)
        CfnOutput(
            self,
            "AlertsTopicArn",
            value=self.alerts_topic.topic_arn,
            description="Subscribe more people: aws sns subscribe --topic-arn ...",
        )
        CfnOutput(self, "FailedBatchesQueueUrl", value=self.failures.queue_url)
        CfnOutput(self, "FeedbackTableName", value=self.feedback.table.table_name)
        CfnOutput(
            self,
            "FeedbackUrl",
            value=self.feedback.url,
            description="Base URL of the answer links in alerts (throttled HTTP API)",
        )

    def _device_table(self, cid: str, partition_key: str, key: Any) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            cid,
            partition_key=dynamodb.Attribute(
                name=partition_key, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _watchdog(
        self, config: StageConfig, code: lambda_.Code, layer: lambda_.ILayerVersion, key: Any
    ) -> RotorwatchFunction:
        """The device-silent alert: a scheduled scan of the state table (rotorwatch.alerting.silence)."""
        wd = config.watchdog
        fn = RotorwatchFunction(
            self,
            "Watchdog",
            handler=resources.WATCHDOG_HANDLER,
            description="Scheduled: one NO_DATA alert per device that stopped reporting",
            code=code,
            layer=layer,
            config=config,
            key=key,
            environment={
                EnvKey.STATE_TABLE: self.state_table.table_name,
                EnvKey.ALERTS_TOPIC_ARN: self.alerts_topic.topic_arn,
                EnvKey.SILENCE_AFTER_S: str(wd.silence_after_s),
            },
            reserved_concurrency=wd.reserved_concurrency,
        )
        skip_checkov(
            fn.function,
            "CKV_AWS_116",
            "Scheduled, carrying no data: EventBridge retries a failed run twice, the next run "
            "redoes its work, and the WatchdogErrors alarm reports it; a DLQ would hold nothing.",
        )
        # Reads every device's state and records one attribute per silence: Scan + UpdateItem
        # on the state table, nothing else (no PutItem/DeleteItem, no other table).
        iam.Grant.add_to_principal(
            grantee=fn.role,
            actions=["dynamodb:Scan", "dynamodb:UpdateItem"],
            resource_arns=[self.state_table.table_arn],
        )
        iam.Grant.add_to_principal(
            grantee=fn.role, actions=["sns:Publish"], resource_arns=[self.alerts_topic.topic_arn]
        )
        # The table and the topic are encrypted with the data key.
        refs.grant_key_encrypt(fn.role, key)
        refs.grant_key_decrypt(fn.role, key)
        events.Rule(
            self,
            "WatchdogSchedule",
            description="rotorwatch watchdog: look for devices that stopped reporting",
            schedule=events.Schedule.rate(Duration.minutes(wd.rate_minutes)),
            # A failed run is retried by the next scheduled one as well; two retries are plenty.
            targets=[targets.LambdaFunction(fn.function, retry_attempts=2)],
        )
        return fn

    def _consume(self, fn: lambda_.Function, stream: kinesis.IStream, batch: BatchConfig) -> None:
        skip_checkov(
            fn,
            "CKV_AWS_116",
            "Stream-triggered: a function DLQ applies to asynchronous invocations only; batches "
            "that exhaust their retries go to the event source mapping's on-failure "
            "destination (the FailedBatches queue).",
        )
        fn.add_event_source(
            sources.KinesisEventSource(
                stream,
                # TRIM_HORIZON: records already waiting when the mapping is created are processed
                # (nothing published before the first deploy finished is lost).
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=batch.batch_size,
                max_batching_window=Duration.seconds(batch.window_s),
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=batch.retry_attempts,
                max_record_age=Duration.seconds(batch.max_record_age_s),
                parallelization_factor=batch.parallelization,
                on_failure=_FailedBatchesQueue(self.failures, self._key),
            )
        )


@jsii.implements(lambda_.IEventSourceDlq)
class _FailedBatchesQueue:
    """The event source mappings' on-failure destination, granted only what sending to it
    takes: ``sqs:SendMessage`` on the queue, and ``kms:GenerateDataKey`` and ``kms:Decrypt`` on
    its key (what SQS server-side encryption asks of a producer). CDK's ``SqsDlq`` grants the
    key's every encrypt action, ``kms:ReEncrypt*`` and ``kms:GenerateDataKey*`` included, to
    every consuming function (issue 26 item 11)."""

    def __init__(self, queue: sqs.IQueue, key: Any) -> None:
        self._queue = queue
        self._key = key

    def bind(
        self, _target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        iam.Grant.add_to_principal(
            grantee=target_handler,
            actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
            resource_arns=[self._queue.queue_arn],
        )
        refs.grant_key_encrypt(target_handler, self._key)
        refs.grant_key_decrypt(target_handler, self._key)
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)
