"""The IoT-rule bridge: what the telemetry topic rule does, applied to local MQTT messages.

Each message on ``rw/<site>/<device_id>/telemetry`` (or its Basic Ingest form) is parsed as JSON,
projected by :func:`rotorwatch.iot_rule.project` (the deployed rule's SELECT, from the same
definition) and written to the telemetry stream with the device id as partition key, as the
rule's Kinesis action does. A payload the rule cannot evaluate (not a JSON object) goes where the
rule's error action sends it (the lake's ``errors/iot-rule/`` prefix), never dropped silently.

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

from rotorwatch import lake
from rotorwatch.iot_rule import TELEMETRY_TOPIC_FILTER, partition_key, project

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
    ) -> None:
        self.kinesis = kinesis
        self.stream_name = stream_name
        self.lake_dir = Path(lake_dir)
        self.clock_ms = clock_ms
        self.bridged_s = bridged_s if bridged_s is not None else {}
        # Latency is measured on the wall clock, as every later hop stamps it (Kinesis arrival,
        # SQS SentTimestamp); ``clock_ms`` may be simulated time and is only IoT Core's
        # ``received_at`` (a day played in a minute would otherwise read as hours of latency).
        self.wall_s = wall_s
        self.max_buffer = max_buffer
        self.received = 0
        self.forwarded = 0
        self.not_matched = 0
        self.rule_errors = 0
        self.put_seconds = 0.0
        self._buffer: list[tuple[bytes, str]] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes) -> bool:
        """One MQTT message; returns False if the rule did not fire or failed on it."""
        now_ms = self.clock_ms()
        with self._lock:
            self.received += 1
            try:
                message = json.loads(payload)
            except ValueError as exc:
                self._error(topic, payload, f"payload is not JSON: {exc}", now_ms)
                return False
            if not isinstance(message, dict):
                self._error(topic, payload, "payload is not a JSON object", now_ms)
                return False
            row = project(topic, message, now_ms)
            if row is None:
                self.not_matched += 1  # the rule's FROM clause does not match: it does not fire
                return False
            device_id = partition_key(topic) or ""  # the Kinesis action's ${topic(3)}
            ts, seq = row.get("ts"), row.get("seq")
            if isinstance(ts, int) and isinstance(seq, int):
                self.bridged_s.setdefault((device_id, ts, seq), self.wall_s())
            self._buffer.append((json.dumps(row, separators=(",", ":")).encode(), device_id))
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
            for data, key in self._buffer[:_PUT_MAX]:
                size += len(data) + len(key.encode())
                if n and size > _PUT_MAX_BYTES:
                    break
                n += 1
            chunk, self._buffer = self._buffer[:n], self._buffer[n:]
            pending = chunk
            for attempt in range(5):
                resp = self.kinesis.put_records(
                    StreamName=self.stream_name,
                    Records=[{"Data": d, "PartitionKey": k} for d, k in pending],
                )
                failed = [
                    p for p, r in zip(pending, resp["Records"], strict=True) if r.get("ErrorCode")
                ]
                self.forwarded += len(pending) - len(failed)
                pending = failed
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            for data, _key in pending:
                self._error_record(data, "Kinesis PutRecords failed after retries")
        self.put_seconds += time.perf_counter() - t0

    def _error(self, topic: str, payload: bytes, reason: str, now_ms: int) -> None:
        self.rule_errors += 1
        body = {
            "ruleName": "telemetry",
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


class MqttBridge:
    """Subscribe to the telemetry topic filter on an MQTT 5 broker and feed a :class:`RuleBridge`.

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
                subscriptions=[mqtt5.Subscription(TELEMETRY_TOPIC_FILTER, mqtt5.QoS.AT_LEAST_ONCE)]
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
