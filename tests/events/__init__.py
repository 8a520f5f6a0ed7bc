"""Real AWS event shapes stored once (``*.json`` here) and the one helper that loads them.

``kinesis_telemetry.json`` and ``kinesis_features.json`` are Lambda Kinesis events exactly as
the event source mapping delivers them (shape from the AWS Lambda developer guide), each with
one real record. :func:`kinesis_event` builds larger batches from that record as a template, so
every test batch has the deployed shape.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rotorwatch.contract.iot_rule import PARTITION_KEY_V1_SEPARATOR
from rotorwatch.contract.telemetry import SITE_PATTERN

#: The site of a telemetry record's partition key when its payload names none (tests.signals'
#: SITE: the asset records' site).
DEFAULT_SITE = "plant-a"
_SITE_RE = re.compile(SITE_PATTERN)

EVENTS_DIR = Path(__file__).parent


def load_event(name: str) -> dict[str, Any]:
    """A stored event by file name (with or without ``.json``)."""
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event


def kinesis_event(
    payloads: Sequence[bytes],
    *,
    template: str = "kinesis_telemetry",
    partition_keys: Sequence[str] | None = None,
    first_sequence: int = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_000_000,
    arrival_s: float = 1_763_900_000.987,
) -> dict[str, Any]:
    """A Kinesis event with one record per payload, in order, from the stored template.

    Sequence numbers increase with the position (as within a shard). Partition keys default to
    what the deployed producers set for an honest device (one that names itself in its
    payload): on the telemetry stream the v1 rule's ``<site>:<device_id>`` (the payload's
    ``site``, else :data:`DEFAULT_SITE`), on the features stream the ``device_id``
    (extract_features keys by device); else the template's.
    """
    base = load_event(template)["Records"][0]
    shard = base["eventID"].split(":", 1)[0]
    records = []
    for i, data in enumerate(payloads):
        rec = copy.deepcopy(base)
        seq = str(first_sequence + i * 1000)
        rec["kinesis"]["data"] = base64.b64encode(data).decode("ascii")
        rec["kinesis"]["sequenceNumber"] = seq
        rec["kinesis"]["approximateArrivalTimestamp"] = arrival_s + i * 0.001
        if partition_keys is not None:
            rec["kinesis"]["partitionKey"] = partition_keys[i]
        elif (device := _device_id(data)) is not None:
            rec["kinesis"]["partitionKey"] = (
                f"{_site(data)}{PARTITION_KEY_V1_SEPARATOR}{device}"
                if template == "kinesis_telemetry"
                else device
            )
        rec["eventID"] = f"{shard}:{seq}"
        records.append(rec)
    return {"Records": records}


def _site(data: bytes) -> str:
    obj = json.loads(data)
    site = obj.get("site")
    return site if isinstance(site, str) and _SITE_RE.fullmatch(site) else DEFAULT_SITE


def _device_id(data: bytes) -> str | None:
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return None
    device = obj.get("device_id") if isinstance(obj, dict) else None
    return device if isinstance(device, str) and device else None


def sequence_numbers(event: dict[str, Any]) -> list[str]:
    return [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
