"""Publish telemetry over MQTT 5 with the AWS IoT Device SDK (awsiotsdk / awscrt).

One :class:`MqttPublisher` is one device connection: to AWS IoT Core (mTLS on 8883 with the
thing's certificate, ``client_id`` = thing name, as the IoT policy demands) or to any MQTT 5
broker, with mTLS, server-authenticated TLS or plain TCP. It

* publishes at QoS 1 and waits for PUBACKs, keeping at most ``max_inflight`` unacknowledged;
* refuses payloads above IoT Core's 128 KB limit before they reach the wire;
* throttles itself to ``rate_per_s`` publishes per second (IoT Core's default per-connection
  quota is 100/s) with a token bucket, on top of the CRT's own IoT Core flow control;
* lets the CRT reconnect with exponential backoff and full jitter; QoS 1 publishes queued while
  offline are sent after reconnecting, and a publish that still fails is retried with backoff.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final

from rotorwatch.contract.telemetry import MAX_MESSAGE_BYTES

#: IoT Core's default limit of publishes per second per connection.
DEFAULT_RATE_PER_S: Final = 100.0
IOT_CORE_MQTT_PORT: Final = 8883


class PublishError(RuntimeError):
    """A message could not be delivered (after retries) or the connection could not be made."""


class RateLimiter:
    """Token bucket: at most ``rate_per_s`` events per second on average, bursts up to ``burst``."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.burst = max(1.0, burst if burst is not None else rate_per_s / 10.0)
        self._clock, self._sleep = clock, sleep
        self._tokens = self.burst
        self._last = clock()

    def acquire(self) -> None:
        """Block until one event is allowed."""
        while True:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now
            if self._tokens >= 1.0 - 1e-9:  # tolerance: refills are float sums
                self._tokens = max(0.0, self._tokens - 1.0)
                return
            self._sleep((1.0 - self._tokens) / self.rate_per_s)


@dataclass
class PublishStats:
    published: int = 0
    retried: int = 0
    failed: int = 0
    bytes: int = 0
    connects: int = 0
    disconnects: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    future: Future[Any]
    topic: str
    payload: bytes
    attempt: int


class MqttPublisher:
    """A QoS 1 publisher over one MQTT 5 connection (use as a context manager).

    Parameters
    ----------
    host, port : broker endpoint (IoT Core: the account's ``*-ats.iot.<region>.amazonaws.com``, 8883).
    client_id : MQTT client id; on IoT Core it must be the thing name.
    cert_path, key_path : device certificate and private key (PEM) for mTLS.
    ca_path : CA bundle that signs the broker's certificate (IoT Core: AmazonRootCA1.pem);
        without cert/key this gives server-authenticated TLS; with nothing, plain TCP.
    rate_per_s : publishes per second at most (token bucket).
    max_inflight : unacknowledged publishes before :meth:`publish` waits for the oldest.
    ack_timeout_s : PUBACK wait before a publish is retried.
    max_attempts : tries per message before :class:`PublishError`.
    iot_core_limits : apply the CRT's IoT Core validation and flow control (512 KB/s, 100 TPS).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        cert_path: str | None = None,
        key_path: str | None = None,
        ca_path: str | None = None,
        rate_per_s: float = DEFAULT_RATE_PER_S,
        max_inflight: int = 50,
        ack_timeout_s: int = 30,
        max_attempts: int = 5,
        connect_timeout_s: float = 15.0,
        min_reconnect_delay_ms: int = 500,
        max_reconnect_delay_ms: int = 30_000,
        iot_core_limits: bool = True,
    ) -> None:
        if (cert_path is None) != (key_path is None):
            raise ValueError("mTLS needs both cert_path and key_path")
        self.host, self.port, self.client_id = host, port, client_id
        self._cert, self._key, self._ca = cert_path, key_path, ca_path
        self._limiter = RateLimiter(rate_per_s)
        self._max_inflight = max(1, max_inflight)
        self._ack_timeout_s = ack_timeout_s
        self._max_attempts = max(1, max_attempts)
        self._connect_timeout_s = connect_timeout_s
        self._reconnect = (min_reconnect_delay_ms, max_reconnect_delay_ms)
        self._iot_core_limits = iot_core_limits
        self._pending: deque[_Pending] = deque()
        self._connected = threading.Event()
        self._failed = threading.Event()
        self._last_error = ""
        self._client: Any = None
        self.stats = PublishStats()

    # Lifecycle callbacks run on CRT event-loop threads: set flags, never block.
    def _on_success(self, _data: Any) -> None:
        self.stats.connects += 1
        self._connected.set()

    def _on_failure(self, data: Any) -> None:
        exc = getattr(data, "exception", None)
        connack = getattr(data, "connack_packet", None)
        reason = getattr(connack, "reason_code", None)
        self._last_error = f"{exc!r}" + (f" (CONNACK {reason!r})" if reason is not None else "")
        self._failed.set()

    def _on_disconnect(self, data: Any) -> None:
        self.stats.disconnects += 1
        self._connected.clear()
        self._last_error = repr(getattr(data, "exception", None))

    def _build(self) -> Any:
        from awscrt import io, mqtt5
        from awsiot import mqtt5_client_builder

        flow = (
            mqtt5.ExtendedValidationAndFlowControlOptions.AWS_IOT_CORE_DEFAULTS
            if self._iot_core_limits
            else mqtt5.ExtendedValidationAndFlowControlOptions.NONE
        )
        common: dict[str, Any] = {
            "session_behavior": mqtt5.ClientSessionBehaviorType.REJOIN_POST_SUCCESS,
            "extended_validation_and_flow_control_options": flow,
            # QoS 1 publishes survive a disconnect and are resent after reconnecting.
            "offline_queue_behavior": mqtt5.ClientOperationQueueBehaviorType.FAIL_QOS0_PUBLISH_ON_DISCONNECT,
            "retry_jitter_mode": mqtt5.ExponentialBackoffJitterMode.FULL,
            "min_reconnect_delay_ms": self._reconnect[0],
            "max_reconnect_delay_ms": self._reconnect[1],
            "ack_timeout_sec": self._ack_timeout_s,
        }
        callbacks = {
            "on_lifecycle_connection_success": self._on_success,
            "on_lifecycle_connection_failure": self._on_failure,
            "on_lifecycle_disconnection": self._on_disconnect,
        }
        if self._cert is not None:
            return mqtt5_client_builder.mtls_from_path(
                endpoint=self.host,
                port=self.port,
                cert_filepath=self._cert,
                pri_key_filepath=self._key,
                ca_filepath=self._ca,
                client_id=self.client_id,
                enable_metrics_collection=False,
                **common,
                **callbacks,
            )
        tls_ctx = None
        if self._ca is not None:
            opts = io.TlsContextOptions()
            opts.override_default_trust_store_from_path(None, self._ca)
            tls_ctx = io.ClientTlsContext(opts)
        options = mqtt5.ClientOptions(
            host_name=self.host,
            port=self.port,
            tls_ctx=tls_ctx,
            connect_options=mqtt5.ConnectPacket(
                client_id=self.client_id, keep_alive_interval_sec=60
            ),
            on_lifecycle_event_connection_success_fn=self._on_success,
            on_lifecycle_event_connection_failure_fn=self._on_failure,
            on_lifecycle_event_disconnection_fn=self._on_disconnect,
            **common,
        )
        return mqtt5.Client(options)

    def start(self) -> MqttPublisher:
        """Connect; raise :class:`PublishError` if the first attempt fails or times out."""
        self._client = self._build()
        self._client.start()
        deadline = time.monotonic() + self._connect_timeout_s
        while not self._connected.wait(0.05):
            if self._failed.is_set() or time.monotonic() > deadline:
                self.stop()
                why = self._last_error or f"no CONNACK within {self._connect_timeout_s:g} s"
                raise PublishError(
                    f"cannot connect to {self.host}:{self.port} as {self.client_id}: {why}"
                )
        return self

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one QoS 1 publish (rate-limited); raises ValueError if it exceeds 128 KB."""
        if len(payload) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"payload is {len(payload)} bytes; IoT Core accepts at most {MAX_MESSAGE_BYTES}"
            )
        while len(self._pending) >= self._max_inflight:
            self._settle(self._pending.popleft())
        self._send(topic, payload, 1)

    def _send(self, topic: str, payload: bytes, attempt: int) -> None:
        from awscrt import mqtt5

        self._limiter.acquire()
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)
        self._pending.append(_Pending(self._client.publish(packet), topic, payload, attempt))

    def _settle(self, item: _Pending) -> None:
        from awscrt import mqtt5

        ok_codes = (mqtt5.PubackReasonCode.SUCCESS, mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS)
        error = ""
        try:
            result = item.future.result(timeout=self._ack_timeout_s + 5)
            code = getattr(
                getattr(result, "puback", None), "reason_code", mqtt5.PubackReasonCode.SUCCESS
            )
            if code in ok_codes:
                self.stats.published += 1
                self.stats.bytes += len(item.payload)
                return
            error = f"PUBACK {code!r}"
        except Exception as exc:  # CRT raises its own AwsCrtError types; every one means retry
            error = repr(exc)
        if item.attempt >= self._max_attempts:
            self.stats.failed += 1
            self.stats.errors.append(f"{item.topic}: {error}")
            raise PublishError(f"giving up on {item.topic} after {item.attempt} attempts: {error}")
        self.stats.retried += 1
        time.sleep(min(0.25 * 2 ** (item.attempt - 1), 8.0))  # back off before trying again
        self._send(item.topic, item.payload, item.attempt + 1)

    def flush(self) -> None:
        """Wait until every queued publish is acknowledged (or has failed)."""
        while self._pending:
            self._settle(self._pending.popleft())

    def stop(self) -> None:
        """Disconnect (after :meth:`flush` if you want everything delivered)."""
        if self._client is not None:
            client, self._client = self._client, None
            stopped = threading.Event()
            client.stop()
            stopped.wait(0.2)  # give the DISCONNECT a moment to leave before the socket closes

    def __enter__(self) -> MqttPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.flush()
        finally:
            self.stop()


def publish_all(publisher: MqttPublisher, messages: Iterable[tuple[str, bytes]]) -> int:
    """Publish every (topic, payload) and wait for the acknowledgements; returns the count."""
    count = 0
    for topic, payload in messages:
        publisher.publish(topic, payload)
        count += 1
    publisher.flush()
    return count
