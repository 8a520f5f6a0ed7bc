"""`rotorwatch simulate | provision | deprovision` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from rotorwatch.cli import app
from rotorwatch.cli.simulate import parse_duration_s, parse_start_ms
from rotorwatch.telemetry import decode

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
