"""The telemetry topic rules: which topic reaches which rule, and what the partition key says."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rotorwatch.contract import iot_rule
from rotorwatch.contract.telemetry import DEVICE_ID_PATTERN, SITE_PATTERN

names = st.from_regex(DEVICE_ID_PATTERN, fullmatch=True)
sites = st.from_regex(SITE_PATTERN, fullmatch=True)


def _mqtt_filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest), as the rule's FROM does."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


@given(site=sites, device=names)
def test_each_contracts_topic_reaches_its_own_rule_only(site: str, device: str) -> None:
    """No message is seen by two rules (a pass-through rule on v1's topic would deliver every
    JSON message twice) and v1's rule never sees a binary payload."""
    for contract in iot_rule.CONTRACTS:
        topic = iot_rule.telemetry_topic(site, device, contract)
        fired = [r.contract for r in iot_rule.RULES if _mqtt_filter_matches(r.topic_filter, topic)]
        assert fired == [contract]
        assert iot_rule.topic_contract(topic) == contract
        assert iot_rule.parse_topic(topic) == (site, device)


@given(site=sites, device=names)
def test_partition_keys_round_trip_to_the_publisher(site: str, device: str) -> None:
    v1 = iot_rule.partition_key(iot_rule.telemetry_topic(site, device))
    v2 = iot_rule.partition_key(iot_rule.telemetry_topic(site, device, 2))
    assert v1 is not None
    assert v2 is not None
    assert iot_rule.parse_partition_key(v1) == iot_rule.Publisher(1, site, device)
    assert iot_rule.parse_partition_key(v2) == iot_rule.Publisher(2, site, device)


@given(device=names)
def test_a_v1_key_of_a_release_up_to_0_2_still_names_its_device(device: str) -> None:
    """0.2.0's v1 rule keyed a record by the device alone: records it put on the stream before
    an upgrade still read (their site is the record's, docs/telemetry.md)."""
    assert iot_rule.PARTITION_KEY_TEMPLATE_0_2 == "${topic(3)}"
    assert iot_rule.parse_partition_key(device) == iot_rule.Publisher(1, None, device)


def test_partition_key_functions_follow_the_deployed_templates() -> None:
    """partition_key() is the local twin of the substitution templates the rules deploy."""
    site, device = "plant-a", "pump-7"
    levels = {"2": site, "3": device}
    for rule in iot_rule.RULES:
        expected = re.sub(
            r"\$\{topic\((\d)\)\}", lambda m: levels[m.group(1)], rule.partition_key_template
        )
        topic = iot_rule.telemetry_topic(site, device, rule.contract)
        assert iot_rule.partition_key(topic) == expected


def test_the_v2_rule_selects_the_payload_unchanged_and_v1_keeps_its_sql() -> None:
    """AWS documents binary payloads through `SELECT *` alone (binary-payloads.html)."""
    v2 = iot_rule.rule_for(2)
    assert re.fullmatch(r"SELECT \* FROM '[^']+'", v2.sql)
    assert v2.topic_filter == "rw/+/+/telemetry/v2"
    assert iot_rule.rule_for(1).sql == (
        "SELECT *, topic(2) AS site, timestamp() AS received_at FROM 'rw/+/+/telemetry'"
    )
    assert iot_rule.rule_for(1).partition_key_template == "${topic(2)}:${topic(3)}"
    assert v2.partition_key_template == "${topic(2)}/${topic(3)}"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a/b/c",
        "/pump",
        "site/",
        "pump 7",
        "a" * 129,
        "s/" + "d" * 129,
        "a:b:c",
        "a:b/c",
        ":pump",
        "site:",
        "s:" + "d" * 129,
    ],
)
def test_keys_our_rules_never_set_do_not_parse(key: str) -> None:
    assert iot_rule.parse_partition_key(key) is None


def test_rule_names_follow_the_stacks_naming() -> None:
    assert iot_rule.rule_names("rotorwatch_prod_eu_telemetry") == {
        1: "rotorwatch_prod_eu_telemetry",
        2: "rotorwatch_prod_eu_telemetry_v2",
    }
    assert iot_rule.rule_names("rw_telemetry_v2") == {1: "rw_telemetry", 2: "rw_telemetry_v2"}
    with pytest.raises(ValueError, match="not a telemetry rule name"):
        iot_rule.rule_names("something_else")


@pytest.mark.parametrize("contract", iot_rule.CONTRACTS)
def test_the_longest_key_a_thing_may_have_is_within_kinesis_limit(contract: int) -> None:
    """Kinesis takes partition keys of at most 256 characters (PutRecordsRequestEntry); both
    keys are site, separator, device, so a 128-character site and device would not fit."""
    fits = iot_rule.partition_key(iot_rule.telemetry_topic("s" * 127, "d" * 128, contract))
    assert fits is not None
    assert len(fits) == iot_rule.KINESIS_PARTITION_KEY_MAX_CHARS
    too_long = iot_rule.partition_key(iot_rule.telemetry_topic("s" * 128, "d" * 128, contract))
    assert too_long is not None
    assert len(too_long) > iot_rule.KINESIS_PARTITION_KEY_MAX_CHARS
