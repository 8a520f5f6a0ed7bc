"""`rotorwatch features`: good lines processed, bad lines reported with number and reason."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rotorwatch.cli import app
from rotorwatch.telemetry import encode, encode_samples
from tests.signals import sine_g


def test_features_reports_bad_lines_and_processes_good_ones(tmp_path: Path) -> None:
    good = encode(
        device_id="dev-1",
        ts=1,
        seq=1,
        rpm=1800.0,
        vibration=encode_samples(sine_g(50.0), fs_hz=8192.0),
    )
    lines = [
        good.decode(),
        "not json",
        "",
        json.dumps({"v": 9, "device_id": "x", "ts": 0, "seq": 0}),
        good.decode(),
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assets = tmp_path / "assets.json"
    assets.write_text(
        json.dumps(
            [{"device_id": "dev-1", "machine_group": 2, "foundation": "rigid", "rated_rpm": 1800}]
        )
    )
    result = CliRunner().invoke(app, ["features", "--assets", str(assets), str(src)])
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 2
    assert out[0]["velocity_rms_mm_s"] > 20
    assert out[0]["iso_zone"] == "D"
    assert "line 2: not_json" in result.stderr
    assert "line 4: unsupported_version" in result.stderr


def test_features_exit_zero_on_clean_input(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(encode(device_id="d", ts=1, seq=1, temperature_c=20.0).decode() + "\n")
    result = CliRunner().invoke(app, ["features", str(src)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["temperature_c"] == 20.0
