"""`rotorwatch simulate | provision | deprovision` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import typer
from moto import mock_aws
from typer.testing import CliRunner

from cli import app
from cli.simulate import live_start_ms, parse_duration_s, parse_start_ms
from rotorwatch.contract.telemetry import decode

runner = CliRunner()


def test_simulate_writes_telemetry_and_ground_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "t.jsonl", tmp_path / "truth.jsonl"
    args = [
        "simulate",
        "--scenario",
        "small",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "2h",
    ]
    res = runner.invoke(
        app, [*args, "--interval", "30m", "--seed", "4", "--out", str(out), "--truth", str(truth)]
    )
    assert res.exit_code == 0, res.output
    msgs = [decode(line) for line in out.read_bytes().splitlines()]
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(msgs) == len(rows) == 16
    assert msgs[0].ts == 1_767_225_600_000
    assert [(m.device_id, m.seq) for m in msgs] == [(r["device_id"], r["seq"]) for r in rows]
    again = tmp_path / "again.jsonl"
    res = runner.invoke(app, [*args, "--interval", "30m", "--seed", "4", "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_simulate_help_explains_the_options() -> None:
    res = runner.invoke(app, ["simulate", "--help"], terminal_width=200)
    assert res.exit_code == 0
    for option in (
        "--scenario",
        "--speed",
        "--mqtt-host",
        "--credentials-dir",
        "--basic-ingest",
        "--rate",
        "--truth",
    ):
        assert option in res.output


def test_simulate_refuses_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x"}')
    res = runner.invoke(app, ["simulate", "--scenario", str(bad), "--duration", "10m"])
    assert res.exit_code == 2
    assert "site" in res.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        ("forever", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration_s(text) == seconds


def test_start_times() -> None:
    assert parse_start_ms("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert parse_start_ms("2026-01-01T01:00:00+01:00") == 1_767_225_600_000
    assert parse_start_ms("1767225600000") == 1_767_225_600_000


def test_provision_and_deprovision_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        boto3.client("dynamodb", region_name="eu-west-1").create_table(
            TableName="assets",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        creds = tmp_path / "creds"
        res = runner.invoke(
            app,
            ["provision", "--scenario", "small", "--out", str(creds), "--assets-table", "assets"],
        )
        assert res.exit_code == 0, res.output
        manifest = json.loads((creds / "devices.json").read_text())
        assert len(manifest["things"]) == 4
        assert "AmazonRootCA1.pem" in res.output
        iot = boto3.client("iot", region_name="eu-west-1")
        assert len(iot.list_things()["things"]) == 4
        res = runner.invoke(app, ["deprovision", "--out", str(creds), "--assets-table", "assets"])
        assert res.exit_code == 0, res.output
        assert iot.list_things()["things"] == []
        assert (
            boto3.resource("dynamodb", region_name="eu-west-1").Table("assets").scan()["Items"]
            == []
        )


NOW_MS = 1_795_000_000_000
DAY_MS = 86_400_000


@pytest.mark.parametrize("speed", [1440.0, 60.0, 0.0])
def test_an_accelerated_feed_to_a_broker_never_stamps_the_future(speed: float) -> None:
    """The help's own example (--speed 1440 --duration 1d) against a deployed stack: every
    window's ts is at or before the wall time it is published at (pacing: t / speed)."""
    start_ms, note = live_start_ms("now", 86400.0, speed, NOW_MS)
    assert note is not None
    assert "to now" in note
    for t_ms in range(0, DAY_MS + 1, 600_000):
        sent_ms = NOW_MS + (t_ms / speed if speed else 0)
        assert start_ms + t_ms <= sent_ms


def test_real_time_feeds_start_now_and_explicit_future_starts_are_refused() -> None:
    assert live_start_ms("now", 86400.0, 1.0, NOW_MS) == (NOW_MS, None)
    assert live_start_ms("now", None, 1.0, NOW_MS) == (NOW_MS, None)
    with pytest.raises(typer.BadParameter, match="ahead of the clock"):
        live_start_ms(str(NOW_MS), 86400.0, 1440.0, NOW_MS)
    with pytest.raises(typer.BadParameter, match="real time"):
        live_start_ms("now", None, 1440.0, NOW_MS)
    # A replay of the past is fine at any speed.
    assert live_start_ms(str(NOW_MS - 2 * DAY_MS), 86400.0, 0.0, NOW_MS)[0] == NOW_MS - 2 * DAY_MS


def test_telemetry_is_not_poured_onto_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a terminal (a pipe, a file): the JSON lines flow.
    result = runner.invoke(app, ["simulate", "--duration", "10m"])
    assert result.exit_code == 0
    assert result.stdout.startswith('{"v":1')
    # A terminal gets one line saying where to send them instead.
    monkeypatch.setattr("cli.simulate.stdout_is_terminal", lambda: True)
    tty = runner.invoke(app, ["simulate", "--duration", "10m"])
    assert tty.exit_code == 2
    assert tty.stdout == ""
    assert "give --out FILE" in tty.stderr


@pytest.mark.parametrize(
    ("option", "says"),
    [
        (["--seq-start", "-3"], "'seq' must be >= 0"),
        (["--samples", "100"], "at least 256"),
        (["--fs-hz", "0"], "Nyquist"),
        (["--speed", "-1"], "--speed must be 0"),
        (["--duration", "0"], "--duration must be more than 0"),
        (["--duration", "forever"], "--duration forever is a live feed"),
        (["--duration", "forever", "--speed", "1440"], "--duration forever is a live feed"),
        (["--interval", "0"], "--interval must be a positive duration"),
        (["--contract", "3"], "--contract must be one of"),
    ],
    ids=lambda o: " ".join(o) if isinstance(o, list) else None,
)
def test_a_bad_option_refuses_in_one_line_and_leaves_existing_files_alone(
    tmp_path: Path, option: list[str], says: str
) -> None:
    """A bad option once emptied a 6.4 MB telemetry file (and --duration forever at full
    speed wrote 88 MB in 15 s stamped weeks ahead): it is refused before anything is opened."""
    keep, truth = tmp_path / "keep.jsonl", tmp_path / "truth.jsonl"
    keep.write_bytes(b"precious telemetry\n")
    truth.write_bytes(b"precious truth\n")
    args = ["simulate", "--duration", "30m", "--out", str(keep), "--truth", str(truth), *option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.startswith("error: "), line
    assert says in line, line
    assert keep.read_bytes() == b"precious telemetry\n"
    assert truth.read_bytes() == b"precious truth\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jsonl", "truth.jsonl"]


def test_a_good_run_replaces_the_file_whole(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    out.write_bytes(b"old\n" * 10_000)
    args = ["simulate", "--duration", "10m", "--seed", "1", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    assert len(lines) == 4
    assert all(decode(x) for x in lines)
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]
