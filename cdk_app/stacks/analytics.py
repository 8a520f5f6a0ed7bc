"""AnalyticsStack: Firehose into the lake, the Glue catalog, the Glue job and Athena.

Partitions (``rotorwatch.lake``): Firehose timestamp prefixes (``year=!{timestamp:yyyy}/...``),
not dynamic partitioning on the record's ``ts``. Why: the partition is the (UTC) hour Firehose received the
record, seconds after the device measured it, so queries filter on ``ts`` inside a +-1 h
partition range and lose nothing; dynamic partitioning would add a per-GB charge, a jq program
on the hot path, and let a device with a wrong clock (far past or future) spray partitions
(Firehose caps active partitions at 500 per stream and fails the rest into errors/).
The Glue tables use partition projection over the same layout, so no crawler is needed.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, ArnFormat, CfnOutput, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_app import refs
from cdk_app.nag import acknowledge
from cdk_app.retention import retention
from rotorwatch import lake, query
from rotorwatch.features.schema import Field
from rotorwatch.stage import StageConfig

ROOT = Path(__file__).resolve().parents[2]
QUERIES_DIR = query.QUERIES_DIR
#: The library zip Glue puts on the job's sys.path (--extra-py-files): every package the script
#: imports (lake.GLUE_JOB_PY_PACKAGES); Glue ships nothing of ours but this and the script.
GLUE_LIBRARY_ZIP = "glue_libs.zip"


def deterministic_zip(root: Path, packages: Sequence[str]) -> bytes:
    """Zip ``packages`` (their ``*.py``, at the archive root) with fixed timestamps and order:
    same sources, same bytes, same asset."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                if "__pycache__" in path.parts:
                    continue
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


#: Hive storage of each lake format (what Athena and Firehose's conversion read the tables as).
_STORAGE: dict[str, dict[str, str]] = {
    "parquet": {
        "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "classification": "parquet",
    },
    "json.gz": {
        "input_format": "org.apache.hadoop.mapred.TextInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "serde": "org.openx.data.jsonserde.JsonSerDe",
        "classification": "json",
    },
}


def _columns(fields: Sequence[Field]) -> list[glue.CfnTable.ColumnProperty]:
    return [
        glue.CfnTable.ColumnProperty(name=f.name, type=f.type, comment=f.doc[:255]) for f in fields
    ]


class AnalyticsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: StageConfig,
        glue_script: Path | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        key = refs.data_key(self, config)
        bucket = refs.lake_bucket(self, config, key)
        self.config = config
        self.key = key
        self.bucket = bucket
        s3_root = f"s3://{bucket.bucket_name}/"

        # ---- Glue Data Catalog -------------------------------------------------------------
        self.database_name = lake.glue_database(config.stage)
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description="rotorwatch data lake (partition projection)"
            ),
        )
        # One Glue table per lake table (rotorwatch/lake.py is the layout's one home).
        self.tables: dict[str, glue.CfnTable] = {}
        for t in lake.TABLES.values():
            self._table(t)

        # ---- Firehose ----------------------------------------------------------------------
        interval = Duration.seconds(config.firehose.buffer_interval_s)
        # Direct PUT: extract_features writes the raw lake (few newline-delimited records per
        # batch: Firehose bills each record as >= 5 KB; and a v2 binary window needs the
        # partition key, which a Kinesis-sourced Firehose does not keep, to name its device).
        self.raw_delivery = firehose.DeliveryStream(
            self,
            "RawDelivery",
            encryption=firehose.StreamEncryption.customer_managed_key(key),
            destination=firehose.S3Bucket(
                bucket,
                data_output_prefix=lake.firehose_prefix(lake.RAW_TABLE),
                error_output_prefix=lake.firehose_error_prefix(lake.RAW_TABLE),
                # The waveform is kept as delivered (JSON), gzip'd: ~3-4x smaller, still
                # readable by Athena's JSON SerDe and by zcat.
                compression=firehose.Compression.GZIP,
                buffering_interval=interval,
                buffering_size=Size.mebibytes(config.firehose.raw_buffer_mib),
                encryption_key=key,
                logging_config=self._delivery_logs("RawDeliveryLogs"),
            ),
        )
        # Direct PUT, like raw: extract_features writes a batch's feature rows as few records
        # (a Kinesis-sourced Firehose bills every ~1 KB feature record as 5 KB).
        self.features_delivery = self._parquet_delivery(
            "FeaturesDelivery",
            lake.FEATURES_TABLE,
            source=None,
        )
        # Direct PUT: the score_and_alert function writes predictions here (Processing gets
        # the names through stack references; this stack knows nothing of Processing).
        self.predictions_delivery = self._parquet_delivery(
            "PredictionsDelivery",
            lake.PREDICTIONS_TABLE,
            source=None,
        )
        for delivery in (self.raw_delivery, self.features_delivery, self.predictions_delivery):
            self._acknowledge_firehose(delivery)
        for delivery in (self.features_delivery, self.predictions_delivery):
            acknowledge(
                delivery,
                "AwsSolutions-IAM5[Resource::*]",
                "glue:GetSchemaVersion, added by the Firehose L2 for Parquet conversion, has no "
                "resource-level permissions.",
            )

        # ---- Athena ------------------------------------------------------------------------
        self.workgroup_name = lake.athena_workgroup(config.stage)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.workgroup_name,
            description="rotorwatch analysts: enforced results location, SSE-KMS, scan cutoff",
            recursive_delete_option=True,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff_mib * 1024 * 1024,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"{s3_root}{lake.ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        # Saved queries as the Athena console runs them: ``?`` execution parameters (the console
        # prompts for them in order), not the files' ``:name`` placeholders, which Athena
        # cannot bind.
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for saved in query.list_queries():
            named = athena.CfnNamedQuery(
                self,
                f"Query-{saved.name}",
                name=saved.name,
                database=self.database_name,
                work_group=self.workgroup.ref,
                description=saved.description.replace("\n", " ")[:1024],
                query_string=query.athena_text(saved),
            )
            named.node.add_dependency(self.workgroup)
            self.named_queries[saved.name] = named

        # ---- Glue job ----------------------------------------------------------------------
        self.job: glue.PySparkEtlJob | None = None
        if glue_script is None:
            Annotations.of(self).add_warning_v2(
                "rotorwatch:no-glue-script",
                f"{lake.GLUE_JOB_SCRIPT} is missing: the machine-health Glue job was left out",
            )
        else:
            self._glue_job(glue_script)

        CfnOutput(self, "GlueDatabase", value=self.database_name)
        CfnOutput(
            self,
            "AthenaWorkgroup",
            value=self.workgroup_name,
            description="Query the lake: Athena console, workgroup = this, saved queries",
        )
        CfnOutput(
            self, "PredictionsDeliveryStream", value=self.predictions_delivery.delivery_stream_name
        )

    # ---------------------------------------------------------------------------------------
    def _table(self, t: lake.Table) -> glue.CfnTable:
        fmt = _STORAGE[t.format]
        params = lake.projection_parameters(t.name, self.bucket.bucket_name)
        params["classification"] = fmt["classification"]
        if t.format == "json.gz":
            params["compressionType"] = "gzip"
        location = f"s3://{self.bucket.bucket_name}/{t.prefix}"
        name, fields, keys = t.name, t.fields, t.partition_keys
        table = glue.CfnTable(
            self,
            f"Table-{name}",
            catalog_id=self.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                table_type="EXTERNAL_TABLE",
                parameters=params,
                # Partition values stay strings ("07"), as in the S3 paths and local Spark.
                partition_keys=[glue.CfnTable.ColumnProperty(name=k, type="string") for k in keys],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=_columns(fields),
                    input_format=fmt["input_format"],
                    output_format=fmt["output_format"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=fmt["serde"],
                        # A bad value in one JSON line becomes NULL instead of failing the query.
                        parameters={"ignore.malformed.json": "true"}
                        if t.format == "json.gz"
                        else {},
                    ),
                ),
            ),
        )
        table.node.add_dependency(self.database)
        self.tables[name] = table
        return table

    def _parquet_delivery(
        self, cid: str, table: str, *, source: firehose.ISource | None
    ) -> firehose.DeliveryStream:
        return firehose.DeliveryStream(
            self,
            cid,
            source=source,
            # Direct PUT streams hold records at rest in Firehose: encrypt with our key.
            encryption=None if source else firehose.StreamEncryption.customer_managed_key(self.key),
            destination=firehose.S3Bucket(
                self.bucket,
                data_output_prefix=lake.firehose_prefix(table),
                error_output_prefix=lake.firehose_error_prefix(table),
                # No S3-level compression: Parquet compresses its own pages (Snappy, default).
                buffering_interval=Duration.seconds(self.config.firehose.buffer_interval_s),
                buffering_size=Size.mebibytes(self.config.firehose.parquet_buffer_mib),
                encryption_key=self.key,
                logging_config=self._delivery_logs(f"{cid}Logs"),
                data_format_conversion=firehose.DataFormatConversionProps(
                    schema_configuration=firehose.SchemaConfiguration.from_cfn_table(
                        self.tables[table]
                    ),
                    input_format=firehose.InputFormat.OPENX_JSON,
                    output_format=firehose.OutputFormat.PARQUET,
                ),
            ),
        )

    def _delivery_logs(self, cid: str) -> firehose.EnableLogging:
        """Delivery error logs in a log group of ours: KMS-encrypted with the data key and with
        the stage's retention (the L2's default group has neither: 2 years, service key)."""
        group = logs.LogGroup(
            self,
            cid,
            retention=retention(self.config.function.log_retention_days),
            encryption_key=self.key,
        )
        return firehose.EnableLogging(group)

    def _acknowledge_firehose(self, delivery: firehose.DeliveryStream) -> None:
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
            f"Resource::{refs.export_name(self.config, refs.LAKE_BUCKET_ARN)}/*",
        ):
            acknowledge(delivery, f"AwsSolutions-IAM5[{finding}]", reason)

    def _glue_job(self, script: Path) -> None:
        config, bucket, key = self.config, self.bucket, self.key
        role = iam.Role(
            self,
            "GlueJobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="machine-health job: read features/predictions, write curated",
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["s3:GetObject"],
            resource_arns=[
                bucket.arn_for_objects(f"{p}*")
                for p in (lake.FEATURES_PREFIX, lake.PREDICTIONS_PREFIX, lake.CURATED_PREFIX)
            ],
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["s3:PutObject", "s3:DeleteObject"],  # dynamic partition overwrite
            resource_arns=[bucket.arn_for_objects(f"{lake.CURATED_PREFIX}*")],
        )
        iam.Grant.add_to_principal(
            grantee=role, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn]
        )
        refs.grant_key_encrypt(role, key)
        refs.grant_key_decrypt(role, key)
        catalog = [
            self.format_arn(service="glue", resource="catalog"),
            self.format_arn(service="glue", resource="database", resource_name=self.database_name),
            self.format_arn(
                service="glue", resource="table", resource_name=f"{self.database_name}/*"
            ),
        ]
        iam.Grant.add_to_principal(
            grantee=role,
            actions=[
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartitions",
                "glue:UpdateTable",
            ],
            resource_arns=catalog,
        )
        logs_arn = self.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws-glue/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:AssociateKmsKey",
            ],
            resource_arns=[logs_arn],
        )
        iam.Grant.add_to_principal(
            grantee=role, actions=["cloudwatch:PutMetricData"], resource_arns=["*"]
        )
        security = glue.SecurityConfiguration(
            self,
            "GlueSecurity",
            s3_encryption=glue.S3Encryption.kms(key),
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(key),
        )
        # It holds no data, and its Name is fixed: a retained one would make the next deploy of
        # this stage (after `cdk destroy`) fail on "already exists".
        security.apply_removal_policy(RemovalPolicy.DESTROY)
        self.job_libraries = self._job_libraries_zip()
        self.job = glue.PySparkEtlJob(
            self,
            "MachineHealthJob",
            role=role,
            script=glue.Code.from_asset(str(script)),
            extra_python_files=[glue.Code.from_asset(str(self.job_libraries))],
            glue_version=glue.GlueVersion.V5_0,
            worker_configuration=glue.WorkerConfiguration(
                worker_type=glue.WorkerType.G_1X, number_of_workers=config.glue.workers
            ),
            max_concurrent_runs=1,  # overlapping runs would overwrite the same partitions
            timeout=Duration.hours(2),
            security_configuration=security,
            description="Hourly/daily machine health and compaction (dynamic partition overwrite)",
            default_arguments={
                # The exact name the script asks for; "--lake" only worked through argparse's
                # prefix matching, which the script's own parser no longer allows.
                f"--{lake.JOB_ARG_LAKE_URI}": f"s3://{bucket.bucket_name}/",
                # No bookmarks: each run recomputes whole UTC days over an explicit window
                # (glue_jobs/machine_health.py says why); a bookmark would hand it only new files.
                "--job-bookmark-option": "job-bookmark-disable",
                "--enable-continuous-cloudwatch-log": "true",
            },
        )
        glue.CfnTrigger(
            self,
            "MachineHealthSchedule",
            type="SCHEDULED",
            schedule=f"cron(15 0/{config.glue.schedule_hours} * * ? *)",
            start_on_creation=True,
            description=f"machine-health every {config.glue.schedule_hours} h",
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.job.job_name)],
        )
        for finding, why in (
            (
                f"Resource::{refs.export_name(config, refs.LAKE_BUCKET_ARN)}/features/*",
                "reads the features prefix only",
            ),
            (
                f"Resource::{refs.export_name(config, refs.LAKE_BUCKET_ARN)}/predictions/*",
                "reads the predictions prefix only",
            ),
            (
                f"Resource::{refs.export_name(config, refs.LAKE_BUCKET_ARN)}/curated/*",
                "rewrites its own curated partitions only",
            ),
            (
                "Resource::" + refs.nag_arn(self, "glue", f"table/{self.database_name}/*"),
                "tables of this stage's database only",
            ),
            (
                "Resource::" + refs.nag_arn(self, "logs", "log-group:/aws-glue/*"),
                "Glue writes to log groups it names under /aws-glue/",
            ),
            ("Resource::*", "cloudwatch:PutMetricData has no resource-level permissions"),
        ):
            acknowledge(role, f"AwsSolutions-IAM5[{finding}]", f"The Glue job {why}.")
        acknowledge(
            role,
            refs.bootstrap_assets_finding(self),
            "CDK's read grant on the job script and library assets (bootstrap bucket).",
        )
        for action in ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*"):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[{action}]",
                "CDK's read grant on the script and library assets in the bootstrap bucket.",
            )

    def _job_libraries_zip(self) -> Path:
        data = deterministic_zip(ROOT, lake.GLUE_JOB_PY_PACKAGES)
        digest = hashlib.sha256(data).hexdigest()[:16]
        out = ROOT / "build" / "glue" / digest / GLUE_LIBRARY_ZIP
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        return out
