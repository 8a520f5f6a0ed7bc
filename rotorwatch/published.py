"""A telemetry record as an IoT rule put it on the stream: who published it, and what it says.

The rules (:mod:`rotorwatch.iot_rule`) key every record by the topic the IoT policy pinned to
the publishing thing: ``<device_id>`` through the v1 rule, ``<site>/<device_id>`` through the
v2 rule. That key, not the payload, is who published; the record's arrival in Kinesis is when
the cloud received a v2 message (the v2 rule can add nothing to a binary payload).
"""

from __future__ import annotations

from dataclasses import replace

from rotorwatch.iot_rule import V2_LEAF, parse_partition_key, telemetry_topic
from rotorwatch.telemetry import Reason, Telemetry, TelemetryError, decode
from rotorwatch.telemetry_v2 import decode_v2, is_v2

_V1_TOPIC = telemetry_topic("<site>", "<device>")


def decode_published(data: bytes, partition_key: str, arrival_ms: int) -> Telemetry:
    """Decode one telemetry record of either contract, stamped with its publisher.

    * v1 (JSON, through the v1 rule, key = device): the payload's ``device_id`` must be the
      key's device (``device_mismatch`` otherwise: a device cannot speak for another); the rule
      added ``site``; ``received_at`` is the Kinesis arrival, whatever the payload holds.
    * v2 (binary, through the v2 rule, key = site/device): the key names the device and the
      site, the Kinesis arrival time is ``received_at``.

    A record whose contract is not its rule's is ``wrong_topic``: the topic a device publishes
    to chooses the contract. Raises :class:`TelemetryError` for every way a record is bad.
    """
    key = parse_partition_key(partition_key)
    if key is None:
        raise TelemetryError(
            Reason.BAD_DEVICE_ID,
            f"partition key {partition_key!r:.270} is neither <device_id> nor <site>/<device_id>",
        )
    site, device_id = key
    if is_v2(data):
        if site is None:
            raise TelemetryError(
                Reason.WRONG_TOPIC,
                f"a binary v2 message came through the v1 rule ({_V1_TOPIC}); "
                f"publish v2 to {_V1_TOPIC}/{V2_LEAF}",
            )
        return decode_v2(data, device_id, site=site, received_at=arrival_ms)
    if site is not None:
        raise TelemetryError(
            Reason.WRONG_TOPIC,
            f"only binary v2 messages (starting 'RW') may be published to {_V1_TOPIC}/{V2_LEAF}; "
            f"publish JSON v1 to {_V1_TOPIC}",
        )
    msg = decode(data)
    # When the cloud received it is the stream's arrival, as for v2, never the payload's
    # ``received_at``: a device may send one, and whether the rule's ``timestamp() AS
    # received_at`` or the device's value wins is undocumented. A device's future value
    # would stick in the state's ``last_seen_ms`` (it only rises) and hide its silence.
    msg = replace(msg, received_at=arrival_ms)
    if msg.device_id != device_id:
        raise TelemetryError(
            Reason.DEVICE_MISMATCH,
            f"payload device_id {msg.device_id!r:.140} was published on the topic of "
            f"{device_id!r:.140}",
            "device_id",
        )
    return msg
