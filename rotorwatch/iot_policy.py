"""The IoT Core policy every device certificate gets, and a small evaluator to check it.

One policy serves the whole fleet: the thing name is substituted by IoT Core at connect time
(``${iot:Connection.Thing.ThingName}``), so a device can connect only as its own client id and
publish only to its own telemetry topic (directly or through Basic Ingest). The rule then takes
the device id from the topic, so no device can speak for another.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Final

from rotorwatch.iot_rule import BASIC_INGEST_PREFIX, TELEMETRY_LEAF, TOPIC_ROOT

THING_NAME_VAR: Final = "${iot:Connection.Thing.ThingName}"


def _own_topics(rule_name: str) -> list[str]:
    own = f"{TOPIC_ROOT}/*/{THING_NAME_VAR}/{TELEMETRY_LEAF}"
    return [own, f"{BASIC_INGEST_PREFIX}/{rule_name}/{own}"]


def device_policy_document(
    region: str, account: str, rule_name: str, *, partition: str = "aws"
) -> dict[str, Any]:
    """The IoT policy document for a device (region/account may be CloudFormation tokens).

    ``rule_name`` is the telemetry rule's physical name: Basic Ingest topics embed it.
    """
    arn = f"arn:{partition}:iot:{region}:{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # Only a registered thing with this certificate attached may connect, and only
                # with its own name as client id (also stops one device kicking another off).
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{arn}:client/{THING_NAME_VAR}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [f"{arn}:topic/{t}" for t in _own_topics(rule_name)],
            },
        ],
    }


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    # IoT policy resources use `*` (any characters, including `/`) and `?` (one character).
    return re.compile(fnmatch.translate(pattern))


def is_allowed(
    document: dict[str, Any], *, action: str, resource: str, thing_name: str, attached: bool = True
) -> bool:
    """Evaluate an Allow-only policy for one request, substituting the thing-name variable.

    Enough of IoT Core's evaluation to test the fleet policy: no Deny statements, conditions
    limited to ``iot:Connection.Thing.IsAttached``.
    """
    for stmt in document["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        if stmt["Effect"] != "Allow" or action not in actions:
            continue
        cond = stmt.get("Condition", {}).get("Bool", {})
        if cond.get("iot:Connection.Thing.IsAttached") == "true" and not attached:
            continue
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        for pattern in resources:
            if _glob_to_regex(pattern.replace(THING_NAME_VAR, thing_name)).match(resource):
                return True
    return False
