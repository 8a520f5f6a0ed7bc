"""The least-privilege AWS IoT policy every rotorwatch device certificate gets.

One document, used by ``rotorwatch provision`` and by the CDK app. A device may

* connect only with client id = its own thing name, and only while its certificate is attached
  to that thing (``iot:Connection.Thing.IsAttached``);
* publish only to its own telemetry topics, one per contract: ``rw/<site>/<thing name>/telemetry``
  (v1) and ``rw/<site>/<thing name>/telemetry/v2`` (v2), and to the Basic Ingest form of each
  behind its own rule only (``$aws/rules/<v1 rule>/rw/.../telemetry``,
  ``$aws/rules/<v2 rule>/rw/.../telemetry/v2``).

With ``pin_site`` (default) the site level is the thing's ``site`` attribute, so the topic is
exact. Without it the site level is ``*``; IoT policy ``*`` also matches ``/``, which is why the
exact form is preferred (the telemetry rule's ``rw/+/+/telemetry`` would ignore such topics, but
a policy should not rely on that). Nothing else is allowed: no subscribe, no receive, no shadow.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Final

from rotorwatch.contract.iot_rule import (
    BASIC_INGEST_PREFIX,
    CONTRACTS,
    TOPIC_ROOT,
    rule_names,
    telemetry_topic,
)

POLICY_VERSION: Final = "2012-10-17"
#: Thing attribute holding the device's site (the second topic level).
SITE_ATTRIBUTE: Final = "site"
THING_NAME_VAR: Final = "${iot:Connection.Thing.ThingName}"
SITE_VAR: Final = "${iot:Connection.Thing.Attributes[" + SITE_ATTRIBUTE + "]}"


def device_topic_pattern(*, pin_site: bool = True, contract: int = 1) -> str:
    """The topic a connected device may publish ``contract`` to, with IoT policy variables."""
    site = SITE_VAR if pin_site else "*"
    topic = telemetry_topic(site, THING_NAME_VAR, contract)
    assert topic.startswith(f"{TOPIC_ROOT}/")
    return topic


def device_policy_document(
    *,
    region: str,
    account_id: str,
    partition: str = "aws",
    basic_ingest_rule: str | None = None,
    pin_site: bool = True,
) -> dict[str, Any]:
    """The device policy as a JSON-ready dict.

    ``region``/``account_id``/``partition`` may be CDK tokens (``Aws.REGION`` ...): they are only
    interpolated. ``basic_ingest_rule`` (the v1 rule's name, stack output TelemetryRuleName)
    adds, per contract, the Basic Ingest form of that contract's topic behind that contract's
    rule only (:func:`rotorwatch.contract.iot_rule.rule_names`).
    """
    arn = f"arn:{partition}:iot:{region}:{account_id}"
    topics = [
        f"{arn}:topic/{device_topic_pattern(pin_site=pin_site, contract=c)}" for c in CONTRACTS
    ]
    if basic_ingest_rule:
        for contract, rule in rule_names(basic_ingest_rule).items():
            pattern = device_topic_pattern(pin_site=pin_site, contract=contract)
            topics.append(f"{arn}:topic/{BASIC_INGEST_PREFIX}/{rule}/{pattern}")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ConnectAsOwnThingOnly",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{arn}:client/{THING_NAME_VAR}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Sid": "PublishOwnTelemetryOnly",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": topics,
            },
        ],
    }


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    # IoT policy resources use `*` (any characters, including `/`) and `?` (one character).
    return re.compile(fnmatch.translate(pattern))


def is_allowed(
    document: dict[str, Any],
    *,
    action: str,
    resource: str,
    thing_name: str,
    site: str | None = None,
    attached: bool = True,
) -> bool:
    """Evaluate an Allow-only policy for one request, substituting the policy variables.

    Enough of IoT Core's evaluation to test the fleet policy: no Deny statements, conditions
    limited to ``iot:Connection.Thing.IsAttached``. A thing without a ``site`` attribute leaves
    the site variable unresolved, which IoT Core treats as matching nothing.
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
            concrete = pattern.replace(THING_NAME_VAR, thing_name)
            if SITE_VAR in concrete:
                if site is None:
                    continue
                concrete = concrete.replace(SITE_VAR, site)
            if _glob_to_regex(concrete).match(resource):
                return True
    return False
