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

#: The rule's SQL. Selecting device_id from the topic *after* `*` overrides any device_id in
#: the payload, so a device cannot speak for another (the IoT policy pins the topic to the thing).
TELEMETRY_RULE_SQL: Final = (
    f"SELECT *, topic({DEVICE_TOPIC_LEVEL}) AS device_id, topic({SITE_TOPIC_LEVEL}) AS site, "
    f"timestamp() AS received_at FROM '{TELEMETRY_TOPIC_FILTER}'"
)
IOT_SQL_VERSION: Final = "2016-03-23"

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


def project(topic: str, message: dict[str, Any], received_at_ms: int) -> dict[str, Any] | None:
    """Apply the rule's SELECT to a decoded JSON message, as IoT Core does.

    Returns None when the topic does not match the rule's FROM clause (the rule does not fire).
    """
    parsed = parse_topic(topic)
    if parsed is None:
        return None
    site, device_id = parsed
    out = dict(message)
    out["device_id"] = device_id
    out["site"] = site
    out["received_at"] = received_at_ms
    return out


#: The telemetry rule's error action republishes failures here; a second rule stores them in
#: S3 (lake.IOT_ERRORS_PREFIX) and CloudWatch Logs (a rule has only one error action). Devices
#: cannot publish here: their policy allows only their own telemetry topic.
RULE_ERRORS_TOPIC: Final = "rw-errors/telemetry-rule"
