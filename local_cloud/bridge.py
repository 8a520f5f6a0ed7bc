"""The IoT-rule bridge: what the telemetry topic rules do, applied to local MQTT messages.

Each message on ``rw/<site>/<device_id>/telemetry`` (v1, or its Basic Ingest form) is parsed as
JSON, projected by :func:`rotorwatch.contract.iot_rule.project` (the deployed v1 rule's SELECT, from the
same definition) and written to the telemetry stream with the device id as partition key, as the
rule's Kinesis action does. A message on ``rw/<site>/<device_id>/telemetry/v2`` passes unchanged
(the v2 rule's ``SELECT *``) with ``<site>/<device_id>`` as partition key. The partition key
comes from :func:`rotorwatch.contract.iot_rule.partition_key` either way. A message a rule cannot
evaluate or deliver (not a JSON object on the v1 topic, a partition key Kinesis refuses) goes
where the rules' error action sends it (the lake's ``errors/iot-rule/`` prefix), never dropped
silently.

Kinesis stamps each record's arrival when it is put; here the bridge's clock (the simulation's,
in the demo) stands in for it: :attr:`RuleBridge.arrivals_ms` maps each sequence number put to
the clock at publish, for the local event source mapping to report as
``approximateArrivalTimestamp`` (a v2 window's ``received_at``), as v1's ``timestamp()`` is.

Messages come from :meth:`RuleBridge.publish` (the simulator in process) or from a real MQTT
broker (:class:`MqttBridge`, subscribed to the rule's topic filter).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rotorwatch.contract.iot_rule import (
    KINESIS_PARTITION_KEY_MAX_CHARS,
    RULES,
    parse_topic,
    partition_key,
    project,
    rule_for,
    topic_contract,
)
from rotorwatch.contract.telemetry_v2 import HEADER, HEADER_BYTES, is_v2
from rotorwatch.lake import layout as lake

#: The topic filter of every telemetry rule (what the bridge subscribes to on a broker).
TOPIC_FILTERS = tuple(r.topic_filter for r in RULES)

#: PutRecords takes at most 500 records and 5 MiB (data + partition keys) per call.
_PUT_MAX = 500
_PUT_MAX_BYTES = 5 * 1024 * 1024


class RuleBridge:
    """Project messages and put them on the telemetry stream (buffered; :meth:`flush` sends)."""

    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        lake_dir: str | Path,
        *,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        bridged_s: dict[tuple[str, int, int], float] | None = None,
        wall_s: Callable[[], float] = time.time,
        max_buffer: int = _PUT_MAX,
        arrivals_ms: dict[str, int] | None = None,
        put_attempts: int = 5,
    ) -> None:
        self.kinesis = kinesis
        #: PutRecords attempts per chunk before the error action. IoT Core makes one (a failed
        #: action goes to the rule's error action, rule-error-handling.html); the demo's default
        #: retries, so a moto hiccup does not read as a rule error.
        self.put_attempts = put_attempts
        self.stream_name = stream_name
        self.lake_dir = Path(lake_dir)
        self.clock_ms = clock_ms
        self.bridged_s = bridged_s if bridged_s is not None else {}
        # Latency is measured on the wall clock, as every later hop stamps it (Kinesis arrival,
        # SQS SentTimestamp); ``clock_ms`` may be simulated time and is only IoT Core's
        # ``received_at`` (a day played in a minute would otherwise read as hours of latency).
        self.wall_s = wall_s
        self.max_buffer = max_buffer
        #: Sequence number -> ``clock_ms`` when the message was published (Kinesis' arrival).
        self.arrivals_ms = arrivals_ms if arrivals_ms is not None else {}
        self.received = 0
        self.forwarded = 0
        self.not_matched = 0
        self.rule_errors = 0
        self.put_seconds = 0.0
        self._buffer: list[tuple[bytes, str, int]] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes) -> bool:
        """One MQTT message; returns False if no rule fired or the rule failed on it."""
        now_ms = self.clock_ms()
        with self._lock:
            self.received += 1
            contract = topic_contract(topic)
            if contract is None:
                self.not_matched += 1  # no rule's FROM clause matches: none fires
                return False
            key = partition_key(topic) or ""  # the Kinesis action's partition key template
            if len(key) > KINESIS_PARTITION_KEY_MAX_CHARS:
                self._error(
                    topic,
                    payload,
                    f"partition key of {len(key)} characters: Kinesis takes at most "
                    f"{KINESIS_PARTITION_KEY_MAX_CHARS}",
                    now_ms,
                )
                return False
            if contract == 2:
                data = bytes(payload)  # SELECT *: the binary payload as published
                window = _v2_window(topic, data)
            else:
                try:
                    message = json.loads(payload)
                except ValueError as exc:
                    self._error(topic, payload, f"payload is not JSON: {exc}", now_ms)
                    return False
                if not isinstance(message, dict):
                    self._error(topic, payload, "payload is not a JSON object", now_ms)
                    return False
                row = project(topic, message, now_ms)
                assert row is not None  # topic_contract said the v1 rule fires
                data = json.dumps(row, separators=(",", ":")).encode()
                ts, seq = row.get("ts"), row.get("seq")
                device = (parse_topic(topic) or ("", ""))[1]  # the key is site:device
                window = (device, ts, seq) if isinstance(ts, int) and isinstance(seq, int) else None
            if window is not None:
                self.bridged_s.setdefault(window, self.wall_s())
            self._buffer.append((data, key, now_ms))
            if len(self._buffer) >= self.max_buffer:
                self._flush_locked()
            return True

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        t0 = time.perf_counter()
        while self._buffer:
            n, size = 0, 0
            for data, key, _ms in self._buffer[:_PUT_MAX]:
                size += len(data) + len(key.encode())
                if n and size > _PUT_MAX_BYTES:
                    break
                n += 1
            chunk, self._buffer = self._buffer[:n], self._buffer[n:]
            pending = chunk
            for attempt in range(self.put_attempts):
                resp = self.kinesis.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": d, "PartitionKey": k} for d, k, _ms in pending],
                )
                failed = []
                for p, r in zip(pending, resp["Records"], strict=True):
                    if r.get("ErrorCode"):
                        failed.append(p)
                    else:
                        self.arrivals_ms[r["SequenceNumber"]] = p[2]
                self.forwarded += len(pending) - len(failed)
                pending = failed
                if not pending or attempt + 1 == self.put_attempts:
                    break
                time.sleep(0.05 * 2**attempt)
            for data, _key, _ms in pending:
                self._error_record(data, "Kinesis PutRecords failed after retries")
        self.put_seconds += time.perf_counter() - t0

    def _error(self, topic: str, payload: bytes, reason: str, now_ms: int) -> None:
        self.rule_errors += 1
        body = {
            "ruleName": rule_for(topic_contract(topic) or 1).leaf,
            "topic": topic,
            "clientId": "local",
            "failures": [{"failedAction": "KinesisAction", "errorMessage": reason}],
            "base64OriginalPayload": base64.b64encode(payload).decode("ascii"),
            "received_at": now_ms,
        }
        path = (
            self.lake_dir
            / lake.IOT_ERRORS_PREFIX
            / lake.partition_path(now_ms)
            / f"{uuid.uuid4().hex}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body), encoding="utf-8")

    def _error_record(self, data: bytes, reason: str) -> None:
        self._error("", data, reason, self.clock_ms())


def _v2_window(topic: str, data: bytes) -> tuple[str, int, int] | None:
    """(device_id, ts, seq) of a v2 message, for the latency clock only (None if unreadable:
    extract_features decides what is valid)."""
    parsed = parse_topic(topic)
    if parsed is None or len(data) < HEADER_BYTES or not is_v2(data):
        return None
    _magic, _version, _flags, seq, ts, *_ = HEADER.unpack_from(data)
    return (parsed[1], int(ts), int(seq))


class MqttBridge:
    """Subscribe to every telemetry rule's topic filter on an MQTT 5 broker and feed a
    :class:`RuleBridge`.

    Plain TCP (a local mosquitto). Messages are flushed to Kinesis every ``flush_s`` seconds.
    """

    def __init__(self, bridge: RuleBridge, host: str, port: int, *, flush_s: float = 0.2) -> None:
        self.bridge = bridge
        self.host, self.port = host, port
        self.flush_s = flush_s
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._client: Any = None
        self._flusher = threading.Thread(target=self._flush_loop, name="mqtt-bridge", daemon=True)

    def start(self, timeout_s: float = 10.0) -> MqttBridge:
        from awscrt import mqtt5

        def on_publish(data: Any) -> None:
            packet = data.publish_packet
            self.bridge.publish(packet.topic, bytes(packet.payload))

        def on_success(_data: Any) -> None:
            self._connected.set()

        self._client = mqtt5.Client(
            mqtt5.ClientOptions(
                host_name=self.host,
                port=self.port,
                connect_options=mqtt5.ConnectPacket(
                    client_id=f"rotorwatch-rule-{uuid.uuid4().hex[:8]}"
                ),
                on_publish_callback_fn=on_publish,
                on_lifecycle_event_connection_success_fn=on_success,
            )
        )
        self._client.start()
        if not self._connected.wait(timeout_s):
            raise RuntimeError(f"cannot connect to MQTT broker {self.host}:{self.port}")
        self._client.subscribe(
            mqtt5.SubscribePacket(
                subscriptions=[
                    mqtt5.Subscription(f, mqtt5.QoS.AT_LEAST_ONCE) for f in TOPIC_FILTERS
                ]
            )
        ).result(timeout_s)
        self._flusher.start()
        return self

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.bridge.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._flusher.is_alive():
            self._flusher.join(timeout=5)
        self.bridge.flush()
        if self._client is not None:
            self._client.stop()
