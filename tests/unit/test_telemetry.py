"""Telemetry contract v1: every way a message can be wrong has one typed error and reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rotorwatch.contract import telemetry as tm
from rotorwatch.contract.reasons import Reason, TelemetryError
from rotorwatch.contract.telemetry import decode, encode, encode_samples

FS_HZ = 8192.0


def _message(**overrides: Any) -> dict[str, Any]:
    x = np.sin(2 * np.pi * 50 * np.arange(1024) / FS_HZ)
    msg: dict[str, Any] = {
        "v": 1,
        "device_id": "pump-01",
        "ts": 1_700_000_000_000,
        "seq": 7,
        "rpm": 1780.0,
        "temperature_c": 41.5,
        "pressure_bar": 3.2,
        "vibration": encode_samples(x, fs_hz=FS_HZ),
    }
    msg.update(overrides)
    return msg


def _vib(**overrides: Any) -> dict[str, Any]:
    vib = _message()["vibration"]
    vib.update(overrides)
    return _message(vibration=vib)


def _reason(payload: Any) -> Reason:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(TelemetryError) as info:
        decode(raw)
    assert str(info.value), "a human message is always present"
    return info.value.reason


def test_valid_message_decodes_with_all_fields() -> None:
    msg = decode(json.dumps(_message()).encode())
    assert (msg.device_id, msg.ts, msg.seq, msg.rpm) == ("pump-01", 1_700_000_000_000, 7, 1780.0)
    assert msg.temperature_c == 41.5
    assert msg.pressure_bar == 3.2
    assert msg.vibration is not None
    assert msg.vibration.n_samples == 1024
    assert msg.vibration.fs_hz == FS_HZ


def test_scalar_only_message_is_valid() -> None:
    msg = decode(json.dumps({"v": 1, "device_id": "fan_2", "ts": 0, "seq": 0}))
    assert msg.vibration is None
    assert msg.rpm is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe{}", Reason.NOT_UTF8),
        (b"{not json", Reason.NOT_JSON),
        (b"[1, 2]", Reason.NOT_OBJECT),
        (b"[" * 100_000, Reason.NOT_JSON),
        (b'"text"', Reason.NOT_OBJECT),
        (b"{}", Reason.MISSING_FIELD),
    ],
)
def test_malformed_documents(payload: bytes, reason: Reason) -> None:
    assert _reason(payload) == reason


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"v": 2}, Reason.UNSUPPORTED_VERSION),
        ({"v": "1"}, Reason.UNSUPPORTED_VERSION),
        ({"v": True}, Reason.UNSUPPORTED_VERSION),
        ({"device_id": None}, Reason.MISSING_FIELD),
        ({"device_id": 42}, Reason.WRONG_TYPE),
        ({"device_id": "pump/01"}, Reason.BAD_DEVICE_ID),
        ({"device_id": ""}, Reason.BAD_DEVICE_ID),
        ({"device_id": "x" * 129}, Reason.BAD_DEVICE_ID),
        ({"ts": "2024-01-01"}, Reason.WRONG_TYPE),
        ({"ts": 1.5}, Reason.WRONG_TYPE),
        ({"ts": -1}, Reason.OUT_OF_RANGE),
        ({"seq": True}, Reason.WRONG_TYPE),
        ({"seq": -3}, Reason.OUT_OF_RANGE),
        ({"rpm": 0}, Reason.OUT_OF_RANGE),
        ({"rpm": "fast"}, Reason.WRONG_TYPE),
        ({"temperature_c": [1]}, Reason.WRONG_TYPE),
        ({"vibration": "abc"}, Reason.WRONG_TYPE),
    ],
)
def test_wrong_fields(overrides: dict[str, Any], reason: Reason) -> None:
    assert _reason(_message(**overrides)) == reason


def test_missing_required_fields() -> None:
    for name in ("v", "device_id", "ts", "seq"):
        msg = _message()
        del msg[name]
        assert _reason(msg) == Reason.MISSING_FIELD


def test_nan_literal_in_scalar_is_rejected() -> None:
    text = json.dumps(_message()).replace('"temperature_c": 41.5', '"temperature_c": NaN')
    assert _reason(text.encode()) == Reason.OUT_OF_RANGE


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"fs_hz": 100}, Reason.OUT_OF_RANGE),
        ({"fs_hz": 200_000}, Reason.OUT_OF_RANGE),
        ({"fs_hz": None}, Reason.MISSING_FIELD),
        ({"unit": "mm/s"}, Reason.BAD_UNIT),
        ({"encoding": "int24"}, Reason.BAD_ENCODING),
        ({"scale": 0}, Reason.OUT_OF_RANGE),
        ({"scale": None}, Reason.MISSING_FIELD),
        ({"data": "!!!not base64!!!"}, Reason.BAD_BASE64),
        ({"data": "QUJ=D"}, Reason.BAD_BASE64),  # data after padding
        ({"data": base64.b64encode(b"\x00" * 1001).decode()}, Reason.BAD_BYTE_COUNT),
        ({"data": base64.b64encode(b"\x00" * 2 * 255).decode()}, Reason.TOO_FEW_SAMPLES),
        ({"data": 17}, Reason.WRONG_TYPE),
    ],
)
def test_wrong_vibration(overrides: dict[str, Any], reason: Reason) -> None:
    assert _reason(_vib(**overrides)) == reason


def test_too_many_samples() -> None:
    vib = encode_samples(np.zeros(tm.N_SAMPLES_MAX + 1), fs_hz=FS_HZ, encoding="int16le+base64")
    # Too many samples still fits the 128 KB limit as int16, so the sample count decides.
    assert _reason(_message(vibration=vib)) == Reason.TOO_MANY_SAMPLES


def test_oversize_message() -> None:
    vib = encode_samples(np.zeros(tm.N_SAMPLES_MAX), fs_hz=FS_HZ, encoding="float32le+base64")
    assert _reason(_message(vibration=vib)) == Reason.OVERSIZE


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples(bad: float) -> None:
    x = np.zeros(512, dtype="<f4")
    x[100] = bad
    data = base64.b64encode(x.tobytes()).decode()
    vib = {"fs_hz": FS_HZ, "unit": "g", "encoding": "float32le+base64", "data": data}
    assert _reason(_message(vibration=vib)) == Reason.NON_FINITE_SAMPLES


def test_float_samples_beyond_any_accelerometer_are_out_of_range() -> None:
    x = np.zeros(512, dtype="<f4")
    x[7] = -tm.SAMPLE_ABS_MAX * 2
    data = base64.b64encode(x.tobytes()).decode()
    vib = {"fs_hz": FS_HZ, "unit": "g", "encoding": "float32le+base64", "data": data}
    assert _reason(_message(vibration=vib)) == Reason.OUT_OF_RANGE
    x[7] = -tm.SAMPLE_ABS_MAX  # the limit itself is accepted
    vib["data"] = base64.b64encode(x.tobytes()).decode()
    assert tm.decode(json.dumps(_message(vibration=vib))).vibration is not None


@pytest.mark.parametrize("scale", [tm.SCALE_MAX * 1.01, 1e308])
def test_an_int16_scale_that_would_overflow_the_features_is_out_of_range(scale: float) -> None:
    vib = encode_samples(np.ones(512), fs_hz=FS_HZ, encoding="int16le+base64", scale=0.01)
    vib["scale"] = scale
    assert _reason(_message(vibration=vib)) == Reason.OUT_OF_RANGE


def test_the_encoder_refuses_samples_the_decoder_would_refuse() -> None:
    with pytest.raises(ValueError, match="within"):
        encode_samples(np.full(512, tm.SAMPLE_ABS_MAX * 1.5), fs_hz=FS_HZ)


def test_int16_samples_are_scaled_and_converted_to_g() -> None:
    raw = np.array([100, -200] * 128, dtype="<i2")
    vib = {
        "fs_hz": FS_HZ,
        "unit": "m/s2",
        "encoding": "int16le+base64",
        "scale": 0.01,
        "data": base64.b64encode(raw.tobytes()).decode(),
    }
    msg = decode(json.dumps(_message(vibration=vib)))
    assert msg.vibration is not None
    np.testing.assert_allclose(msg.vibration.samples()[:2], [1.0, -2.0])
    np.testing.assert_allclose(msg.vibration.samples_g()[:2], [1.0 / 9.80665, -2.0 / 9.80665])


def test_rule_fields_are_accepted_and_unknown_fields_ignored() -> None:
    msg = decode(json.dumps(_message(site="plant-a", received_at=123, firmware="2.1")))
    assert msg.site == "plant-a"
    assert msg.received_at == 123


def test_encoder_refuses_what_the_decoder_would_quarantine() -> None:
    with pytest.raises(TelemetryError) as info:
        encode(device_id="bad id", ts=0, seq=0)
    assert info.value.reason == Reason.BAD_DEVICE_ID
    with pytest.raises(ValueError, match="finite"):
        encode_samples([0.0, np.nan], fs_hz=FS_HZ)


@settings(max_examples=60, deadline=None)
@given(
    samples=st.lists(st.floats(-50, 50, allow_nan=False, width=32), min_size=256, max_size=2048),
    fs_hz=st.floats(256, 100_000),
    encoding=st.sampled_from(tm.ENCODINGS),
    seq=st.integers(0, 2**53),
)
def test_round_trip(samples: list[float], fs_hz: float, encoding: str, seq: int) -> None:
    x = np.asarray(samples)
    vib = encode_samples(x, fs_hz=fs_hz, encoding=encoding)  # type: ignore[arg-type]
    msg = decode(encode(device_id="dev-1", ts=1, seq=seq, rpm=1500.0, vibration=vib))
    assert msg.seq == seq
    assert msg.vibration is not None
    assert msg.vibration.fs_hz == fs_hz
    # int16 quantisation: half a step of the auto-ranged scale; float32: single precision.
    tol = vib.get("scale", 0.0) / 2 + 1e-6 * (1 + np.abs(x))
    assert np.all(np.abs(msg.vibration.samples() - x) <= tol)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_message_or_the_typed_error(payload: bytes) -> None:
    try:
        decode(payload)
    except TelemetryError as exc:
        assert isinstance(exc.reason, Reason)  # noqa: PT017
