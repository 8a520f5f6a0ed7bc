"""The decoder's fast path (parse around the base64 window) must give exactly the full parse's
answer: the same Telemetry, or a TelemetryError with the same reason, for any input.

``decode(bytes)`` tries the fast path first; ``decode(str)`` always takes the full path. So the
two are compared on the same message.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import Telemetry, _decode_compact, decode, encode, encode_samples


def _outcome(payload: bytes | str) -> Telemetry | str:
    try:
        return decode(payload)
    except TelemetryError as exc:
        return f"error:{exc.reason}"


def _assert_same(payload: bytes) -> None:
    assert _outcome(payload) == _outcome(payload.decode("utf-8"))


def _message(n: int = 512, **extra: object) -> dict[str, object]:
    x = np.sin(np.arange(n) * 0.3)
    return {
        "v": 1,
        "device_id": "pump-01",
        "ts": 1_700_000_000_000,
        "seq": 7,
        "rpm": 1775.0,
        "vibration": encode_samples(x, fs_hz=4096.0, encoding="int16le+base64"),
        **extra,
    }


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def test_a_valid_message_takes_the_fast_path_and_decodes_the_same() -> None:
    payload = encode(
        device_id="pump-01",
        ts=1,
        seq=2,
        vibration=encode_samples(np.ones(300), fs_hz=1000.0, encoding="float32le+base64"),
    )
    fast = _decode_compact(payload)  # the fast path answered, not the fallback
    assert isinstance(fast, Telemetry)
    assert fast.vibration is not None
    assert fast.vibration.n_samples == 300
    _assert_same(payload)


@pytest.mark.parametrize(
    "payload",
    [
        # A top-level "data" field before the window: the first match is not the window.
        _dumps({"data": "QUJD", **_message()}),
        # A valid window's text first, then the real window holding the sentinel character,
        # literally or as an escape: only the full parse knows the window is invalid.
        _dumps({"data": _message()["vibration"]["data"], **_message()})
        .replace(  # type: ignore[index]
            b'"data":"', b'"data":"#","x":"', 2
        )
        .replace(b'"data":"#","x":"', b'"data":"', 1),
        _dumps({"data": _message()["vibration"]["data"], **_message()})
        .replace(  # type: ignore[index]
            b'"data":"', b'"data":"\\u0023","x":"', 2
        )
        .replace(b'"data":"\\u0023","x":"', b'"data":"', 1),
        # The sentinel character appears elsewhere, and as an escape.
        _dumps(_message(note="#")),
        _dumps(_message(note='a"data":"QUJD')),
        _dumps(_message(site="plant-a")).replace(b"plant-a", b"\\u0070lant-a"),
        # Two data keys inside the window: JSON takes the last one.
        _dumps(_message()).replace(b'"data":"', b'"data":"QUJD","data":"', 1),
        # Whitespace between key and value (not the compact form).
        _dumps(_message()).replace(b'"data":"', b'"data": "', 1),
        # Broken base64, broken JSON after the window, a window that is not a string.
        _dumps(_message()).replace(b'"data":"', b'"data":"!', 1),
        _dumps(_message())[:-1],
        _dumps(_message()).replace(b'"data":"', b'"data":1,"x":"', 1),
        # Invalid fields beside a valid window: same reason either way.
        _dumps({**_message(), "device_id": "bad id"}),
        _dumps({**_message(), "v": 2}),
        _dumps(_message(n=100)),
    ],
)
def test_tricky_messages_decode_as_the_full_parse_does(payload: bytes) -> None:
    _assert_same(payload)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.text(alphabet='{}[]":,#\\ abdt1', max_size=12),
    cut=st.integers(min_value=0, max_value=2000),
    insert=st.text(alphabet='{}[]":,#\\ adt=A', max_size=8),
)
def test_mutated_messages_decode_as_the_full_parse_does(prefix: str, cut: int, insert: str) -> None:
    base = _dumps(_message(site="plant-a")).decode()
    cut = min(cut, len(base))
    mutated = (prefix + base[:cut] + insert + base[cut:]).encode()
    _assert_same(mutated)


labels = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.just("plant-a"),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=100, deadline=None)
@given(site=labels, received_at=labels)
def test_ignoring_the_rule_labels_is_the_same_on_both_paths_and_as_without_them(
    site: object, received_at: object
) -> None:
    """The cloud's decoder (rule_labels=False): whatever a device put in ``site`` and
    ``received_at``, the window decodes as if they were absent, on the fast and the full path."""
    payload = _dumps(_message(site=site, received_at=received_at))
    fast = decode(payload, rule_labels=False)
    full = decode(payload.decode("utf-8"), rule_labels=False)
    assert fast == full == decode(_dumps(_message()))
    assert (fast.site, fast.received_at) == (None, None)
