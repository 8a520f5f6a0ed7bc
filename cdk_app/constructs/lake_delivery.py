"""A Firehose stream that writes one lake table, as ``rotorwatch.lake.layout`` lays it out.

``source``: a Kinesis stream it reads (no Direct PUT throughput quota; Firehose reads the
stream's own KMS-encrypted records), or None for Direct PUT (records at rest in Firehose
encrypted with the lake's data key: a Direct PUT stream holds them until it delivers). Objects under the table's Firehose prefix and failed deliveries
under its error prefix, SSE-KMS with the same key; the stage's buffering interval; delivery
error logs in a log group of ours (data key, the stage's retention; the L2's default group has
neither: 2 years, service key). A Parquet table is converted from JSON with the schema of its
Glue table (``glue_table``; the buffer the stage gives Parquet, which Firehose requires to be
at least 64 MiB, and no S3-level compression: Parquet compresses its own pages); any other
table is kept as delivered, gzip'd. The cdk-nag findings of the grants the L2 generates are
acknowledged with their reasons. Attributes: ``stream`` (the DeliveryStream), ``log_group``.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Size, Stack, Validations
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app import refs
from cdk_app.nag import acknowledge
from cdk_app.retention import retention
from rotorwatch.deployment.stage import StageConfig
from rotorwatch.lake import layout as lake


class LakeDelivery(Construct):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: StageConfig,
        table: lake.Table,
        bucket: s3.IBucket,
        key: kms.IKey,
        glue_table: glue.CfnTable | None = None,
        source: kinesis.IStream | None = None,
    ) -> None:
        super().__init__(scope, cid)
        parquet = table.format == "parquet"
        if parquet and glue_table is None:
            raise ValueError(f"{table.name}: a Parquet delivery needs the table's Glue schema")
        # Beside this construct, not inside it: the group keeps the logical id it had before the
        # construct existed (a new id would leave the old group behind on the next deploy).
        self.log_group = logs.LogGroup(
            scope,
            f"{cid}Logs",
            retention=retention(config.function.log_retention_days),
            encryption_key=key,
        )
        conversion = (
            firehose.DataFormatConversionProps(
                schema_configuration=firehose.SchemaConfiguration.from_cfn_table(glue_table),
                input_format=firehose.InputFormat.OPENX_JSON,
                output_format=firehose.OutputFormat.PARQUET,
            )
            if parquet and glue_table is not None
            else None
        )
        buffer_mib = (
            config.firehose.parquet_buffer_mib if parquet else config.firehose.raw_buffer_mib
        )
        # "Default": the stream keeps the logical id (and so its name) it had before this
        # construct existed; a replaced stream would drop what it buffers.
        self.stream = firehose.DeliveryStream(
            self,
            "Default",
            source=None if source is None else firehose.KinesisStreamSource(source),
            # Firehose refuses server-side encryption on a Kinesis-sourced stream: the source
            # stream's own encryption (the data key) covers the records.
            encryption=None
            if source is not None
            else firehose.StreamEncryption.customer_managed_key(key),
            destination=firehose.S3Bucket(
                bucket,
                data_output_prefix=lake.firehose_prefix(table.name),
                error_output_prefix=lake.firehose_error_prefix(table.name),
                compression=None if parquet else firehose.Compression.GZIP,
                buffering_interval=Duration.seconds(config.firehose.buffer_interval_s),
                buffering_size=Size.mebibytes(buffer_mib),
                encryption_key=key,
                logging_config=firehose.EnableLogging(self.log_group),
                data_format_conversion=conversion,
                # JSON records read from Kinesis carry no newline: add one so the objects are
                # JSON lines (Parquet conversion splits records itself).
                processors=[firehose.AppendDelimiterToRecordProcessor()]
                if source is not None and not parquet
                else None,
            ),
        )
        if source is not None:
            acknowledge(
                self.stream,
                "AwsSolutions-KDF1",
                "Kinesis-sourced delivery streams cannot enable server-side encryption; the "
                "source stream and the S3 destination are both encrypted with our KMS key.",
            )
        # The L2 adds a mapping of Firehose's per-region CIDR blocks to its stack, which only
        # network-restricted destinations (Redshift, OpenSearch in a VPC) read; for S3 it stays
        # unreferenced, and CDK's built-in template check reports that on every synth.
        Validations.of(Stack.of(self)).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W7001",
                reason="The Firehose L2's region-to-CIDR mapping: read only by network-"
                "restricted destinations, unused with the S3 destination.",
            )
        )
        reason = (
            "Grant generated by the Firehose L2 for its S3 destination / log group / Glue "
            "schema: scoped to the lake bucket, our key and its own log group."
        )
        for finding in (
            "Action::s3:Abort*",
            "Action::s3:DeleteObject*",
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            "Action::kms:GenerateDataKey*",
            "Action::kms:ReEncrypt*",
            f"Resource::{refs.export_name(config, refs.LAKE_BUCKET_ARN)}/*",
        ):
            acknowledge(self.stream, f"AwsSolutions-IAM5[{finding}]", reason)
        if parquet:
            acknowledge(
                self.stream,
                "AwsSolutions-IAM5[Resource::*]",
                "glue:GetSchemaVersion, added by the Firehose L2 for Parquet conversion, has no "
                "resource-level permissions.",
            )
