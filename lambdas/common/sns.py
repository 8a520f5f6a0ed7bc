"""SNS alert publishing shared by score_and_alert (health) and the watchdog (silence)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def publish(
    sns: Any,
    topic_arn: str,
    *,
    subject: str,
    text: str,
    sms: str,
    attributes: Mapping[str, str],
) -> str:
    """Long form for e-mail, one SMS segment for SMS, string attributes for filter policies."""
    body = {"default": text, "email": text, "sms": sms}
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=json.dumps(body),
        MessageStructure="json",
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        },
    )
    return str(response.get("MessageId", ""))
