"""A telemetry record as an IoT rule put it on the stream: who published it, and what it says.

The rules (:mod:`rotorwatch.contract.iot_rule`) key every record by the topic the IoT policy pinned to
the publishing thing: ``<device_id>`` through the v1 rule, ``<site>/<device_id>`` through the
v2 rule. That key, not the payload, is who published; the record's arrival in Kinesis is when
the cloud received a v2 message (the v2 rule can add nothing to a binary payload).
"""

from __future__ import annotations

from dataclasses import replace

from rotorwatch.contract.iot_rule import V2_LEAF, parse_partition_key, telemetry_topic
from rotorwatch.contract.reasons import Reason, TelemetryError
from rotorwatch.contract.telemetry import Telemetry, decode
from rotorwatch.contract.telemetry_v2 import decode_v2, is_v2

_V1_TOPIC = telemetry_topic("<site>", "<device>")


def decode_published(data: bytes, partition_key: str, arrival_ms: int) -> Telemetry:
    """Decode one telemetry record of either contract, stamped with its publisher.

    * v1 (JSON, through the v1 rule, key = ``<site>:<device_id>``): the payload's
      ``device_id`` must be the key's device (``device_mismatch`` otherwise: a device cannot
      speak for another); the site is the key's and ``received_at`` the Kinesis arrival,
      whatever the record's ``site`` and ``received_at`` hold (the rule adds both, but a device
      may send them too and which value wins is undocumented, :data:`~rotorwatch.contract.iot_rule.
      TELEMETRY_RULE_SQL`): the decoder does not even read them, so a device's own label,
      however malformed, neither counts nor costs it the window.
    * v1 put on the stream by a release up to 0.2.0 (key = device alone): read as that release
      did, the site as its rule merged it.
    * v2 (binary, through the v2 rule, key = ``<site>/<device_id>``): the key names the device
      and the site, the Kinesis arrival time is ``received_at``.

    A record whose contract is not its rule's is ``wrong_topic``: the topic a device publishes
    to chooses the contract. Raises :class:`TelemetryError` for every way a record is bad.
    """
    pub = parse_partition_key(partition_key)
    if pub is None:
        raise TelemetryError(
            Reason.BAD_DEVICE_ID,
            f"partition key {partition_key!r:.270} is neither <site>:<device_id>, "
            "<site>/<device_id> nor <device_id>",
        )
    if is_v2(data):
        if pub.contract != 2:
            raise TelemetryError(
                Reason.WRONG_TOPIC,
                f"a binary v2 message came through the v1 rule ({_V1_TOPIC}); "
                f"publish v2 to {_V1_TOPIC}/{V2_LEAF}",
            )
        return decode_v2(data, pub.device_id, site=pub.site, received_at=arrival_ms)
    if pub.contract != 1:
        raise TelemetryError(
            Reason.WRONG_TOPIC,
            f"only binary v2 messages (starting 'RW') may be published to {_V1_TOPIC}/{V2_LEAF}; "
            f"publish JSON v1 to {_V1_TOPIC}",
        )
    # Up to 0.2.0 the key held no site: the record's (the rule's, or the device's if it won).
    from_key = pub.site is not None
    msg = decode(data, rule_labels=not from_key)
    if from_key:
        msg = replace(msg, site=pub.site)
    # When the cloud received it is the stream's arrival, as for v2, never the record's
    # ``received_at``: a device's future value would stick in the state's ``last_seen_ms``
    # (it only rises) and hide its silence.
    msg = replace(msg, received_at=arrival_ms)
    if msg.device_id != pub.device_id:
        raise TelemetryError(
            Reason.DEVICE_MISMATCH,
            f"payload device_id {msg.device_id!r:.140} was published on the topic of "
            f"{pub.device_id!r:.140}",
            "device_id",
        )
    return msg
