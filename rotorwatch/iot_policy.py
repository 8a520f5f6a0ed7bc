"""The least-privilege AWS IoT policy every rotorwatch device certificate gets.

One document, used by ``rotorwatch provision`` and by the CDK app. A device may

* connect only with client id = its own thing name, and only while its certificate is attached
  to that thing (``iot:Connection.Thing.IsAttached``);
* publish only to its own telemetry topic ``rw/<site>/<thing name>/telemetry`` and the Basic
  Ingest form of it ``$aws/rules/<rule>/rw/<site>/<thing name>/telemetry``.

With ``pin_site`` (default) the site level is the thing's ``site`` attribute, so the topic is
exact. Without it the site level is ``*``; IoT policy ``*`` also matches ``/``, which is why the
exact form is preferred (the telemetry rule's ``rw/+/+/telemetry`` would ignore such topics, but
a policy should not rely on that). Nothing else is allowed: no subscribe, no receive, no shadow.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Final

from rotorwatch.iot_rule import BASIC_INGEST_PREFIX, TELEMETRY_LEAF, TOPIC_ROOT

POLICY_VERSION: Final = "2012-10-17"
#: Thing attribute holding the device's site (the second topic level).
SITE_ATTRIBUTE: Final = "site"
THING_NAME_VAR: Final = "${iot:Connection.Thing.ThingName}"
SITE_VAR: Final = "${iot:Connection.Thing.Attributes[" + SITE_ATTRIBUTE + "]}"


def device_topic_pattern(*, pin_site: bool = True) -> str:
    """The topic a connected device may publish to, with IoT policy variables."""
    site = SITE_VAR if pin_site else "*"
    return f"{TOPIC_ROOT}/{site}/{THING_NAME_VAR}/{TELEMETRY_LEAF}"


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
    interpolated. ``basic_ingest_rule`` adds the Basic Ingest topic of that topic rule.
    """
    arn = f"arn:{partition}:iot:{region}:{account_id}"
    topics = [f"{arn}:topic/{device_topic_pattern(pin_site=pin_site)}"]
    if basic_ingest_rule:
        topics.append(
            f"{arn}:topic/{BASIC_INGEST_PREFIX}/{basic_ingest_rule}/{device_topic_pattern(pin_site=pin_site)}"
        )
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
