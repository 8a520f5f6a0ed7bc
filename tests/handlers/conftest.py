"""moto-backed AWS for the handler tests: the resources the processing stack deploys.

Handlers are imported by their deployed handler strings (as Lambda and the local cloud do) after
the environment is set and moto is active, so cold-start settings and clients bind to moto.
"""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.common.dynamo import to_attributes
from rotorwatch.deployment.resources import (
    ASSETS_TABLE_PARTITION_KEY,
    EXTRACT_FEATURES_HANDLER,
    SCORE_AND_ALERT_HANDLER,
    STATE_TABLE_PARTITION_KEY,
    WATCHDOG_HANDLER,
    EnvKey,
)
from rotorwatch.lake import layout as lake
from tests.moto_serial import one_request_at_a_time
from tests.signals import ASSET_RECORD

REGION = "eu-west-1"
BUCKET = "rw-lake-test"
FEATURES_STREAM = "rw-features-test"
ASSETS_TABLE = "rw-assets-test"
STATE_TABLE = "rw-state-test"
DELIVERY_STREAM = "rw-predictions-test"
ENDPOINT = "rw-model-test"
WORKGROUP = "rw-analysts"
GLUE_DATABASE = "rw_lake_test"


@dataclass
class FakeContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name: str = "rotorwatch-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:rotorwatch-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Aws:
    s3: Any
    kinesis: Any
    dynamodb: Any
    sns: Any
    sqs: Any
    queue_url: str
    topic_arn: str

    def feature_records(self) -> list[dict[str, Any]]:
        shard = self.kinesis.describe_stream(StreamName=FEATURES_STREAM)["StreamDescription"][
            "Shards"
        ][0]
        it = self.kinesis.get_shard_iterator(
            StreamName=FEATURES_STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return self.kinesis.get_records(ShardIterator=it, Limit=10_000)["Records"]

    def objects(self, prefix: str) -> dict[str, bytes]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        return {
            o["Key"]: self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
            for o in listing
        }

    def predictions(self) -> list[dict[str, Any]]:
        """Every prediction Firehose delivered (moto writes the raw bytes to S3 at once)."""
        rows = []
        for body in self.objects("predictions").values():
            rows += [json.loads(line) for line in body.decode().splitlines() if line]
        return rows

    def raw_rows(self) -> list[dict[str, Any]]:
        """Every raw lake line of the gzip'd objects extract_features wrote (one per batch)."""
        rows = []
        for key, body in self.objects(lake.RAW_PREFIX).items():
            assert key.endswith(".gz"), key  # Athena and Spark pick gzip by the extension
            lines = gzip.decompress(body).decode().splitlines()
            rows += [json.loads(line) for line in lines if line]
        return rows

    def alerts(self) -> list[dict[str, Any]]:
        """SNS messages received by the test subscription (raw delivery): body + attributes."""
        out = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return out
            for m in got:
                attrs = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
                out.append({"body": m["Body"], "attributes": attrs})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    with mock_aws(), one_request_at_a_time():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=FEATURES_STREAM, ShardCount=1)
        ddb = boto3.client("dynamodb", region_name=REGION)
        for table, key in (
            (ASSETS_TABLE, ASSETS_TABLE_PARTITION_KEY),
            (STATE_TABLE, STATE_TABLE_PARTITION_KEY),
        ):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for device in ("pump-01", "pump-02"):
            ddb.put_item(
                TableName=ASSETS_TABLE, Item=to_attributes({**ASSET_RECORD, "device_id": device})
            )
        firehose = boto3.client("firehose", region_name=REGION)
        for name, prefix in ((DELIVERY_STREAM, "predictions/"),):
            firehose.create_delivery_stream(
                DeliveryStreamName=name,
                ExtendedS3DestinationConfiguration={
                    "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                    "BucketARN": f"arn:aws:s3:::{BUCKET}",
                    "Prefix": prefix,
                },
            )
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="rw-alerts")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="rw-alerts-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        env = {
            EnvKey.FEATURES_STREAM_NAME: FEATURES_STREAM,
            EnvKey.QUARANTINE_BUCKET: BUCKET,
            EnvKey.ASSETS_TABLE: ASSETS_TABLE,
            EnvKey.STATE_TABLE: STATE_TABLE,
            EnvKey.ALERTS_TOPIC_ARN: topic_arn,
            EnvKey.PREDICTIONS_DELIVERY_STREAM: DELIVERY_STREAM,
            EnvKey.ENDPOINT_NAME: ENDPOINT,
            EnvKey.ATHENA_WORKGROUP: WORKGROUP,
            EnvKey.GLUE_DATABASE: GLUE_DATABASE,
            # The Lambda runtime sets it in every function.
            "AWS_REGION": REGION,
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield Aws(s3, kinesis, ddb, sns, sqs, queue_url, topic_arn)


def load_handler_module(handler_string: str) -> ModuleType:
    """Import (or re-import: a fresh cold start) the module a deployed handler string names."""
    module_name = handler_string.rsplit(".", 1)[0]
    if module_name in sys.modules:
        return importlib.reload(sys.modules[module_name])
    return importlib.import_module(module_name)


@pytest.fixture
def extract_features(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_handler_module(EXTRACT_FEATURES_HANDLER)
    monkeypatch.setattr(module.DEPS, "sleep", lambda _s: None)
    return module


@pytest.fixture
def score_and_alert(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_handler_module(SCORE_AND_ALERT_HANDLER)
    monkeypatch.setattr(module.DEPS, "sleep", lambda _s: None)
    return module


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def watchdog(aws: Aws) -> ModuleType:
    return load_handler_module(WATCHDOG_HANDLER)
