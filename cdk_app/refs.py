"""Cross-stack references to the shared lake bucket and KMS key, and precise grants.

The lake bucket and key are exported under names we choose (``<Rotorwatch-stage>-LakeBucketArn``)
rather than CDK's generated ones, so a cdk-nag finding on a prefix grant such as
``<lake>/quarantine/*`` has an ID we can compute, and so acknowledge, for every stage.
The grants below name exact actions (no ``kms:GenerateDataKey*`` style wildcards).
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Fn, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from rotorwatch.deployment.stage import StageConfig

LAKE_BUCKET_ARN: Final = "LakeBucketArn"
DATA_KEY_ARN: Final = "DataKeyArn"


def nag_env(scope: Construct) -> tuple[str, str]:
    """(region, account) as cdk-nag renders them in finding IDs: the value when the stack has a
    concrete environment (the CLI sets one from your credentials), else the pseudo parameter."""
    stack = Stack.of(scope)
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return region, account


def nag_arn(scope: Construct, service: str, resource: str) -> str:
    """An ARN in this stack's account/region, rendered as cdk-nag prints it."""
    region, account = nag_env(scope)
    return f"arn:<AWS::Partition>:{service}:{region}:{account}:{resource}"


def bootstrap_assets_finding(scope: Construct) -> str:
    """cdk-nag's ID for CDK's read grant on assets in the default bootstrap bucket."""
    region, account = nag_env(scope)
    return (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
        f"cdk-hnb659fds-assets-{account}-{region}/*]"
    )


def export_name(config: StageConfig, what: str) -> str:
    return f"{config.stack_prefix}-{what}"


def data_key(scope: Construct, config: StageConfig) -> kms.IKey:
    return kms.Key.from_key_arn(
        scope, "DataKeyRef", Fn.import_value(export_name(config, DATA_KEY_ARN))
    )


def lake_bucket(scope: Construct, config: StageConfig, key: kms.IKey) -> s3.IBucket:
    return s3.Bucket.from_bucket_attributes(
        scope,
        "LakeRef",
        bucket_arn=Fn.import_value(export_name(config, LAKE_BUCKET_ARN)),
        encryption_key=key,
    )


def lake_prefix_finding(config: StageConfig, prefix: str) -> str:
    """The cdk-nag finding ID of a grant on ``<lake>/<prefix>*``."""
    return f"AwsSolutions-IAM5[Resource::{export_name(config, LAKE_BUCKET_ARN)}/{prefix}*]"


def grant_key_encrypt(grantee: iam.IGrantable, key: kms.IKey) -> None:
    """What a writer to a KMS-encrypted stream, bucket, topic or queue needs."""
    iam.Grant.add_to_principal(
        grantee=grantee, actions=["kms:GenerateDataKey", "kms:Encrypt"], resource_arns=[key.key_arn]
    )


def grant_key_decrypt(grantee: iam.IGrantable, key: kms.IKey) -> None:
    iam.Grant.add_to_principal(
        grantee=grantee, actions=["kms:Decrypt"], resource_arns=[key.key_arn]
    )


def grant_stream_put(grantee: iam.IGrantable, stream: kinesis.IStream, key: kms.IKey) -> None:
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary"],
        resource_arns=[stream.stream_arn],
    )
    grant_key_encrypt(grantee, key)


def grant_lake_put(grantee: iam.IGrantable, bucket: s3.IBucket, prefix: str, key: kms.IKey) -> None:
    iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["s3:PutObject"],
        resource_arns=[bucket.arn_for_objects(f"{prefix}*")],
    )
    grant_key_encrypt(grantee, key)
