"""The project's version: one home, pyproject.toml's ``[project] version``.

Read from pyproject.toml when this is a checkout (the CDK app, the CLI and tests run from one,
and the shared development virtualenv may hold another worktree's install metadata), else from
the installed distribution's metadata (built from that same field).
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path
from typing import Final

_PYPROJECT: Final = Path(__file__).resolve().parent.parent / "pyproject.toml"


def version() -> str:
    if _PYPROJECT.is_file():
        data = tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))
        return str(data["project"]["version"])
    return metadata.version("rotorwatch")


#: The version every stack is tagged with and `rotorwatch --version` prints.
VERSION: Final = version()
#: Stack tag key carrying :data:`VERSION`.
VERSION_TAG: Final = "rotorwatch:version"
