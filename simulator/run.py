"""Drive a fleet: pace the generated messages in (accelerated) time and hand them to a sink.

Sinks: :class:`JsonLinesSink` (one telemetry v1 message per line, what ``rotorwatch features``
reads) and :class:`MqttFleetSink` (one MQTT connection per device, as on IoT Core where a
certificate may only connect as its own thing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Final, Protocol

from rotorwatch.contract.iot_rule import parse_topic
from simulator.mqtt import DEFAULT_RATE_PER_S, MqttPublisher

#: File names `rotorwatch provision` writes per thing under the credentials directory.
CERT_FILE: Final = "certificate.pem.crt"
KEY_FILE: Final = "private.pem.key"


class Sink(Protocol):
    def send(self, topic: str, payload: bytes) -> None: ...

    def close(self) -> None: ...


class JsonLinesSink:
    """Write each payload as one line (the payload is compact JSON without newlines)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0

    def send(self, topic: str, payload: bytes) -> None:
        self._stream.write(payload + b"\n")
        self.count += 1

    def close(self) -> None:
        self._stream.flush()


class MqttFleetSink:
    """One :class:`MqttPublisher` per device, opened on its first message.

    Credentials: ``credentials_dir/<device_id>/certificate.pem.crt`` and ``private.pem.key``
    (what ``rotorwatch provision`` writes) if present, else the shared ``cert_path``/``key_path``
    (a test broker), else no client certificate. ``rate_per_s`` applies per connection.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ca_path: str | None = None,
        cert_path: str | None = None,
        key_path: str | None = None,
        credentials_dir: str | None = None,
        rate_per_s: float = DEFAULT_RATE_PER_S,
        iot_core_limits: bool = True,
        publisher_factory: Callable[..., MqttPublisher] = MqttPublisher,
    ) -> None:
        self._host, self._port, self._ca = host, port, ca_path
        self._cert, self._key = cert_path, key_path
        self._creds = Path(credentials_dir) if credentials_dir else None
        self._rate, self._limits = rate_per_s, iot_core_limits
        self._factory = publisher_factory
        self.publishers: dict[str, MqttPublisher] = {}

    def _credentials(self, device_id: str) -> tuple[str | None, str | None]:
        if self._creds is not None:
            cert, key = self._creds / device_id / CERT_FILE, self._creds / device_id / KEY_FILE
            if cert.exists() and key.exists():
                return str(cert), str(key)
            if self._cert is None:
                raise FileNotFoundError(
                    f"no credentials for {device_id} under {self._creds} (run rotorwatch provision)"
                )
        return self._cert, self._key

    def send(self, topic: str, payload: bytes) -> None:
        parsed = parse_topic(topic)
        if parsed is None:
            raise ValueError(f"not a telemetry topic: {topic}")
        device_id = parsed[1]
        pub = self.publishers.get(device_id)
        if pub is None:
            cert, key = self._credentials(device_id)
            pub = self._factory(
                self._host,
                self._port,
                client_id=device_id,
                cert_path=cert,
                key_path=key,
                ca_path=self._ca,
                rate_per_s=self._rate,
                iot_core_limits=self._limits,
            )
            pub.start()
            self.publishers[device_id] = pub
        pub.publish(topic, payload)

    def close(self) -> None:
        errors = []
        for pub in self.publishers.values():
            try:
                pub.flush()
            except Exception as exc:  # keep closing the others; report at the end
                errors.append(exc)
            finally:
                pub.stop()
        if errors:
            raise errors[0]


def paced(
    messages: Iterable[tuple[str, bytes, int]],
    *,
    start_ms: int,
    speedup: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[str, bytes]]:
    """Release (topic, payload) when its window has been measured.

    ``speedup`` 1 is real time; 1440 plays a day in a minute; None or 0 as fast as possible.
    Each message carries its window start ``ts`` (epoch ms); it is released once simulated time
    has reached it.
    """
    t0 = clock()
    for topic, payload, ts in messages:
        if speedup:
            due = t0 + (ts - start_ms) / 1000.0 / speedup
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        yield topic, payload


def run(messages: Iterable[tuple[str, bytes]], sink: Sink) -> int:
    """Send every message to ``sink`` and close it; returns the count."""
    count = 0
    try:
        for topic, payload in messages:
            sink.send(topic, payload)
            count += 1
    finally:
        sink.close()
    return count
