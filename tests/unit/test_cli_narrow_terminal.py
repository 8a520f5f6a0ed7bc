"""The CLI's tables and help stay readable on a narrow terminal.

The class of mistake: a table wider than the terminal, which rich folds cell by cell ("beari" /
"ng_ba" / "ll" on an 80-column terminal) or cuts ("newline-del…"). `rotorwatch query`: whatever
the width and the number of columns, every value appears whole on one line, and a table that fits
stays a table. Every other table: nothing is cut off with an ellipsis. Every command's ``--help``:
its paragraphs wrap at the terminal's width, not at the docstring's line breaks.
"""

from __future__ import annotations

import itertools
import json

import pytest
import typer
from typer.testing import CliRunner

from cli import app
from cli.query import _print

COLUMNS = [
    "offender_rank",
    "device_id",
    "site",
    "windows",
    "anomalies",
    "alarms",
    "anomaly_rate",
    "dominant_fault",
    "worst_zone",
    "max_velocity_rms_mm_s",
]
ROWS = [
    [1, "m21", "plant-a", 144, 118, 106, 0.819, "bearing_inner", "D", 13.72],
    [2, "pump-7-north", "site-with-a-long-name", 144, 98, 92, 0.681, "misalignment", "C", 8.43],
]


def _output(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    width: int,
    columns: list[str],
    rows: list[list[object]],
    fmt: str = "table",
) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    _print(columns, rows, fmt)
    return capsys.readouterr().out


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
@pytest.mark.parametrize("n_columns", [2, 5, 10])
def test_every_value_is_whole_on_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    width: int,
    n_columns: int,
) -> None:
    columns = COLUMNS[:n_columns]
    rows = [row[:n_columns] for row in ROWS]
    lines = _output(capsys, monkeypatch, width, columns, rows).splitlines()
    for text in [*columns, *(str(v) for row in rows for v in row)]:
        assert any(text in line for line in lines), (text, width, "\n".join(lines))


def test_a_table_that_fits_stays_a_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _output(capsys, monkeypatch, 200, COLUMNS, ROWS)
    header = next(line for line in out.splitlines() if "offender_rank" in line)
    assert all(c in header for c in COLUMNS)  # one header line: a table, not records
    assert "-[ row" not in out


def test_a_wide_table_on_a_narrow_terminal_becomes_one_block_per_row(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _output(capsys, monkeypatch, 80, COLUMNS, ROWS)
    assert out.count("-[ row") == len(ROWS)
    assert any(line.split() == ["dominant_fault", "bearing_inner"] for line in out.splitlines())
    assert max(len(line) for line in out.splitlines()) <= 80


def test_records_on_request_and_json_untouched(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [row[:2] for row in ROWS]
    assert _output(capsys, monkeypatch, 200, COLUMNS[:2], rows, "records").count("-[ row") == 2
    lines = _output(capsys, monkeypatch, 40, COLUMNS[:2], rows, "json").splitlines()
    assert [json.loads(line) for line in lines] == [
        dict(zip(COLUMNS[:2], row, strict=True)) for row in rows
    ]


@pytest.mark.parametrize(
    "args",
    [["cost", "--devices", "1000", "--interval", "10", "--stage", "prod"]],
    ids=lambda a: a[0],
)
def test_no_table_cuts_a_value_at_80_columns(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, result.output


def _commands(typer_app: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's argv path, sub-command groups' too."""
    out = [
        (*prefix, info.name or info.callback.__name__.replace("_", "-"))
        for info in typer_app.registered_commands
        if info.callback is not None
    ]
    for group in typer_app.registered_groups:
        if group.typer_instance is not None and group.name:
            out += _commands(group.typer_instance, (*prefix, group.name))
    return out


def _description(text: str) -> list[str]:
    """The lines of a ``--help`` between its usage line and its first box, stripped."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Usage:" in line) + 1
    end = next((i for i, line in enumerate(lines) if line.lstrip().startswith("╭")), len(lines))
    return [line.strip() for line in lines[start:end]]


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("argv", _commands(app), ids=" ".join)
def test_help_paragraphs_are_wrapped_to_the_terminal_not_to_the_source(
    argv: tuple[str, ...], width: int
) -> None:
    """The class of mistake: a docstring's own line breaks (written for a 100-column source)
    kept in ``--help`` and wrapped again at the terminal's width, so every other line stops
    short. Within a paragraph, no line ends where the next line's first word would still have
    fit."""
    res = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": str(width)})
    assert res.exit_code == 0, res.output
    lines = _description(res.output)
    room = max(len(line) for line in lines)
    assert room <= width
    for line, following in itertools.pairwise(lines):
        if line and following:
            assert len(line) + 1 + len(following.split()[0]) > room, (argv, line, following)
