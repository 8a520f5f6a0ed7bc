"""`rotorwatch features`: good lines processed, bad lines reported with number and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import decode, encode, encode_samples
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


def _good(ts: int) -> bytes:
    return encode(device_id="dev-1", ts=ts, seq=ts, temperature_c=20.0)


@pytest.mark.parametrize(
    "bad",
    [b"\xe9\xff", b'{"v":1,"device_id":"d\xe9v","ts":1,"seq":1}', b"\xc3", b"\xed\xa0\x80"],
    ids=["latin1", "inside-a-string", "truncated", "surrogate"],
)
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_a_line_that_is_not_utf8_is_one_bad_line(tmp_path: Path, bad: bytes, via: str) -> None:
    """Bytes that are not UTF-8, anywhere in a line, cost that line only, named not_utf8."""
    data = _good(1) + b"\n" + bad + b"\n" + _good(2) + b"\n"
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    args, stdin = (["features", str(src)], None) if via == "file" else (["features"], data)
    result = CliRunner().invoke(app, args, input=stdin)
    assert result.exit_code == 1
    assert [json.loads(line)["ts"] for line in result.stdout.splitlines()] == [1, 2]
    assert "line 2: not_utf8:" in result.stderr
    assert "Traceback" not in result.output


def test_decode_names_smuggled_non_utf8_text_not_utf8() -> None:
    """Text that carries undecodable bytes as lone surrogates (surrogateescape) is not_utf8."""
    text = b'{"v":1,"device_id":"d\xe9","ts":1,"seq":1}'.decode("utf-8", "surrogateescape")
    with pytest.raises(TelemetryError) as err:
        decode(text)
    assert err.value.reason == "not_utf8"


def test_devices_without_an_asset_record_are_named_once(tmp_path: Path) -> None:
    lines = [
        encode(device_id=d, ts=t, seq=t, temperature_c=20.0) for t in (1, 2) for d in ("a", "b")
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    bare = CliRunner().invoke(app, ["features", str(src)])
    assert bare.exit_code == 0
    notes = [line for line in bare.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 2
    assert "a: no --assets registry given" in notes[0]
    assert "no ISO 10816-3 zone" in notes[0]
    # A bundled scenario by name is a registry; devices it lacks are named too.
    named = CliRunner().invoke(app, ["features", "--assets", "small", str(src)])
    assert named.exit_code == 0, named.stderr
    assert "a: no asset record in small" in named.stderr


def test_assets_accepts_a_scenario_name_like_simulate(tmp_path: Path) -> None:
    good = encode(
        device_id="pump-01",
        ts=1,
        seq=1,
        rpm=1780.0,
        vibration=encode_samples(sine_g(29.7), fs_hz=8192.0),
    )
    src = tmp_path / "in.jsonl"
    src.write_bytes(good + b"\n")
    result = CliRunner().invoke(app, ["features", "--assets", "small", str(src)])
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["iso_zone"] in ("A", "B", "C", "D")
    assert row["env_bpfo"] is not None
    assert "note:" not in result.stderr
