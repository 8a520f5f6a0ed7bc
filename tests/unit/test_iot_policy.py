"""The device policy grants exactly: connect as own thing, publish own telemetry topic(s)."""

from __future__ import annotations

import fnmatch

from rotorwatch.iot_policy import SITE_VAR, THING_NAME_VAR, device_policy_document
from rotorwatch.iot_rule import basic_ingest_topic, telemetry_topic

ARN = "arn:aws:iot:eu-west-1:123456789012"


def _allowed(doc: dict, action: str, resource: str, thing: str, site: str) -> bool:
    """Evaluate the Allow statements as IoT does for a connection of ``thing`` (attached)."""
    for st in doc["Statement"]:
        if st["Effect"] != "Allow" or st["Action"] != action:
            continue
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for pattern in resources:
            concrete = pattern.replace(THING_NAME_VAR, thing).replace(SITE_VAR, site)
            # IoT policy wildcards: * any characters (including /), ? one character.
            if fnmatch.fnmatchcase(resource, concrete):
                return True
    return False


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
    assert publish["Resource"] == [f"arn:aws-cn:iot:r:a:topic/rw/*/{THING_NAME_VAR}/telemetry"]
