"""`rotorwatch score` as a new user meets it: works on a fresh clone (the committed bootstrap
model is the default), ties every score to its machine and window, and refuses records that are
not feature records instead of calling them HEALTHY."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from cli.model import DEFAULT_SCORE_MODEL, KEY_FIELDS
from rotorwatch.contract.telemetry import encode, encode_samples
from tests.signals import sine_g


def _telemetry(ts: int) -> bytes:
    return encode(
        device_id="pump-01",
        ts=ts,
        seq=ts,
        rpm=1780.0,
        vibration=encode_samples(sine_g(29.7, amp_g=0.05), fs_hz=8192.0),
    )


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("score")
    raw = root / "telemetry.jsonl"
    raw.write_bytes(b"\n".join(_telemetry(t) for t in (1000, 2000, 3000)) + b"\n")
    out = CliRunner().invoke(app, ["features", "--assets", "small", str(raw)])
    assert out.exit_code == 0, out.stderr
    path = root / "features.jsonl"
    path.write_text(out.stdout)
    return path


def test_default_model_is_the_committed_artifact() -> None:
    assert DEFAULT_SCORE_MODEL.is_file()
    assert DEFAULT_SCORE_MODEL.name == "model.tar.gz"


def test_scores_carry_device_ts_seq(features: Path) -> None:
    result = CliRunner().invoke(app, ["score", str(features)])  # no --model: the default
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["device_id"], r["ts"], r["seq"]) for r in rows] == [
        ("pump-01", t, t) for t in (1000, 2000, 3000)
    ]
    for r in rows:
        assert set(KEY_FIELDS) | {"anomaly_score", "state", "fault"} <= set(r)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{}\n", "not a feature record: no device_id, ts, seq"),
        ('{"device_id": "m", "ts": 1, "seq": 1, "temperature_c": 20}\n', "no vibration features"),
        (None, "raw telemetry"),
    ],
    ids=["empty", "no-vibration", "raw-telemetry"],
)
def test_records_that_are_not_feature_records_are_named_and_fail(
    text: str | None, reason: str
) -> None:
    data = text if text is not None else (_telemetry(1) + b"\n" + _telemetry(2)).decode() + "\n"
    result = CliRunner().invoke(app, ["score"], input=data)
    assert result.exit_code == 1
    assert result.stdout == ""  # no invented HEALTHY
    assert reason in result.stderr
    assert "nothing to score" in result.stderr


def test_a_mix_scores_the_good_ones_and_names_the_rest(features: Path) -> None:
    data = features.read_text() + "{}\n"
    result = CliRunner().invoke(app, ["score"], input=data)
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 3
    assert "skipped 1 record(s) (4): not a feature record" in result.stderr


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"null", "not a JSON object (null)"),
        (b"[1, 2]", "not a JSON object (list)"),  # a line that looks like an array
        (b"\xff\xfe not utf-8", "not UTF-8 text"),
        (b"{not json", "not JSON"),
    ],
    ids=["null", "array-line", "not-utf8", "not-json"],
)
@pytest.mark.parametrize("where", ["first", "last"])
def test_one_bad_line_skips_that_line_not_the_file(
    features: Path, bad: bytes, reason: str, where: str
) -> None:
    """Issue 26 item 10: a raw JSONDecodeError when the first line started with '[', a
    UnicodeDecodeError on a non-UTF-8 file, and the whole file refused for one null line,
    although the help says bad records are skipped."""
    good = features.read_bytes()
    data = bad + b"\n" + good if where == "first" else good + bad + b"\n"
    result = CliRunner().invoke(app, ["score"], input=data)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3  # every good record scored
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert "Error:" not in result.stderr
    assert "3 scored, 1 skipped" in result.stderr


def test_a_json_array_is_still_read_as_one_input(features: Path) -> None:
    rows = [json.loads(line) for line in features.read_text().splitlines()]
    result = CliRunner().invoke(app, ["score"], input=json.dumps(rows))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
