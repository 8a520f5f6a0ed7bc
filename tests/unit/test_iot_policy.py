"""The device policy grants exactly: connect as own thing, publish own telemetry topic(s)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rotorwatch.contract import iot_rule
from rotorwatch.contract.iot_policy import THING_NAME_VAR, device_policy_document, is_allowed
from rotorwatch.contract.iot_rule import basic_ingest_topic, telemetry_topic

ARN = "arn:aws:iot:eu-west-1:123456789012"


def _allowed(doc: dict, action: str, resource: str, thing: str, site: str) -> bool:
    """Evaluate the policy as IoT does for an attached connection of ``thing`` at ``site``."""
    return is_allowed(doc, action=action, resource=resource, thing_name=thing, site=site)


def test_device_may_publish_only_its_own_topics() -> None:
    doc = device_policy_document(
        region="eu-west-1", account_id="123456789012", basic_ingest_rule="rw_telemetry"
    )
    own = f"{ARN}:topic/{telemetry_topic('plant-a', 'm01')}"
    own_bi = f"{ARN}:topic/{basic_ingest_topic('rw_telemetry', 'plant-a', 'm01')}"
    assert _allowed(doc, "iot:Publish", own, "m01", "plant-a")
    assert _allowed(doc, "iot:Publish", own_bi, "m01", "plant-a")
    for other in (
        telemetry_topic("plant-a", "m02"),  # another device
        telemetry_topic("plant-b", "m01"),  # another site
        "rw/plant-a/m02/m01/telemetry",  # a deeper topic ending in its name
        "rw/plant-a/m01/commands",
        basic_ingest_topic("other_rule", "plant-a", "m01"),
    ):
        assert not _allowed(doc, "iot:Publish", f"{ARN}:topic/{other}", "m01", "plant-a"), other


def test_device_may_connect_only_as_itself_and_do_nothing_else() -> None:
    doc = device_policy_document(region="eu-west-1", account_id="123456789012")
    assert _allowed(doc, "iot:Connect", f"{ARN}:client/m01", "m01", "plant-a")
    assert not _allowed(doc, "iot:Connect", f"{ARN}:client/m02", "m01", "plant-a")
    connect = next(s for s in doc["Statement"] if s["Action"] == "iot:Connect")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert {s["Action"] for s in doc["Statement"]} == {"iot:Connect", "iot:Publish"}
    assert all(s["Effect"] == "Allow" and "*" not in s["Action"] for s in doc["Statement"])


def test_unpinned_site_still_pins_the_thing_name() -> None:
    doc = device_policy_document(region="r", account_id="a", partition="aws-cn", pin_site=False)
    publish = next(s for s in doc["Statement"] if s["Action"] == "iot:Publish")
    assert publish["Resource"] == [
        f"arn:aws-cn:iot:r:a:topic/rw/*/{THING_NAME_VAR}/telemetry",
        f"arn:aws-cn:iot:r:a:topic/rw/*/{THING_NAME_VAR}/telemetry/v2",
    ]


# The fleet IoT policy evaluated: a device may connect and publish only as itself.


ARN = "arn:aws:iot:eu-west-1:123456789012"
DOC = device_policy_document(
    region="eu-west-1", account_id="123456789012", basic_ingest_rule="rotorwatch_dev_telemetry"
)
names = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)


def publish(thing: str, topic: str, site: str = "s") -> bool:
    return is_allowed(
        DOC, action="iot:Publish", resource=f"{ARN}:topic/{topic}", thing_name=thing, site=site
    )


def test_policy_scopes_every_resource_to_the_connected_thing() -> None:
    resources = [
        r
        for s in DOC["Statement"]
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert all(THING_NAME_VAR in r for r in resources)
    assert {a for s in DOC["Statement"] for a in [s["Action"]]} == {"iot:Connect", "iot:Publish"}


V2_RULE = iot_rule.rule_names("rotorwatch_dev_telemetry")[2]


@given(me=names, other=names, site=names)
def test_contract_v2_a_device_publishes_as_itself_and_never_as_another(
    me: str, other: str, site: str
) -> None:
    """The v2 topics (direct, Basic Ingest of the v2 rule) are pinned as v1's are: the thing
    name and its site attribute. The topic is all the identity a v2 message has."""
    assert publish(me, iot_rule.telemetry_topic(site, me, 2), site)
    assert publish(me, iot_rule.basic_ingest_topic(V2_RULE, site, me, 2), site)
    # Each contract's topic behind its own rule only.
    assert not publish(
        me, iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry", site, me, 2), site
    )
    assert not publish(me, iot_rule.basic_ingest_topic(V2_RULE, site, me, 1), site)
    if other != me:
        assert not publish(me, iot_rule.telemetry_topic(site, other, 2), site)
        assert not publish(me, iot_rule.basic_ingest_topic(V2_RULE, site, other, 2), site)
        assert not publish(me, iot_rule.telemetry_topic(site + "x", me, 2), site)


@given(me=names, other=names, site=names)
def test_a_device_publishes_as_itself_and_never_as_another(me: str, other: str, site: str) -> None:
    assert publish(me, iot_rule.telemetry_topic(site, me), site)
    assert publish(me, iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry", site, me), site)
    if other != me:
        assert not publish(me, iot_rule.telemetry_topic(site, other), site)
        assert not publish(
            me, iot_rule.basic_ingest_topic("rotorwatch_dev_telemetry", site, other), site
        )
        # Pinned to its site attribute: not even its own name under another site.
        assert not publish(me, iot_rule.telemetry_topic(site + "x", me), site)
        assert not is_allowed(
            DOC, action="iot:Connect", resource=f"{ARN}:client/{other}", thing_name=me
        )


def test_other_rules_topics_and_unattached_certificates_are_refused() -> None:
    assert not publish("pump-7", iot_rule.basic_ingest_topic("other_rule", "s", "pump-7"))
    assert not publish("pump-7", "rw-errors/telemetry-rule")  # any topic but its own
    assert not publish("pump-7", "$aws/things/pump-8/shadow/update")
    assert is_allowed(
        DOC, action="iot:Connect", resource=f"{ARN}:client/pump-7", thing_name="pump-7"
    )
    assert not is_allowed(
        DOC,
        action="iot:Connect",
        resource=f"{ARN}:client/pump-7",
        thing_name="pump-7",
        attached=False,
    )


def test_a_topic_the_rule_would_attribute_to_another_device_is_refused() -> None:
    # The policy's `*` spans levels; whatever it lets through, the rule's topic(3) must be "me".
    for topic in ("rw/a/pump-8/x/pump-7/telemetry", "rw/a/pump-7/telemetry"):
        if publish("pump-7", topic):
            parsed = iot_rule.parse_topic(topic)
            assert parsed is None or parsed[1] == "pump-7"
