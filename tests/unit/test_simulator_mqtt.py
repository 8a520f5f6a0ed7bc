"""Publisher pieces that need no broker: the rate limit, size limit and per-device credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.mqtt import MqttPublisher, RateLimiter
from simulator.run import CERT_FILE, KEY_FILE, MqttFleetSink


def test_rate_limiter_holds_the_publish_rate() -> None:
    clock = [0.0]

    def sleep(s: float) -> None:
        clock[0] += s

    limiter = RateLimiter(100.0, burst=10, clock=lambda: clock[0], sleep=sleep)
    for _ in range(1010):
        limiter.acquire()
    assert clock[0] == pytest.approx(10.0, rel=0.01)  # a burst of 10, then 100 per second


def test_oversize_payload_is_refused_without_a_connection() -> None:
    pub = MqttPublisher("127.0.0.1", 1, client_id="m01")
    with pytest.raises(ValueError, match="at most 131072"):
        pub.publish("rw/plant-a/m01/telemetry", b"x" * (128 * 1024 + 1))


class FakePublisher:
    def __init__(self, host: str, port: int, **kw: Any) -> None:
        self.kw = kw
        self.sent: list[tuple[str, bytes]] = []
        self.started = self.flushed = self.stopped = False

    def start(self) -> FakePublisher:
        self.started = True
        return self

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, payload))

    def flush(self) -> None:
        self.flushed = True

    def stop(self) -> None:
        self.stopped = True


def test_fleet_sink_uses_each_devices_own_credentials(tmp_path: Path) -> None:
    for dev in ("m01", "m02"):
        (tmp_path / dev).mkdir()
        (tmp_path / dev / CERT_FILE).write_text("cert")
        (tmp_path / dev / KEY_FILE).write_text("key")
    sink = MqttFleetSink(
        "broker", 8883, credentials_dir=str(tmp_path), publisher_factory=FakePublisher
    )  # type: ignore[arg-type]
    sink.send("rw/plant-a/m01/telemetry", b"1")
    sink.send("$aws/rules/r/rw/plant-a/m02/telemetry", b"2")
    sink.send("rw/plant-a/m01/telemetry", b"3")
    pubs: dict[str, Any] = sink.publishers
    assert pubs["m01"].kw["client_id"] == "m01"
    assert pubs["m01"].kw["cert_path"] == str(tmp_path / "m01" / CERT_FILE)
    assert pubs["m02"].kw["key_path"] == str(tmp_path / "m02" / KEY_FILE)
    assert [p for _, p in pubs["m01"].sent] == [b"1", b"3"]
    sink.close()
    assert all(p.flushed and p.stopped for p in pubs.values())
    with pytest.raises(FileNotFoundError, match="rotorwatch provision"):
        sink.send("rw/plant-a/m03/telemetry", b"4")
    with pytest.raises(ValueError, match="not a telemetry topic"):
        sink.send("elsewhere", b"5")
