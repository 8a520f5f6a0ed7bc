"""Every command answers a user's mistake with ONE line and a non-zero exit, never a traceback.

The classes of mistake a newcomer makes: a path that does not exist, a folder where a file is
wanted, no AWS credentials, no AWS region. Each command that can meet one is fed it here.
"""

from __future__ import annotations

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
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_a_missing_path_is_one_line(args: list[str]) -> None:
    _one_line_error(args, contains="/no/such/", stdin="")


@pytest.mark.parametrize(
    "args",
    [["features", "{dir}"], ["score", "{dir}"], ["simulate", "--duration", "1m", "--out", "{dir}"]],
    ids=lambda a: a[0],
)
def test_a_folder_where_a_file_belongs_is_one_line(args: list[str], tmp_path: Path) -> None:
    _one_line_error([a.format(dir=tmp_path) for a in args], contains=str(tmp_path))


def test_cost_of_a_stage_that_does_not_exist() -> None:
    _one_line_error(
        ["cost", "--devices", "1", "--interval", "60", "--stage", "nosuch"],
        contains="stage 'nosuch' is not defined",
    )


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
