"""A dying accelerometer through the shortened demo: the small fleet with pump-01's sensor
failing (clipped from 30 min, saturated from 1 h 30, a flat line from 2 h 30) while pump-01
itself stays healthy. What a technician sees is a sensor problem (the state, the notice and
the report's line), never a healthy machine and never a machine fault; the demo's scoring
counts it as a failing sensor shown, not as a false alarm, and still catches the three faults."""

from __future__ import annotations

import re

import pytest

from local_cloud import demo
from rotorwatch.diagnosis.features.sensor_health import SENSOR_PROBLEMS
from tests.e2e.test_local_demo import build_model, compressed_small, play_fleet

pytestmark = pytest.mark.slow

#: The line every alert gives the vibration fault on (absent when none is claimed).
_FAULT_LINE = re.compile(r"^Probable fault: (\w+)", re.MULTILINE)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoResult:
    root = tmp_path_factory.mktemp("demo-sensor")
    data = compressed_small()
    data["sensor_failures"] = [
        {"device_id": "pump-01", "onset_h": 0.5, "clipped_h": 1.0, "saturated_h": 1.0}
    ]
    return demo.report(play_fleet(root / "out", data, build_model(root)))


def test_a_dying_sensor_is_a_sensor_problem_never_healthy_nor_a_fault(
    run: demo.DemoResult,
) -> None:
    state = run.states["pump-01"]
    assert state["state"] != "HEALTHY"
    assert state["sensor_cause"] in SENSOR_PROBLEMS
    notices = [a for a in run.alerts if a.device_id == "pump-01"]
    assert notices, "the technician was never told"
    for a in notices:
        assert re.search(r"^Sensor: .*\((sensor_\w+)\)", a.body, re.MULTILINE), a.body
        fault = _FAULT_LINE.search(a.body)
        assert fault is None or fault.group(1) == "normal", a.body


def test_the_scoring_counts_it_as_a_sensor_shown_and_still_catches_every_fault(
    run: demo.DemoResult,
) -> None:
    summary = run.detection.summary()
    assert (summary["sensor_failures"], summary["sensor_failures_shown"]) == (1, 1)
    assert summary["false_alarms"] == 0
    assert (summary["caught"], summary["faulty_machines"]) == (3, 3)
    rows = dict(demo.summary_rows(run, summary))
    assert rows["failing sensors shown as sensor problems"] == "1 of 1"
