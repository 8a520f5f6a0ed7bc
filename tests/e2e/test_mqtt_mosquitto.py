"""End to end over a real broker: the simulator publishes through awsiotsdk MQTT 5 with client
certificates to a mosquitto that demands them (``require_certificate true``, as IoT Core does),
a second client receives every message intact, and clients without a certificate are refused.

Certificates (CA, server, one per device, the subscriber's) are made here with ``cryptography``.
`make test` installs mosquitto (`make system-deps`); without it this module is skipped."""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotorwatch.contract.iot_rule import TELEMETRY_TOPIC_FILTER, parse_topic
from rotorwatch.contract.telemetry import decode
from simulator.fleet import generate, load_scenario
from simulator.mqtt import MqttPublisher, PublishError
from simulator.run import CERT_FILE, KEY_FILE, MqttFleetSink, run

pytestmark = pytest.mark.slow

MOSQUITTO = shutil.which(
    "mosquitto", path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
)


def _key():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject_cn: str, key, issuer_cn: str, issuer_key, *, ca: bool = False, server: bool = False
):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pair(directory: Path, cert, key, cert_name: str, key_name: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    directory.mkdir(parents=True, exist_ok=True)
    (directory / cert_name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / key_name).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(directory / cert_name), str(directory / key_name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca_key = _key()
        self.ca_cert = _cert(
            "rotorwatch test CA", self.ca_key, "rotorwatch test CA", self.ca_key, ca=True
        )
        self.ca_path, _ = _write_pair(root / "ca", self.ca_cert, self.ca_key, "ca.pem", "ca.key")

    def client(self, name: str, directory: Path) -> tuple[str, str]:
        key = _key()
        return _write_pair(
            directory, _cert(name, key, "rotorwatch test CA", self.ca_key), key, CERT_FILE, KEY_FILE
        )


class Mosquitto:
    """A mosquitto process demanding client certificates signed by ``broker``'s CA."""

    def __init__(self, broker: Broker, root: Path, port: int) -> None:
        self.root, self.port = root, port
        server_key = _key()
        server_cert = _cert(
            "localhost", server_key, "rotorwatch test CA", broker.ca_key, server=True
        )
        cert, key = _write_pair(
            root / "server", server_cert, server_key, "server.pem", "server.key"
        )
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(
            "\n".join(
                [
                    # Run as root, mosquitto drops to user "mosquitto", who cannot read the
                    # test's private temporary directory; stay the current user instead.
                    f"user {getpass.getuser()}",
                    "per_listener_settings false",
                    "persistence false",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    f"listener {port} 127.0.0.1",
                    f"cafile {broker.ca_path}",
                    f"certfile {cert}",
                    f"keyfile {key}",
                    "require_certificate true",
                    "use_identity_as_username true",
                    "allow_anonymous false",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        log = (self.root / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"mosquitto exited: {(self.root / 'mosquitto.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("mosquitto did not open its port within 10 s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _require_mosquitto() -> None:
    if MOSQUITTO is None:
        pytest.skip(
            "mosquitto is not installed: run `make system-deps` (apt-get install mosquitto)"
        )


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, int]]:
    _require_mosquitto()
    root = tmp_path_factory.mktemp("mosquitto")
    b = Broker(root)
    server = Mosquitto(b, root, _free_port())
    try:
        server.start()
        yield b, server.port
    finally:
        server.stop()


class Subscriber:
    """A second awsiotsdk MQTT 5 client (mTLS) that records every telemetry message."""

    def __init__(self, port: int, cert: str, key: str, ca: str) -> None:
        from awscrt import mqtt5
        from awsiot import mqtt5_client_builder

        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint="127.0.0.1",
            port=port,
            cert_filepath=cert,
            pri_key_filepath=key,
            ca_filepath=ca,
            client_id="test-subscriber",
            enable_metrics_collection=False,
            on_publish_received=self._on_publish,
            on_lifecycle_connection_success=lambda _d: self._connected.set(),
        )
        self.client.start()
        assert self._connected.wait(10), "subscriber could not connect"
        sub = mqtt5.SubscribePacket(
            subscriptions=[mqtt5.Subscription(TELEMETRY_TOPIC_FILTER, mqtt5.QoS.AT_LEAST_ONCE)]
        )
        self.client.subscribe(sub).result(10)

    def _on_publish(self, data) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self.received.append((data.publish_packet.topic, bytes(data.publish_packet.payload)))

    def wait_for(self, n: int, timeout_s: float = 30) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= n:
                    break
            time.sleep(0.05)
        time.sleep(0.3)  # anything beyond n would be a duplicate: let it arrive to be counted
        with self._lock:
            return list(self.received)

    def stop(self) -> None:
        self.client.stop()


def test_fleet_publishes_every_message_intact_over_mtls(
    broker: tuple[Broker, int], tmp_path: Path
) -> None:
    b, port = broker
    scenario = load_scenario("small")
    creds = tmp_path / "credentials"
    for m in scenario.machines:  # the layout `rotorwatch provision` writes
        b.client(m.device_id, creds / m.device_id)
    sub_cert, sub_key = b.client("test-subscriber", tmp_path / "subscriber")
    subscriber = Subscriber(port, sub_cert, sub_key, b.ca_path)
    try:
        sent = list(
            generate(scenario, start_ms=1_767_225_600_000, duration_s=3600, interval_s=300, seed=5)
        )
        sink = MqttFleetSink(
            "127.0.0.1", port, ca_path=b.ca_path, credentials_dir=str(creds), rate_per_s=200
        )
        assert run(sent, sink) == len(sent) == 48
        assert {p.client_id for p in sink.publishers.values()} == {
            m.device_id for m in scenario.machines
        }
        assert all(
            p.stats.published == 12 and p.stats.failed == 0 for p in sink.publishers.values()
        )
        got = subscriber.wait_for(len(sent))
    finally:
        subscriber.stop()
    assert len(got) == len(sent)
    assert sorted(got) == sorted(sent)  # every byte of every payload, on its own device's topic
    for topic, payload in got:
        msg = decode(payload)
        assert parse_topic(topic) == ("plant-a", msg.device_id)
    # QoS 1 keeps each device's order
    for dev in {m.device_id for m in scenario.machines}:
        seqs = [decode(p).seq for t, p in got if parse_topic(t) == ("plant-a", dev)]
        assert seqs == list(range(12))


def test_client_without_certificate_is_refused(broker: tuple[Broker, int]) -> None:
    b, port = broker
    # TLS that trusts the broker but presents no client certificate: the handshake fails.
    with pytest.raises(PublishError, match="cannot connect"):
        MqttPublisher(
            "127.0.0.1", port, client_id="intruder", ca_path=b.ca_path, connect_timeout_s=5
        ).start()
    # Plain TCP to the TLS listener fails too.
    with pytest.raises(PublishError, match="cannot connect"):
        MqttPublisher("127.0.0.1", port, client_id="intruder", connect_timeout_s=5).start()


def test_certificate_from_another_ca_is_refused(broker: tuple[Broker, int], tmp_path: Path) -> None:
    _b, port = broker
    rogue = Broker(tmp_path / "rogue")
    cert, key = rogue.client("m01", tmp_path / "rogue-client")
    with pytest.raises(PublishError, match="cannot connect"):
        MqttPublisher(
            "127.0.0.1",
            port,
            client_id="m01",
            cert_path=cert,
            key_path=key,
            ca_path=_b.ca_path,
            connect_timeout_s=5,
        ).start()


def test_oversize_payload_is_refused_before_sending(
    broker: tuple[Broker, int], tmp_path: Path
) -> None:
    b, port = broker
    cert, key = b.client("big", tmp_path / "big")
    with MqttPublisher(
        "127.0.0.1", port, client_id="big", cert_path=cert, key_path=key, ca_path=b.ca_path
    ) as pub:
        with pytest.raises(ValueError, match="at most 131072"):
            pub.publish("rw/plant-a/big/telemetry", b"x" * (128 * 1024 + 1))
        assert pub.stats.published == 0


def test_publisher_reconnects_after_the_broker_restarts(tmp_path: Path) -> None:
    _require_mosquitto()
    b = Broker(tmp_path)
    server = Mosquitto(b, tmp_path, _free_port())
    sub_cert, sub_key = b.client("test-subscriber", tmp_path / "subscriber")
    cert, key = b.client("m01", tmp_path / "m01")
    sc = load_scenario("small")
    msgs = [
        (t, p)
        for t, p in generate(
            sc, start_ms=1_767_225_600_000, duration_s=1800, interval_s=300, seed=2
        )
    ]
    first, second = msgs[:12], msgs[12:]
    try:
        server.start()
        pub = MqttPublisher(
            "127.0.0.1",
            server.port,
            client_id="m01",
            cert_path=cert,
            key_path=key,
            ca_path=b.ca_path,
            min_reconnect_delay_ms=100,
            max_reconnect_delay_ms=1000,
        ).start()
        for topic, payload in first:
            pub.publish(topic, payload)
        pub.flush()
        server.stop()  # the broker goes away ...
        deadline = time.monotonic() + 10
        while pub.stats.disconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pub.stats.disconnects >= 1
        for topic, payload in second[:4]:  # ... publishes queue while it is down ...
            pub.publish(topic, payload)
        server.start()  # ... and comes back (without the old session)
        subscriber = Subscriber(server.port, sub_cert, sub_key, b.ca_path)
        try:
            deadline = time.monotonic() + 15
            while pub.stats.connects < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pub.stats.connects >= 2  # reconnected by itself, with backoff
            pub.flush()  # the queued QoS 1 publishes are acknowledged after the reconnect
            for topic, payload in second[4:]:
                pub.publish(topic, payload)
            pub.flush()
            got = subscriber.wait_for(len(second) - 4)
        finally:
            subscriber.stop()
            pub.stop()
        assert pub.stats.failed == 0
        assert pub.stats.published == len(msgs)
        assert set(second[4:]) <= set(got)
    finally:
        server.stop()
