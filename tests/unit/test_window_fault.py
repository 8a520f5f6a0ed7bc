"""One definition of "the fault of a window" (rotorwatch.diagnosis.predictions.window_fault), held together
across the endpoint's rows, the rules fallback, the prediction record, the saved queries and the
machine-health Glue job: a healthy window names no fault, a sensor cause is not a vibration
fault, and counts of faults are over WARNING/ALARM windows only.
"""

from __future__ import annotations

import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from rotorwatch.diagnosis.model.model import MODEL_FILE, Model
from rotorwatch.diagnosis.predictions import (
    FAULTS,
    FAULTY_WINDOW_SQL,
    NORMAL_FAULT,
    STATES,
    window_fault,
)
from rotorwatch.diagnosis.scoring import combine, rules_row
from rotorwatch.lake import query

HEALTHY, WARNING, ALARM = STATES
ROOT = Path(__file__).resolve().parents[2]


def test_window_fault_is_the_fault_only_where_vibration_is_not_healthy() -> None:
    for fault in FAULTS:
        assert window_fault(HEALTHY, fault) == NORMAL_FAULT
        assert window_fault(WARNING, fault) == fault
        assert window_fault(ALARM, fault) == fault


def _features(**over: Any) -> dict[str, Any]:
    # A zone-A window with no bearing lines: healthy by every rule.
    rec: dict[str, Any] = {
        "device_id": "m22",
        "site": "plant-a",
        "ts": 1_700_000_000_000,
        "seq": 1,
        "iso_zone": "A",
        "velocity_rms_mm_s": 0.8,
        "kurtosis": 3.0,
        "env_bpfo": 2.0,
        "env_bpfi": 2.1,
        "env_bsf": 1.9,
        "env_ftf": 1.5,
        "order_1x_g": 0.05,
        "order_2x_g": 0.04,
        "order_3x_g": 0.03,
        "order_0_5x_g": 0.0,
        "temperature_c": 40.0,
        "rpm": 1780.0,
        "rpm_used": 1780.0,
    }
    rec.update(over)
    return rec


def test_a_legacy_endpoint_row_leaning_on_a_healthy_window_becomes_normal() -> None:
    # An endpoint deployed before this rule answered HEALTHY with the classifier's leaning.
    row = {
        "anomaly_score": 0.2,
        "fault": "looseness",
        "fault_confidence": 0.7,
        "state": HEALTHY,
        "model_version": "old",
        "sensor_cause": None,
    }
    pred = combine(row, _features())
    assert pred["state"] == HEALTHY
    assert pred["fault"] == NORMAL_FAULT
    assert pred["fault_confidence"] is None


def test_iso_zone_c_keeps_the_leaning_as_the_finding() -> None:
    # The ISO zone raises the vibration state: the model's named fault is then the finding.
    row = {
        "anomaly_score": 0.4,
        "fault": "imbalance",
        "fault_confidence": 0.7,
        "state": HEALTHY,
        "model_version": "m",
        "sensor_cause": None,
    }
    pred = combine(row, _features(iso_zone="C"))
    assert (pred["state"], pred["fault"]) == (WARNING, "imbalance")


def test_a_sensor_cause_is_not_a_vibration_fault() -> None:
    feats = _features(temperature_c=110.0)  # above the 93 degC default warning limit
    for pred in (combine(None, feats), combine(rules_row(feats), feats)):
        assert pred["state"] == WARNING
        assert pred["sensor_cause"] == "overheating"
        assert pred["fault"] == NORMAL_FAULT


def test_rules_row_names_no_fault_on_a_healthy_window() -> None:
    # Zone B with a strong 2x: the order rules lean to misalignment, but nothing warns.
    feats = _features(iso_zone="B", order_2x_g=0.2)
    row = rules_row(feats)
    assert row["state"] == HEALTHY
    assert row["fault"] == NORMAL_FAULT


def test_the_served_model_names_no_fault_on_healthy_windows() -> None:
    with tarfile.open(ROOT / "sagemaker" / "bootstrap" / "model.tar.gz") as tar:
        member = tar.extractfile(MODEL_FILE)
        assert member is not None
        model = Model.from_json(member.read())
    rows = model.score([_features(seq=i, velocity_rms_mm_s=0.5 + 0.1 * i) for i in range(10)])
    for row in rows:
        assert window_fault(row["state"], row["fault"]) == row["fault"]
        if row["state"] == HEALTHY:
            assert row["fault"] == NORMAL_FAULT
            assert 0.0 <= row["fault_confidence"] <= 1.0


def test_every_saved_query_that_counts_faults_uses_the_one_predicate() -> None:
    counting = [q for q in query.list_queries() if "fault <> 'normal'" in q.text]
    assert counting, "no saved query counts faults"
    for q in counting:
        assert FAULTY_WINDOW_SQL in q.text, q.name


def test_glue_machine_health_counts_faults_with_the_one_predicate() -> None:
    text = (ROOT / "glue_jobs" / "transforms.py").read_text(encoding="utf-8")
    assert "F.expr(FAULTY_WINDOW_SQL)" in text
    assert "!= NORMAL_FAULT" not in text


# --- the saved query on a lake holding legacy rows and a sensor-fault machine -----------------

pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from local_cloud import athena
    from local_cloud.firehose import LocalFirehose
    from rotorwatch.lake import layout as lake

    now = int(time.time() * 1000) // 60_000 * 60_000
    rows: list[dict[str, Any]] = []

    def add(device: str, states: list[str], faults: list[str], causes: list[str | None]) -> None:
        for i, (state, fault, cause) in enumerate(zip(states, faults, causes, strict=True)):
            ts = now - (len(states) - i) * 600_000
            rows.append(
                {
                    "device_id": device,
                    "site": "plant-a",
                    "ts": ts,
                    "seq": i,
                    "state": state,
                    "fault": fault,
                    "sensor_cause": cause,
                    "iso_zone": "A",
                    "velocity_rms_mm_s": 1.0,
                    "anomaly_score": 0.1,
                    "scored_at": ts + 2000,
                }
            )

    # m22: healthy throughout, written by a scorer that stored the classifier's leaning.
    add("m22", [HEALTHY] * 6, ["looseness"] * 6, [None] * 6)
    # m25: a lubrication loss: warm, then WARNING by temperature, vibration still healthy.
    add("m25", [HEALTHY] * 2 + [WARNING] * 4, [NORMAL_FAULT] * 6, [None] * 2 + ["overheating"] * 4)
    # m30: a real bearing fault among healthy windows that lean elsewhere.
    add("m30", [HEALTHY] * 3 + [ALARM] * 2, ["imbalance"] * 3 + ["bearing_inner"] * 2, [None] * 5)
    root = tmp_path_factory.mktemp("lake")
    with LocalFirehose(root, buffer_records=50) as fh:
        fh.put_records(lake.PREDICTIONS_TABLE, rows)
    return athena.connect(root)


def test_top_offenders_counts_faults_over_non_healthy_windows_and_sensor_causes(con: Any) -> None:
    from local_cloud import athena

    rows = {r["device_id"]: r for r in athena.run_saved("top_offenders", "", {}, con=con).records()}
    assert rows["m22"]["dominant_fault"] == NORMAL_FAULT  # its leaning is no finding
    assert rows["m22"]["sensor_windows"] == 0
    assert rows["m25"]["dominant_fault"] == NORMAL_FAULT
    assert rows["m25"]["dominant_sensor_cause"] == "overheating"
    assert rows["m25"]["sensor_windows"] == 4
    assert rows["m30"]["dominant_fault"] == "bearing_inner"  # 2 faulty beat 3 healthy leanings
