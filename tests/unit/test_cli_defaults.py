"""Defaults that meet: what `make demo` writes is where the next commands look by default
(issue 13: `rotorwatch query` looked in ./lake and `make glue-local` ran Spark over a missing
./lake while the demo wrote out/demo/lake)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import typer

from cli import app
from cli.demo import DEMO_LAKE, DEMO_OUT
from cli.model import DEFAULT_SCORE_MODEL

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO / "Makefile").read_text()


def _make_default(name: str) -> str:
    (value,) = re.findall(rf"^{name} \?= (.+)$", MAKEFILE, flags=re.MULTILINE)
    return value.strip()


def _option_default(command: str, option: str) -> object:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    (param,) = [p for p in click_command.params if p.name == option]
    return param.default


def test_make_demo_writes_where_query_and_glue_local_read() -> None:
    assert _make_default("DEMO_OUT") == str(DEMO_OUT)
    assert _option_default("demo", "out") == DEMO_OUT
    assert _option_default("query", "lake_dir") == DEMO_LAKE == DEMO_OUT / "lake"
    assert _make_default("GLUE_LAKE") == "$(DEMO_OUT)/lake"


def test_score_and_demo_default_to_the_committed_model() -> None:
    assert DEFAULT_SCORE_MODEL.is_file()
    assert Path(str(_option_default("demo", "model"))).resolve() == DEFAULT_SCORE_MODEL.resolve()


def test_glue_local_without_a_lake_fails_saying_why(tmp_path: Path) -> None:
    result = subprocess.run(
        # -o: never (re)install the virtualenv from a test, whatever the file times say.
        [
            "make",
            "-s",
            "-C",
            str(REPO),
            "-o",
            ".venv/.installed",
            "glue-local",
            f"GLUE_LAKE={tmp_path}/x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "no lake at" in result.stderr
    assert "run make demo first" in result.stderr
