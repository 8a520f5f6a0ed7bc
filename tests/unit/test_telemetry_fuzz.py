"""Fuzzing the telemetry v1 decoder: whatever arrives, the answer is a Telemetry or a
TelemetryError with a stable Reason, never another exception; valid messages round-trip."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rotorwatch.contract.plausible import PLAUSIBLE
from rotorwatch.contract.reasons import Reason, TelemetryError
from rotorwatch.contract.telemetry import (
    DEVICE_ID_PATTERN,
    ENCODINGS,
    FIELDS,
    FS_HZ_MAX,
    FS_HZ_MIN,
    N_SAMPLES_MIN,
    UNITS,
    VIBRATION_FIELDS,
    Telemetry,
    decode,
    encode,
    encode_samples,
    from_dict,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOP_KEYS = FIELDS
VIB_KEYS = VIBRATION_FIELDS

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)  # beyond float range
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from([*UNITS, *ENCODINGS, "", "AAAA", "====", "g", 1, 0, -1, 1.0, 256, 1e308])
)
#: Values at the edges of what a number or string field can hold.
edges = (
    st.integers(min_value=-(10**400), max_value=10**400)
    | st.sampled_from([0, -1, 2**63, -(2**63), 10**309, -(10**309), 1e308, -1e308, 5e-324, ""])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
)
jsonish = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def check(outcome: Callable[[], Telemetry]) -> None:
    """Run one decoder call; fail on anything but a Telemetry or a TelemetryError(Reason)."""
    error: TelemetryError | None = None
    try:
        result: Telemetry | None = outcome()
    except TelemetryError as exc:
        error, result = exc, None
    if error is not None:
        assert isinstance(error.reason, Reason)
        assert str(error)
    else:
        assert isinstance(result, Telemetry)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True)


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes(payload: bytes) -> None:
    check(lambda: decode(payload))


@FUZZ
@given(st.text(max_size=256))
def test_arbitrary_text(payload: str) -> None:
    check(lambda: decode(payload))


@FUZZ
@given(jsonish)
def test_arbitrary_json_values(obj: Any) -> None:
    check(lambda: from_dict(obj))
    check(lambda: decode(_dumps(obj)))


vibration_like = st.fixed_dictionaries({}, optional={k: jsonish for k in VIB_KEYS})
contract_like = st.fixed_dictionaries(
    {},
    optional={
        **{k: jsonish for k in TOP_KEYS},
        "v": st.sampled_from([1, 1.0, 2, "1", True, None]) | jsonish,
        "vibration": vibration_like | jsonish,
    },
)


@FUZZ
@given(contract_like)
def test_contract_keys_with_random_values(obj: dict[str, Any]) -> None:
    check(lambda: from_dict(obj))
    check(lambda: decode(_dumps(obj)))


def _within(name: str) -> st.SearchStrategy[float]:
    return st.floats(min_value=PLAUSIBLE[name].low, max_value=PLAUSIBLE[name].high)


@st.composite
def valid_messages(draw: st.DrawFn) -> tuple[dict[str, Any], np.ndarray]:
    n = draw(st.integers(min_value=N_SAMPLES_MIN, max_value=2048))
    encoding = draw(st.sampled_from(ENCODINGS))
    amplitude = draw(st.floats(min_value=1e-3, max_value=50.0))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    samples = np.random.default_rng(seed).normal(scale=amplitude, size=n)
    msg: dict[str, Any] = {
        "device_id": draw(st.from_regex(DEVICE_ID_PATTERN, fullmatch=True)),
        # Anywhere within the physical bounds, edges included (the contract's one home).
        "ts": draw(st.integers(min_value=0, max_value=int(PLAUSIBLE["ts"].high))),
        "seq": draw(st.integers(min_value=0, max_value=int(PLAUSIBLE["seq"].high))),
        "rpm": draw(st.none() | st.floats(min_value=1.0, max_value=PLAUSIBLE["rpm"].high)),
        "temperature_c": draw(st.none() | _within("temperature_c")),
        "pressure_bar": draw(st.none() | _within("pressure_bar")),
        "vibration": encode_samples(
            samples,
            fs_hz=draw(st.floats(min_value=FS_HZ_MIN, max_value=FS_HZ_MAX)),
            unit=draw(st.sampled_from(UNITS)),
            encoding=encoding,
        ),
    }
    return msg, samples


@FUZZ
@given(valid_messages())
def test_valid_messages_round_trip(case: tuple[dict[str, Any], np.ndarray]) -> None:
    msg, samples = case
    t = decode(encode(**msg))
    assert (t.device_id, t.ts, t.seq) == (msg["device_id"], msg["ts"], msg["seq"])
    assert (t.rpm, t.temperature_c, t.pressure_bar) == (
        msg["rpm"],
        msg["temperature_c"],
        msg["pressure_bar"],
    )
    vib = msg["vibration"]
    assert t.vibration is not None
    assert (t.vibration.fs_hz, t.vibration.unit, t.vibration.encoding) == (
        vib["fs_hz"],
        vib["unit"],
        vib["encoding"],
    )
    assert t.vibration.n_samples == samples.size
    if vib["encoding"] == "int16le+base64":
        # Quantisation error is at most half a step of the scale.
        np.testing.assert_allclose(
            t.vibration.samples(), samples, rtol=0, atol=vib["scale"] * 0.5 + 1e-12
        )
    else:
        np.testing.assert_array_equal(
            t.vibration.samples(), samples.astype(np.float32).astype(np.float64)
        )


@FUZZ
@given(valid_messages(), st.data())
def test_valid_message_with_one_field_mutated(
    case: tuple[dict[str, Any], np.ndarray], data: st.DataObject
) -> None:
    msg = json.loads(encode(**case[0]))
    paths = [(k,) for k in TOP_KEYS] + [("vibration", k) for k in VIB_KEYS]
    path = data.draw(st.sampled_from(paths))
    target = msg if len(path) == 1 else msg["vibration"]
    action = data.draw(st.sampled_from(["delete", "any", "edge", "edge"]))
    if action == "delete":
        target.pop(path[-1], None)
    else:
        target[path[-1]] = data.draw(jsonish if action == "any" else edges)
    check(lambda: from_dict(msg))
    check(lambda: decode(_dumps(msg)))


@FUZZ
@given(valid_messages(), st.data())
def test_valid_message_with_bytes_corrupted(
    case: tuple[dict[str, Any], np.ndarray], data: st.DataObject
) -> None:
    payload = bytearray(encode(**case[0]))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
        payload[i] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(payload)))
    check(lambda: decode(bytes(payload)))
    check(lambda: decode(bytes(payload[:cut])))


@pytest.mark.parametrize("field", ["rpm", "temperature_c", "pressure_bar"])
def test_integer_beyond_float_range_is_out_of_range(field: str) -> None:
    # Found by the fuzzer: float(10**400) raised OverflowError out of decode().
    payload = '{"v":1,"device_id":"d","ts":1,"seq":1,"%s":1%s}' % (field, "0" * 400)  # noqa: UP031
    with pytest.raises(TelemetryError) as err:
        decode(payload)
    assert err.value.reason is Reason.OUT_OF_RANGE
    assert err.value.field == field
