"""Failure drills: the real handlers on moto with faults injected at the boto3 boundary.

The handler fixtures are the handler tests' own (same moto resources, same cold start).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drills import figures
from tests.handlers.conftest import (  # noqa: F401  (fixtures used by the drills)
    aws,
    context,
    extract_features,
    score_and_alert,
    watchdog,
)

ROOT = Path(__file__).resolve().parents[2]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not figures.ROWS:
        return
    path = figures.write(figures.ROWS, ROOT)
    terminalreporter.write_sep("=", "failure drill figures")
    terminalreporter.write_line(figures.table(figures.ROWS))
    terminalreporter.write_line(f"(written to {path})")
