"""`rotorwatch replay`: one JSON line per window through the deployed fold, the alerts as SNS
words them, remaining life once the wear shows, one-line errors for a user's mistakes."""

from __future__ import annotations

import json
import re
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
    # The at-this-rate time (what the P-F prior's rate calibration is fitted on): a positive
    # number where the trend estimate sees a rise, never zero or negative before zone D.
    assert all(r["remaining_life_rate_s"] is not None for r in estimated)
    assert all(
        r["remaining_life_rate_s"] is None or r["remaining_life_rate_s"] > 0
        for r in rows
        if r["iso_zone"] != "D"
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


def test_stdin_with_devices_interleaved_and_shuffled_replays_each_in_its_own_order(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    # Two devices' lines mixed and out of order, on stdin (spooled to disk, then each device
    # read back in time order): the same lines per device as from a file of that device alone.
    src, _ = recording
    assets = tmp_path / "two.json"
    assets.write_text(json.dumps([ASSET_RECORD, {**ASSET_RECORD, "device_id": "pump-02"}]))
    one = src.read_text().splitlines()
    other = [line.replace('"pump-01"', '"pump-02"') for line in one]
    mixed = [line for pair in zip(one, other[::-1], strict=True) for line in pair]
    args = ["--assets", str(assets), "--rules-only", "--learning-windows", str(LEARN)]
    result = CliRunner().invoke(app, ["replay", "-", *args], input="\n".join(mixed) + "\n")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    _, alone, _ = replay(str(src), *args)
    for device in ("pump-01", "pump-02"):
        got = [r for r in rows if r["device_id"] == device]
        assert [r["seq"] for r in got] == list(range(N))
        assert [{**r, "device_id": None} for r in got] == [{**r, "device_id": None} for r in alone]


def test_progress_goes_to_stderr(
    recording: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import cli.replay

    monkeypatch.setattr(cli.replay, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(cli.replay, "BATCH_LINES", 10)
    src, assets = recording
    code, rows, err = replay(str(src), "--assets", str(assets), "--rules-only")
    assert code == 0
    progress = [line for line in err.splitlines() if line.endswith("windows (pump-01)")]
    assert progress[0].startswith("replay: 10/46 windows")
    assert len(progress) == 5  # one a batch of 10 of the 46 lines
    assert len(rows) == N


def test_a_pf_prior_gives_an_estimate_from_the_alert_on_and_the_alerts_say_it(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    from rotorwatch.diagnosis.pf_prior import fit

    src, assets = recording
    prior = tmp_path / "prior.json"
    hour = 3600.0
    prior.write_text(
        json.dumps([fit("velocity_rms_mm_s", [2 * hour, 4 * hour, 8 * hour], "test").to_dict()])
    )
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
        "--life-prior",
        str(prior),
    )
    assert code == 0, err
    # The stage decides: nothing while the device is HEALTHY, an estimate once it is not.
    assert all(r["remaining_life_s"] is None for r in rows if r["state"] == "HEALTHY")
    degraded = [r for r in rows if r["state"] != "HEALTHY" and r["iso_zone"] != "D"]
    assert degraded
    assert all(r["remaining_life_s"] is not None for r in degraded)
    assert all(
        0 < r["remaining_life_low_s"] <= r["remaining_life_s"] <= r["remaining_life_high_s"]
        for r in degraded
    )
    # "about N unit (X-Y unit)" in the e-mail, the short form in the SMS.
    sent = [json.loads(line) for line in alerts.read_text().splitlines()]
    rises = [a for a in sent if a["attributes"]["severity"] in ("WARNING", "ALARM")]
    assert rises
    first = rises[0]
    assert "Remaining life: at this rate, zone D in about " in first["message"]
    life = first["message"].split("Remaining life: ")[1].splitlines()[0]
    assert re.fullmatch(
        r"at this rate, zone D in (about \d+|under 1) (min|h|days) \(\d+-\d+ \2\)", life
    )
    assert re.search(r" zone D ~\d+(min|h|days) \(\d+-\d+\),", first["sms"])
    assert len(first["sms"]) <= 160


def test_an_alert_at_an_episodes_first_windows_quotes_no_clocked_range(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    """With a prior calibrated on the episode's clock and no early calibration of the rate
    (``early_*``, which would read those windows), the WARNING that opens an episode says
    "no estimate yet" (its clock is one window long) while its window's row keeps the range
    for the lake; the replay's rows are the same as with the range quoted."""
    from rotorwatch.diagnosis.pf_prior import fit

    src, assets = recording
    hour = 3600.0
    clocked = (
        fit("velocity_rms_mm_s", [2 * hour, 4 * hour, 8 * hour], "test")
        .with_rate(0.0, 0.5, clock_weight=0.5)
        .with_clock(0.0, 0.8)
    )
    prior = tmp_path / "prior.json"
    prior.write_text(json.dumps([clocked.to_dict()]))
    alerts = tmp_path / "alerts.jsonl"
    args = ["--assets", str(assets), "--rules-only", "--learning-windows", str(LEARN)]
    code, rows, err = replay(str(src), *args, "--alerts", str(alerts), "--life-prior", str(prior))
    assert code == 0, err
    sent = [json.loads(line) for line in alerts.read_text().splitlines()]
    opening = next(a for a in sent if a["attributes"]["severity"] == "WARNING")
    ts = int(opening["alert_id"].split(":")[-3])
    device = opening["attributes"]["device_id"]
    row = next(r for r in rows if r["device_id"] == device and r["ts"] == ts)
    assert row["remaining_life_s"] is not None
    assert (
        "Remaining life: no estimate yet: too little of the degradation seen"
        in (opening["message"])
    )
    assert " zone D ~" not in opening["sms"]


def test_a_bad_prior_file_is_one_line(recording: tuple[Path, Path], tmp_path: Path) -> None:
    src, assets = recording
    for content in ("not json", "{}", json.dumps([{"format": 99}])):
        bad = tmp_path / "prior.json"
        bad.write_text(content)
        code, _, err = replay(str(src), "--assets", str(assets), "--life-prior", str(bad))
        assert code == 2, content
        assert "--life-prior" in err
        assert "Traceback" not in err
