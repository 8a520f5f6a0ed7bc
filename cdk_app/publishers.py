"""Who may use the data key to publish to a KMS-encrypted SNS topic, under which conditions.

An AWS service that publishes to an encrypted topic needs ``kms:GenerateDataKey*`` and
``kms:Decrypt`` on the topic's key, granted in the key policy; a condition the service does not
supply there makes KMS refuse, and SNS drops the message without an error anyone sees. The SNS
developer guide lists, per event source, what a key policy may require
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, "Enable compatibility
between event sources from AWS services and encrypted topics"): for EventBridge, source
conditions (aws:SourceAccount, aws:SourceArn) are not supported in the key policy, so its
grant carries none; the topic policy still limits publishing to the one rule's ARN. One home:
the storage stack builds the key policy from :data:`KEY_USE`, the class test
(tests/infra/test_infra_operations.py) checks every publisher of the app against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

SNS_KEY_MANAGEMENT_URL: Final = "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html"
KEY_ACTIONS: Final = ("kms:Decrypt", "kms:GenerateDataKey*")


@dataclass(frozen=True, slots=True)
class KeyUse:
    principal: str
    #: Condition keys the key policy may require of this publisher (documented as supplied).
    allowed_condition_keys: frozenset[str]
    source: str


KEY_USE: Final[Mapping[str, KeyUse]] = {
    u.principal: u
    for u in (
        # CloudWatch alarm actions: the account condition narrows the grant to our alarms.
        KeyUse(
            "cloudwatch.amazonaws.com", frozenset({"aws:SourceAccount"}), SNS_KEY_MANAGEMENT_URL
        ),
        # EventBridge rule targets (Glue job failures): no source condition in the key policy.
        KeyUse("events.amazonaws.com", frozenset(), SNS_KEY_MANAGEMENT_URL),
    )
}


def key_policy_statements(account: str) -> list[tuple[str, dict[str, Any]]]:
    """(principal, conditions) of one key policy statement per publishing service."""
    out: list[tuple[str, dict[str, Any]]] = []
    for use in KEY_USE.values():
        conditions: dict[str, Any] = {}
        if "aws:SourceAccount" in use.allowed_condition_keys:
            conditions = {"StringEquals": {"aws:SourceAccount": account}}
        out.append((use.principal, conditions))
    return out
