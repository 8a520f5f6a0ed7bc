"""The feedback resources of the local cloud (issue 28): table, signing key, and the variables
that make score_and_alert send answer links, as the processing stack deploys them.

The feedback function writes its lake rows to the local S3 bucket; :func:`sync_lake` copies
them into the lake folder, where the local Athena (DuckDB) reads every table.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from rotorwatch.alerting import feedback_links as fb_links
from rotorwatch.deployment.resources import FEEDBACK_TABLE_PARTITION_KEY, EnvKey
from rotorwatch.lake import layout as lake

FEEDBACK_TABLE: Final = "rotorwatch-local-feedback"
FEEDBACK_SECRET: Final = "rotorwatch-local-feedback-key"
#: Not served over HTTP locally: the demo's technicians call the feedback function with the
#: HTTP API's event shape (local_cloud.technicians).
FEEDBACK_BASE_URL: Final = "https://feedback.invalid/"


def provision(clients: Mapping[str, Any], session: Any, lake_bucket: str) -> dict[str, str]:
    """Create the feedback table and key in the local cloud; the env that turns links on."""
    clients["dynamodb"].create_table(
        TableName=FEEDBACK_TABLE,
        KeySchema=[{"AttributeName": FEEDBACK_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": FEEDBACK_TABLE_PARTITION_KEY, "AttributeType": "S"}
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    sm = session.client("secretsmanager")
    arn = sm.create_secret(
        Name=FEEDBACK_SECRET, SecretString=secrets.token_hex(fb_links.MIN_KEY_BYTES)
    )["ARN"]
    return {
        EnvKey.FEEDBACK_TABLE: FEEDBACK_TABLE,
        EnvKey.FEEDBACK_SECRET_ARN: str(arn),
        EnvKey.FEEDBACK_BASE_URL: FEEDBACK_BASE_URL,
        EnvKey.LAKE_BUCKET: lake_bucket,
    }


def sync_lake(s3: Any, bucket: str, lake_dir: Path) -> int:
    """Copy the feedback rows the functions wrote to the local S3 into the lake folder (where
    the local Athena reads every table). Returns the number of objects."""
    n = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=lake.FEEDBACK_PREFIX):
        for obj in page.get("Contents", []):
            path = lake_dir / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            n += 1
    return n
