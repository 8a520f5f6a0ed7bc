"""Settings for every test layer."""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.drills import figures

# Hypothesis's default deadline (200 ms per example) times the machine, not the code: on a
# shared 2-core CI runner under load an example of the IoT policy tests took longer and failed.
# Speed belongs in benchmarks/, so no property test has a deadline.
settings.register_profile("rotorwatch", deadline=None)
settings.load_profile("rotorwatch")


def _share_botocore_data_loader() -> None:
    """One botocore data loader for every session the tests create.

    The handler tests re-import a handler per test (a fresh cold start), and each import builds
    new boto3 sessions; each new session's loader parsed botocore's JSON (endpoints, service
    models) again: about 3 s of every handler test's setup, most of the suite's time. A loader
    already hands the same parsed dicts to every client of its own session (its
    ``instance_cache``), so sharing it across sessions is what botocore does within one.
    Production code is untouched: a Lambda's cold start builds its sessions once.
    """
    import botocore.loaders
    import botocore.session

    create = botocore.loaders.create_loader
    shared: dict[str | None, botocore.loaders.Loader] = {}

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in shared:
            shared[search_path_string] = create(search_path_string)
        return shared[search_path_string]

    botocore.session.create_loader = create_loader


_share_botocore_data_loader()


# The failure drills' figure table (tests/drills/figures.py). `make test` runs the suite on
# pytest-xdist workers, and a worker's module globals die with it: each worker hands its rows
# to the controller in ``workeroutput`` (xdist's channel for exactly this), and only the
# process that owns the terminal prints the table and writes out/drills.md.
_DRILL_ROWS = "rotorwatch_drill_rows"


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_DRILL_ROWS] = [asdict(row) for row in figures.ROWS]


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown to a plain pytest run
def pytest_testnodedown(node: Any, error: object) -> None:
    rows = getattr(node, "workeroutput", {}).get(_DRILL_ROWS, [])
    figures.ROWS.extend(figures.Figure(**row) for row in rows)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not figures.ROWS or hasattr(terminalreporter.config, "workerinput"):
        return
    path = figures.write(figures.ROWS, Path(__file__).resolve().parents[1])
    terminalreporter.write_sep("=", "failure drill figures")
    terminalreporter.write_line(figures.table(figures.ROWS))
    terminalreporter.write_line(f"(written to {path})")
