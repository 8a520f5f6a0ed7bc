"""The `rotorwatch` command line: a thin adapter over the domain package.

Each sub-command lives in its own module and registers itself on :data:`app`. Commands that
drive an adapter (the simulator, AWS APIs, Spark) import it inside the command, so importing
the CLI stays cheap and the core never depends on an adapter at import time.
"""

from __future__ import annotations

import importlib

import typer

from rotorwatch.cli.errors import guard

app = typer.Typer(
    name="rotorwatch",
    help="Predictive maintenance for rotating machines: simulate, extract features, score, query.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """rotorwatch: predictive maintenance for rotating machines."""


#: Modules under rotorwatch.cli that register commands (one line per command family).
COMMAND_MODULES: tuple[str, ...] = (
    "features",
    "simulate",
    "query",
    "cost",
    "model",
    "demo",
    "baseline",
)

for _module in COMMAND_MODULES:
    importlib.import_module(f"rotorwatch.cli.{_module}")


def _guard_all(typer_app: typer.Typer) -> None:
    """Every command, sub-command groups' too, answers a user's mistake (missing file, no
    credentials...) with one line."""
    for info in typer_app.registered_commands:
        if info.callback is not None:
            info.callback = guard(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _guard_all(group.typer_instance)


_guard_all(app)


def main() -> None:
    """Console-script entry point."""
    app()
