"""The published JSON Schema and the decoder agree on the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import SCALE_MAX, decode, encode, encode_samples

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "telemetry-v1.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _valid() -> dict[str, Any]:
    vib = encode_samples(np.sin(np.arange(512) / 3.0), fs_hz=4096.0)
    return json.loads(
        encode(device_id="m-1", ts=5, seq=1, rpm=900.0, temperature_c=30.0, vibration=vib)
    )


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_encoder_output_satisfies_the_schema() -> None:
    VALIDATOR.validate(_valid())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.update(v=2),
        lambda m: m.pop("device_id"),
        lambda m: m.update(device_id="has space"),
        lambda m: m.update(ts=-1),
        lambda m: m.update(seq="1"),
        lambda m: m.update(rpm=0),
        lambda m: m["vibration"].update(fs_hz=10),
        lambda m: m["vibration"].update(unit="mm/s"),
        lambda m: m["vibration"].update(encoding="int32"),
        lambda m: m["vibration"].pop("scale"),
        lambda m: m["vibration"].update(scale=SCALE_MAX * 1.0001),
        lambda m: m["vibration"].update(data="QUJD"),
    ],
)
def test_schema_and_decoder_reject_the_same_messages(mutate: Any) -> None:
    msg = _valid()
    mutate(msg)
    assert not VALIDATOR.is_valid(msg)
    with pytest.raises(TelemetryError):
        decode(json.dumps(msg))


def test_the_schema_publishes_the_decoders_scale_limit() -> None:
    scale = SCHEMA["properties"]["vibration"]["properties"]["scale"]
    assert scale["maximum"] == SCALE_MAX


def test_the_schema_publishes_the_physical_bounds() -> None:
    """One home (rotorwatch.contract.plausible.PLAUSIBLE): the schema firmware engineers validate with
    says the same bounds as the decoder."""
    from rotorwatch.contract.plausible import PLAUSIBLE
    from rotorwatch.contract.telemetry import SCALE_MIN

    for name in ("ts", "seq", "rpm", "temperature_c", "pressure_bar"):
        prop = SCHEMA["properties"][name]
        low = prop.get("minimum", prop.get("exclusiveMinimum"))
        assert (low, prop["maximum"]) == (PLAUSIBLE[name].low, PLAUSIBLE[name].high), name
    assert SCHEMA["properties"]["vibration"]["properties"]["scale"]["minimum"] == SCALE_MIN


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature_c", -274.0),
        ("pressure_bar", 1e5),
        ("rpm", 2e6),
        ("seq", 2**63),
        ("ts", 10**16),
    ],
)
def test_schema_and_decoder_reject_the_same_impossible_values(name: str, value: float) -> None:
    msg = _valid()
    msg[name] = value
    assert not VALIDATOR.is_valid(msg)
    with pytest.raises(TelemetryError):
        decode(json.dumps(msg))
