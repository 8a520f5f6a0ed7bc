"""The CDK's Node is a supported LTS, pinned in package.json and used by every make target
(issue 27: every `npx cdk` call printed that Node 20 is end-of-life, unsupported since
2026-10-30). When the pinned line's end of life passes, this fails: move the pin."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: End of life of the Node LTS lines (https://nodejs.org/en/about/previous-releases).
NODE_LTS_END_OF_LIFE = {22: date(2027, 4, 30), 24: date(2028, 4, 30)}


def _pinned() -> str:
    return str(json.loads((ROOT / "package.json").read_text())["devDependencies"]["node"])


def test_the_pinned_node_is_a_supported_lts_and_locked() -> None:
    version = _pinned()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"pin an exact version, got {version!r}"
    major = int(version.split(".")[0])
    assert major in NODE_LTS_END_OF_LIFE, f"Node {major} is not an LTS line listed here"
    assert datetime.now(UTC).date() < NODE_LTS_END_OF_LIFE[major], f"Node {major} is past EOL"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/node"]["version"] == version


def test_every_make_target_runs_the_pinned_node_first() -> None:
    dump = subprocess.run(
        ["make", "-pn", "synth"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    (path,) = [line for line in dump.splitlines() if line.startswith("PATH := ")]
    assert path.removeprefix("PATH := ").split(":")[0] == f"{ROOT}/node_modules/.bin"


def test_the_readme_names_the_node_it_installs() -> None:
    readme = (ROOT / "README.md").read_text()
    version = _pinned()
    assert f"Node {version.split('.')[0]} LTS ({version}" in readme
    assert "Node 20+" not in readme
