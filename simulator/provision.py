"""Provision simulated (or real) devices in AWS IoT Core, and tear them down again.

For every device: a thing (attribute ``site``) in one thing group, a key pair and an active
certificate made by IoT Core, the least-privilege device policy (``rotorwatch.contract.iot_policy``)
attached to the certificate, the certificate attached to the thing, and the credentials written
to ``<out>/<thing>/certificate.pem.crt`` and ``private.pem.key`` (mode 600). A manifest
``<out>/devices.json`` records the endpoint and every ARN, so teardown needs nothing else.
Optionally the asset records go into the DynamoDB assets table.

The root CA is not fetched (no network at build time): download Amazon Root CA 1 from
https://www.amazontrust.com/repository/AmazonRootCA1.pem to ``<out>/AmazonRootCA1.pem``, the
path the manifest names. Re-running provision is safe: a thing whose credentials are already on
disk keeps them.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from rotorwatch.contract.iot_policy import SITE_ATTRIBUTE, device_policy_document
from rotorwatch.contract.iot_rule import basic_ingest_topic, telemetry_topic
from rotorwatch.diagnosis.assets import Asset
from simulator.run import CERT_FILE, KEY_FILE

MANIFEST_FILE: Final = "devices.json"
ROOT_CA_FILE: Final = "AmazonRootCA1.pem"
ROOT_CA_URL: Final = "https://www.amazontrust.com/repository/AmazonRootCA1.pem"
DEFAULT_POLICY_NAME: Final = "rotorwatch-device"
DEFAULT_THING_GROUP: Final = "rotorwatch-fleet"


@dataclass(frozen=True, slots=True)
class Device:
    thing_name: str
    site: str
    asset: Asset | None = None


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ResourceNotFoundException", "NotFoundException")


def _ensure_policy(iot: Any, name: str, document: dict[str, Any]) -> str:
    text = json.dumps(document)
    try:
        current = iot.get_policy(policyName=name)
    except iot.exceptions.ResourceNotFoundException:
        return str(iot.create_policy(policyName=name, policyDocument=text)["policyArn"])
    if json.loads(current["policyDocument"]) != document:
        # Keep at most a few versions: IoT allows five.
        versions = iot.list_policy_versions(policyName=name)["policyVersions"]
        for v in sorted(versions, key=lambda v: int(v["versionId"]))[:-3]:
            if not v["isDefaultVersion"]:
                iot.delete_policy_version(policyName=name, policyVersionId=v["versionId"])
        iot.create_policy_version(policyName=name, policyDocument=text, setAsDefault=True)
    return str(current["policyArn"])


def _ensure_thing_group(iot: Any, name: str) -> str:
    try:
        return str(iot.describe_thing_group(thingGroupName=name)["thingGroupArn"])
    except iot.exceptions.ResourceNotFoundException:
        return str(iot.create_thing_group(thingGroupName=name)["thingGroupArn"])


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _dynamo_item(asset: Asset) -> dict[str, Any]:
    # DynamoDB numbers must be Decimal; str() keeps the decimal digits a float would blur.
    def conv(v: Any) -> Any:
        if isinstance(v, float):
            return Decimal(str(v))
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in asset.to_dict().items()}


def provision(
    devices: list[Device],
    *,
    iot: Any,
    out_dir: str | Path,
    region: str,
    account_id: str,
    partition: str = "aws",
    policy_name: str = DEFAULT_POLICY_NAME,
    thing_group: str = DEFAULT_THING_GROUP,
    basic_ingest_rule: str | None = None,
    assets_table: Any = None,
) -> dict[str, Any]:
    """Create everything for ``devices``; returns (and writes) the manifest.

    ``iot`` is a boto3 IoT client; ``assets_table`` an optional boto3 DynamoDB ``Table``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST_FILE
    previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    known = {t["thing_name"]: t for t in previous.get("things", [])}
    document = device_policy_document(
        region=region,
        account_id=account_id,
        partition=partition,
        basic_ingest_rule=basic_ingest_rule,
    )
    policy_arn = _ensure_policy(iot, policy_name, document)
    group_arn = _ensure_thing_group(iot, thing_group)
    endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    things = []
    for dev in devices:
        attrs = {"attributes": {SITE_ATTRIBUTE: dev.site}, "merge": True}
        try:
            iot.describe_thing(thingName=dev.thing_name)
            iot.update_thing(thingName=dev.thing_name, attributePayload=attrs)
        except iot.exceptions.ResourceNotFoundException:
            iot.create_thing(thingName=dev.thing_name, attributePayload=attrs)
        iot.add_thing_to_thing_group(thingGroupName=thing_group, thingName=dev.thing_name)
        cert_path, key_path = out / dev.thing_name / CERT_FILE, out / dev.thing_name / KEY_FILE
        entry = known.get(dev.thing_name)
        if entry is None or not (cert_path.exists() and key_path.exists()):
            created = iot.create_keys_and_certificate(setAsActive=True)
            _write_private(cert_path, created["certificatePem"])
            _write_private(key_path, created["keyPair"]["PrivateKey"])
            entry = {
                "certificate_arn": created["certificateArn"],
                "certificate_id": created["certificateId"],
            }
        iot.attach_policy(policyName=policy_name, target=entry["certificate_arn"])
        iot.attach_thing_principal(thingName=dev.thing_name, principal=entry["certificate_arn"])
        topic = telemetry_topic(dev.site, dev.thing_name)
        things.append(
            {
                "thing_name": dev.thing_name,
                "site": dev.site,
                "topic": topic,
                "basic_ingest_topic": basic_ingest_topic(
                    basic_ingest_rule, dev.site, dev.thing_name
                )
                if basic_ingest_rule
                else None,
                "certificate_arn": entry["certificate_arn"],
                "certificate_id": entry["certificate_id"],
                "cert_path": str(cert_path),
                "key_path": str(key_path),
            }
        )
        if assets_table is not None and dev.asset is not None:
            assets_table.put_item(Item=_dynamo_item(dev.asset))
    manifest = {
        "endpoint": endpoint,
        "port": 8883,
        "ca_path": str(out / ROOT_CA_FILE),
        "ca_url": ROOT_CA_URL,
        "policy_name": policy_name,
        "policy_arn": policy_arn,
        "thing_group": thing_group,
        "thing_group_arn": group_arn,
        "assets_table": getattr(assets_table, "name", None),
        "things": things,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def deprovision(
    *,
    iot: Any,
    out_dir: str | Path,
    assets_table: Any = None,
    delete_policy: bool = True,
    delete_thing_group: bool = True,
) -> list[str]:
    """Undo :func:`provision` using its manifest; returns the thing names removed.

    Certificates are detached, deactivated and deleted; things removed from the group and
    deleted; then the group and the policy (if no other principal still uses it); the local
    credentials and the manifest are deleted; asset items are removed if a table is given.
    """
    out = Path(out_dir)
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    policy, group = manifest["policy_name"], manifest["thing_group"]
    removed = []
    for t in manifest["things"]:
        name = t["thing_name"]
        try:
            principals = iot.list_thing_principals(thingName=name)["principals"]
        except iot.exceptions.ResourceNotFoundException:
            principals = []
        for principal in set(principals) | {t["certificate_arn"]}:
            cert_id = principal.rsplit("/", 1)[-1]
            for call, kwargs in (
                (iot.detach_thing_principal, {"thingName": name, "principal": principal}),
                (iot.detach_policy, {"policyName": policy, "target": principal}),
                (iot.update_certificate, {"certificateId": cert_id, "newStatus": "INACTIVE"}),
                (iot.delete_certificate, {"certificateId": cert_id, "forceDelete": True}),
            ):
                try:
                    call(**kwargs)
                except Exception as exc:  # already gone is fine; anything else is not
                    if not _not_found(exc):
                        raise
        try:
            iot.remove_thing_from_thing_group(thingGroupName=group, thingName=name)
            iot.delete_thing(thingName=name)
        except Exception as exc:
            if not _not_found(exc):
                raise
        if assets_table is not None:
            assets_table.delete_item(Key={"device_id": name})
        shutil.rmtree(out / name, ignore_errors=True)
        removed.append(name)
    if delete_thing_group:
        try:
            iot.delete_thing_group(thingGroupName=group)
        except Exception as exc:
            if not _not_found(exc):
                raise
    if delete_policy:
        try:
            targets = iot.list_targets_for_policy(policyName=policy).get("targets", [])
            if not targets:
                for v in iot.list_policy_versions(policyName=policy)["policyVersions"]:
                    if not v["isDefaultVersion"]:
                        iot.delete_policy_version(policyName=policy, policyVersionId=v["versionId"])
                iot.delete_policy(policyName=policy)
        except Exception as exc:
            if not _not_found(exc):
                raise
    (out / MANIFEST_FILE).unlink()
    return removed
