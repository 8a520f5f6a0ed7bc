"""`rotorwatch provision` / `deprovision` logic against moto's IoT and DynamoDB."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rotorwatch.contract.iot_policy import device_policy_document
from rotorwatch.diagnosis.assets import parse_asset
from rotorwatch.diagnosis.sensors import SensorLimits
from simulator.fleet import load_scenario
from simulator.provision import MANIFEST_FILE, Device, deprovision, provision

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name=REGION)
        table = ddb.create_table(
            TableName="assets",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        yield {"iot": boto3.client("iot", region_name=REGION), "table": table, "account": account}


def _devices() -> list[Device]:
    sc = load_scenario("small")
    return [Device(m.device_id, sc.site_of(m), m.asset) for m in sc.machines]


def test_provision_creates_things_certs_policy_and_files(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    iot = aws["iot"]
    manifest = provision(
        _devices(),
        iot=iot,
        out_dir=tmp_path,
        region=REGION,
        account_id=aws["account"],
        basic_ingest_rule="rw_telemetry",
        assets_table=aws["table"],
    )
    names = {d.thing_name for d in _devices()}
    assert {t["thing_name"] for t in manifest["things"]} == names
    assert json.loads((tmp_path / MANIFEST_FILE).read_text()) == manifest
    # policy: exactly the shared document
    doc = json.loads(iot.get_policy(policyName=manifest["policy_name"])["policyDocument"])
    assert doc == device_policy_document(
        region=REGION, account_id=aws["account"], basic_ingest_rule="rw_telemetry"
    )
    group_things = iot.list_things_in_thing_group(thingGroupName=manifest["thing_group"])["things"]
    assert set(group_things) == names
    for t in manifest["things"]:
        thing = iot.describe_thing(thingName=t["thing_name"])
        assert thing["attributes"]["site"] == "plant-a"
        assert iot.list_thing_principals(thingName=t["thing_name"])["principals"] == [
            t["certificate_arn"]
        ]
        cert = iot.describe_certificate(certificateId=t["certificate_id"])["certificateDescription"]
        assert cert["status"] == "ACTIVE"
        policies = iot.list_attached_policies(target=t["certificate_arn"])["policies"]
        assert [p["policyName"] for p in policies] == [manifest["policy_name"]]
        cert_file, key_file = Path(t["cert_path"]), Path(t["key_path"])
        assert cert_file.read_text() == cert["certificatePem"]
        assert "PRIVATE KEY" in key_file.read_text()
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert t["topic"] == f"rw/plant-a/{t['thing_name']}/telemetry"
        assert (
            t["basic_ingest_topic"]
            == f"$aws/rules/rw_telemetry/rw/plant-a/{t['thing_name']}/telemetry"
        )
    items = aws["table"].scan()["Items"]
    assert {i["device_id"] for i in items} == names
    assert manifest["ca_path"].endswith("AmazonRootCA1.pem")
    assert manifest["endpoint"]


def test_provision_twice_keeps_credentials(aws: dict[str, Any], tmp_path: Path) -> None:
    first = provision(
        _devices(), iot=aws["iot"], out_dir=tmp_path, region=REGION, account_id=aws["account"]
    )
    second = provision(
        _devices(), iot=aws["iot"], out_dir=tmp_path, region=REGION, account_id=aws["account"]
    )
    assert [t["certificate_arn"] for t in first["things"]] == [
        t["certificate_arn"] for t in second["things"]
    ]
    assert len(aws["iot"].list_certificates()["certificates"]) == len(first["things"])


def test_deprovision_removes_everything(aws: dict[str, Any], tmp_path: Path) -> None:
    iot = aws["iot"]
    manifest = provision(
        _devices(),
        iot=iot,
        out_dir=tmp_path,
        region=REGION,
        account_id=aws["account"],
        assets_table=aws["table"],
    )
    removed = deprovision(iot=iot, out_dir=tmp_path, assets_table=aws["table"])
    assert sorted(removed) == sorted(t["thing_name"] for t in manifest["things"])
    assert iot.list_things()["things"] == []
    assert iot.list_certificates()["certificates"] == []
    assert iot.list_policies()["policies"] == []
    assert iot.list_thing_groups()["thingGroups"] == []
    assert aws["table"].scan()["Items"] == []
    assert not (tmp_path / MANIFEST_FILE).exists()
    assert not any((tmp_path / t["thing_name"]).exists() for t in manifest["things"])


def test_provision_writes_the_assets_sensor_limits(aws: dict[str, Any], tmp_path: Path) -> None:
    """The registry item carries the machine's limits; the pipeline reads them back as given."""
    sc = load_scenario("sensor-faults")
    provision(
        [Device(m.device_id, sc.site_of(m), m.asset) for m in sc.machines],
        iot=aws["iot"],
        out_dir=tmp_path,
        region=REGION,
        account_id=aws["account"],
        assets_table=aws["table"],
    )
    item = aws["table"].get_item(Key={"device_id": "lube-02"})["Item"]
    assert item["limits"] == {"temperature_warning_c": 80, "temperature_alarm_c": 95}
    assert parse_asset(item) == sc.assets["lube-02"]
    assert parse_asset(aws["table"].get_item(Key={"device_id": "pump-03"})["Item"]).limits == (
        SensorLimits(pressure_min_bar=4.2, pressure_max_bar=5.6)
    )
    assert "limits" not in aws["table"].get_item(Key={"device_id": "motor-06"})["Item"]
