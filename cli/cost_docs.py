"""The cost figures the docs state, generated from the cost model (`make cost-docs`).

A figure in README.md or docs/cost.md is written with a marker after it,
``$69.99<!--cost:idle-dev-->`` or ``$21.90<!--cost:idle-prod.kinesis-->``: a fleet of
:data:`SCENARIOS` (the ``rotorwatch cost`` options) and what of its answer (:func:`pick`).
Markers are HTML comments: a rendered page shows the number alone. ``python -m cli.cost_docs --write``
rewrites every marked figure from the model; without ``--write`` it lists the figures that
differ and exits 1 (tests/unit/test_cost_docs.py runs that). Prices, the stage configs and
the model move; the docs follow by regeneration, never by hand (issue 27: the README said
$68.77 where the model said $36.54).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from typer.testing import CliRunner

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
#: The documents whose marked figures are generated.
DOCUMENTS: Final = ("README.md", "docs/cost.md")
#: A marked figure: an optional ``$``, the number (thousands separators allowed), the marker.
MARKED: Final = re.compile(
    r"(?P<dollar>\$?)(?P<value>[0-9][0-9,]*(?:\.[0-9]+)?)<!--cost:(?P<key>[a-z0-9-]+)"
    r"(?:\.(?P<what>[a-z0-9-]+))?-->"
)

_IDLE: Final = ("--devices", "1", "--interval", "600")
_PILOT: Final = ("--devices", "10", "--interval", "60", "--stage", "prod")
_K10: Final = ("--devices", "10000", "--interval", "10", "--stage", "prod")

#: The fleets the docs price, by the name their markers use: ``rotorwatch cost`` options.
SCENARIOS: Final[dict[str, tuple[str, ...]]] = {
    "idle-dev": (*_IDLE, "--stage", "dev"),
    "idle-prod": (*_IDLE, "--stage", "prod"),
    "idle-prod-deployed": (*_IDLE, "--stage", "prod", "--deployed-shards"),
    "pilot-prod": _PILOT,
    "pilot-prod-deployed": (*_PILOT, "--deployed-shards"),
    "pilot-prod-v2": (*_PILOT, "--contract", "2"),
    "1k-prod": ("--devices", "1000", "--interval", "10", "--stage", "prod"),
    "1k-prod-v2": ("--devices", "1000", "--interval", "10", "--stage", "prod", "--contract", "2"),
    "10k-prod": _K10,
    "10k-prod-v2": (*_K10, "--contract", "2"),
    # `make cost` (the Makefile's target) on the default stage.
    "make-cost": ("--devices", "100", "--interval", "10", "--samples", "4096"),
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def pick(answer: Mapping[str, Any], what: str | None) -> float:
    """One number of a ``rotorwatch cost --json`` answer: the total (``what`` None), the total
    per device (``per-device``), a service's USD (its name as a slug: ``kinesis``,
    ``iot-core``), or a lever's baseline (``<lever title slug>-baseline``, e.g.
    ``iot-ingest-baseline``: the bill without that lever; ``-alternative``, ``-saving``)."""
    if what is None:
        return float(answer["total_usd"])
    if what == "per-device":
        return float(answer["total_usd"]) / int(answer["fleet"]["devices"])
    for service, usd in answer["by_service_usd"].items():
        if _slug(service) == what:
            return float(usd)
    for c in answer["comparisons"]:
        if f"{_slug(c['title'])}-baseline" == what:
            return float(c["baseline_usd"])
        if f"{_slug(c['title'])}-alternative" == what:
            return float(c["alternative_usd"])
        if f"{_slug(c['title'])}-saving" == what:
            return float(c["saving_usd"])
    raise KeyError(f"no {what!r} in a cost answer")


def _answer(args: tuple[str, ...], cache: dict[tuple[str, ...], Any]) -> Mapping[str, Any]:
    if args not in cache:
        from cli import app

        result = CliRunner().invoke(app, ["cost", *args, "--json"])
        if result.exit_code != 0:
            raise RuntimeError(f"rotorwatch cost {' '.join(args)}: {result.output}")
        cache[args] = json.loads(result.stdout)
    answer: Mapping[str, Any] = cache[args]
    return answer


def figure(key: str, what: str | None, cache: dict[tuple[str, ...], Any]) -> float:
    """The figure a marker names (``key``: a :data:`SCENARIOS` entry)."""
    if key not in SCENARIOS:
        raise KeyError(f"no cost scenario {key!r}; known: {', '.join(SCENARIOS)}")
    return pick(_answer(SCENARIOS[key], cache), what)


def regenerate(text: str, cache: dict[tuple[str, ...], Any]) -> tuple[str, list[str]]:
    """``text`` with every marked figure generated, printed with as many decimals as the docs
    give it (thousands separators), and one line per figure that changed."""
    changed: list[str] = []

    def sub(m: re.Match[str]) -> str:
        decimals = len(m["value"].partition(".")[2])
        new = f"{figure(m['key'], m['what'], cache):,.{decimals}f}"
        marker = m["key"] + (f".{m['what']}" if m["what"] else "")
        if new != m["value"]:
            changed.append(f"{marker}: {m['value']} -> {new}")
        return f"{m['dollar']}{new}<!--cost:{marker}-->"

    return MARKED.sub(sub, text), changed


#: A generated console excerpt: the marker line, then a fenced block holding the head of
#: ``rotorwatch cost`` for a scenario, up to the end of its per-service table.
BLOCK: Final = re.compile(
    r"(?P<head><!--cost-block:(?P<key>[a-z0-9-]+)-->\n```\n)(?P<body>.*?)```", re.S
)
#: Columns the excerpt is printed at (rich folds at the terminal width; a CliRunner has none).
BLOCK_COLUMNS: Final = 120


def console_excerpt(key: str) -> str:
    """``rotorwatch cost`` of scenario ``key`` as a terminal shows it, up to the end of the
    per-service table."""
    from cli import app

    if key not in SCENARIOS:
        raise KeyError(f"no cost scenario {key!r}; known: {', '.join(SCENARIOS)}")
    result = CliRunner().invoke(
        app, ["cost", *SCENARIOS[key]], env={"COLUMNS": str(BLOCK_COLUMNS), "NO_COLOR": "1"}
    )
    lines = result.stdout.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return "\n".join(line.rstrip() for line in lines[: end + 1]) + "\n"


def regenerate_blocks(text: str) -> tuple[str, list[str]]:
    """``text`` with every marked console excerpt generated, and one line per changed one."""
    changed: list[str] = []

    def sub(m: re.Match[str]) -> str:
        body = console_excerpt(m["key"])
        if body != m["body"]:
            changed.append(f"console excerpt {m['key']}")
        return f"{m['head']}{body}```"

    return BLOCK.sub(sub, text), changed


def main(argv: list[str]) -> int:
    write = "--write" in argv
    cache: dict[tuple[str, ...], Any] = {}
    stale = []
    for name in DOCUMENTS:
        path = REPO_ROOT / name
        text = path.read_text(encoding="utf-8")
        new, changed = regenerate(text, cache)
        new, changed_blocks = regenerate_blocks(new)
        changed += changed_blocks
        stale += [f"{name}: {c}" for c in changed]
        if write and new != text:
            path.write_text(new, encoding="utf-8")
    for line in stale:
        print(line)
    if stale and not write:
        print("cost figures in the docs differ from the model: run make cost-docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
