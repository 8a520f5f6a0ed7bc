"""The dependency lock (requirements/*.txt) agrees with pyproject.toml and with what is installed.

pyproject.toml declares the direct dependencies; `make lock` (pip-compile) resolves the whole tree
into requirements/dev.txt (the dev virtualenv) and requirements/checkov.txt (checkov's own), with
hashes; `make install` installs only from them. These tests fail when someone edits pyproject
without `make lock`, edits the lock by hand, or runs against a virtualenv that drifted from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cdk_app.constructs.function import POWERTOOLS_VERSION, runtime_requirements

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_LOCK = ROOT / "requirements" / "dev.txt"
CHECKOV_LOCK = ROOT / "requirements" / "checkov.txt"
CHECKOV_VENV = ROOT / ".venv-checkov"
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
#: What `python -m venv` puts into every virtualenv (ensurepip): the venv's own installer, not a
#: dependency. A lock that pins one of them (the dev lock pins pip for pip-tools) is still held.
VENV_BOOTSTRAP = frozenset({"pip", "setuptools"})

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def parse_lock(path: Path) -> tuple[dict[str, str], dict[str, int], set[str]]:
    """(name -> version, name -> number of hashes, names pulled in directly by the project)."""
    pins: dict[str, str] = {}
    hashes: dict[str, int] = {}
    direct: set[str] = set()
    current = ""
    in_via = False
    for line in path.read_text().splitlines():
        if m := _PIN.match(line):
            current = canonicalize_name(m.group(1))
            assert current not in pins, f"{path.name}: {current} is pinned twice"
            pins[current], hashes[current], in_via = m.group(2), 0, False
        elif line.strip().startswith("--hash=sha256:") and current:
            hashes[current] += 1
        elif line.strip().startswith("# via"):
            via = line.strip().removeprefix("# via").strip()
            in_via = not via
            if via.split(" ")[0] == PROJECT:
                direct.add(current)
        elif in_via and line.strip().startswith("#   "):
            if line.strip().removeprefix("#").strip().split(" ")[0] == PROJECT:
                direct.add(current)
        elif not line.startswith(" "):
            in_via = False
    return pins, hashes, direct


def declared(extras: list[str]) -> dict[str, Requirement]:
    """The direct requirements pyproject declares for the core plus ``extras`` (recursively)."""
    optional = PYPROJECT["project"]["optional-dependencies"]
    out: dict[str, Requirement] = {}
    todo = list(PYPROJECT["project"]["dependencies"]) + [d for e in extras for d in optional[e]]
    while todo:
        req = Requirement(todo.pop())
        if canonicalize_name(req.name) == PROJECT:
            todo += [d for e in req.extras for d in optional[e]]
            continue
        out[canonicalize_name(req.name)] = req
    return out


LOCKS = {
    "dev": (DEV_LOCK, ["dev"]),
    "checkov": (CHECKOV_LOCK, ["scan"]),
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_declared_dependency_is_locked_at_its_declared_version(lock: str) -> None:
    path, extras = LOCKS[lock]
    pins, _, _ = parse_lock(path)
    for name, req in declared(extras).items():
        assert name in pins, f"{name} is in pyproject but not in {path.name}: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"pyproject wants {req}, {path.name} pins {name}=={pins[name]}: run `make lock`"
        )


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_pulls_in_nothing_pyproject_no_longer_declares(lock: str) -> None:
    path, extras = LOCKS[lock]
    _, _, direct = parse_lock(path)
    stale = direct - set(declared(extras))
    assert not stale, f"{path.name} still locks {sorted(stale)} for the project: run `make lock`"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_locked_package_is_pinned_exactly_and_hash_checked(lock: str) -> None:
    path, _ = LOCKS[lock]
    pins, hashes, _ = parse_lock(path)
    assert len(pins) > 10, f"{path.name} looks empty or unparsed"
    unhashed = sorted(name for name, n in hashes.items() if n == 0)
    assert not unhashed, f"{path.name}: no --hash for {unhashed} (pip --require-hashes refuses)"
    # pip-compile lists the project itself only as an unpinned comment: it is installed from the
    # working tree (-e .), never from an index.
    assert PROJECT not in pins


def _installed(python: Path | None = None) -> dict[str, str]:
    if python is None:
        dists = metadata.distributions()
        return {canonicalize_name(d.metadata["Name"]): d.version for d in dists}
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(out)}


def _drift(lock: Path, installed: dict[str, str]) -> list[str]:
    pins, _, _ = parse_lock(lock)
    problems = [
        f"{name}: locked {version}, installed {installed.get(name, 'nothing')}"
        for name, version in sorted(pins.items())
        if installed.get(name) != version
    ]
    problems += [
        f"{name}=={version} is installed but not in {lock.name}"
        for name, version in sorted(installed.items())
        if name not in pins and name != PROJECT and name not in VENV_BOOTSTRAP
    ]
    return problems


def test_the_dev_virtualenv_is_exactly_the_lock() -> None:
    if sys.prefix == sys.base_prefix:
        pytest.fail("the tests run outside a virtualenv: run them with `make test`")
    problems = _drift(DEV_LOCK, _installed())
    assert not problems, "the virtualenv differs from the lock (rm -rf .venv; make install):\n" + (
        "\n".join(problems)
    )


def _requires(dist: metadata.Distribution) -> set[str]:
    names = set()
    for spec in dist.requires or []:
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            names.add(canonicalize_name(req.name))
    return names


def _depends_on(name: str, other: str, graph: dict[str, set[str]]) -> bool:
    seen, todo = set(), [name]
    while todo:
        for dep in graph.get(todo.pop(), set()) - seen:
            if dep == other:
                return True
            seen.add(dep)
            todo.append(dep)
    return False


def clobbered_files(dists: list[metadata.Distribution]) -> list[str]:
    """Files two distributions both ship, where the copy on disk is not the dependent's.

    pip installs a package's dependencies before the package, so where two ship the same path
    the dependent's copy is the one it was built against (aws-cdk-lib and its
    aws-cdk-cloud-assembly-schema both write aws_cdk/cloud_assembly_schema/__init__.py, and only
    aws-cdk-lib's registers the jsii types aws-cdk-lib hands back). An install in another order
    leaves the other copy: jsii then fails at synth with "Unknown interface".
    """
    by_name = {canonicalize_name(d.metadata["Name"]): d for d in dists}
    graph = {name: _requires(d) for name, d in by_name.items()}
    owners: dict[str, dict[str, str]] = defaultdict(dict)
    for name, dist in by_name.items():
        for f in dist.files or []:
            if f.hash is not None and f.hash.mode == "sha256":
                owners[str(f)][name] = f.hash.value
    problems = []
    for path, hashes in sorted(owners.items()):
        if len(set(hashes.values())) < 2:
            continue
        first = by_name[next(iter(hashes))]
        digest = hashlib.sha256(Path(str(first.locate_file(path))).read_bytes()).digest()
        on_disk = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        winners = [name for name, h in hashes.items() if h == on_disk]
        dependents = [
            name
            for name in hashes
            if all(other == name or _depends_on(name, other, graph) for other in hashes)
        ]
        if dependents and winners != dependents:
            problems.append(f"{path}: on disk from {winners or 'nobody'}, expected {dependents}")
    return problems


def test_no_package_file_was_overwritten_by_a_dependency() -> None:
    problems = clobbered_files(list(metadata.distributions()))
    assert not problems, "install order clobbered files (rm -rf .venv; make install):\n" + (
        "\n".join(problems)
    )


def test_the_checkov_virtualenv_is_exactly_its_lock() -> None:
    python = CHECKOV_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip("no .venv-checkov here (make check-deploy creates it)")
    problems = _drift(CHECKOV_LOCK, _installed(python))
    assert not problems, "the checkov virtualenv differs from its lock:\n" + "\n".join(problems)


def test_the_lambda_bundle_ships_the_locked_versions() -> None:
    """The bundle pip-installs the core's pins for Lambda's platform; the layer is Powertools."""
    pins, _, _ = parse_lock(DEV_LOCK)
    for requirement in runtime_requirements():
        name, _, version = requirement.partition("==")
        assert pins[canonicalize_name(name)] == version, requirement
    assert pins["aws-lambda-powertools"] == POWERTOOLS_VERSION


def test_drift_is_reported_both_ways(tmp_path: Path) -> None:
    """The check above can fail: a missing, a moved and an extra package are each reported."""
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "numpy==2.4.6 \\\n    --hash=sha256:00\n    # via rotorwatch (pyproject.toml)\n"
        "six==1.16.0 \\\n    --hash=sha256:11\n    # via\n    #   foo\n    #   rotorwatch\n"
    )
    pins, hashes, direct = parse_lock(lock)
    assert pins == {"numpy": "2.4.6", "six": "1.16.0"}
    assert hashes == {"numpy": 1, "six": 1}
    assert direct == {"numpy", "six"}
    problems = _drift(lock, {"numpy": "2.4.5", "rich": "14.0.0", PROJECT: "0.1.0"})
    assert problems == [
        "numpy: locked 2.4.6, installed 2.4.5",
        "six: locked 1.16.0, installed nothing",
        "rich==14.0.0 is installed but not in lock.txt",
    ]
