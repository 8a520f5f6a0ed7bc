"""Telemetry contract v2 (binary): layout, round trip, every rejection, fuzz."""

from __future__ import annotations

import math
import random
import re
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rotorwatch.contract.reasons import Reason, TelemetryError
from rotorwatch.contract.telemetry import N_SAMPLES_MAX, decode, encode, encode_samples
from rotorwatch.contract.telemetry_v2 import (
    HEADER,
    HEADER_BYTES,
    MAGIC,
    decode_any,
    decode_v2,
    encode_v2,
    is_v2,
    message_bytes_v2,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"
X = 0.4 * np.sin(2 * np.pi * 29.6 * np.arange(4096) / 10240.0)


def _v2(**kw: object) -> bytes:
    args: dict[str, object] = {"ts": 1_763_900_000_000, "seq": 7, "samples": X, "fs_hz": 10240.0}
    args.update(kw)
    return encode_v2(**args)  # type: ignore[arg-type]


def test_a_4096_sample_window_is_8228_bytes_two_5_kb_units() -> None:
    payload = _v2(rpm=1780.0)
    assert len(payload) == message_bytes_v2(4096) == 48 + 8192 == 8240
    assert math.ceil(len(payload) / 5120) == 2
    v1 = encode(
        device_id="pump-01", ts=1, seq=1, rpm=1780.0, vibration=encode_samples(X, fs_hz=10240.0)
    )
    assert math.ceil(len(v1) / 5120) == 3


def test_round_trip_takes_the_device_from_the_publisher() -> None:
    msg = decode_any(_v2(rpm=1780.0, temperature_c=41.5, unit="m/s2"), "pump-07")
    assert (msg.device_id, msg.ts, msg.seq) == ("pump-07", 1_763_900_000_000, 7)
    assert msg.rpm == 1780.0
    assert msg.temperature_c == 41.5
    assert msg.pressure_bar is None  # NaN: not sent
    assert msg.vibration is not None
    assert msg.vibration.unit == "m/s2"
    assert msg.vibration.n_samples == 4096
    # int16 quantisation: within half a step of the float32 scale.
    np.testing.assert_allclose(msg.vibration.samples(), X, atol=msg.vibration.scale / 2 + 1e-12)


def test_v1_and_v2_are_told_apart_by_the_magic() -> None:
    v1 = encode(device_id="pump-01", ts=1, seq=1)
    assert not is_v2(v1)
    assert is_v2(_v2())
    assert decode_any(v1, "pump-01") == decode(v1)


def test_the_documented_byte_layout_is_the_header() -> None:
    """docs/telemetry.md's table lists every header field at the offset HEADER packs it."""
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*`(\w+)`", DOCS.read_text(), re.M)
    header_rows = [(int(o), int(n), name) for o, n, name in rows if name != "samples"]
    sizes = [struct.calcsize("<" + c) for c in ("2s", "B", "B", "I", "q", "f", "f", "d", "d", "d")]
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    assert [(o, n) for o, n, _ in header_rows] == list(zip(offsets, sizes, strict=True))
    assert sum(sizes) == HEADER_BYTES == HEADER.size


def _patched(field_offset: int, fmt: str, value: object) -> bytes:
    payload = bytearray(_v2())
    struct.pack_into("<" + fmt, payload, field_offset, value)
    return bytes(payload)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (MAGIC + b"\x02", Reason.BAD_BYTE_COUNT),
        (_patched(2, "B", 3), Reason.UNSUPPORTED_VERSION),
        (_patched(3, "B", 0x80), Reason.OUT_OF_RANGE),
        (_patched(8, "q", -1), Reason.OUT_OF_RANGE),
        (_patched(16, "f", 100.0), Reason.OUT_OF_RANGE),
        (_patched(20, "f", 0.0), Reason.OUT_OF_RANGE),
        (_patched(20, "f", float("nan")), Reason.OUT_OF_RANGE),
        (_patched(24, "d", -5.0), Reason.OUT_OF_RANGE),
        (_patched(32, "d", float("inf")), Reason.OUT_OF_RANGE),
        (_v2()[:-1], Reason.BAD_BYTE_COUNT),
        (_v2()[: HEADER_BYTES + 20], Reason.TOO_FEW_SAMPLES),
        (_v2() + b"\x00\x00" * (2 * N_SAMPLES_MAX), Reason.OVERSIZE),
    ],
)
def test_every_broken_header_is_a_telemetry_error_with_its_reason(
    payload: bytes, reason: Reason
) -> None:
    with pytest.raises(TelemetryError) as err:
        decode_v2(payload, "pump-01")
    assert err.value.reason == reason


def test_an_invalid_publisher_is_refused() -> None:
    with pytest.raises(TelemetryError) as err:
        decode_v2(_v2(), "bad/device")
    assert err.value.reason == Reason.BAD_DEVICE_ID


def test_a_scalar_only_message_has_no_window() -> None:
    msg = decode_v2(encode_v2(ts=5, seq=1, temperature_c=40.0), "pump-01")
    assert msg.vibration is None
    assert msg.temperature_c == 40.0


def test_encoder_refuses_what_v2_cannot_carry() -> None:
    with pytest.raises(ValueError, match="seq"):
        encode_v2(ts=1, seq=2**32)
    with pytest.raises(TelemetryError):
        encode_v2(ts=1, seq=1, samples=X, fs_hz=10.0)  # fs out of range: never published


def test_fuzz_corrupted_v2_only_ever_raises_telemetry_error() -> None:
    rng = random.Random(15)
    pool = [_v2(seq=i, rpm=rng.choice([None, 1500.0])) for i in range(8)]
    decoded = 0
    for _ in range(3000):
        payload = bytearray(rng.choice(pool))
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.randrange(1, 4)):
                payload[rng.randrange(HEADER_BYTES)] = rng.randrange(256)
        elif kind == 1:
            payload = payload[: rng.randrange(len(payload) + 1)]
        else:
            payload = bytearray(MAGIC + rng.randbytes(rng.randrange(200)))
        try:
            decode_any(bytes(payload), "pump-01")
            decoded += 1
        except TelemetryError:
            pass
    assert 0 < decoded < 3000  # both outcomes were exercised


def test_simulate_contract_2_and_features_give_v1s_features(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    out: dict[int, list[dict[str, object]]] = {}
    for contract in (1, 2):
        path = tmp_path / f"v{contract}.lines"
        sim = runner.invoke(
            app,
            ["simulate", "--scenario", "small", "--duration", "20m", "--interval", "10m",
             "--start", "2026-01-01T00:00:00Z", "--contract", str(contract), "--out", str(path)],
        )  # fmt: skip
        assert sim.exit_code == 0, sim.output
        feats = runner.invoke(app, ["features", str(path), "--assets", "small"])
        assert feats.exit_code == 0, feats.output
        out[contract] = [json.loads(line) for line in feats.stdout.splitlines()]
    assert len(out[1]) == len(out[2]) == 8
    assert (tmp_path / "v2.lines").read_bytes().startswith(b"v2 pump-01 ")
    for a, b in zip(out[1], out[2], strict=True):
        assert (a["device_id"], a["ts"], a["seq"], a["rpm"]) == (
            b["device_id"],
            b["ts"],
            b["seq"],
            b["rpm"],
        )
        assert b["velocity_rms_mm_s"] == pytest.approx(a["velocity_rms_mm_s"], rel=1e-4)


# ---- payload limits (issue 15: the deployed v2 path) ------------------------------------------

#: AWS IoT Core: "Message size: 128 KB" per publish (AWS IoT Core endpoints and quotas,
#: https://docs.aws.amazon.com/general/latest/gr/iot-core.html#message-broker-limits).
IOT_CORE_MESSAGE_MAX_BYTES = 128 * 1024
#: Kinesis Data Streams: the data blob plus the partition key may not exceed a record's 1 MiB
#: (PutRecordsRequestEntry, https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecordsRequestEntry.html).
KINESIS_RECORD_MAX_BYTES = 1024 * 1024


def test_the_largest_v2_window_the_decoder_accepts_fits_iot_core_and_kinesis() -> None:
    """Stated against AWS's documented numbers, not moto's (moto takes larger records)."""
    from rotorwatch.contract.iot_rule import KINESIS_PARTITION_KEY_MAX_CHARS
    from rotorwatch.contract.telemetry_v2 import raw_line
    from rotorwatch.lake.layout import FIREHOSE_RECORD_MAX_BYTES

    x = np.sin(np.arange(N_SAMPLES_MAX) / 7.0)
    largest = encode_v2(ts=1, seq=1, samples=x, fs_hz=100_000, rpm=1.0, temperature_c=1.0)
    assert decode_v2(largest, "d").vibration is not None
    with pytest.raises(TelemetryError) as one_more:  # one sample more is refused
        decode_v2(largest + b"\0\0", "d")
    assert one_more.value.reason == Reason.TOO_MANY_SAMPLES
    assert len(largest) == message_bytes_v2(N_SAMPLES_MAX) == 65_584
    assert len(largest) <= IOT_CORE_MESSAGE_MAX_BYTES
    # The v2 rule passes it unchanged; the key is at most 256 single-byte characters.
    assert len(largest) + KINESIS_PARTITION_KEY_MAX_CHARS <= KINESIS_RECORD_MAX_BYTES
    # Its raw-lake line (the v1 form) is one Firehose record too.
    msg = replace(decode_v2(largest, "d" * 128), site="s" * 127, received_at=2**41)
    assert len(raw_line(msg, 2**41)) <= FIREHOSE_RECORD_MAX_BYTES


@pytest.mark.parametrize("encoding", ["int16le+base64", "float32le+base64"])
@pytest.mark.parametrize("contract", [1, 2])
def test_a_raw_line_is_the_json_of_its_window_and_replays_to_it(
    encoding: str, contract: int
) -> None:
    """raw_line splices the base64 text into the JSON instead of having json.dumps scan it: the
    line must still be exactly the window's JSON, and decode back to the same window."""
    import base64
    import json

    from rotorwatch.contract.telemetry import decode, encode, encode_samples
    from rotorwatch.contract.telemetry_v2 import raw_line

    x = np.sin(np.arange(1024) * 0.21) * 0.7
    msg = decode(
        encode(
            device_id="pump-01",
            ts=1_763_900_000_000,
            seq=9,
            rpm=1780.0,
            pressure_bar=2.5,
            vibration=encode_samples(x, fs_hz=4096.0, encoding=encoding),  # type: ignore[arg-type]
        )
    )
    msg = replace(msg, site="plant-a")
    line = raw_line(msg, 1_763_900_001_234, contract=contract)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    got = json.loads(line)
    assert msg.vibration is not None
    assert got["vibration"]["data"] == base64.b64encode(msg.vibration.raw).decode("ascii")
    assert ("scale" in got["vibration"]) is (encoding == "int16le+base64")
    assert got.get("contract") == (None if contract == 1 else contract)
    assert json.dumps(got, separators=(",", ":")).encode() + b"\n" == line
    again = decode(line)
    assert replace(again, received_at=None) == replace(msg, received_at=None)
    assert again.received_at == 1_763_900_001_234
