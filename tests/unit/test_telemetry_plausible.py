"""Physical plausibility (issue 26): values both contracts' types accept but no machine can
produce are ``implausible``, in v1 and v2 alike, at the same bounds; the cloud's size limit
leaves room for what the v1 rule adds."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from rotorwatch.contract.iot_rule import project
from rotorwatch.contract.plausible import PLAUSIBLE
from rotorwatch.contract.reasons import Reason, TelemetryError
from rotorwatch.contract.telemetry import (
    MAX_MESSAGE_BYTES,
    SCALE_MIN,
    decode,
    encode,
    encode_samples,
)
from rotorwatch.contract.telemetry_v2 import HEADER, decode_v2, encode_v2

_T = np.arange(256) / 1024.0
_X = np.sin(2 * np.pi * 30.0 * _T)
BASE: dict[str, Any] = json.loads(
    encode(
        device_id="pump-01", ts=1_763_900_000_000, seq=1, vibration=encode_samples(_X, fs_hz=1024.0)
    )
)
#: Fields each contract carries as numbers a device chooses (v2 has no received_at, and its seq
#: is a uint32, so it cannot exceed the bound).
V1_FIELDS = sorted(PLAUSIBLE)
V2_FIELDS = ["ts", "rpm", "temperature_c", "pressure_bar"]


def _outside(name: str) -> list[float]:
    b = PLAUSIBLE[name]
    out = [b.high * 10 if b.high else 1.0, b.high + (1 if isinstance(b.high, int) else 1e-6)]
    if name in ("temperature_c", "pressure_bar"):
        out += [b.low - 1e-6, -1e100]
    if name in ("temperature_c",):
        out.append(1e130)
    if name == "seq":
        out.append(10**40)  # the v1 seq that made DynamoDB raise decimal.Rounded
    return out


def _v1(name: str, value: float) -> bytes:
    msg = dict(BASE)
    msg[name] = int(value) if name in ("ts", "seq", "received_at") else value
    return json.dumps(msg).encode()


@pytest.mark.parametrize("name", V1_FIELDS)
def test_v1_outside_every_bound_is_implausible(name: str) -> None:
    for value in _outside(name):
        with pytest.raises(TelemetryError) as err:
            decode(_v1(name, value))
        assert err.value.reason == Reason.IMPLAUSIBLE, (name, value, str(err.value))
        assert err.value.field == name
        assert "\n" not in str(err.value)  # one line, with the reason a firmware engineer reads


@pytest.mark.parametrize("name", V1_FIELDS)
def test_v1_the_bounds_themselves_are_accepted(name: str) -> None:
    b = PLAUSIBLE[name]
    edges = [b.high] + ([] if name == "rpm" else [b.low])
    for value in edges:
        msg = decode(_v1(name, value))
        assert getattr(msg, name) == value


def _v2(**kw: Any) -> bytes:
    """A v2 message with header fields overridden (bypassing the encoder's own check)."""
    payload = encode_v2(ts=1_763_900_000_000, seq=1, samples=_X, fs_hz=1024.0)
    fields = list(HEADER.unpack_from(payload))
    names = [
        "magic",
        "v",
        "flags",
        "seq",
        "ts",
        "fs_hz",
        "scale",
        "rpm",
        "temperature_c",
        "pressure_bar",
    ]
    for k, v in kw.items():
        fields[names.index(k)] = v
    return HEADER.pack(*fields) + payload[HEADER.size :]


@pytest.mark.parametrize("name", V2_FIELDS)
def test_v2_outside_every_bound_is_implausible_as_in_v1(name: str) -> None:
    for value in _outside(name):
        if name == "ts" and value >= 2**63:
            continue  # not representable in the int64 header
        with pytest.raises(TelemetryError) as err:
            decode_v2(_v2(**{name: int(value) if name == "ts" else float(value)}), "pump-01")
        assert err.value.reason == Reason.IMPLAUSIBLE, (name, value)
        with pytest.raises(TelemetryError) as err1:
            decode(_v1(name, value))
        assert err1.value.reason == err.value.reason  # one bound, both contracts


def test_a_scale_finer_than_any_sensor_is_implausible_in_both_contracts() -> None:
    vib = dict(BASE["vibration"], scale=SCALE_MIN / 10)
    with pytest.raises(TelemetryError) as e1:
        decode(json.dumps(dict(BASE, vibration=vib)).encode())
    with pytest.raises(TelemetryError) as e2:
        decode_v2(_v2(scale=SCALE_MIN / 10), "pump-01")
    assert e1.value.reason == e2.value.reason == Reason.IMPLAUSIBLE
    assert math.isclose(
        decode(
            json.dumps(dict(BASE, vibration=dict(vib, scale=SCALE_MIN))).encode()
        ).vibration.scale,
        SCALE_MIN,
    )  # type: ignore[union-attr]


def test_a_full_size_message_is_not_oversize_after_the_rule_adds_its_fields() -> None:
    """Issue 26 item 6: 131,007 bytes from the device became 131,111 on the stream."""
    site = "s" * 128  # the longest site the topic allows: the most the rule can add
    msg = dict(BASE, device_id="d" * 128)
    pad = MAX_MESSAGE_BYTES - len(json.dumps(msg, separators=(",", ":")).encode()) - len(',"x":""')
    msg["x"] = "a" * pad  # an unknown field, ignored by the decoder: fills to exactly 128 KiB
    device_bytes = json.dumps(msg, separators=(",", ":")).encode()
    assert len(device_bytes) == MAX_MESSAGE_BYTES
    on_stream = json.dumps(
        project(f"rw/{site}/{'d' * 128}/telemetry", msg, 99_999_999_999_999), separators=(",", ":")
    ).encode()
    assert len(on_stream) > MAX_MESSAGE_BYTES
    assert decode(on_stream).site == site
    with pytest.raises(TelemetryError) as err:  # one byte more than IoT Core takes is refused
        encode(
            device_id="d",
            ts=1,
            seq=1,
            vibration={**BASE["vibration"], "data": "A" * MAX_MESSAGE_BYTES},
        )
    assert err.value.reason == Reason.OVERSIZE


def test_an_integer_beyond_float_range_is_implausible_in_one_line() -> None:
    """Found by the decoder fuzz: formatting 10**400 as a float raised OverflowError."""
    with pytest.raises(TelemetryError) as err:
        decode(_v1("ts", 0).replace(b'"ts": 0', b'"ts": 1' + b"0" * 400))
    assert err.value.reason == Reason.IMPLAUSIBLE
    assert "bits" in str(err.value)
