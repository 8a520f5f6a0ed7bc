"""StorageStack: the KMS key and the data lake bucket every other stack writes to.

They outlive the pipeline (a redeploy of processing must never touch the lake), so they get
their own stack and are retained on delete.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app import publishers, refs
from cdk_app.nag import acknowledge, skip_checkov
from rotorwatch.deployment.stage import LakeConfig, StageConfig
from rotorwatch.lake import layout as lake
from rotorwatch.lake.layout import RAW_NONCURRENT_EXPIRE_DAYS


class StorageStack(Stack):
    def __init__(self, scope: Construct, cid: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, cid, **kwargs)
        self.key = kms.Key(
            self,
            "DataKey",
            description=f"rotorwatch {config.stage}: streams, lake, tables, topics, queues",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms and EventBridge rules (Glue job failures) publish to the
        # KMS-encrypted ops topic: SNS encrypts with the publisher's access to the key
        # (cdk_app.publishers.KEY_USE: who may, under which conditions, and the source).
        for principal, conditions in publishers.key_policy_statements(self.account):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=list(publishers.KEY_ACTIONS),
                    principals=[iam.ServicePrincipal(principal)],
                    resources=["*"],  # in a key policy "*" means this key
                    conditions=conditions or None,
                )
            )
        # Log groups (IoT rule errors, functions) are encrypted with the key too.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{self.partition}:logs:{self.region}:{self.account}:*"
                    }
                },
            )
        )

        # Access logs cannot go to a KMS-encrypted bucket: S3 server access logging needs SSE-S3.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30)
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server access log bucket itself; logging it into itself would loop.",
        )
        skip_checkov(
            self.access_logs,
            "CKV_AWS_18",
            "This is the server access log bucket itself; logging it into itself would loop.",
        )

        self.lake = s3.Bucket(
            self,
            "Lake",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,  # one KMS call per object batch, not per object: cost
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="lake/",
            lifecycle_rules=[
                raw_lifecycle_rule(config.lake),
                *raw_kept_lifecycle_rules(config.lake),
                *housekeeping_rules(config.lake),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # A retained bucket must keep its TLS-only policy: the policy is a resource of its own,
        # which CloudFormation would otherwise delete with the stack and leave the bucket open
        # to plain-HTTP requests.
        for bucket in (self.access_logs, self.lake):
            if bucket.policy is None:  # enforce_ssl=True creates it
                raise RuntimeError(f"{bucket.node.path} has no bucket policy to retain")
            bucket.policy.apply_removal_policy(RemovalPolicy.RETAIN)

        # Exported under names we choose: see cdk_app.refs for why.
        CfnOutput(
            self,
            "LakeBucketArnExport",
            value=self.lake.bucket_arn,
            export_name=refs.export_name(config, refs.LAKE_BUCKET_ARN),
        )
        CfnOutput(
            self,
            "DataKeyArnExport",
            value=self.key.key_arn,
            export_name=refs.export_name(config, refs.DATA_KEY_ARN),
        )
        CfnOutput(
            self,
            "LakeBucketName",
            value=self.lake.bucket_name,
            description="Data lake bucket (raw/, features/, predictions/, curated/)",
        )


def raw_lifecycle_rule(cfg: LakeConfig) -> s3.LifecycleRule:
    """Raw telemetry: tiered down, and deleted after ``raw_expire_days`` when the stage sets it
    (the bulkiest data in the lake; features and predictions stay). Only the transitions that
    come before the expiry are kept: S3 refuses a transition at or after the expiration."""
    expire = cfg.raw_expire_days
    transitions = [
        s3.Transition(storage_class=storage_class, transition_after=Duration.days(days))
        for storage_class, days in (
            (s3.StorageClass.INFREQUENT_ACCESS, cfg.raw_ia_after_days),
            (s3.StorageClass.GLACIER, cfg.raw_glacier_after_days),
        )
        if expire is None or days < expire
    ]
    return s3.LifecycleRule(
        id="raw-tiering",
        prefix=lake.RAW_PREFIX,
        transitions=transitions or None,
        expiration=None if expire is None else Duration.days(expire),
        # The lake is versioned: an expired raw object becomes a noncurrent version. Removing it
        # a day later (not after the lake's noncurrent_expire_days) is what makes the expiry
        # save the storage; the operator chose to let raw go.
        noncurrent_version_expiration=Duration.days(
            cfg.noncurrent_expire_days if expire is None else RAW_NONCURRENT_EXPIRE_DAYS
        ),
    )


def housekeeping_rules(cfg: LakeConfig) -> list[s3.LifecycleRule]:
    """Incomplete multipart uploads aborted bucket-wide (no other rule aborts them), and
    noncurrent versions expired after ``noncurrent_expire_days`` under every top-level prefix
    but raw's, whose rule sets its own. A bucket-wide noncurrent expiration would act on raw's
    noncurrent versions beside raw-tiering's (overlapping filters with the same action:
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-conflicts.html), so the
    raw expiry's one day held only by S3's "the shorter expiration is honored"."""
    return [
        s3.LifecycleRule(
            id="housekeeping",
            abort_incomplete_multipart_upload_after=Duration.days(7),
        ),
        *(
            s3.LifecycleRule(
                id=f"noncurrent-{prefix.split('/')[0]}",
                prefix=prefix,
                noncurrent_version_expiration=Duration.days(cfg.noncurrent_expire_days),
            )
            for prefix in lake.TOP_PREFIXES
            if prefix != lake.RAW_PREFIX
        ),
    ]


def raw_kept_lifecycle_rules(cfg: LakeConfig) -> list[s3.LifecycleRule]:
    """The windows the raw_keep job keeps (lake.raw_keep_enabled) stay as long as features and
    predictions (no expiry): Standard-IA after ``raw_ia_after_days`` (an analyst replays them
    rarely), never Glacier (Athena skips objects in Glacier Flexible Retrieval, so a replay
    query would silently miss them:
    https://docs.aws.amazon.com/athena/latest/ug/querying-glacier.html). Raw's expiry does not
    reach them: another prefix."""
    if not cfg.raw_keep_enabled:
        return []
    return [
        s3.LifecycleRule(
            id="raw-kept-tiering",
            prefix=lake.RAW_KEPT_PREFIX,
            transitions=[
                s3.Transition(
                    storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                    transition_after=Duration.days(cfg.raw_ia_after_days),
                )
            ],
        )
    ]
