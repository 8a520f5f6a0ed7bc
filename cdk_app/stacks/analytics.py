"""AnalyticsStack: Firehose into the lake, the Glue catalog, the Glue job and Athena.

Partitions (``rotorwatch.lake.layout``): Firehose timestamp prefixes (``year=!{timestamp:yyyy}/...``),
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

from aws_cdk import Annotations, ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from constructs import Construct

from cdk_app import refs
from cdk_app.constructs.lake_delivery import LakeDelivery
from cdk_app.constructs.lake_table import LakeTable
from cdk_app.nag import acknowledge
from rotorwatch.deployment.stage import StageConfig
from rotorwatch.lake import layout as lake
from rotorwatch.lake import query, raw_keep

ROOT = Path(__file__).resolve().parents[2]
#: Context flag of the 0.1.0 -> 0.2.0 upgrade: keep the retired raw delivery stream one deploy.
KEEP_RETIRED_RAW_DELIVERY = "rotorwatch:keep-retired-raw-delivery"
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


class AnalyticsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: StageConfig,
        glue_script: Path | None,
        features_stream: kinesis.IStream,
        telemetry_stream: kinesis.IStream,
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
        # One Glue table per lake table (rotorwatch/lake/layout.py is the layout's one home).
        self.tables: dict[str, glue.CfnTable] = {
            t.name: LakeTable(
                self,
                f"Table-{t.name}",
                t=t,
                bucket_name=bucket.bucket_name,
                database=self.database,
                database_name=self.database_name,
            ).table
            for t in lake.TABLES.values()
        }

        # ---- Firehose ----------------------------------------------------------------------
        # Raw has no delivery stream: extract_features writes each batch's raw windows as one
        # gzip'd object (lake.raw_object_key; at 10,000 devices raw is ~10.7 MB/s, above the
        # Direct PUT quota, rotorwatch.deployment.cost.quotas). Features: Kinesis-sourced from the
        # features stream, as first released (a Kinesis source has no Direct PUT quota, and
        # its type and source are create-only: changing them replaces the stream,
        # cdk_app/upgrade.py). Predictions: Direct PUT from score_and_alert, as few
        # newline-delimited records per batch (~0.1 MB/s at 10,000 devices).
        def delivery(
            cid: str, table: str, source: kinesis.IStream | None = None
        ) -> firehose.DeliveryStream:
            return LakeDelivery(
                self,
                cid,
                config=config,
                table=lake.table(table),
                bucket=bucket,
                key=key,
                glue_table=self.tables.get(table),
                source=source,
            ).stream

        self.features_delivery = delivery(
            "FeaturesDelivery", lake.FEATURES_TABLE, source=features_stream
        )
        self.predictions_delivery = delivery("PredictionsDelivery", lake.PREDICTIONS_TABLE)
        # Upgrading from 0.1.0 only (CHANGELOG.md, 0.2.0 "Upgrading"): its raw delivery stream,
        # exactly as released and retained on delete, with its export, while Operations stops
        # importing the export; then a deploy without the flag drops it from the stack.
        self.retired_raw_delivery: firehose.DeliveryStream | None = None
        if self.node.try_get_context(KEEP_RETIRED_RAW_DELIVERY) in (True, "true"):
            self.retired_raw_delivery = delivery(
                "RawDelivery", lake.RAW_TABLE, source=telemetry_stream
            )
            self.retired_raw_delivery.apply_removal_policy(RemovalPolicy.RETAIN)
            self.export_value(self.retired_raw_delivery.delivery_stream_name)

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
        # Raw sampling (lake.raw_keep_enabled): its script beside the machine-health one.
        self.raw_keep_job: glue.PySparkEtlJob | None = None
        if config.lake.raw_keep_enabled and glue_script is not None:
            self._raw_keep_job(glue_script.parent / Path(lake.RAW_KEEP_JOB_SCRIPT).name)

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
    def _glue_job(self, script: Path) -> None:
        config, bucket = self.config, self.bucket
        role = self._job_role(
            "GlueJobRole",
            "machine-health job: read features/predictions, write curated",
            reads=(lake.FEATURES_PREFIX, lake.PREDICTIONS_PREFIX, lake.CURATED_PREFIX),
            writes=lake.CURATED_PREFIX,
        )
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
        self._job_logging(role)
        security = self._glue_security()
        self.job_libraries = self._job_libraries_zip()
        self.job = glue.PySparkEtlJob(
            self,
            "MachineHealthJob",
            role=role,
            script=glue.Code.from_asset(str(script)),
            extra_python_files=[glue.Code.from_asset(str(self.job_libraries))],
            glue_version=glue.GlueVersion.V5_0,
            # Glue 5.0 logs every job in real time (/aws-glue/jobs/error and /output); the L2's
            # default --enable-continuous-cloudwatch-log is a Glue 4.0-and-earlier option
            # (https://docs.aws.amazon.com/glue/latest/dg/monitor-continuous-logging-enable.html).
            continuous_logging=glue.ContinuousLoggingProps(enabled=False),
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
        self._acknowledge_job_role(
            role,
            "The Glue job",
            (
                (lake.FEATURES_PREFIX, "reads the features prefix only"),
                (lake.PREDICTIONS_PREFIX, "reads the predictions prefix only"),
                (lake.CURATED_PREFIX, "rewrites its own curated partitions only"),
            ),
            (
                "Resource::" + refs.nag_arn(self, "glue", f"table/{self.database_name}/*"),
                "tables of this stage's database only",
            ),
        )

    def _job_logging(self, role: iam.Role) -> None:
        """What a Glue job's continuous logging and metrics need."""
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

    def _glue_security(self) -> glue.SecurityConfiguration:
        """One security configuration for the stack's jobs (logs, S3 output, bookmarks: KMS)."""
        existing = self.node.try_find_child("GlueSecurity")
        if isinstance(existing, glue.SecurityConfiguration):
            return existing
        key = self.key
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
        return security

    def _raw_keep_job(self, script: Path) -> None:
        """The daily raw-sampling job (rotorwatch/lake/raw_keep.py): reads raw and predictions,
        writes raw_kept only; runs on day D + 2 for day D, long before raw expires (the stage
        refuses an expiry that leaves it no day)."""
        config, bucket = self.config, self.bucket
        role = self._job_role(
            "RawKeepJobRole",
            "raw-sampling job: read raw and predictions, write raw_kept",
            reads=(lake.RAW_PREFIX, lake.PREDICTIONS_PREFIX, lake.RAW_KEPT_PREFIX),
            writes=lake.RAW_KEPT_PREFIX,
        )
        self._job_logging(role)
        libraries = getattr(self, "job_libraries", None) or self._job_libraries_zip()
        rule = config.lake.keep_rule
        self.raw_keep_job = glue.PySparkEtlJob(
            self,
            "RawKeepJob",
            role=role,
            script=glue.Code.from_asset(str(script)),
            extra_python_files=[glue.Code.from_asset(str(libraries))],
            glue_version=glue.GlueVersion.V5_0,
            # Glue 5.0 logs every job in real time (/aws-glue/jobs/error and /output); the L2's
            # default --enable-continuous-cloudwatch-log is a Glue 4.0-and-earlier option
            # (https://docs.aws.amazon.com/glue/latest/dg/monitor-continuous-logging-enable.html).
            continuous_logging=glue.ContinuousLoggingProps(enabled=False),
            worker_configuration=glue.WorkerConfiguration(
                worker_type=glue.WorkerType.G_1X,
                number_of_workers=config.lake.raw_keep_workers,
            ),
            max_concurrent_runs=1,  # two runs of one day would replace each other's files
            timeout=Duration.hours(raw_keep.JOB_TIMEOUT_HOURS),
            security_configuration=self._glue_security(),
            description="Copies a day's raw windows near state changes + one per device-hour to raw_kept/",
            default_arguments={
                f"--{lake.JOB_ARG_LAKE_URI}": f"s3://{bucket.bucket_name}/",
                f"--{lake.JOB_ARG_KEEP_MINUTES}": str(rule.keep_minutes),
                f"--{lake.JOB_ARG_SAMPLES_PER_HOUR}": str(rule.samples_per_hour),
                # The job refuses a day whose raw may already be thinned by expiry.
                f"--{lake.JOB_ARG_RAW_EXPIRE_DAYS}": str(config.lake.raw_expire_days),
                "--job-bookmark-option": "job-bookmark-disable",
            },
        )
        glue.CfnTrigger(
            self,
            "RawKeepSchedule",
            type="SCHEDULED",
            schedule=raw_keep.JOB_SCHEDULE_CRON,
            start_on_creation=True,
            description=(
                f"raw sampling daily: day D on D+{raw_keep.SAMPLE_DELAY_DAYS}, raw expires "
                f"after {config.lake.raw_expire_days} days"
            ),
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.raw_keep_job.job_name)],
        )
        self._acknowledge_job_role(
            role,
            "The raw-sampling job",
            (
                (lake.RAW_PREFIX, "reads the raw prefix only"),
                (lake.PREDICTIONS_PREFIX, "reads the predictions prefix only"),
                (lake.RAW_KEPT_PREFIX, "rewrites its own raw_kept day only"),
            ),
        )

    def _job_role(
        self, construct_id: str, description: str, *, reads: Sequence[str], writes: str
    ) -> iam.Role:
        """A Glue job's role: read objects under ``reads``, replace objects under ``writes``
        (each run rewrites whole partitions), list the bucket, use the lake's key."""
        role = iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description=description,
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["s3:GetObject"],
            resource_arns=[self.bucket.arn_for_objects(f"{p}*") for p in reads],
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["s3:PutObject", "s3:DeleteObject"],
            resource_arns=[self.bucket.arn_for_objects(f"{writes}*")],
        )
        iam.Grant.add_to_principal(
            grantee=role, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
        )
        refs.grant_key_encrypt(role, self.key)
        refs.grant_key_decrypt(role, self.key)
        return role

    def _acknowledge_job_role(
        self,
        role: iam.Role,
        job: str,
        prefixes: Sequence[tuple[str, str]],
        *other: tuple[str, str],
    ) -> None:
        """cdk-nag's wildcard findings on a Glue job's role, each with its reason: the lake
        prefixes it reads or rewrites, ``other`` findings, its logs and metrics, and CDK's
        grant on the script assets."""
        lake_arn = refs.export_name(self.config, refs.LAKE_BUCKET_ARN)
        for finding, why in (
            *((f"Resource::{lake_arn}/{prefix}*", why) for prefix, why in prefixes),
            *other,
            (
                "Resource::" + refs.nag_arn(self, "logs", "log-group:/aws-glue/*"),
                "Glue writes to log groups it names under /aws-glue/",
            ),
            ("Resource::*", "cloudwatch:PutMetricData has no resource-level permissions"),
        ):
            acknowledge(role, f"AwsSolutions-IAM5[{finding}]", f"{job} {why}.")
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
