"""Every command answers a user's mistake with ONE line and a non-zero exit, never a traceback.

The classes of mistake a newcomer makes: a path that does not exist, a folder where a file is
wanted, no AWS credentials, no AWS region. Each command that can meet one is fed it here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No credentials anywhere botocore looks (env, files, instance metadata), and no region."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _one_line_error(args: list[str], *, contains: str, stdin: str | None = None) -> None:
    result = CliRunner().invoke(app, args, input=stdin)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert contains in lines[0], lines[0]
    assert "Traceback" not in result.output


MISSING = "/no/such/file.jsonl"


@pytest.mark.parametrize(
    "args",
    [
        ["features", MISSING],
        ["features", "--assets", MISSING, "-"],
        ["score", MISSING],
        ["score", "--model", MISSING, "-"],
        ["train", MISSING],
        ["simulate", "--scenario", MISSING],
        ["demo", "--scenario", MISSING],
        ["query", "top_offenders", "--lake", "/no/such/lake"],
        ["deprovision", "--out", "/no/such/credentials"],
        ["cost", "--devices", "1", "--interval", "60", "--prices", "/no/such/prices.json"],
        ["replay", MISSING],
        ["replay", "--assets", MISSING, "-"],
        ["replay", "--model", MISSING, "-"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_a_missing_path_is_one_line(args: list[str]) -> None:
    _one_line_error(args, contains="/no/such/", stdin="")


@pytest.mark.parametrize(
    "args",
    [
        ["features", "{dir}"],
        ["score", "{dir}"],
        ["simulate", "--duration", "1m", "--out", "{dir}"],
        ["replay", "--rules-only", "{dir}"],
    ],
    ids=lambda a: a[0],
)
def test_a_folder_where_a_file_belongs_is_one_line(args: list[str], tmp_path: Path) -> None:
    _one_line_error([a.format(dir=tmp_path) for a in args], contains=str(tmp_path))


def test_cost_of_a_stage_that_does_not_exist() -> None:
    _one_line_error(
        ["cost", "--devices", "1", "--interval", "60", "--stage", "nosuch"],
        contains="stage 'nosuch' is not defined",
    )


def test_replay_with_a_stage_that_does_not_exist() -> None:
    _one_line_error(["replay", "--stage", "nosuch", "-"], contains="stage 'nosuch' is not defined")


def test_query_with_an_unknown_output_format() -> None:
    _one_line_error(
        ["query", "top_offenders", "--format", "xml"], contains="--format must be one of"
    )


def test_provision_without_a_region(no_aws: pytest.MonkeyPatch) -> None:
    _one_line_error(["provision", "--scenario", "small"], contains="no AWS region")


def test_provision_without_credentials(no_aws: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_aws.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    _one_line_error(
        ["provision", "--scenario", "small", "--out", str(tmp_path / "c")],
        contains="no AWS credentials",
    )


def test_deprovision_without_credentials(no_aws: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_aws.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    (tmp_path / "devices.json").write_text("{}")
    _one_line_error(["deprovision", "--out", str(tmp_path)], contains="no AWS credentials")


def test_query_on_athena_without_a_region(no_aws: pytest.MonkeyPatch) -> None:
    _one_line_error(["query", "top_offenders", "--athena"], contains="no AWS region")


def test_query_on_athena_without_credentials(no_aws: pytest.MonkeyPatch) -> None:
    _one_line_error(
        ["query", "top_offenders", "--athena", "--region", "eu-west-1"],
        contains="no AWS credentials",
    )


@pytest.mark.parametrize("sub", ["status", "reset"])
def test_baseline_without_a_region_or_credentials(no_aws: pytest.MonkeyPatch, sub: str) -> None:
    args = ["baseline", sub, "--device-id", "pump-7", "--state-table", "State"]
    _one_line_error(args, contains="region")
    no_aws.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    _one_line_error(args, contains="credentials")


#: Every command that calls AWS (a new one joins here: the test below checks the list is whole).
AWS_COMMANDS = [
    ["provision", "--scenario", "small"],
    ["deprovision", "--out", "{tmp}"],
    ["query", "top_offenders", "--athena"],
    ["baseline", "status", "--device-id", "pump-7", "--state-table", "State"],
    ["baseline", "reset", "--device-id", "pump-7", "--state-table", "State"],
]


@pytest.mark.parametrize("args", AWS_COMMANDS, ids=lambda a: "-".join(a[:2]))
@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_the_region_comes_from_either_variable_and_is_missed_in_one_wording(
    no_aws: pytest.MonkeyPatch, tmp_path: Path, args: list[str], variable: str
) -> None:
    """The README exports AWS_REGION; botocore alone reads only AWS_DEFAULT_REGION. Without
    either, every command says the same line; with either, it gets as far as credentials."""
    from cli.aws import NO_REGION_MESSAGE

    (tmp_path / "devices.json").write_text("{}")
    words = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, words)
    assert result.stderr.strip() == f"error: {NO_REGION_MESSAGE}", result.output
    no_aws.setenv(variable, "eu-west-1")
    _one_line_error(words, contains="no AWS credentials")


def test_no_command_builds_its_own_aws_session() -> None:
    """cli.aws is the one region resolution: a command calling boto3 directly would read the
    region its own way (botocore alone skips AWS_REGION) and word its error its own way."""
    cli_dir = Path(__file__).resolve().parents[2] / "cli"
    for path in cli_dir.glob("*.py"):
        if path.name == "aws.py":
            continue
        text = path.read_text()
        for call in ("boto3.client(", "boto3.session", "boto3.Session(", "boto3.resource("):
            assert call not in text, f"{path.name} calls {call}: use cli.aws.session/client"


REPO = Path(__file__).resolve().parents[2]


def _telemetry(tmp_path: Path) -> tuple[Path, Path]:
    """A small simulated file and its feature records."""
    tel, feat = tmp_path / "t.jsonl", tmp_path / "f.jsonl"
    assert (
        CliRunner().invoke(app, ["simulate", "--duration", "20m", "--out", str(tel)]).exit_code == 0
    )
    result = CliRunner().invoke(app, ["features", str(tel), "--assets", "small"])
    feat.write_text(result.stdout)
    return tel, feat


#: Mistakes whose output would be wrong (exit 0 with a useless answer) or a traceback: each
#: is refused in one line saying why. {tel}: telemetry, {feat}: feature records, {dir}: a
#: folder that is not a lake, {readme}/{cdk}: files of the wrong kind.
WRONG_OUTPUT = [
    (["train", "{tel}"], "is raw telemetry"),
    (["train", "{feat}"], "no 'fault' labels"),
    (["train", "{feat}", "--labels", "{feat}"], "is not ground truth"),
    (
        ["cost", "--devices", "1", "--interval", "60", "--contract", "2", "--encoding", "float32"],
        "contract 2 carries",
    ),
    (["cost", "--devices", "1", "--interval", "0"], "--interval must be more than 0"),
    (["cost", "--devices", "1", "--interval", "60", "--prices", "{readme}"], "is not JSON"),
    (["cost", "--devices", "1", "--interval", "60", "--prices", "{cdk}"], "is not a price table"),
    (["query", "top_offenders", "-p", "days=-1"], "must be in [1, "),
    (["query", "top_offenders", "-p", "top_n=-5"], "must be in [1, "),
    (["query", "fleet_health_now", "-p", "lookback_hours=0"], "must be in [1, "),
    (["query", "data_freshness", "-p", "stale_minutes=-10"], "must be in [1, "),
    (["query", "top_offenders", "-p", "days=99999999999999"], "must be in [1, "),
    (["query", "machine_trend", "-p", "device_id=m", "-p", "since=99999999d"], "at most"),
    (["query", "top_offenders", "--lake", "{dir}"], "is not a lake"),
    (["features", "/dev/null"], "is empty"),
    (["features", "{feat}"], "holds feature records"),
    (["features", "{array}"], "is a JSON array"),
    (["simulate", "--speed", "-1", "--out", "{dir}/x"], "--speed must be 0"),
    (["simulate", "--duration", "0", "--out", "{dir}/x"], "--duration must be more than 0"),
    (["simulate", "--duration", "forever", "--out", "{dir}/x"], "forever is a live feed"),
    (["demo", "--samples", "100", "--out", "{dir}/d", "--skip-glue"], "at least 256"),
    (["demo", "--out", "{readme}"], "is a file; give a folder"),
    (["demo", "--speed", "-1", "--out", "{dir}/d"], "--speed must be 0"),
]


@pytest.mark.parametrize(
    ("args", "says"), WRONG_OUTPUT, ids=lambda a: " ".join(a) if isinstance(a, list) else None
)
def test_a_mistake_that_would_give_wrong_output_is_refused_in_one_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    lake_dir = tmp_path / "not-a-lake"
    lake_dir.mkdir()
    array = tmp_path / "a.json"
    array.write_text('[{"v": 1}]')
    needs = " ".join(args)
    tel, feat = _telemetry(tmp_path) if "{tel}" in needs or "{feat}" in needs else (None, None)
    words = [
        a.format(
            tel=tel,
            feat=feat,
            dir=lake_dir,
            array=array,
            readme=REPO / "README.md",
            cdk=REPO / "cdk.json",
        )
        for a in args
    ]
    _one_line_error(words, contains=says)


def test_demo_without_java_stops_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Java the whole pipeline once ran, then the Glue job died and no report came."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    _one_line_error(["demo", "--out", str(tmp_path / "d")], contains="--skip-glue")
    assert not (tmp_path / "d").exists()


def test_a_raw_v2_capture_is_read_directly(tmp_path: Path) -> None:
    """docs/telemetry.md tells firmware engineers to capture with mosquitto_sub -F '%p': the
    binary messages, each followed by a newline (263 not_utf8 lines before)."""
    import base64

    lines = tmp_path / "v2.txt"
    args = ["simulate", "--duration", "30m", "--contract", "2", "--out", str(lines)]
    assert CliRunner().invoke(app, args).exit_code == 0
    messages = [base64.b64decode(x.split(b" ")[2]) for x in lines.read_bytes().splitlines()]
    capture = tmp_path / "capture.bin"
    capture.write_bytes(b"".join(m + b"\n" for m in messages))
    result = CliRunner().invoke(app, ["features", str(capture), "--device-id", "pump-01"])
    assert result.exit_code == 0, result.stderr
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(records) == len(messages) == 12
    assert {r["device_id"] for r in records} == {"pump-01"}


def test_every_command_is_fed_a_mistake_here() -> None:
    """A new command gets its own case above: the class of mistake is checked per command."""
    import typer

    from cli import app

    here = Path(__file__).read_text()
    group = typer.main.get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        assert f'"{name}"' in here, f"rotorwatch {name} is not fed a mistake in this file"


def test_feedback_without_a_region_or_credentials(no_aws: pytest.MonkeyPatch) -> None:
    args = ["feedback", "pump-7:1:1:ALARM", "--verdict", "confirmed"]
    args += ["--feedback-table", "F", "--state-table", "S", "--lake-bucket", "L"]
    _one_line_error(args, contains="region")
    no_aws.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    _one_line_error(args, contains="credentials")


def test_feedback_labels_from_a_missing_folder(tmp_path: Path) -> None:
    args = ["feedback-labels", str(tmp_path / "no-feedback"), "--features", str(tmp_path)]
    _one_line_error([*args, "--out", str(tmp_path / "out")], contains="no such file or folder")
