"""The IoT Core topic rule that moves telemetry into Kinesis, and its local equivalent.

The deployed rule and the local IoT-rule bridge both take their topic layout and SQL from here,
so what a device sees locally is what it sees on AWS.
"""

from __future__ import annotations

import re
from typing import Any, Final

TOPIC_ROOT: Final = "rw"
TELEMETRY_LEAF: Final = "telemetry"
#: Topic a device publishes to: rw/<site>/<device_id>/telemetry. topic(3) is the device id.
TELEMETRY_TOPIC_FILTER: Final = f"{TOPIC_ROOT}/+/+/{TELEMETRY_LEAF}"
DEVICE_TOPIC_LEVEL: Final = 3  # IoT SQL topic(n) counts from 1
SITE_TOPIC_LEVEL: Final = 2

#: The rule's SQL. It projects nothing over the payload's own ``device_id``: with
#: ``SELECT *, topic(3) AS device_id`` the payload and the topic would both name a
#: ``device_id`` and which one wins is undocumented. The device the IoT policy authorised (the
#: topic's) travels as the Kinesis partition key instead (:data:`PARTITION_KEY_TEMPLATE`), and
#: ``extract_features`` quarantines a record whose payload names another device
#: (``device_mismatch``), so a device cannot speak for another. ``site`` and ``received_at``
#: are labels the contract tells devices not to send (docs/telemetry.md); they identify no one.
TELEMETRY_RULE_SQL: Final = (
    f"SELECT *, topic({SITE_TOPIC_LEVEL}) AS site, timestamp() AS received_at "
    f"FROM '{TELEMETRY_TOPIC_FILTER}'"
)
IOT_SQL_VERSION: Final = "2016-03-23"
#: The Kinesis action's partition key (an IoT substitution template): the topic's device, so
#: each device's records stay in order on one shard and the handler knows who published.
PARTITION_KEY_TEMPLATE: Final = f"${{topic({DEVICE_TOPIC_LEVEL})}}"

#: Basic Ingest: publishing to $aws/rules/<rule>/<topic> reaches the rule without the broker's
#: messaging charge; topic() sees the topic without the $aws/rules/<rule>/ prefix.
BASIC_INGEST_PREFIX: Final = "$aws/rules"

_TOPIC_RE: Final = re.compile(
    rf"^(?:\$aws/rules/[A-Za-z0-9_]+/)?{TOPIC_ROOT}/([^/+#]+)/([^/+#]+)/{TELEMETRY_LEAF}$"
)


def telemetry_topic(site: str, device_id: str) -> str:
    """The MQTT topic a device publishes its telemetry to."""
    return f"{TOPIC_ROOT}/{site}/{device_id}/{TELEMETRY_LEAF}"


def basic_ingest_topic(rule_name: str, site: str, device_id: str) -> str:
    """The Basic Ingest topic that delivers straight to the telemetry rule."""
    return f"{BASIC_INGEST_PREFIX}/{rule_name}/{telemetry_topic(site, device_id)}"


def parse_topic(topic: str) -> tuple[str, str] | None:
    """Return (site, device_id) for a telemetry topic (direct or Basic Ingest), else None."""
    m = _TOPIC_RE.match(topic)
    return (m.group(1), m.group(2)) if m else None


def partition_key(topic: str) -> str | None:
    """What :data:`PARTITION_KEY_TEMPLATE` gives for ``topic``: the publishing device."""
    parsed = parse_topic(topic)
    return parsed[1] if parsed else None


def project(topic: str, message: dict[str, Any], received_at_ms: int) -> dict[str, Any] | None:
    """Apply the rule's SELECT to a decoded JSON message, as IoT Core does.

    Returns None when the topic does not match the rule's FROM clause (the rule does not fire).
    The payload's ``device_id`` is left as the device sent it (see :data:`TELEMETRY_RULE_SQL`).
    """
    parsed = parse_topic(topic)
    if parsed is None:
        return None
    site, _device_id = parsed
    out = dict(message)
    out["site"] = site
    out["received_at"] = received_at_ms
    return out
