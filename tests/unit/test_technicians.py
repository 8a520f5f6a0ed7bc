"""The demo's simulated technicians answer from the simulator's truth."""

from __future__ import annotations

from local_cloud.report_scoring import FaultTruth
from local_cloud.technicians import truth_verdict

ONSET = 1_000_000
BEARING = FaultTruth("pump-02", "bearing_outer", ONSET, ONSET + 10**7, 0.8)
HEALTHY = FaultTruth("pump-01", "normal", None, None, 0.0)
HOT = FaultTruth("comp-04", "lubrication_loss", ONSET, None, 0.5)


def test_no_fault_before_onset_or_on_a_healthy_machine() -> None:
    assert truth_verdict("bearing_outer", BEARING, ONSET - 1, "ALARM") == ("no_fault_found", None)
    assert truth_verdict("imbalance", HEALTHY, ONSET, "WARNING") == ("no_fault_found", None)
    assert truth_verdict("imbalance", None, ONSET, "WARNING") == ("no_fault_found", None)


def test_a_present_fault_is_confirmed_repaired_or_another_fault() -> None:
    assert truth_verdict("bearing_outer", BEARING, ONSET, "WARNING") == ("confirmed", None)
    assert truth_verdict("bearing_outer", BEARING, ONSET, "ALARM") == ("repaired", None)
    assert truth_verdict("imbalance", BEARING, ONSET, "WARNING") == (
        "other_fault",
        "bearing_outer",
    )
    # A sensor fault is named by its sensor cause.
    assert truth_verdict("overheating", HOT, ONSET, "WARNING") == ("confirmed", None)
