"""The saved query "alert outcomes" on DuckDB over feedback rows written by rotorwatch.alerting.feedback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

import sqlglot

from local_cloud import athena
from rotorwatch.alerting import feedback as fb
from rotorwatch.alerting import feedback_lake as fb_lake
from rotorwatch.lake import query

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000


def _write(lake_dir: Path, row: dict) -> None:
    key, body = fb_lake.lake_object(row)
    path = lake_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def _alert(n: int, site: str, fault: str, age_h: float) -> fb.AlertRecord:
    created = NOW_MS - int(age_h * HOUR_MS)
    return fb.AlertRecord(
        f"d{n}:{created}:{n}:ALARM", f"d{n}", site, "ALARM", fault, created, created
    )


def _answer(
    verdict: str, alert: fb.AlertRecord, after_h: float, *, correction: bool = False
) -> dict:
    answer = fb.Answer(
        verdict, "email", alert.created_ms + int(after_h * HOUR_MS), correction=correction
    )
    return fb_lake.answer_row(alert, answer)


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    a = [_alert(i, "plant-a", "bearing_outer", 30) for i in range(4)]
    b = [_alert(10 + i, "plant-b", "imbalance", 20) for i in range(2)]
    old = _alert(99, "plant-a", "bearing_outer", 24 * 40)  # outside the 30-day look-back
    for alert in (*a, *b, old):
        _write(tmp_path, fb_lake.alert_row(alert))
        _write(tmp_path, fb_lake.alert_row(alert))  # a re-sent alert: same object, counted once
    _write(tmp_path, _answer("confirmed", a[0], 1))
    _write(tmp_path, _answer("repaired", a[1], 2))
    _write(tmp_path, _answer("no_fault_found", a[2], 1))
    # a[3] never answered
    _write(tmp_path, _answer("no_fault_found", b[0], 1))
    _write(tmp_path, _answer("confirmed", b[0], 3, correction=True))  # the correction stands
    _write(tmp_path, _answer("no_fault_found", b[1], 1))
    _write(tmp_path, _answer("confirmed", old, 1))
    return tmp_path


def test_alert_outcomes_counts_and_precision(lake_dir: Path) -> None:
    q = query.load("alert_outcomes")
    sqlglot.parse_one(query.render(q, {}, dialect="trino"), read="trino")  # valid Trino
    rows = athena.run_saved(q, lake_dir).records()
    by = {(r["site"], r["fault"]): r for r in rows}
    a = by[("plant-a", "bearing_outer")]
    assert (a["alerts"], a["answered"], a["confirmed"], a["repaired"], a["rejected"]) == (
        4,
        3,
        1,
        1,
        1,
    )
    assert a["unanswered"] == 1
    assert a["precision"] == pytest.approx(2 / 3)
    b = by[("plant-b", "imbalance")]
    assert (b["alerts"], b["confirmed"], b["rejected"], b["unanswered"]) == (2, 1, 1, 0)
    assert b["precision"] == pytest.approx(0.5)
    fleet = by[("*", "*")]
    assert (fleet["alerts"], fleet["answered"], fleet["unanswered"]) == (6, 5, 1)
    assert fleet["precision"] == pytest.approx(3 / 5)
    assert by[("plant-a", "*")]["alerts"] == 4
    assert [(r["site"], r["fault"]) for r in rows][-1] == ("*", "*")


def test_alert_outcomes_on_a_lake_without_feedback(tmp_path: Path) -> None:
    rows = athena.run_saved("alert_outcomes", tmp_path).records()
    assert rows == []


def test_feedback_labels_cli_writes_reproducible_training_inputs(
    lake_dir: Path, tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from cli import app

    feats = tmp_path / "features.jsonl"
    alert_ts = _alert(0, "plant-a", "bearing_outer", 30).ts
    feats.write_text(
        "".join(
            json.dumps({"device_id": f"d{d}", "ts": alert_ts - k * 600_000, "seq": k}) + "\n"
            for d in (0, 1, 2)
            for k in range(10)
        )
    )
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        got = CliRunner().invoke(
            app,
            [
                "feedback-labels",
                str(lake_dir / "feedback"),
                "--features",
                str(feats),
                "--out",
                str(out),
            ],
        )
        assert got.exit_code == 0, got.output
        outs.append(((out / "records.jsonl").read_bytes(), (out / "labels.jsonl").read_bytes()))
    assert outs[0] == outs[1]
    labels = [json.loads(line) for line in outs[0][1].decode().splitlines()]
    # d0 confirmed, d1 repaired (bearing_outer), d2 no fault found: 6 windows each in the hour.
    assert {(t["device_id"], t["fault"]) for t in labels} == {
        ("d0", "bearing_outer"),
        ("d1", "bearing_outer"),
        ("d2", "normal"),
    }
    assert len(labels) == 3 * 6
