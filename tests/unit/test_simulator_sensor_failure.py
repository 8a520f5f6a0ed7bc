"""The simulator's dying accelerometer (simulator.sensor_failure): clipped, then saturated, then
a flat line, on a machine that stays healthy; the pipeline's feature engine names each phase as
the ground truth says, in both telemetry contracts."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from rotorwatch.contract.iot_rule import partition_key
from rotorwatch.contract.published import decode_published
from rotorwatch.contract.telemetry_v2 import decode_v2, encode_v2
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.features.sensor_health import CLIPPED, FLAT_LINE, SATURATED
from simulator.fleet import generate_windows
from simulator.scenario import SCENARIO_DIR, ScenarioError, load_scenario, parse_scenario

START_MS = 1_767_225_600_000


def _scenario(**failure: float) -> tuple[str, object]:
    data = json.loads((SCENARIO_DIR / "small.json").read_text(encoding="utf-8"))
    device = data["assets"][0]["device_id"]
    data["sensor_failures"] = [{"device_id": device, **failure}]
    return device, parse_scenario(data)


@pytest.mark.parametrize("contract", [1, 2])
def test_each_phase_of_a_dying_sensor_is_named_as_the_truth_says(contract: int) -> None:
    device, sc = _scenario(onset_h=1.0, clipped_h=1.0, saturated_h=1.0)
    windows = [
        w
        for w in generate_windows(
            sc, start_ms=START_MS, duration_s=5 * 3600, interval_s=300, seed=1, contract=contract
        )
        if w.device_id == device
    ]
    msgs = [decode_published(w.payload, partition_key(w.topic) or "", 0) for w in windows]
    feats = compute_features(msgs)
    pairs = Counter(
        (w.truth["sensor_problem"], f["vibration_sensor"])
        for w, f in zip(windows, feats, strict=True)
    )
    # 12 windows an hour: 1 h working, 1 h clipped, 1 h saturated, 2 h flat.
    assert pairs == {
        (None, None): 12,
        (CLIPPED, CLIPPED): 12,
        (SATURATED, SATURATED): 12,
        (FLAT_LINE, FLAT_LINE): 24,
    }
    # The machine itself stays healthy: no fault in the truth.
    assert {w.truth["fault"] for w in windows} == {"normal"}


def test_the_other_machines_are_unchanged_byte_for_byte() -> None:
    """Adding a failing sensor to one device changes no other device's messages."""
    device, sc = _scenario(onset_h=0.0)
    plain = load_scenario("small")
    got = [
        w for w in generate_windows(sc, start_ms=START_MS, duration_s=3600, interval_s=600, seed=3)
    ]
    ref = [
        w
        for w in generate_windows(plain, start_ms=START_MS, duration_s=3600, interval_s=600, seed=3)
    ]
    others = [
        (a.payload, b.payload) for a, b in zip(got, ref, strict=True) if a.device_id != device
    ]
    assert others
    assert all(a == b for a, b in others)
    assert all("sensor_problem" not in w.truth for w in got if w.device_id != device)


@pytest.mark.parametrize(
    "entry", [{"onset_h": -1.0}, {"onset_h": 1.0, "clipped_h": -0.5}, {"onset_h": 1.0, "wobble": 2}]
)
def test_a_bad_sensor_failure_entry_is_a_scenario_error(entry: dict[str, float]) -> None:
    with pytest.raises(ScenarioError, match=r"sensor failure|onset_h"):
        _scenario(**entry)


def test_a_v2_window_of_zeros_encodes() -> None:
    """A dead sensor's window auto-scales to the finest scale; float32(1e-9) is just below it,
    and the encoder once refused its own message."""
    msg = decode_v2(encode_v2(ts=1, seq=1, samples=np.zeros(512), fs_hz=1000.0), "d")
    assert msg.vibration is not None
    assert msg.vibration.samples().tolist() == [0.0] * 512
