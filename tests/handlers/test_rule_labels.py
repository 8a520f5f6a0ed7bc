"""Issue 26 item 8: a device cannot set what the IoT rule adds to its record.

The v1 rule adds ``topic(2) AS site`` and ``timestamp() AS received_at`` to the payload; a
device may send the same names, and AWS does not document whose value ends up in the record.
So every field the rule injects (read from the deployed SQL itself, so a field added later is
covered too) is sent by a device with conflicting values, valid and malformed, under both
precedences (the device's value wins, the rule's wins), through the real handlers on moto:
extract_features, then score_and_alert. The site everywhere a user reads it (features,
raw lake, predictions, device state) is the topic's, from the partition key; when the cloud
last heard from the device is the stream's arrival. Contract v2 has no field a device could
set for either (the header's layout is asserted); a JSON record sent on its topic is
``wrong_topic``. Records a release up to 0.2.0 put on the stream (key = device alone) still read.
"""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any

import pytest

from lambdas.common.dynamo import from_attributes
from rotorwatch.contract import iot_rule
from rotorwatch.contract.telemetry import RULE_LABELS, decode
from rotorwatch.contract.telemetry_v2 import HEADER, HEADER_FIELDS, from_v1
from rotorwatch.lake.layout import QUARANTINE_PREFIX
from tests.events import kinesis_event
from tests.handlers.conftest import STATE_TABLE, Aws, FakeContext
from tests.handlers.test_watchdog import rules  # noqa: F401  (fixture)
from tests.signals import message

OK = {"batchItemFailures": []}
TS0 = 1_763_900_000_000
ARRIVAL_S = 1_763_900_123.0
ARRIVAL_MS = int(ARRIVAL_S * 1000)
SITE = "plant-a"
#: When IoT Core received the messages (the rule's timestamp()): before the stream's arrival.
RULE_TIMESTAMP_MS = ARRIVAL_MS - 40

#: Every field the v1 rule's SELECT adds (``... AS <name>``), from the SQL the stack deploys.
INJECTED: tuple[str, ...] = tuple(re.findall(r"\bAS (\w+)", iot_rule.TELEMETRY_RULE_SQL))
#: What a device may send in each injected field's place: another site, a future or past
#: time, and values of the wrong type or pattern (they must not cost the window either).
CONFLICTING: dict[str, list[Any]] = {
    "site": ["plant-evil", "plant-a-but-not", "", "x y", 17, None, {"a": 1}, "s" * 500],
    "received_at": [4_102_444_800_000, 0, -5, 10**40, "soon", 1.5e300, True, None],
}


def _rule_value(name: str) -> Any:
    return {"site": SITE, "received_at": RULE_TIMESTAMP_MS}[name]


def test_every_field_the_rule_injects_is_a_label_the_cloud_never_reads() -> None:
    """The class: a field added to the rule's SELECT must be one the decoder ignores (and has
    conflicting values below), and the partition keys come from the topic alone."""
    assert INJECTED == ("site", "received_at")
    assert set(INJECTED) == set(RULE_LABELS) == set(CONFLICTING)
    for rule in iot_rule.RULES:
        assert re.fullmatch(r"(\$\{topic\([23]\)\}[:/]?)+", rule.partition_key_template)


def _cases() -> list[tuple[str, Any, str]]:
    return [
        (name, value, wins)
        for name in INJECTED
        for value in CONFLICTING[name]
        for wins in ("device", "rule")
    ]


def _v1_record(device: str, seq: int, name: str, value: Any, wins: str) -> bytes:
    """The record the v1 rule puts on the stream when the device sent ``name`` = ``value``:
    the rule adds every injected field; for ``name`` either value may have won."""
    msg = json.loads(message(device, TS0 + seq * 60_000, seq, v1x_mm_s=1.0 + seq % 3))
    msg[name] = value  # the device's
    for label in INJECTED:
        if label != name or wins == "rule":
            msg[label] = _rule_value(label)
    if wins == "device" and value is None:
        msg[name] = None  # JSON null: the device's explicit null won
    return json.dumps(msg, separators=(",", ":")).encode()


def _state(aws: Aws, device: str) -> dict[str, Any]:
    got = aws.dynamodb.get_item(TableName=STATE_TABLE, Key={"device_id": {"S": device}})
    return from_attributes(got["Item"])


def test_a_device_cannot_set_a_field_the_v1_rule_injects(
    extract_features: ModuleType,
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
) -> None:
    cases = _cases()
    devices = [f"pump-{i:02d}" for i in range(len(cases))]
    records = [
        _v1_record(device, i, name, value, wins)
        for i, (device, (name, value, wins)) in enumerate(zip(devices, cases, strict=True))
    ]
    # The rule keys each record by the topic's site and device (the policy pins both).
    keys = [iot_rule.partition_key(iot_rule.telemetry_topic(SITE, d)) or "" for d in devices]
    event = kinesis_event(records, partition_keys=keys, arrival_s=ARRIVAL_S)
    arrivals = [round(r["kinesis"]["approximateArrivalTimestamp"] * 1000) for r in event["Records"]]

    assert extract_features.handler(event, context) == OK

    assert aws.objects(QUARANTINE_PREFIX) == {}  # a label, however malformed, costs no window
    features = {f["device_id"]: f for f in (json.loads(r["Data"]) for r in aws.feature_records())}
    assert sorted(features) == devices
    raw = {r["device_id"]: r for r in aws.raw_rows()}
    for device, arrival_ms, case in zip(devices, arrivals, cases, strict=True):
        assert (features[device]["site"], features[device]["received_at"]) == (
            SITE,
            arrival_ms,
        ), case
        assert (raw[device]["site"], raw[device]["received_at"]) == (SITE, arrival_ms), case

    feats = list(features.values())
    scored = kinesis_event(
        [json.dumps(f).encode() for f in feats],
        template="kinesis_features",
        partition_keys=[f["device_id"] for f in feats],
        arrival_s=ARRIVAL_S + 1,
    )
    assert rules.handler(scored, context) == OK

    predictions = {p["device_id"]: p for p in aws.predictions()}
    for device, arrival_ms, case in zip(devices, arrivals, cases, strict=True):
        state = _state(aws, device)
        # The watchdog's clock: a device's future value would hide its silence for ever.
        assert (state["site"], state["last_seen_ms"]) == (SITE, arrival_ms), case
        assert predictions[device]["site"] == SITE, case


def test_contract_v2_carries_no_label_and_json_on_its_topic_is_wrong_topic(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    """A v2 message is the header and samples only: no field names a site or a time, so the
    key (site/device) and the arrival are the only sources. A JSON record with conflicting
    labels sent on the v2 topic (the v2 rule passes it unchanged) is wrong_topic."""
    assert len(HEADER_FIELDS) == len(HEADER.unpack(bytes(HEADER.size)))
    assert not set(HEADER_FIELDS) & set(INJECTED)
    binary = from_v1(decode(message("pump-01", TS0, 1)))
    forged = json.loads(message("pump-02", TS0, 2))
    forged.update({"site": "plant-evil", "received_at": 4_102_444_800_000})
    keys = [
        iot_rule.partition_key(iot_rule.telemetry_topic(SITE, d, 2)) or ""
        for d in ("pump-01", "pump-02")
    ]
    event = kinesis_event(
        [binary, json.dumps(forged).encode()], partition_keys=keys, arrival_s=ARRIVAL_S
    )
    assert extract_features.handler(event, context) == OK
    (row,) = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert (row["device_id"], row["site"], row["received_at"]) == ("pump-01", SITE, ARRIVAL_MS)
    assert len(aws.objects(f"{QUARANTINE_PREFIX}reason=wrong_topic/")) == 1


@pytest.mark.parametrize("merged_site", ["plant-a", "plant-b"])
def test_a_record_of_release_0_2_still_reads_with_the_site_its_rule_merged(
    extract_features: ModuleType, aws: Aws, context: FakeContext, merged_site: str
) -> None:
    """0.2.0's rule keyed v1 by the device alone: its records in the stream at an upgrade read
    as 0.2.0 read them (the site as that rule merged it, which a device could have set: the
    reason the key now carries it); the arrival is still the stream's."""
    msg = json.loads(message("pump-01", TS0, 1))
    msg.update({"site": merged_site, "received_at": 4_102_444_800_000})
    event = kinesis_event(
        [json.dumps(msg).encode()], partition_keys=["pump-01"], arrival_s=ARRIVAL_S
    )
    assert extract_features.handler(event, context) == OK
    (row,) = [json.loads(r["Data"]) for r in aws.feature_records()]
    assert (row["site"], row["received_at"]) == (merged_site, ARRIVAL_MS)
