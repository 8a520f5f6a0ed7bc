"""Lambda handler: Secrets Manager rotation of the feedback link-signing key.

The key signs nothing outside rotorwatch, so rotation is only: make a new random key (pending),
check it, make it current. Secrets Manager keeps the old one as AWSPREVIOUS, which the feedback
function still verifies with (lambdas.common.feedback.KeyRing): links sent before a rotation
keep working until the next one. Rotate less often than links live (rotorwatch.alerting.feedback.
DEFAULT_LINK_TTL_S) and no link dies early.

Each step is idempotent (Secrets Manager retries steps): a pending version that exists is kept.
"""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.aws import client
from rotorwatch.alerting.feedback_links import MIN_KEY_BYTES

SM = client("secretsmanager")


def _pending_exists(sm: Any, secret_id: str, token: str) -> bool:
    try:
        sm.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def rotate(sm: Any, secret_id: str, token: str, step: str) -> None:
    """One rotation step (createSecret, setSecret, testSecret, finishSecret)."""
    meta = sm.describe_secret(SecretId=secret_id)
    if not meta.get("RotationEnabled", True):
        raise ValueError(f"rotation is not enabled for {secret_id}")
    stages = meta.get("VersionIdsToStages", {})
    if step in ("testSecret", "finishSecret") and token not in stages:
        raise ValueError(f"version {token} is not a version of {secret_id}")
    if step == "createSecret":
        sm.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")  # exists and readable
        if not _pending_exists(sm, secret_id, token):
            sm.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=token,
                SecretString=secrets.token_hex(MIN_KEY_BYTES),
                VersionStages=["AWSPENDING"],
            )
    elif step == "setSecret":
        pass  # nothing outside Secrets Manager holds the key
    elif step == "testSecret":
        value = sm.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
        if len(bytes.fromhex(value["SecretString"])) < MIN_KEY_BYTES:
            raise ValueError("the pending key is too short")
    elif step == "finishSecret":
        current = next((v for v, s in stages.items() if "AWSCURRENT" in s), None)
        if current == token:
            return
        sm.update_secret_version_stage(
            SecretId=secret_id,
            VersionStage="AWSCURRENT",
            MoveToVersionId=token,
            RemoveFromVersionId=current,
        )
    else:
        raise ValueError(f"unknown rotation step {step!r}")


def handler(event: dict[str, Any], context: Any) -> None:
    rotate(SM, event["SecretId"], event["ClientRequestToken"], event["Step"])
