"""The `rotorwatch` command line: an adapter over the domain package (rotorwatch/).

Each sub-command lives in its own module and registers itself on :data:`app`. Commands that
drive another adapter (the simulator, the local cloud, AWS APIs) import it inside the command,
so `rotorwatch --help` stays fast; the direction of every import is in docs/architecture.md.
"""

from __future__ import annotations

import importlib
import inspect

import typer

from cli.errors import guard

app = typer.Typer(
    name="rotorwatch",
    help="Predictive maintenance for rotating machines: simulate, extract features, score, query.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        from rotorwatch.version import VERSION

        typer.echo(f"rotorwatch {VERSION}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version (pyproject.toml; CHANGELOG.md) and exit.",
    ),
) -> None:
    """rotorwatch: predictive maintenance for rotating machines."""


#: Modules of this package that register commands (one line per command family), in the
#: order `rotorwatch --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "features",
    "simulate",
    "query",
    "cost",
    "model",
    "demo",
    "baseline",
    "replay",
    "feedback",
    "feedback_labels",
)

for _module in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_module}")


def help_text(doc: str) -> str:
    """A command's docstring as ``--help`` should show it: paragraphs kept, each one's line
    breaks taken out. Typer's rich help keeps a paragraph's single line breaks after its first
    (typer 0.29), so docstring lines written for a 100-column source file came out ragged on an
    80-column terminal (each wrapped once more at 80). A paragraph starting with ``\\b`` is
    kept verbatim, as click and typer keep it."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def _guard_all(typer_app: typer.Typer) -> None:
    """Every command, sub-command groups' too, answers a user's mistake (missing file, no
    credentials...) with one line, and shows its help unwrapped (:func:`help_text`)."""
    for info in typer_app.registered_commands:
        if info.callback is not None:
            if info.help is None and info.callback.__doc__:
                info.help = help_text(info.callback.__doc__)
            info.callback = guard(info.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _guard_all(group.typer_instance)


_guard_all(app)


def main() -> None:
    """Console-script entry point."""
    app()
