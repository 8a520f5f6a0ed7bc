"""The newcomer path: the README's commands, taken from the README itself, run against a small
demo, each answering with exit 0 and sensible, non-empty output.

Every ``rotorwatch ...`` and ``make ...`` command in the README's code blocks (and inline
``rotorwatch`` commands) is collected. The README's own small demo (``make demo DEMO_ARGS=...``)
runs first, into a temporary ``out/demo``; then every other command runs in a folder where
``out/demo`` is that demo, in README order by section (the simulator's files before the model
commands that read them). A command is only left out with a stated reason: it needs an AWS
account or a broker, it is a make target with its own test, or it is the full demo. So the
README cannot drift from what runs: a new or changed command is run here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BIN = Path(sys.executable).parent

#: Commands not run here, by a pattern in the command, and why (each must match something).
NOT_RUN: dict[str, str] = {
    "--athena": "needs an AWS account; tests/unit/test_alert_pointer.py runs it on a DuckDB Athena",
    "rotorwatch provision": "creates IoT things in an AWS account (tests/unit/test_cli_simulate.py, moto)",
    "rotorwatch deprovision": "deletes IoT things in an AWS account (tests/unit/test_cli_simulate.py, moto)",
    "--credentials-dir": "publishes to AWS IoT Core with provisioned certificates",
    "--mqtt-host": "publishes to a broker (tests/e2e/test_mqtt_mosquitto.py)",
    "rotorwatch demo": "the full demo (2 min): the README's small demo runs instead",
    "rotorwatch simulate --truth": "prose naming an option (Simulator and devices runs it)",
    "make ": "a make target with its own tests; only the README's small demo runs here",
}
#: The README's small demo: run first, its out/demo is where the other commands look.
SMALL_DEMO = re.compile(r'^make demo DEMO_ARGS="[^"]*--speed 0[^"]*"$')
#: Sections in the order their commands run (files before the commands that read them).
SECTION_ORDER = ("Local demo", "Quickstart", "Simulator and devices", "Analytics", "Model", "Cost")


def readme_commands(text: str) -> list[tuple[str, str]]:
    """(section, command) for every command in the README's code blocks and inline spans."""
    out: list[tuple[str, str]] = []
    section = ""
    in_block = False
    pending = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            joined = pending + line.strip()
            if joined.endswith("\\"):
                pending = joined[:-1] + " "
                continue
            pending = ""
            command = _strip_comment(joined)
            if command.startswith(("rotorwatch ", "make ")):
                out.append((section, command))
        else:
            out.extend(
                (section, span)
                for span in re.findall(r"`(rotorwatch [a-z][^`]*)`", line)
                if " --" in span  # a command with options, not a name ("`rotorwatch cost`")
            )
    return out


def _strip_comment(line: str) -> str:
    return line[: _comment_start(line)].rstrip()


def _comment_start(line: str) -> int:
    """Where a shell comment starts (a # after a space, outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            return i
    return len(line)


#: Options (and the shell redirection) after which a command names a file or folder it writes.
OUTPUT_OPTIONS = ("--out", "--truth", "--model-dir", ">")


def _written(command: str, cwd: Path) -> list[Path]:
    words = shlex.split(command.replace(">", " > "))
    return [cwd / words[i + 1] for i, w in enumerate(words[:-1]) if w in OUTPUT_OPTIONS]


def _reason(command: str) -> str | None:
    return next((why for pattern, why in NOT_RUN.items() if pattern in command), None)


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return env


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
    )


def test_the_readme_names_the_commands_a_newcomer_meets() -> None:
    commands = [c for _, c in COMMANDS]
    sections = {s for s, _ in COMMANDS}
    assert {"Quickstart", "Local demo", "Analytics", "Simulator and devices"} <= sections
    assert "make demo" in commands
    assert "make test" in commands
    assert sum(1 for c in commands if SMALL_DEMO.match(c)) == 1, "the README's small demo"
    assert any(c.startswith("rotorwatch query machine_trend") for c in commands)
    # Every pattern that keeps a command out matches one: no stale exemption.
    for pattern in NOT_RUN:
        assert any(pattern in c for c in commands), f"no README command needs {pattern!r}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where out/demo is the README's small demo, and the repo's data folders are."""
    root = tmp_path_factory.mktemp("newcomer")
    (demo,) = [c for _, c in COMMANDS if SMALL_DEMO.match(c)]
    # The README's command as written, with the demo's output folder moved into the sandbox
    # (and -o: a test never reinstalls the virtualenv, whatever the file times say).
    result = _run(f"{demo} -o .venv/.installed DEMO_OUT={root / 'out' / 'demo'}", REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "faults caught" in result.stdout
    for name in ("simulator", "sagemaker"):
        (root / name).symlink_to(REPO / name)
    return root


def _ordered() -> list[tuple[str, str]]:
    rank = {s: i for i, s in enumerate(SECTION_ORDER)}
    runnable = [(s, c) for s, c in COMMANDS if not SMALL_DEMO.match(c) and _reason(c) is None]
    return sorted(runnable, key=lambda sc: rank.get(sc[0], len(rank)))  # stable: README order


@pytest.mark.parametrize(("section", "command"), _ordered(), ids=[c for _, c in _ordered()])
def test_readme_command_runs(section: str, command: str, workdir: Path) -> None:
    # Optional parts written as [--flag value] are left out, as a newcomer would at first.
    result = _run(re.sub(r"\s*\[[^\]]*\]", "", command), workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{section}: {command}\n{output[-3000:]}"
    written = _written(command, workdir)
    for path in written:
        assert path.exists(), f"{command}: {path.name} not written"
        assert (path.is_dir() and any(path.iterdir())) or path.stat().st_size > 0, path
    assert result.stdout.strip() or written, f"{section}: {command}: no output"
    assert "Traceback" not in output
    assert "error:" not in result.stderr
    if command.startswith("rotorwatch query") and "--list" not in command:
        assert "no rows" not in result.stderr, f"{command}: empty answer on the demo"
