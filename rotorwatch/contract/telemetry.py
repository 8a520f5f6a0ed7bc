"""Telemetry contract v1: the JSON message a device publishes, decoded and encoded.

The contract (docs/telemetry-v1.schema.json publishes the same rules for firmware engineers):

==========================  ===========================================================
field                       meaning
==========================  ===========================================================
``v``                       int, = 1, contract version
``device_id``               string ``[A-Za-z0-9_-]{1,128}``, the thing name
``ts``                      int, window start, epoch milliseconds UTC
``seq``                     int >= 0, per-device counter (dedupe, gap detection)
``rpm``                     number > 0, optional, shaft speed
``temperature_c``           number, optional
``pressure_bar``            number, optional
==========================  ===========================================================

Every number must also be physically possible (:data:`rotorwatch.contract.plausible.PLAUSIBLE`,
reason code ``implausible``): a value the contract's types accept but no machine can produce (a
temperature below absolute zero, a shaft at 10^7 rpm) is a broken sensor or firmware, and
downstream it would overflow DynamoDB's number range or size arrays by itself. Both contracts check the same bounds.

==========================  ===========================================================
field                       meaning
==========================  ===========================================================
``vibration``               object, optional, one acceleration window:
``vibration.fs_hz``         number, 256..100000, sample rate
``vibration.unit``          ``"g"`` or ``"m/s2"``
``vibration.encoding``      ``"int16le+base64"`` or ``"float32le+base64"``
``vibration.scale``         number in [1e-9, 30.52], int16 only: physical value = raw x scale
``vibration.data``          base64 string, 256..32768 samples
==========================  ===========================================================

The whole message is at most 128 KB (IoT Core's limit; a record on the stream may be longer by
what the v1 rule adds, :data:`RULE_ADDED_BYTES_MAX`). The fields the IoT rule adds on the way
in (:data:`RULE_LABELS`: ``site``, ``received_at``) are read from files and older releases'
records only: the cloud takes both from the stream (the partition key and the arrival time), so
a device's own values are ignored. Other unknown fields are ignored so that a newer device does
not break an older pipeline.

Every way a message can be wrong raises :class:`rotorwatch.contract.reasons.TelemetryError`, whose
``reason`` is a stable machine-readable code (:class:`rotorwatch.contract.reasons.Reason`) used for
quarantine prefixes and metrics. Nothing else escapes :func:`decode`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from rotorwatch.contract.plausible import check_plausible
from rotorwatch.contract.reasons import Reason, TelemetryError

CONTRACT_VERSION: Final = 1
MAX_MESSAGE_BYTES: Final = 128 * 1024
#: What the v1 rule (``SELECT *, topic(2) AS site, timestamp() AS received_at``) may add to a
#: message IoT Core accepted at :data:`MAX_MESSAGE_BYTES`: ``,"site":"<128 chars>"`` (138 bytes)
#: and ``,"received_at":<up to 20 digits>`` (35 bytes) is 173; the rest is margin for the rule's
#: re-serialisation of the JSON. The cloud decoder allows this much more (a device's 128 KB
#: message must never be quarantined as oversize for what the rule added); encoders do not.
RULE_ADDED_BYTES_MAX: Final = 1024
#: The largest record the cloud decodes: a full-size message plus what the rule added.
MAX_RECORD_BYTES: Final = MAX_MESSAGE_BYTES + RULE_ADDED_BYTES_MAX
FS_HZ_MIN: Final = 256.0
FS_HZ_MAX: Final = 100_000.0
N_SAMPLES_MIN: Final = 256
N_SAMPLES_MAX: Final = 32_768
#: Largest sample magnitude accepted, in the message's unit (g or m/s2). Shock accelerometers
#: top out around 10^4-10^5 g; anything beyond this is a wrong scale or corrupt data, and would
#: overflow the features' fourth powers to infinity instead of failing loudly here.
SAMPLE_ABS_MAX: Final = 1.0e6
#: int16 windows: the scale at which the largest count (-32768) reaches SAMPLE_ABS_MAX.
SCALE_MAX: Final = SAMPLE_ABS_MAX / 32768.0
#: int16 windows: the finest scale. One count of 1e-9 g is three orders of magnitude below the
#: noise floor of any accelerometer (about 1e-6 g); a smaller scale is a units mistake, and its
#: samples' fourth powers (kurtosis) would underflow to 0 / 0. auto_scale never goes below it.
SCALE_MIN: Final = 1e-9

DEVICE_ID_PATTERN: Final = r"[A-Za-z0-9_-]{1,128}"
SITE_PATTERN: Final = r"[A-Za-z0-9_-]{1,128}"
_DEVICE_ID_RE: Final = re.compile(DEVICE_ID_PATTERN)
_SITE_RE: Final = re.compile(SITE_PATTERN)

#: What the v1 IoT rule adds to a message (``topic(2) AS site, timestamp() AS received_at``).
#: A device may send the same names, and AWS does not document whose value wins: the cloud
#: never reads them from a record (docs/telemetry.md, "What the rule adds").
RULE_LABELS: Final[tuple[str, ...]] = ("site", "received_at")
#: The contract's top-level fields (plus those the IoT rule adds) and the vibration object's.
FIELDS: Final[tuple[str, ...]] = (
    "v",
    "device_id",
    "ts",
    "seq",
    "rpm",
    "temperature_c",
    "pressure_bar",
    "vibration",
    "site",
    "received_at",
)
VIBRATION_FIELDS: Final[tuple[str, ...]] = ("fs_hz", "unit", "encoding", "scale", "data")

Unit = Literal["g", "m/s2"]
Encoding = Literal["int16le+base64", "float32le+base64"]
UNITS: Final[tuple[str, ...]] = ("g", "m/s2")
ENCODINGS: Final[tuple[str, ...]] = ("int16le+base64", "float32le+base64")
_BYTES_PER_SAMPLE: Final = {"int16le+base64": 2, "float32le+base64": 4}
_DTYPE: Final[dict[str, np.dtype[Any]]] = {
    "int16le+base64": np.dtype("<i2"),
    "float32le+base64": np.dtype("<f4"),
}
#: Standard gravity, m/s^2 per g (ISO 80000-3).
STANDARD_GRAVITY_M_S2: Final = 9.80665


@dataclass(frozen=True, slots=True)
class Vibration:
    """One acceleration window, still encoded: decoding samples is done per batch."""

    fs_hz: float
    unit: Unit
    encoding: Encoding
    scale: float
    raw: bytes  # little-endian samples, base64 already removed

    @property
    def n_samples(self) -> int:
        return len(self.raw) // _BYTES_PER_SAMPLE[self.encoding]

    def samples(self) -> npt.NDArray[np.float64]:
        """The window in physical units of ``unit`` (float64)."""
        return np.frombuffer(self.raw, dtype=_DTYPE[self.encoding]).astype(np.float64) * self.scale

    def samples_g(self) -> npt.NDArray[np.float64]:
        """The window in g."""
        x = self.samples()
        return x / STANDARD_GRAVITY_M_S2 if self.unit == "m/s2" else x


@dataclass(frozen=True, slots=True)
class Telemetry:
    """A valid telemetry v1 message."""

    device_id: str
    ts: int
    seq: int
    rpm: float | None = None
    temperature_c: float | None = None
    pressure_bar: float | None = None
    vibration: Vibration | None = None
    site: str | None = None
    received_at: int | None = None


def _fail(reason: Reason, message: str, field: str | None = None) -> TelemetryError:
    return TelemetryError(reason, message, field)


def _require(obj: dict[str, Any], name: str, prefix: str = "") -> Any:
    if name not in obj or obj[name] is None:
        raise _fail(Reason.MISSING_FIELD, f"missing required field '{prefix}{name}'", prefix + name)
    return obj[name]


def _int(obj: dict[str, Any], name: str, minimum: int | None = None) -> int:
    value = _require(obj, name)
    # bool is an int subclass in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(Reason.WRONG_TYPE, f"'{name}' must be an integer, got {value!r:.40}", name)
    if minimum is not None and value < minimum:
        raise _fail(Reason.OUT_OF_RANGE, f"'{name}' must be >= {minimum}, got {value}", name)
    return value


def _number(
    obj: dict[str, Any], name: str, *, prefix: str = "", required: bool = False
) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _fail(
                Reason.MISSING_FIELD, f"missing required field '{prefix}{name}'", prefix + name
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(
            Reason.WRONG_TYPE,
            f"'{prefix}{name}' must be a number, got {value!r:.40}",
            prefix + name,
        )
    try:
        result = float(value)
    except OverflowError:  # a JSON integer beyond float range, e.g. 1 followed by 400 zeros
        result = math.inf
    if not math.isfinite(result):
        raise _fail(Reason.OUT_OF_RANGE, f"'{prefix}{name}' must be finite", prefix + name)
    return result


def _string(obj: dict[str, Any], name: str, prefix: str = "") -> str:
    value = _require(obj, name, prefix)
    if not isinstance(value, str):
        raise _fail(
            Reason.WRONG_TYPE,
            f"'{prefix}{name}' must be a string, got {value!r:.40}",
            prefix + name,
        )
    return value


def _vibration(obj: Any, raw: bytes | None = None) -> Vibration:
    p = "vibration."
    if not isinstance(obj, dict):
        raise _fail(Reason.WRONG_TYPE, "'vibration' must be an object", "vibration")
    fs_hz = _number(obj, "fs_hz", prefix=p, required=True)
    assert fs_hz is not None
    if not FS_HZ_MIN <= fs_hz <= FS_HZ_MAX:
        raise _fail(
            Reason.OUT_OF_RANGE,
            f"'vibration.fs_hz' must be in [{FS_HZ_MIN:g}, {FS_HZ_MAX:g}] Hz, got {fs_hz:g}",
            "vibration.fs_hz",
        )
    unit = _string(obj, "unit", p)
    if unit not in UNITS:
        raise _fail(
            Reason.BAD_UNIT,
            f"'vibration.unit' must be one of {UNITS}, got {unit!r:.40}",
            "vibration.unit",
        )
    encoding = _string(obj, "encoding", p)
    if encoding not in ENCODINGS:
        raise _fail(
            Reason.BAD_ENCODING,
            f"'vibration.encoding' must be one of {ENCODINGS}, got {encoding!r:.40}",
            "vibration.encoding",
        )
    if encoding == "int16le+base64":
        scale = _number(obj, "scale", prefix=p, required=True)
        assert scale is not None
        if not 0 < scale <= SCALE_MAX:
            raise _fail(
                Reason.OUT_OF_RANGE,
                f"'vibration.scale' must be in (0, {SCALE_MAX:g}], got {scale:g}",
                "vibration.scale",
            )
        if scale < SCALE_MIN:
            raise _fail(
                Reason.IMPLAUSIBLE,
                f"'vibration.scale' {scale:g} is finer than any accelerometer resolves "
                f"(at least {SCALE_MIN:g} {unit} per count)",
                "vibration.scale",
            )
    else:
        scale = 1.0
    data = _string(obj, "data", p)
    if raw is None:
        try:
            raw = binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise _fail(
                Reason.BAD_BASE64, f"'vibration.data' is not valid base64: {exc}", "vibration.data"
            ) from None
    width = _BYTES_PER_SAMPLE[encoding]
    if len(raw) % width:
        raise _fail(
            Reason.BAD_BYTE_COUNT,
            f"'vibration.data' holds {len(raw)} bytes, not a whole number of {width}-byte samples",
            "vibration.data",
        )
    n = len(raw) // width
    if n < N_SAMPLES_MIN:
        raise _fail(
            Reason.TOO_FEW_SAMPLES,
            f"window has {n} samples, at least {N_SAMPLES_MIN} needed",
            "vibration.data",
        )
    if n > N_SAMPLES_MAX:
        raise _fail(
            Reason.TOO_MANY_SAMPLES,
            f"window has {n} samples, at most {N_SAMPLES_MAX} allowed",
            "vibration.data",
        )
    if encoding == "float32le+base64":
        # One pass: the largest magnitude is NaN if any sample is NaN, inf if any is infinite.
        largest = float(np.abs(np.frombuffer(raw, dtype="<f4")).max())
        if not math.isfinite(largest):
            raise _fail(
                Reason.NON_FINITE_SAMPLES,
                "'vibration.data' holds NaN or Inf samples",
                "vibration.data",
            )
        if largest > SAMPLE_ABS_MAX:
            raise _fail(
                Reason.OUT_OF_RANGE,
                f"'vibration.data' holds a sample of magnitude {largest:g}, "
                f"more than {SAMPLE_ABS_MAX:g} {unit}",
                "vibration.data",
            )
    return Vibration(fs_hz=fs_hz, unit=unit, encoding=encoding, scale=scale, raw=raw)  # type: ignore[arg-type]


def from_dict(obj: Any, *, rule_labels: bool = True) -> Telemetry:
    """Validate an already-parsed JSON value as a telemetry v1 message (``rule_labels``: see
    :func:`decode`)."""
    return _from_dict(obj, None, rule_labels)


def _from_dict(obj: Any, vibration_raw: bytes | None, rule_labels: bool) -> Telemetry:
    if not isinstance(obj, dict):
        raise _fail(Reason.NOT_OBJECT, f"message must be a JSON object, got {type(obj).__name__}")
    version = obj.get("v")
    if version is None:
        raise _fail(Reason.MISSING_FIELD, "missing required field 'v'", "v")
    if isinstance(version, bool) or version != CONTRACT_VERSION:
        raise _fail(
            Reason.UNSUPPORTED_VERSION,
            f"contract version {version!r:.20} is not supported (this pipeline speaks v{CONTRACT_VERSION})",
            "v",
        )
    device_id = _string(obj, "device_id")
    if not _DEVICE_ID_RE.fullmatch(device_id):
        raise _fail(
            Reason.BAD_DEVICE_ID,
            f"'device_id' must match {DEVICE_ID_PATTERN}, got {device_id!r:.140}",
            "device_id",
        )
    ts = check_plausible("ts", _int(obj, "ts", minimum=0))
    seq = check_plausible("seq", _int(obj, "seq", minimum=0))
    rpm = _number(obj, "rpm")
    if rpm is not None and rpm <= 0:
        raise _fail(Reason.OUT_OF_RANGE, f"'rpm' must be > 0, got {rpm:g}", "rpm")
    # The labels the v1 rule adds (RULE_LABELS) are read only where they are trusted.
    site = obj.get("site") if rule_labels else None
    if site is not None and (not isinstance(site, str) or not _SITE_RE.fullmatch(site)):
        raise _fail(Reason.WRONG_TYPE, f"'site' must match {SITE_PATTERN}", "site")
    received_at = obj.get("received_at") if rule_labels else None
    if received_at is not None and (
        isinstance(received_at, bool) or not isinstance(received_at, int)
    ):
        raise _fail(Reason.WRONG_TYPE, "'received_at' must be an integer (epoch ms)", "received_at")
    if received_at is not None:
        check_plausible("received_at", received_at)
    temperature_c = _number(obj, "temperature_c")
    pressure_bar = _number(obj, "pressure_bar")
    for name, value in (
        ("rpm", rpm),
        ("temperature_c", temperature_c),
        ("pressure_bar", pressure_bar),
    ):
        if value is not None:
            check_plausible(name, value)
    vib = obj.get("vibration")
    return Telemetry(
        device_id=device_id,
        ts=ts,
        seq=seq,
        rpm=rpm,
        temperature_c=temperature_c,
        pressure_bar=pressure_bar,
        vibration=None if vib is None else _vibration(vib, vibration_raw),
        site=site,
        received_at=received_at,
    )


#: The fast path looks for the window's base64 exactly as encoders write it (no whitespace).
_DATA_KEY: Final = b'"data":"'
#: Stands in for the base64 text while the rest of the message is parsed. Not in the base64
#: alphabet, so the only way it can appear in the parsed message is where it was put.
_DATA_SENTINEL: Final = "#"
_DATA_SENTINEL_BYTES: Final = _DATA_SENTINEL.encode()


def _decode_compact(payload: bytes, rule_labels: bool = True) -> Telemetry | None:
    """The same answer as the full path for a well-formed message, at a fraction of the cost.

    Nearly all of a message is the base64 window, and scanning it as a JSON string costs as much
    as decoding it. So the window's text is cut out, base64-decoded (strictly: only the base64
    alphabet, which JSON carries unescaped), replaced by a sentinel, and the small remainder is
    parsed. The result is used only when it provably equals the full parse: the remainder has no
    escapes at all (so the sentinel cannot come from one) and holds the sentinel exactly once,
    and the parsed ``vibration.data`` is that sentinel. Anything else (including every invalid
    message) returns None and takes the full path, which gives the exact error.
    """
    key = payload.find(_DATA_KEY)
    if key < 0:
        return None
    start = key + len(_DATA_KEY)
    end = payload.find(b'"', start)
    if end < 0:
        return None
    try:
        raw = binascii.a2b_base64(payload[start:end], strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    rest = payload[:start] + _DATA_SENTINEL_BYTES + payload[end:]
    if b"\\" in rest or rest.count(_DATA_SENTINEL_BYTES) != 1:
        return None
    try:
        obj = json.loads(rest.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    vib = obj.get("vibration") if isinstance(obj, dict) else None
    if not isinstance(vib, dict) or vib.get("data") != _DATA_SENTINEL:
        return None
    return _from_dict(obj, raw, rule_labels)


def decode(
    payload: bytes | bytearray | memoryview | str,
    *,
    max_bytes: int = MAX_RECORD_BYTES,
    rule_labels: bool = True,
) -> Telemetry:
    """Decode one message (raw bytes or text) into a :class:`Telemetry`.

    ``max_bytes`` defaults to what a record on the stream may hold (the device's 128 KB plus
    what the v1 rule adds); an encoder checks its own message against :data:`MAX_MESSAGE_BYTES`.
    ``rule_labels=False`` ignores :data:`RULE_LABELS` (``site`` and ``received_at`` come out
    None, whatever the message holds, valid or not): for a record whose publisher and arrival
    the caller knows from a source the device cannot write (the stream's partition key and
    arrival time, :func:`rotorwatch.contract.published.decode_published`).

    Raises
    ------
    TelemetryError
        For every way the message can break the contract; nothing else escapes.
    """
    size = (
        len(payload.encode("utf-8", "surrogatepass")) if isinstance(payload, str) else len(payload)
    )
    if size > max_bytes:
        raise _fail(Reason.OVERSIZE, f"message is {size} bytes, the limit is {max_bytes}")
    if isinstance(payload, str):
        text = payload
        try:
            # Lone surrogates are bytes that were not UTF-8, smuggled in by a lenient reader
            # (Python's surrogateescape on stdin): name them so, not by where they break JSON.
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _fail(
                Reason.NOT_UTF8, f"message is not UTF-8: {exc.reason} at character {exc.start}"
            ) from None
    else:
        fast = _decode_compact(bytes(payload), rule_labels)
        if fast is not None:
            return fast
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(
                Reason.NOT_UTF8, f"message is not UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _fail(Reason.NOT_JSON, f"message is not JSON: {exc}") from None
    return from_dict(obj, rule_labels=rule_labels)


def checked_window(samples: npt.ArrayLike, unit: str) -> npt.NDArray[np.float64]:
    """A window a device may send: one-dimensional, finite, within the sensor range."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"samples must be one-dimensional, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("samples must be finite")
    if x.size and float(np.max(np.abs(x))) > SAMPLE_ABS_MAX:
        raise ValueError(f"samples must be within +-{SAMPLE_ABS_MAX:g} {unit}")
    return x


def auto_scale(x: npt.NDArray[np.float64]) -> float:
    """The smallest int16 scale that fits the window's peak with 10 % headroom (the resolution
    a 16-bit ADC with auto-ranging would give)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return max(peak * 1.1 / 32767.0, 1e-9)


def encode_samples(
    samples: npt.ArrayLike,
    *,
    fs_hz: float,
    unit: Unit = "g",
    encoding: Encoding = "int16le+base64",
    scale: float | None = None,
) -> dict[str, Any]:
    """Encode an acceleration window as the contract's ``vibration`` object.

    For ``int16le+base64`` the scale defaults to the smallest that fits the window's peak into
    int16 with 10 % headroom (the resolution a 16-bit ADC with auto-ranging would give).
    """
    x = checked_window(samples, unit)
    out: dict[str, Any] = {"fs_hz": fs_hz, "unit": unit, "encoding": encoding}
    if encoding == "int16le+base64":
        if scale is None:
            scale = auto_scale(x)
        raw = np.clip(np.rint(x / scale), -32768, 32767).astype("<i2").tobytes()
        out["scale"] = scale
    elif encoding == "float32le+base64":
        raw = x.astype("<f4").tobytes()
    else:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    out["data"] = base64.b64encode(raw).decode("ascii")
    return out


def encode(
    *,
    device_id: str,
    ts: int,
    seq: int,
    rpm: float | None = None,
    temperature_c: float | None = None,
    pressure_bar: float | None = None,
    vibration: dict[str, Any] | None = None,
) -> bytes:
    """Build a telemetry v1 message (compact UTF-8 JSON), validated before it leaves.

    ``vibration`` is the object :func:`encode_samples` returns.
    """
    msg: dict[str, Any] = {"v": CONTRACT_VERSION, "device_id": device_id, "ts": ts, "seq": seq}
    for name, value in (
        ("rpm", rpm),
        ("temperature_c", temperature_c),
        ("pressure_bar", pressure_bar),
    ):
        if value is not None:
            msg[name] = value
    if vibration is not None:
        msg["vibration"] = vibration
    payload = json.dumps(msg, separators=(",", ":"), allow_nan=False).encode("utf-8")
    # A device must never publish what IoT Core refuses or the pipeline would quarantine.
    decode(payload, max_bytes=MAX_MESSAGE_BYTES)
    return payload
