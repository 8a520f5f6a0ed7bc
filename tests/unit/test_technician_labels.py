"""Training on technicians' answers (issue 28): labels change the model's call on the kind of
window they label, bad label rows are refused and counted, and the result is reproducible.

The answers are given the way the demo's technicians give them (local_cloud.technicians:
the verdict from the simulator's truth at the alert's window), turned into label rows by
``rotorwatch.alerting.feedback_lake.labelled_windows`` (what ``rotorwatch feedback-labels`` runs) and joined
by ``rotorwatch.diagnosis.model.technician_labels.join`` (what ``rotorwatch train --feedback-labels``
and the SageMaker job's ``feedback`` channel run).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from local_cloud.report_scoring import FaultTruth
from local_cloud.technicians import truth_verdict
from rotorwatch.alerting import feedback as fb
from rotorwatch.alerting import feedback_lake as fb_lake
from rotorwatch.diagnosis.model import CARD_FILE, MODEL_FILE
from rotorwatch.diagnosis.model.model import Model
from rotorwatch.diagnosis.model.technician_labels import LABELS_FILE, RECORDS_FILE, join
from rotorwatch.diagnosis.model.train import LABEL_WEIGHT, fit, train_with_card
from rotorwatch.diagnosis.predictions import FAULTS

HOUR_MS = 3_600_000


def _rec(device: str, ts: int, seq: int = 0) -> dict[str, Any]:
    return {"device_id": device, "ts": ts, "seq": seq, "velocity_rms_mm_s": 1.0}


def _label(device: str, ts: int, fault: str, at: int, seq: int = 0) -> dict[str, Any]:
    return {
        "device_id": device,
        "ts": ts,
        "seq": seq,
        "fault": fault,
        "alert_id": f"{device}:{at}",
        "recorded_ms": at,
    }


def test_join_refuses_and_counts_what_would_teach_something_false() -> None:
    records = [_rec("p1", t) for t in (1, 2, 3, 4, 5)] + [_rec("p1", 1)]  # p1@1 twice
    labels = [
        _label("p1", 1, "imbalance", at=10),
        _label("p1", 1, "imbalance", at=10),  # duplicate: kept once
        _label("p1", 2, "imbalance", at=10),
        _label("p1", 2, "normal", at=20),  # a later correction: wins
        _label("p1", 3, "looseness", at=10),
        _label("p1", 3, "misalignment", at=10),  # the same moment, another label: out
        _label("p1", 4, "rust", at=10),  # not a class
        _label("p9", 1, "imbalance", at=10),  # no such window
        _label("p1", 5, "normal", at=30),
        _label("p1", 5, "imbalance", at=40),  # corrected again: the last correction wins
    ]
    out, audit = join(records, labels)
    assert [(r["device_id"], r["ts"], r["fault"]) for r in out] == [
        ("p1", 1, "imbalance"),
        ("p1", 2, "normal"),
        ("p1", 5, "imbalance"),
    ]
    assert audit.dropped == {
        "no_such_window": 1,
        "unknown_fault": 1,
        "duplicate": 1,
        "superseded": 2,
        "contradictory": 2,  # both of the disagreeing rows
    }
    assert audit.to_dict()["dropped_examples"]["superseded"][0]["fault"] in ("imbalance", "normal")
    # The order of the files does not matter: the same rows give the same windows and audit.
    shuffled = labels[:]
    random.Random(3).shuffle(shuffled)
    again, audit2 = join(list(reversed(records)), shuffled)
    assert again == out
    assert audit2.to_dict() == audit.to_dict()
    # A later answer settles a window two earlier labels disagreed on.
    settled, _ = join(records, [*labels, _label("p1", 3, "looseness", at=50)])
    assert ("p1", 3, "looseness") in [(r["device_id"], r["ts"], r["fault"]) for r in settled]


def test_labelled_windows_keep_the_last_correction_and_say_what_they_dropped() -> None:
    alert = fb.AlertRecord("p1:10:1:WARNING", "p1", "s", "WARNING", "imbalance", 10 * HOUR_MS, 1)
    first = fb_lake.answer_row(alert, fb.Answer(fb.CONFIRMED, "email", 11 * HOUR_MS))
    fixed = fb_lake.answer_row(
        alert, fb.Answer(fb.NO_FAULT_FOUND, "email", 12 * HOUR_MS, correction=True)
    )
    feats = [_rec("p1", 10 * HOUR_MS - k * 600_000, k) for k in range(3)]
    audit: dict[str, int] = {}
    for rows in ([first, fixed], [fixed, first]):  # file order does not decide
        _recs, truth = fb_lake.labelled_windows(rows, feats, FAULTS, audit=audit)
        assert {t["fault"] for t in truth} == {"normal"}
        assert {t["recorded_ms"] for t in truth} == {12 * HOUR_MS}
        assert audit["answers_superseded"] == 1
        assert audit["windows"] == 3


# ---- training -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet() -> list[dict[str, Any]]:
    from simulator.dataset import simulated_fleet_features

    # The test fleet of test_model_training: 2 machines per fault, 2 healthy, 20-min windows.
    _sc, rows = simulated_fleet_features(
        14, seed=11, duration_h=24.0, interval_s=1200.0, n_healthy=2
    )
    return rows


def _faulty(rows: Sequence[Mapping[str, Any]], device: str) -> list[Mapping[str, Any]]:
    return [
        r
        for r in rows
        if r["device_id"] == device and r["fault"] != "normal" and (r["severity"] or 0) >= 0.05
    ]


def _technicians_answer(
    model: Model, rows: Sequence[Mapping[str, Any]], device: str, every: int
) -> list[dict[str, Any]]:
    """Alerts on every ``every``-th faulty window of ``device``, claiming what ``model`` calls,
    answered an hour later from the simulator's truth as the demo's technicians answer."""
    faulty = _faulty(rows, device)
    fault = str(faulty[0]["fault"])
    onset = min(int(r["ts"]) for r in rows if r["device_id"] == device and r["fault"] == fault)
    truth = FaultTruth(device, fault, onset, None, 1.0)
    out = []
    for rec, scored in zip(faulty[::every], model.score(faulty[::every]), strict=True):
        ts = int(rec["ts"])
        alert = fb.AlertRecord(
            f"{device}:{ts}:{rec['seq']}:WARNING",
            device,
            "plant",
            "WARNING",
            scored["fault"],
            ts,
            ts,
        )
        verdict, found = truth_verdict(scored["fault"], truth, ts, "WARNING")
        answer = fb.Answer(verdict, "email", ts + HOUR_MS, fault_found=found)
        out += [fb_lake.alert_row(alert), fb_lake.answer_row(alert, answer)]
    return out


def _calls(model: Model, records: Sequence[Mapping[str, Any]], fault: str) -> float:
    return sum(s["fault"] == fault for s in model.score(records)) / len(records)


def _accuracy(model: Model, records: Sequence[Mapping[str, Any]]) -> float:
    scored = model.score(records)
    return sum(s["fault"] == r["fault"] for s, r in zip(scored, records, strict=True)) / len(
        records
    )


@pytest.mark.slow
def test_answers_teach_a_fault_the_simulated_fleet_lacks(fleet: list[dict[str, Any]]) -> None:
    """A site whose machines come loose, trained on a simulated fleet without looseness: the
    technicians answer "another fault: looseness" on one machine's alerts; the retrained model
    calls looseness on another looseness machine it never saw a label of, and the rest of the
    fleet keeps its accuracy."""
    taught, unseen = "m09", "m12"
    assert {r["fault"] for r in _faulty(fleet, taught) + _faulty(fleet, unseen)} == {"looseness"}
    simulated = [r for r in fleet if r["device_id"] not in (taught, unseen)]
    base = fit(simulated)
    answers = _technicians_answer(base, fleet, taught, every=6)
    assert {r["verdict"] for r in answers if r["kind"] == "answer"} == {fb.OTHER_FAULT}
    records, labels = fb_lake.labelled_windows(answers, fleet, FAULTS)
    labelled, audit = join(records, labels)
    assert audit.by_fault == {"looseness": len(labelled)}
    assert len(labelled) >= 12
    retrained = fit(simulated, labelled)
    target = _faulty(fleet, unseen)
    assert _calls(base, target, "looseness") == 0.0
    assert _calls(retrained, target, "looseness") >= 0.6
    rest = [r for r in simulated if r["fault"] != "normal" and (r["severity"] or 0) >= 0.05]
    assert _accuracy(retrained, rest) >= _accuracy(base, rest) - 0.02


@pytest.mark.slow
def test_no_fault_found_takes_the_fault_call_off_that_kind_of_window(
    fleet: list[dict[str, Any]],
) -> None:
    """Technicians find nothing on one machine's imbalance alerts (its "imbalance" is how that
    machine runs): the retrained model stops calling imbalance on that kind of window, on
    another machine too, and no longer WARNs on those windows by the classifier."""
    taught, unseen = "m01", "m06"
    simulated = [r for r in fleet if r["device_id"] != unseen]
    base = fit(simulated)
    rows = []
    for rec in _faulty(fleet, taught)[::3]:
        ts = int(rec["ts"])
        alert = fb.AlertRecord(f"{taught}:{ts}", taught, "plant", "WARNING", "imbalance", ts, ts)
        rows += [
            fb_lake.alert_row(alert),
            fb_lake.answer_row(alert, fb.Answer(fb.NO_FAULT_FOUND, "email", ts + HOUR_MS)),
        ]
    labelled, audit = join(*fb_lake.labelled_windows(rows, fleet, FAULTS))
    assert set(audit.by_fault) == {"normal"}
    retrained = fit(simulated, labelled)
    target = _faulty(fleet, unseen)
    before, after = _calls(base, target, "imbalance"), _calls(retrained, target, "imbalance")
    assert before >= 0.6
    assert after <= 0.2
    warned = [sum(s["state"] == "WARNING" for s in m.score(target)) for m in (base, retrained)]
    assert warned[1] < warned[0]
    # The weight is what outvotes the simulated imbalance windows: at weight 1 it does not.
    import rotorwatch.diagnosis.model.train as train_module

    original = train_module.LABEL_WEIGHT
    try:
        train_module.LABEL_WEIGHT = 1.0
        assert _calls(fit(simulated, labelled), target, "imbalance") > after + 0.2
    finally:
        train_module.LABEL_WEIGHT = original


@pytest.mark.slow
def test_training_with_labels_is_reproducible_and_without_them_unchanged(
    fleet: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Same labels (in any file order) -> the same artifact bytes; no labels -> exactly the
    model trained without the option (the committed bootstrap artifact's path)."""
    small = [r for r in fleet if r["device_id"] in ("m01", "m02", "m04", "m05", "m14")]
    assert fit(small, ()).to_json() == fit(small).to_json()
    model, card = train_with_card(small)
    assert "technician_labels" not in card

    alert_ts = int(_faulty(small, "m01")[10]["ts"])
    alert = fb.AlertRecord("m01:a", "m01", "plant", "WARNING", "imbalance", alert_ts, 1)
    answer = fb_lake.answer_row(alert, fb.Answer(fb.NO_FAULT_FOUND, "email", alert_ts + HOUR_MS))
    records, labels = fb_lake.labelled_windows([answer], small, FAULTS)
    artifacts = []
    for n, order in enumerate((1, -1)):
        folder = tmp_path / f"labels{n}"
        folder.mkdir()
        (folder / RECORDS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records[::order]))
        (folder / LABELS_FILE).write_text("".join(json.dumps(r) + "\n" for r in labels[::order]))
        features = tmp_path / "features.jsonl"
        features.write_text("".join(json.dumps(r) + "\n" for r in small))
        artifact = tmp_path / f"model{n}.tar.gz"
        got = CliRunner().invoke(
            app,
            [
                "train",
                str(features),
                "--feedback-labels",
                str(folder),
                "--model-dir",
                str(tmp_path / f"model{n}"),
                "--artifact",
                str(artifact),
            ],
        )
        assert got.exit_code == 0, got.output
        assert "technician-labelled windows (normal 3)" in got.output
        artifacts.append(artifact.read_bytes())
        card = json.loads((tmp_path / f"model{n}" / CARD_FILE).read_text())
        assert card["technician_labels"]["windows"] == 3
        assert card["technician_labels"]["label_weight"] == LABEL_WEIGHT
        with_labels = Model.from_json((tmp_path / f"model{n}" / MODEL_FILE).read_text())
        assert with_labels.version != model.version  # the labels did reach the model
    assert artifacts[0] == artifacts[1]


def test_a_labels_folder_that_is_not_one_is_a_one_line_error(tmp_path: Path) -> None:
    got = CliRunner().invoke(
        app, ["train", "--simulate", "14", "--hours", "1", "--feedback-labels", str(tmp_path)]
    )
    assert got.exit_code == 2
    assert "records.jsonl" in got.output
    assert "feedback-labels --out" in got.output
    assert "Traceback" not in got.output


@pytest.mark.slow
def test_the_training_job_reads_the_feedback_channel_on_its_own(
    fleet: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The SageMaker job's staged source (train.py + TRAINING_MODULES) in a fresh interpreter
    reads the ``feedback`` channel: a module the label path needs but the list leaves out
    fails here, not in a training job."""
    import subprocess
    import sys

    from rotorwatch.diagnosis.model.artifact import TRAINING_MODULES, write_code
    from tests.unit.test_model_training import _TRAINING_JOB_SCRIPT, INFERENCE, ROOT

    small = [r for r in fleet if r["device_id"] in ("m01", "m02", "m04", "m05", "m14")]
    alert_ts = int(_faulty(small, "m01")[10]["ts"])
    alert = fb.AlertRecord("m01:a", "m01", "plant", "WARNING", "imbalance", alert_ts, 1)
    answer = fb_lake.answer_row(alert, fb.Answer(fb.NO_FAULT_FOUND, "email", alert_ts + HOUR_MS))
    records, labels = fb_lake.labelled_windows([answer], small, FAULTS)
    code = tmp_path / "code"
    write_code(code, [ROOT / "sagemaker" / "train.py", INFERENCE], TRAINING_MODULES)
    for channel, files in (
        ("train", {"features.json": small}),
        ("feedback", {RECORDS_FILE: records, LABELS_FILE: labels}),
    ):
        (tmp_path / channel).mkdir()
        for name, rows in files.items():
            (tmp_path / channel / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_CHANNEL_FEEDBACK": str(tmp_path / "feedback"),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _TRAINING_JOB_SCRIPT, str(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 technician-labelled windows (normal 3)" in proc.stderr
    card = json.loads((tmp_path / "model" / CARD_FILE).read_text())
    assert card["technician_labels"]["windows"] == 3
