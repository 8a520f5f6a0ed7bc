"""`rotorwatch replay`: one JSON line per window through the deployed fold, the alerts as SNS
words them, remaining life once the wear shows, one-line errors for a user's mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from cli.replay import WINDOW_KEYS
from tests.signals import ASSET_RECORD, message

TS0 = 1_763_900_000_000
STEP_MS = 10 * 60_000
LEARN = 12
N = 45


def velocity(seq: int) -> float:
    """Steady in zone B for the learning period and a little after, then x1.06 a window."""
    return 1.6 * 1.06 ** max(seq - LEARN - 4, 0)


@pytest.fixture
def recording(tmp_path: Path) -> tuple[Path, Path]:
    lines = [
        message("pump-01", TS0 + s * STEP_MS, s, v1x_mm_s=velocity(s), seed=s).decode()
        for s in range(N)
    ]
    # Out of order and one repeated window: replay sorts each device and skips the repeat.
    lines = [*lines[::-1], lines[5]]
    src = tmp_path / "pump.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assets = tmp_path / "assets.json"
    assets.write_text(json.dumps([ASSET_RECORD]))
    return src, assets


def replay(*args: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(app, ["replay", *args])
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, rows, result.stderr


def test_one_line_per_window_in_time_order_with_remaining_life(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    src, assets = recording
    alerts = tmp_path / "alerts.jsonl"
    code, rows, err = replay(
        str(src),
        "--assets",
        str(assets),
        "--rules-only",
        "--learning-windows",
        str(LEARN),
        "--alerts",
        str(alerts),
    )
    assert code == 0, err
    assert [r["seq"] for r in rows] == list(range(N))
    assert all(list(r) == list(WINDOW_KEYS) for r in rows)
    assert "1 repeated window(s) skipped" in err
    # Steady: no estimate, and null, not a number.
    assert all(r["remaining_life_s"] is None for r in rows[: LEARN + 4])
    # Wearing: an estimate with its interval, before zone D.
    estimated = [r for r in rows if r["remaining_life_s"] is not None and r["iso_zone"] != "D"]
    assert estimated
    assert all(
        r["remaining_life_low_s"] <= r["remaining_life_s"] <= r["remaining_life_high_s"]
        for r in estimated
    )
    # The alerts, as the SNS message words them, one per rise the lines show.
    sent = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [a["attributes"]["severity"] for a in sent] == [r["alert"] for r in rows if r["alert"]]
    assert sent
    assert all(a["subject"].startswith("[rotorwatch] ") for a in sent)
    assert all("Remaining life: " in a["message"] for a in sent)


def test_the_stage_learning_period_is_the_default(recording: tuple[Path, Path]) -> None:
    src, assets = recording
    code, _, err = replay(str(src), "--assets", str(assets), "--rules-only")
    assert code == 0
    assert "learning 144 windows" in err


def test_user_mistakes_are_one_line(recording: tuple[Path, Path], tmp_path: Path) -> None:
    src, _ = recording
    code, _, err = replay(str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert err.strip().startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    bad_assets = tmp_path / "bad.json"
    bad_assets.write_text(json.dumps([{**ASSET_RECORD, "end_of_life": {"indicator": "nope"}}]))
    code, _, err = replay(str(src), "--assets", str(bad_assets), "--rules-only")
    assert code == 2
    assert "end_of_life" in err
    assert "Traceback" not in err
    code, _, err = replay(str(src), "--model", str(tmp_path), "--learning-windows", "3")
    assert code == 2
    assert "cannot load model" in err


def test_bad_lines_are_named_and_skipped(recording: tuple[Path, Path], tmp_path: Path) -> None:
    src, assets = recording
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(src.read_text().splitlines()[0] + "\nnot json\n")
    code, rows, err = replay(str(mixed), "--assets", str(assets), "--rules-only")
    assert code == 1
    assert len(rows) == 1
    assert "line 2: " in err
