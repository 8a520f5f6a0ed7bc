"""The IoT Core topic rules that move telemetry into Kinesis, and their local equivalent.

The deployed rules and the local IoT-rule bridge both take their topic layout, SQL and
partition keys from here, so what a device sees locally is what it sees on AWS.

Two contracts, two topics, two rules (a device chooses; docs/telemetry.md):

* v1 (JSON) on ``rw/<site>/<device_id>/telemetry``: ``SELECT *, topic(2) AS site,
  timestamp() AS received_at``, partition key ``${topic(2)}:${topic(3)}`` (site and device).
* v2 (binary) on ``rw/<site>/<device_id>/telemetry/v2``: ``SELECT *`` only, because AWS
  documents adding fields for empty or JSON payloads, and a binary payload passing a rule
  unchanged with a bare ``SELECT *``
  (https://docs.aws.amazon.com/iot/latest/developerguide/binary-payloads.html). Nothing can be
  added to the payload, so the site and the device travel in the partition key
  ``${topic(2)}/${topic(3)}`` and the arrival time is the Kinesis record's.

The topic filters cannot overlap: ``+`` matches one level, so ``rw/+/+/telemetry`` never sees a
five-level v2 topic and ``rw/+/+/telemetry/v2`` never a v1 one. A pass-through rule on the v1
topic would have delivered every JSON message twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from rotorwatch.contract.telemetry import DEVICE_ID_PATTERN, SITE_PATTERN

TOPIC_ROOT: Final = "rw"
TELEMETRY_LEAF: Final = "telemetry"
#: The level after ``telemetry`` that marks a contract v2 (binary) topic.
V2_LEAF: Final = "v2"
#: Topic a v1 device publishes to: rw/<site>/<device_id>/telemetry. topic(3) is the device id.
TELEMETRY_TOPIC_FILTER: Final = f"{TOPIC_ROOT}/+/+/{TELEMETRY_LEAF}"
#: Topic a v2 device publishes to: rw/<site>/<device_id>/telemetry/v2.
TELEMETRY_V2_TOPIC_FILTER: Final = f"{TELEMETRY_TOPIC_FILTER}/{V2_LEAF}"
DEVICE_TOPIC_LEVEL: Final = 3  # IoT SQL topic(n) counts from 1
SITE_TOPIC_LEVEL: Final = 2

#: The v1 rule's SQL. It projects nothing over the payload's own ``device_id``: with
#: ``SELECT *, topic(3) AS device_id`` the payload and the topic would both name a
#: ``device_id`` and which one wins is undocumented. The same holds for the ``site`` and
#: ``received_at`` it adds: a device may send either, and AWS does not say whether its value
#: or the rule's ends up in the record. So the pipeline reads neither from a v1 record: who
#: published (the site and device the IoT policy pinned to the thing) travels as the Kinesis
#: partition key (:data:`PARTITION_KEY_TEMPLATE`), the arrival time is the Kinesis record's,
#: and ``extract_features`` quarantines a record whose payload names another device
#: (``device_mismatch``). The SQL still adds both, as released, so a record keeps its shape
#: for every reader of the stream; their values are never used.
TELEMETRY_RULE_SQL: Final = (
    f"SELECT *, topic({SITE_TOPIC_LEVEL}) AS site, timestamp() AS received_at "
    f"FROM '{TELEMETRY_TOPIC_FILTER}'"
)
#: The v2 rule's SQL: the binary payload passes unchanged (nothing may be added to it).
TELEMETRY_V2_RULE_SQL: Final = f"SELECT * FROM '{TELEMETRY_V2_TOPIC_FILTER}'"
IOT_SQL_VERSION: Final = "2016-03-23"
#: Between site and device in a v2 partition key (``<site>/<device_id>``).
PARTITION_KEY_SEPARATOR: Final = "/"
#: Between site and device in a v1 partition key (``<site>:<device_id>``). Neither a site nor
#: a device id contains either separator, so the key alone says which rule wrote the record
#: (:func:`parse_partition_key`): a binary message through the v1 rule, or JSON through the v2
#: rule, is ``wrong_topic``.
PARTITION_KEY_V1_SEPARATOR: Final = ":"
#: The v1 Kinesis action's partition key (an IoT substitution template): the topic's site and
#: device, both pinned to the thing by the IoT policy (its ``site`` attribute and its name).
#: The same device always gives the same key, so its records stay in order on one shard.
#: Releases up to 0.2.0 keyed v1 by the device alone (:data:`PARTITION_KEY_TEMPLATE_0_2`) and
#: took the site from the record, where a device's own ``site`` could win: records they put
#: on the stream still read (the site as that rule merged it), docs/telemetry.md.
PARTITION_KEY_TEMPLATE: Final = (
    f"${{topic({SITE_TOPIC_LEVEL})}}{PARTITION_KEY_V1_SEPARATOR}${{topic({DEVICE_TOPIC_LEVEL})}}"
)
#: The v1 partition key up to release 0.2.0: the device alone.
PARTITION_KEY_TEMPLATE_0_2: Final = f"${{topic({DEVICE_TOPIC_LEVEL})}}"
#: The v2 Kinesis action's partition key: ``<site>/<device_id>``, both from the topic the IoT
#: policy pinned to the thing (its name and its ``site`` attribute). The same device always
#: gives the same key, so per-device order holds as in v1.
PARTITION_KEY_V2_TEMPLATE: Final = (
    f"${{topic({SITE_TOPIC_LEVEL})}}{PARTITION_KEY_SEPARATOR}${{topic({DEVICE_TOPIC_LEVEL})}}"
)
#: Kinesis refuses a longer partition key (PutRecordsRequestEntry, "Maximum length of 256"):
#: the rule's action fails and the message goes to its error action. A device therefore needs
#: len(site) + len(device_id) <= 255, in either contract (the local bridge refuses it too).
KINESIS_PARTITION_KEY_MAX_CHARS: Final = 256

#: Basic Ingest: publishing to $aws/rules/<rule>/<topic> reaches the rule without the broker's
#: messaging charge; topic() sees the topic without the $aws/rules/<rule>/ prefix.
BASIC_INGEST_PREFIX: Final = "$aws/rules"


@dataclass(frozen=True, slots=True)
class TelemetryRule:
    """One deployed topic rule: the contract it carries and everything its SQL and action say."""

    contract: int
    #: Rule name suffix (rotorwatch_<stage>_<leaf>); Basic Ingest topics embed the full name.
    leaf: str
    topic_filter: str
    sql: str
    partition_key_template: str


#: Every telemetry rule the ingestion stack deploys (and the local bridge applies), by contract.
RULES: Final[tuple[TelemetryRule, ...]] = (
    TelemetryRule(
        1, "telemetry", TELEMETRY_TOPIC_FILTER, TELEMETRY_RULE_SQL, PARTITION_KEY_TEMPLATE
    ),
    TelemetryRule(
        2,
        "telemetry_v2",
        TELEMETRY_V2_TOPIC_FILTER,
        TELEMETRY_V2_RULE_SQL,
        PARTITION_KEY_V2_TEMPLATE,
    ),
)
CONTRACTS: Final = tuple(r.contract for r in RULES)

_TOPIC_RE: Final = re.compile(
    rf"^(?:\$aws/rules/[A-Za-z0-9_]+/)?{TOPIC_ROOT}/([^/+#]+)/([^/+#]+)/{TELEMETRY_LEAF}"
    rf"(/{V2_LEAF})?$"
)
_PARTITION_KEY_RE: Final = re.compile(
    rf"^(?:({SITE_PATTERN})([{re.escape(PARTITION_KEY_SEPARATOR + PARTITION_KEY_V1_SEPARATOR)}]))?"
    rf"({DEVICE_ID_PATTERN})$"
)


def rule_for(contract: int) -> TelemetryRule:
    """The rule that carries ``contract``; ValueError for a contract with no rule."""
    for rule in RULES:
        if rule.contract == contract:
            return rule
    raise ValueError(f"no telemetry rule for contract {contract} (contracts: {CONTRACTS})")


def rule_names(rule_name: str) -> dict[int, str]:
    """Every telemetry rule's name by contract, from any one of them (stack outputs
    TelemetryRuleName, TelemetryV2RuleName): the stack names each rule
    ``rotorwatch_<stage>_<leaf>``, so they differ by their leaf alone."""
    for leaf in sorted((r.leaf for r in RULES), key=len, reverse=True):
        if rule_name.endswith(leaf):
            stem = rule_name[: -len(leaf)]
            return {r.contract: stem + r.leaf for r in RULES}
    raise ValueError(
        f"{rule_name!r} is not a telemetry rule name (it ends in one of "
        f"{', '.join(r.leaf for r in RULES)}: stack output TelemetryRuleName)"
    )


def telemetry_topic(site: str, device_id: str, contract: int = 1) -> str:
    """The MQTT topic a device publishes its telemetry of ``contract`` to."""
    topic = f"{TOPIC_ROOT}/{site}/{device_id}/{TELEMETRY_LEAF}"
    return topic if rule_for(contract).contract == 1 else f"{topic}/{V2_LEAF}"


def basic_ingest_topic(rule_name: str, site: str, device_id: str, contract: int = 1) -> str:
    """The Basic Ingest topic that delivers straight to the telemetry rule ``rule_name``."""
    return f"{BASIC_INGEST_PREFIX}/{rule_name}/{telemetry_topic(site, device_id, contract)}"


def parse_topic(topic: str) -> tuple[str, str] | None:
    """Return (site, device_id) for a telemetry topic (either contract, direct or Basic
    Ingest), else None."""
    m = _TOPIC_RE.match(topic)
    return (m.group(1), m.group(2)) if m else None


def topic_contract(topic: str) -> int | None:
    """The contract whose rule ``topic`` reaches (1 or 2), or None if no telemetry rule fires."""
    m = _TOPIC_RE.match(topic)
    if m is None:
        return None
    return 2 if m.group(3) else 1


def partition_key(topic: str) -> str | None:
    """What the matching rule's partition key template gives for ``topic``:
    ``<site>:<device_id>`` (v1), ``<site>/<device_id>`` (v2). None if no telemetry rule fires."""
    m = _TOPIC_RE.match(topic)
    if m is None:
        return None
    site, device_id = m.group(1), m.group(2)
    sep = PARTITION_KEY_SEPARATOR if m.group(3) else PARTITION_KEY_V1_SEPARATOR
    return f"{site}{sep}{device_id}"


@dataclass(frozen=True, slots=True)
class Publisher:
    """Who published a telemetry record, from the partition key its rule set."""

    #: The contract of the rule that wrote the record (1 or 2).
    contract: int
    #: The topic's site; None for a v1 record of a release up to 0.2.0 (key = device alone).
    site: str | None
    device_id: str


def parse_partition_key(key: str) -> Publisher | None:
    """Who published a telemetry record, from its partition key: ``<site>:<device_id>`` (v1),
    ``<site>/<device_id>`` (v2) or ``<device_id>`` (v1 up to release 0.2.0); None when the key
    is none of these (not one our rules set)."""
    m = _PARTITION_KEY_RE.match(key)
    if m is None:
        return None
    site, sep, device_id = m.group(1), m.group(2), m.group(3)
    return Publisher(2 if sep == PARTITION_KEY_SEPARATOR else 1, site, device_id)


def project(topic: str, message: dict[str, Any], received_at_ms: int) -> dict[str, Any] | None:
    """Apply the v1 rule's SELECT to a decoded JSON message, as IoT Core does.

    Returns None when the topic does not match the v1 rule's FROM clause (it does not fire).
    The payload's ``device_id`` is left as the device sent it (see :data:`TELEMETRY_RULE_SQL`).
    """
    if topic_contract(topic) != 1:
        return None
    parsed = parse_topic(topic)
    assert parsed is not None  # topic_contract matched
    site, _device_id = parsed
    out = dict(message)
    out["site"] = site
    out["received_at"] = received_at_ms
    return out
