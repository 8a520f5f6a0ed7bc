"""Simulated faults that show first in temperature or pressure, and the eval that scores them."""

from __future__ import annotations

import json
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from rotorwatch.alerting.replay import sensor_fault_replay
from rotorwatch.diagnosis.features.iso import zone_boundaries_mm_s
from rotorwatch.diagnosis.model import MODEL_FILE, Model
from rotorwatch.diagnosis.predictions import SENSOR_FAULTS
from rotorwatch.diagnosis.sensors import DEFAULT_TEMPERATURE_WARNING_C
from simulator.dataset import labelled_features
from simulator.scenario import SCENARIO_DIR, ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
HOURS = 61.0  # the slowest to fail, pump-03, fails 60 h in
#: A day of 15-min windows: the faults start after it (the scenario leaves a learning period).
LEARNING_WINDOWS = 96


@pytest.fixture(scope="module")
def run() -> dict[str, list[dict[str, Any]]]:
    sc = load_scenario("sensor-faults")
    rows = labelled_features(sc, seed=5, duration_s=HOURS * 3600, interval_s=900)
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_device[r["device_id"]].append(r)
    return by_device


def test_lubrication_loss_heats_first_and_vibrates_late(
    run: dict[str, list[dict[str, Any]]],
) -> None:
    for device in ("lube-01", "lube-02"):
        rows = run[device]
        assert {r["fault"] for r in rows} == {"normal", "lubrication_loss"}
        healthy = [r["temperature_c"] for r in rows if r["fault"] == "normal"]
        end = [r for r in rows if r["severity"] >= 0.99]
        assert end, device
        # Tens of degrees hotter at the end of life than while healthy, past the default limit.
        assert end[0]["temperature_c"] - max(healthy) > 40.0
        assert end[0]["temperature_c"] > DEFAULT_TEMPERATURE_WARNING_C
        # Vibration changes late: still zone A/B when the bearing is already 20 degC hotter.
        hot = next(r for r in rows if r["temperature_c"] > max(healthy) + 20.0)
        assert hot["iso_zone"] in ("A", "B"), (device, hot["severity"])
        assert hot["severity"] < 0.99


def test_impeller_wear_loses_pressure_while_vibrating_smoothly(
    run: dict[str, list[dict[str, Any]]],
) -> None:
    sc = load_scenario("sensor-faults")
    for device in ("pump-03", "pump-04"):
        rows = run[device]
        asset = sc.assets[device]
        assert asset.limits is not None
        before = [r["pressure_bar"] for r in rows if r["fault"] == "normal"]
        end = [r["pressure_bar"] for r in rows if r["severity"] >= 0.99]
        assert end, device
        assert max(end) < 0.6 * min(before)  # 45 % of head lost by end of life
        assert min(before) > asset.limits.pressure_min_bar  # healthy: inside its range
        c_boundary = zone_boundaries_mm_s(asset.machine_group, asset.foundation)[1]
        assert max(r["velocity_rms_mm_s"] for r in rows) < c_boundary  # never zone C


def test_healthy_machines_that_run_warm_stay_inside_their_limits(
    run: dict[str, list[dict[str, Any]]],
) -> None:
    for device in ("pump-05", "motor-06"):
        temps = [r["temperature_c"] for r in run[device]]
        assert 70.0 < max(temps) < DEFAULT_TEMPERATURE_WARNING_C
    assert {r["pressure_min_bar"] for r in run["pump-05"]} == {3.4}


@pytest.fixture(scope="module")
def model() -> Model:
    with tarfile.open(ROOT / "sagemaker/bootstrap/model.tar.gz") as tar:
        member = tar.extractfile(MODEL_FILE)
        assert member is not None
        return Model.from_json(member.read())


@pytest.mark.parametrize("history", [None, LEARNING_WINDOWS], ids=["limits", "history"])
def test_thermal_and_pressure_faults_are_caught_before_failure_without_false_alarms(
    run: dict[str, list[dict[str, Any]]], model: Model, history: int | None
) -> None:
    records = [rec for rows in run.values() for rec in rows]
    r = sensor_fault_replay(model, records, history_windows=history)
    assert set(r["machines"]) == {"lube-01", "lube-02", "pump-03", "pump-04"}
    for device, m in r["machines"].items():
        assert m["caught_before_failure"], device
        assert m["lead_time_before_failure_h"] > 1.0, device
        assert m["first_alert_cause"] in SENSOR_FAULTS[m["fault"]], device
        assert m["alerts_before_onset"] == 0, device
    assert r["false_alarms_healthy"] == 0
    assert r["healthy_machine_days"] == pytest.approx(2 * (HOURS - 0.25) / 24.0)


def test_the_devices_own_history_catches_lubrication_loss_earlier(
    run: dict[str, list[dict[str, Any]]], model: Model
) -> None:
    """A bearing 28 degC over its own normal warns before it reaches the absolute limit."""
    records = [rec for d in ("lube-01", "lube-02") for rec in run[d]]
    cold = sensor_fault_replay(model, records)["machines"]
    warm = sensor_fault_replay(model, records, history_windows=LEARNING_WINDOWS)["machines"]
    for device in ("lube-01", "lube-02"):
        assert cold[device]["first_alert_cause"] == "overheating"
        assert warm[device]["first_alert_cause"] == "temperature_rise"
        gain = (
            warm[device]["lead_time_before_failure_h"] - cold[device]["lead_time_before_failure_h"]
        )
        assert gain > 1.0, device


def test_sensor_faults_need_what_they_degrade() -> None:
    data = json.loads((SCENARIO_DIR / "sensor-faults.json").read_text())
    motor = {**data, "faults": [{"device_id": "motor-06", "fault": "impeller_wear"} | _life()]}
    with pytest.raises(ScenarioError, match="needs a machine with pressure"):
        parse_scenario(motor)
    no_bearing = {
        **data,
        "assets": [{k: v for k, v in a.items() if k != "bearing"} for a in data["assets"]],
        "faults": [{"device_id": "pump-05", "fault": "lubrication_loss"} | _life()],
    }
    with pytest.raises(ScenarioError, match="needs a bearing geometry"):
        parse_scenario(no_bearing)
    with pytest.raises(ScenarioError, match="fault must be one of"):
        parse_scenario({**data, "faults": [{"device_id": "pump-05", "fault": "rust"} | _life()]})


def _life() -> dict[str, float]:
    return {"onset_h": 1.0, "life_h": 10.0}
