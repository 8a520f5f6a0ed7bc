"""Telemetry contract v2: one window as raw int16 little-endian behind a fixed binary header.

Why: a v1 message carries its 4096 int16 samples as base64 inside JSON (11.1 KB); IoT Core, the
rule's action and Firehose bill in 5 KB units and Kinesis per byte, so the base64 third costs
money at every hop, and decoding base64 is most of extract_features' decode time. A v2 message
is the same window in 48 + 2 × n bytes (8,240 for 4096 samples: two 5 KB units, not three).

The device id is NOT in the message: it is the MQTT topic's device
(``rw/<site>/<device>/telemetry/v2``), which the IoT policy pins to the publishing thing and the
v2 rule's Kinesis action puts, with the site, in the partition key
(:data:`rotorwatch.contract.iot_rule.PARTITION_KEY_V2_TEMPLATE`). The cloud's arrival time comes from
the Kinesis record. So a v2 message cannot speak for another device.

Byte layout (little-endian, no padding; :data:`HEADER` is the one home of it):

======  =====  ==================  =========================================================
offset  bytes  field               meaning
======  =====  ==================  =========================================================
0       2      magic               ``b"RW"``: never the first bytes of a JSON text (v1)
2       1      version             2
3       1      flags               bit 0: unit (0 = g, 1 = m/s2); bits 1-7 must be 0
4       4      seq                 uint32, per-device counter
8       8      ts                  int64, window start, epoch milliseconds UTC (>= 0)
16      4      fs_hz               float32, sample rate, 256-100000
20      4      scale               float32 in [1e-9, 30.52], physical value = raw int16 × scale
24      8      rpm                 float64 > 0, NaN = not sent
32      8      temperature_c       float64, NaN = not sent
40      8      pressure_bar        float64, NaN = not sent
48      2 × n  samples             int16 little-endian, n = 0 (no window) or 256-32768
======  =====  ==================  =========================================================

``ts``, ``rpm``, ``temperature_c`` and ``pressure_bar`` must also be physically possible, by
the same bounds as v1 (:data:`rotorwatch.contract.plausible.PLAUSIBLE`, reason ``implausible``).
"""

from __future__ import annotations

import binascii
import json
import math
import re
import struct
from typing import Final

import numpy as np
import numpy.typing as npt

from rotorwatch.contract.plausible import check_plausible
from rotorwatch.contract.reasons import Reason, TelemetryError
from rotorwatch.contract.telemetry import (
    DEVICE_ID_PATTERN,
    FS_HZ_MAX,
    FS_HZ_MIN,
    MAX_MESSAGE_BYTES,
    N_SAMPLES_MAX,
    N_SAMPLES_MIN,
    SCALE_MAX,
    SCALE_MIN,
    Telemetry,
    Unit,
    Vibration,
    auto_scale,
    checked_window,
    decode,
)

CONTRACT_VERSION: Final = 2
MAGIC: Final = b"RW"
#: The header as a struct format: magic, version, flags, seq, ts, fs_hz, scale, rpm,
#: temperature_c, pressure_bar.
#: Scalars are float64 so a reading lands in the lake exactly as v1 would put it there.
HEADER: Final = struct.Struct("<2sBBIqffddd")
HEADER_BYTES: Final = HEADER.size
#: The header's fields, in :data:`HEADER`'s order: everything a v2 device can say besides its
#: samples (no site, no device, no time of receipt: the topic and the stream give those).
HEADER_FIELDS: Final[tuple[str, ...]] = (
    "magic",
    "version",
    "flags",
    "seq",
    "ts",
    "fs_hz",
    "scale",
    "rpm",
    "temperature_c",
    "pressure_bar",
)
BYTES_PER_SAMPLE: Final = 2
SEQ_MAX: Final = 2**32 - 1
FLAG_UNIT_M_S2: Final = 0x01
_KNOWN_FLAGS: Final = FLAG_UNIT_M_S2
#: The sample format a v2 window is decoded to (the same bytes v1 carries as base64).
SAMPLE_ENCODING: Final = "int16le+base64"
_DEVICE_ID_RE: Final = re.compile(DEVICE_ID_PATTERN)


def is_v2(payload: bytes | bytearray | memoryview) -> bool:
    """True when the payload claims contract v2 (its magic); JSON text never starts so."""
    return bytes(payload[: len(MAGIC)]) == MAGIC


def _fail(reason: Reason, message: str, field: str | None = None) -> TelemetryError:
    return TelemetryError(reason, message, field)


def _optional(value: float, name: str) -> float | None:
    if math.isnan(value):
        return None
    if not math.isfinite(value):
        raise _fail(Reason.OUT_OF_RANGE, f"'{name}' must be finite or NaN (not sent)", name)
    return value


def decode_v2(
    payload: bytes | bytearray | memoryview,
    device_id: str,
    *,
    site: str | None = None,
    received_at: int | None = None,
) -> Telemetry:
    """Decode one v2 message published by ``device_id`` (the topic's device, from the Kinesis
    partition key), stamped with the ``site`` of that key and its Kinesis arrival
    (``received_at``, epoch ms). Raises :class:`TelemetryError` for every way it breaks the
    contract."""
    data = bytes(payload)
    if not _DEVICE_ID_RE.fullmatch(device_id):
        raise _fail(Reason.BAD_DEVICE_ID, f"device id {device_id!r:.140} from the topic is invalid")
    if len(data) > MAX_MESSAGE_BYTES:
        raise _fail(
            Reason.OVERSIZE, f"message is {len(data)} bytes, the limit is {MAX_MESSAGE_BYTES}"
        )
    if len(data) < HEADER_BYTES:
        raise _fail(
            Reason.BAD_BYTE_COUNT, f"v2 message is {len(data)} bytes, the header is {HEADER_BYTES}"
        )
    magic, version, flags, seq, ts, fs_hz, scale, rpm, temp, pressure = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise _fail(Reason.UNSUPPORTED_VERSION, "not a v2 message (magic is not 'RW')")
    if version != CONTRACT_VERSION:
        raise _fail(Reason.UNSUPPORTED_VERSION, f"binary contract version {version} is not 2", "v")
    if flags & ~_KNOWN_FLAGS:
        raise _fail(Reason.OUT_OF_RANGE, f"unknown flag bits 0x{flags:02x}", "flags")
    if ts < 0:
        raise _fail(Reason.OUT_OF_RANGE, f"'ts' must be >= 0, got {ts}", "ts")
    check_plausible("ts", ts)
    rpm_value = _optional(rpm, "rpm")
    if rpm_value is not None and rpm_value <= 0:
        raise _fail(Reason.OUT_OF_RANGE, f"'rpm' must be > 0, got {rpm_value}", "rpm")
    temperature_c = _optional(temp, "temperature_c")
    pressure_bar = _optional(pressure, "pressure_bar")
    # The same physical bounds as v1 (one home: rotorwatch.contract.plausible.PLAUSIBLE).
    for name, value in (
        ("rpm", rpm_value),
        ("temperature_c", temperature_c),
        ("pressure_bar", pressure_bar),
    ):
        if value is not None:
            check_plausible(name, value)
    body = len(data) - HEADER_BYTES
    vibration = None
    if body:
        if body % BYTES_PER_SAMPLE:
            raise _fail(
                Reason.BAD_BYTE_COUNT, f"{body} sample bytes is not a whole number of int16"
            )
        n = body // BYTES_PER_SAMPLE
        if n < N_SAMPLES_MIN:
            raise _fail(Reason.TOO_FEW_SAMPLES, f"{n} samples, at least {N_SAMPLES_MIN}")
        if n > N_SAMPLES_MAX:
            raise _fail(Reason.TOO_MANY_SAMPLES, f"{n} samples, at most {N_SAMPLES_MAX}")
        if not FS_HZ_MIN <= fs_hz <= FS_HZ_MAX:
            raise _fail(
                Reason.OUT_OF_RANGE,
                f"'fs_hz' must be in [{FS_HZ_MIN:g}, {FS_HZ_MAX:g}], got {fs_hz:g}",
                "fs_hz",
            )
        if not 0 < scale <= SCALE_MAX:
            raise _fail(
                Reason.OUT_OF_RANGE,
                f"'scale' must be in (0, {SCALE_MAX:g}], got {scale:g}",
                "scale",
            )
        if scale < SCALE_MIN:
            raise _fail(
                Reason.IMPLAUSIBLE,
                f"'scale' {scale:g} is finer than any accelerometer resolves (at least "
                f"{SCALE_MIN:g} per count)",
                "scale",
            )
        unit: Unit = "m/s2" if flags & FLAG_UNIT_M_S2 else "g"
        vibration = Vibration(
            fs_hz=float(fs_hz),
            unit=unit,
            encoding=SAMPLE_ENCODING,
            scale=float(scale),
            raw=data[HEADER_BYTES:],
        )
    return Telemetry(
        device_id=device_id,
        ts=ts,
        seq=seq,
        rpm=rpm_value,
        temperature_c=temperature_c,
        pressure_bar=pressure_bar,
        vibration=vibration,
        site=site,
        received_at=received_at,
    )


def decode_any(payload: bytes | bytearray | memoryview, device_id: str) -> Telemetry:
    """A v2 message (by its magic) or a v1 JSON message; ``device_id`` is the publisher (the
    partition key): a v2 message takes it as its device, a v1 message is returned as sent (the
    caller compares its claim with the publisher)."""
    if is_v2(payload):
        return decode_v2(payload, device_id)
    return decode(payload)


def encode_v2(
    *,
    ts: int,
    seq: int,
    samples: npt.ArrayLike | None = None,
    fs_hz: float = 0.0,
    unit: Unit = "g",
    scale: float | None = None,
    rpm: float | None = None,
    temperature_c: float | None = None,
    pressure_bar: float | None = None,
) -> bytes:
    """Build a v2 message, validated before it leaves (``decode_v2`` must accept it).

    The scale defaults to the smallest that fits the window's peak into int16 with 10 %
    headroom, as v1's :func:`rotorwatch.contract.telemetry.encode_samples` does.
    """
    if not 0 <= seq <= SEQ_MAX:
        raise ValueError(f"seq must be in [0, {SEQ_MAX}] in contract v2, got {seq}")
    raw = b""
    if samples is not None:
        x = checked_window(samples, unit)
        if scale is None:
            scale = auto_scale(x)
        # The header carries scale as float32: quantise with the value the decoder will read,
        # never below SCALE_MIN (float32(1e-9) is just below it: a window of zeros, auto-scaled
        # to the finest scale, was refused by the encoder's own check).
        scale32 = np.float32(scale)
        if float(scale32) < SCALE_MIN:  # in float64: numpy would compare in float32
            scale32 = np.nextafter(np.float32(SCALE_MIN), np.float32(1.0))
        scale = float(scale32)
        raw = np.clip(np.rint(x / scale), -32768, 32767).astype("<i2").tobytes()
    nan = float("nan")
    header = HEADER.pack(
        MAGIC,
        CONTRACT_VERSION,
        FLAG_UNIT_M_S2 if unit == "m/s2" else 0,
        seq,
        ts,
        fs_hz,
        1.0 if scale is None else scale,
        nan if rpm is None else rpm,
        nan if temperature_c is None else temperature_c,
        nan if pressure_bar is None else pressure_bar,
    )
    payload = header + raw
    decode_v2(payload, "self-check")  # a device must never publish what the cloud quarantines
    return payload


def message_bytes_v2(samples: int) -> int:
    """Size in bytes of one v2 message carrying ``samples`` samples."""
    return HEADER_BYTES + BYTES_PER_SAMPLE * samples


def from_v1(msg: Telemetry) -> bytes:
    """The v2 message of a decoded v1 message (same window, same int16 samples when v1 carried
    int16; float32 windows are re-quantised). The device id is dropped: the topic carries it."""
    vib = msg.vibration
    if vib is None:
        return encode_v2(
            ts=msg.ts,
            seq=msg.seq,
            rpm=msg.rpm,
            temperature_c=msg.temperature_c,
            pressure_bar=msg.pressure_bar,
        )
    return encode_v2(
        ts=msg.ts,
        seq=msg.seq,
        samples=vib.samples(),
        fs_hz=vib.fs_hz,
        unit=vib.unit,
        scale=vib.scale if vib.encoding == SAMPLE_ENCODING else None,
        rpm=msg.rpm,
        temperature_c=msg.temperature_c,
        pressure_bar=msg.pressure_bar,
    )


#: The raw lake's ``contract`` field: which contract the device published a line's window in
#: (absent on a v1 line, which is the record as the v1 rule made it).
RAW_CONTRACT_FIELD: Final = "contract"


def raw_line(msg: Telemetry, received_at_ms: int, contract: int = CONTRACT_VERSION) -> bytes:
    """The raw lake's JSON line for a decoded message: the window as a valid v1 message
    (``v`` = 1, the samples as base64, the device and site from the partition key,
    ``received_at`` = arrival in Kinesis), plus ``contract`` = 2 for a v2 message (a v1 line
    has none). Being v1, the line replays like any other raw line (put back on the telemetry
    stream, docs/runbook.md) and gives the same feature row; ``contract`` is ignored by the
    decoder. A v1 record's line is this too (not the record as the rule made it), so the lake's
    ``site`` is the topic's even when the device sent its own."""
    out: dict[str, object] = {"v": 1, "device_id": msg.device_id, "ts": msg.ts, "seq": msg.seq}
    if msg.site is not None:
        out["site"] = msg.site
    for name, value in (
        ("rpm", msg.rpm),
        ("temperature_c", msg.temperature_c),
        ("pressure_bar", msg.pressure_bar),
    ):
        if value is not None:
            out[name] = value
    vib = msg.vibration
    if vib is not None:
        window: dict[str, object] = {"fs_hz": vib.fs_hz, "unit": vib.unit, "encoding": vib.encoding}
        if vib.encoding == SAMPLE_ENCODING:  # int16 only: float32 samples carry no scale
            window["scale"] = vib.scale
        window["data"] = _DATA_SENTINEL
        out["vibration"] = window
    out["received_at"] = received_at_ms
    if contract != 1:
        out[RAW_CONTRACT_FIELD] = contract
    line = json.dumps(out, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if vib is None:
        return line + b"\n"
    # The base64 text needs no JSON escaping (its alphabet has no quote, backslash or control
    # character), so it is spliced in rather than scanned by json.dumps, which cost as much as
    # decoding the window. The sentinel is not in the base64 alphabet and no other field of
    # the line can hold it (ids and sites are [A-Za-z0-9_-], units and encodings fixed words).
    head, sentinel, tail = line.partition(_DATA_SENTINEL_JSON)
    assert sentinel, "the window's data field is in the line"
    data = binascii.b2a_base64(vib.raw, newline=False)
    return b"".join((head, b'"data":"', data, b'"', tail, b"\n"))


_DATA_SENTINEL: Final = "#"
_DATA_SENTINEL_JSON: Final = b'"data":"#"'


#: Files (the simulator's output, ``rotorwatch features`` input) hold one message per line; a
#: binary message cannot, so a v2 line is ``v2 <device_id> <base64 of the message>``: the
#: device id stands where the topic would on MQTT. Never sent to IoT Core.
LINE_PREFIX: Final = b"v2 "


def to_line(device_id: str, payload: bytes) -> bytes:
    """One file line (no newline) for a v2 message published by ``device_id``."""
    return (
        LINE_PREFIX + device_id.encode("ascii") + b" " + binascii.b2a_base64(payload, newline=False)
    )


def decode_line(line: bytes) -> Telemetry:
    """Decode a file line: ``v2 <device_id> <base64>`` or a v1 JSON message."""
    if not line.startswith(LINE_PREFIX):
        return decode(line)
    parts = line.split(b" ")
    if len(parts) != 3:
        raise _fail(Reason.NOT_JSON, "a v2 line is 'v2 <device_id> <base64>'")
    try:
        device_id = parts[1].decode("ascii")
        payload = binascii.a2b_base64(parts[2], strict_mode=True)
    except (UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise _fail(Reason.BAD_BASE64, f"v2 line: {exc}") from None
    return decode_v2(payload, device_id)
