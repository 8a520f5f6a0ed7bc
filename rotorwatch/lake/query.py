"""Saved Athena queries: the ``rotorwatch/lake/queries/*.sql`` files, their parameters and rendering.

Each file is Athena (Trino) SQL. It starts with a comment header: free text describing the
query, then one line per parameter::

    -- @param <name> <string|integer|double|time> [= <default>] [in [<min>, <max>]] <what it means>

A number's range, when declared, is checked before the query runs (a negative look-back once
answered "no rows", and a huge one a DuckDB traceback).

A ``time`` is a UTC time (``2026-11-22 06:40:00``, ``2026-11-22``, ISO 8601 with a zone) or a
look-back in days (``7d``); it is checked here and reaches the SQL as a normalised string
(``YYYY-MM-DD HH:MM:SS`` or ``Nd``), which the query turns into epoch ms.

Parameters appear in the SQL as ``:name`` (named placeholders, each used exactly once, usually
in a ``params`` CTE). Named rather than ``{name}`` placeholders because the file stays valid SQL
that sqlglot parses as Trino: rendering replaces placeholder nodes with typed literals in the
syntax tree (no string splicing, so a value cannot inject SQL), and for the Athena console the
placeholders become ``?`` execution parameters in header order (:func:`athena_text`).

sqlglot is imported inside the functions that need it: the core package stays numpy-only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

QUERIES_DIR: Final = Path(__file__).parent / "queries"

ParamType = Literal["string", "integer", "double", "time"]
_NUMBER: Final = r"-?[0-9]+(?:\.[0-9]+)?"
_PARAM_RE: Final = re.compile(
    r"^--\s*@param\s+(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>string|integer|double|time)"
    r"(?:\s*=\s*(?P<default>\S+))?"
    rf"(?:\s+in\s+\[(?P<min>{_NUMBER}),\s*(?P<max>{_NUMBER})\])?\s*(?P<doc>.*)$"
)
#: The longest look-back a ``time`` parameter takes (100 years): beyond it the epoch-ms
#: arithmetic of the queries overflows (DuckDB said OutOfRange with a traceback).
MAX_LOOKBACK_DAYS: Final = 36_500
#: A ``time`` parameter's look-back form: whole days back from now.
_LOOKBACK_RE: Final = re.compile(r"^[0-9]+d$")
#: How a ``time`` parameter reaches the SQL (Trino casts it to timestamp; UTC session).
TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
#: A ``:name`` placeholder outside comments (``::`` casts and ``'...:00'`` do not match).
_PLACEHOLDER_RE: Final = re.compile(r"(?<![\w:']):([a-z_][a-z0-9_]*)\b")


class QueryError(ValueError):
    """A saved query that does not exist, or parameters that do not fit it."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: ParamType
    default: str | None
    doc: str
    #: Inclusive bounds of an integer or double (None: unbounded).
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class SavedQuery:
    name: str
    description: str
    params: tuple[Param, ...]
    text: str  # the whole file, header included

    @property
    def title(self) -> str:
        """The header's opening words up to the first colon ("Fleet health now")."""
        first = self.description.split("\n", 1)[0]
        return first.split(":", 1)[0].strip()


def _parse(name: str, text: str) -> SavedQuery:
    desc: list[str] = []
    params: list[Param] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        m = _PARAM_RE.match(line)
        if m:
            bounds = (float(m["min"]), float(m["max"])) if m["min"] is not None else (None, None)
            params.append(Param(m["name"], m["type"], m["default"], m["doc"].strip(), *bounds))  # type: ignore[arg-type]
        else:
            desc.append(line[2:].strip())
    if not desc:
        raise QueryError(f"saved query {name!r} has no comment header")
    return SavedQuery(name, "\n".join(desc), tuple(params), text)


def list_queries() -> list[SavedQuery]:
    """Every saved query, sorted by name."""
    return [
        _parse(p.stem, p.read_text(encoding="utf-8")) for p in sorted(QUERIES_DIR.glob("*.sql"))
    ]


def load(name: str) -> SavedQuery:
    """One saved query by name (``QueryError`` naming the known ones if it does not exist)."""
    path = QUERIES_DIR / f"{name}.sql"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or not path.is_file():
        known = ", ".join(q.name for q in list_queries())
        raise QueryError(f"no saved query {name!r}; known: {known}")
    return _parse(name, path.read_text(encoding="utf-8"))


def placeholders(text: str) -> list[str]:
    """``:name`` placeholders in order of appearance, comments ignored."""
    body = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    body = "\n".join(line.split("--", 1)[0] for line in body.splitlines())
    return _PLACEHOLDER_RE.findall(body)


def resolve_params(query: SavedQuery, values: Mapping[str, str]) -> dict[str, str | int | float]:
    """Check and type parameter values (strings, as a CLI gives them); defaults fill the rest."""
    known = {p.name: p for p in query.params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise QueryError(
            f"{query.name}: unknown parameter(s) {', '.join(unknown)}; "
            f"takes {', '.join(known) or 'no parameters'}"
        )
    out: dict[str, str | int | float] = {}
    for p in query.params:
        raw = values.get(p.name, p.default)
        if raw is None:
            raise QueryError(f"{query.name}: parameter {p.name!r} is required ({p.doc})")
        try:
            out[p.name] = (
                int(raw)
                if p.type == "integer"
                else float(raw)
                if p.type == "double"
                else parse_time(raw)
                if p.type == "time"
                else raw
            )
        except ValueError:
            raise QueryError(
                f"{query.name}: parameter {p.name!r} must be "
                + (
                    f"a UTC time (2026-11-22 06:40:00) or days back (7d, at most {MAX_LOOKBACK_DAYS}d)"
                    if p.type == "time"
                    else p.type
                )
                + f", got {raw!r}"
            ) from None
        value = out[p.name]
        if isinstance(value, int | float) and not _within(value, p):
            raise QueryError(
                f"{query.name}: parameter {p.name!r} must be in [{p.min:g}, {p.max:g}] "
                f"({p.doc}), got {raw}"
            )
    return out


def _within(value: float, p: Param) -> bool:
    return (p.min is None or value >= p.min) and (p.max is None or value <= p.max)


def format_time(ms: int) -> str:
    """Epoch ms as a ``time`` parameter value (UTC, :data:`TIME_FORMAT`)."""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> str:
    """A ``time`` parameter value, normalised: ``Nd`` as is, any ISO 8601 time as UTC
    :data:`TIME_FORMAT` (a time without a zone is UTC). ``ValueError`` otherwise."""
    text = text.strip()
    if _LOOKBACK_RE.match(text):
        if int(text[:-1]) > MAX_LOOKBACK_DAYS:
            raise ValueError(text)
        return text
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(text) from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.strftime(TIME_FORMAT)


@dataclass(frozen=True, slots=True)
class AthenaTarget:
    """Where one deployed stage's saved queries run: its workgroup and Glue database, in its
    region. A pointer that leaves any of them out runs against whatever the reader's defaults
    are (a prod alert's pointer once queried the dev database and found no rows)."""

    workgroup: str
    database: str
    region: str | None = None


def command_line(
    name: str, values: Mapping[str, str], *, athena: AthenaTarget | None = None
) -> str:
    """The ``rotorwatch query`` command that runs saved query ``name`` with ``values``, on
    ``athena`` (every option that names the stage's workgroup, database and region) or locally.

    The values are checked against the query's own header first (:func:`resolve_params`), so
    a pointer built here (an alert's "Look closer") always names parameters the query takes.
    """
    q = load(name)
    resolve_params(q, values)
    words = ["rotorwatch", "query", q.name]
    if athena is not None:
        words += ["--athena", "--workgroup", athena.workgroup, "--database", athena.database]
        if athena.region:
            words += ["--region", athena.region]
    for key in (p.name for p in q.params):
        if key in values:
            words += ["-p", f"{key}={values[key]}"]
    return shlex.join(words)


def render(
    query: SavedQuery, values: Mapping[str, str] | None = None, *, dialect: str = "trino"
) -> str:
    """The query with parameters bound as literals, generated for ``dialect`` (sqlglot name).

    ``dialect="duckdb"`` is the local runner's transpilation (Trino ▶ DuckDB).
    """
    import sqlglot
    from sqlglot import exp

    bound = resolve_params(query, values or {})

    def bind(node: Any) -> Any:
        if isinstance(node, exp.Placeholder) and node.name:
            value = bound.get(node.name)
            if value is None:
                raise QueryError(f"{query.name}: placeholder :{node.name} has no @param line")
            if isinstance(value, str):
                return exp.Literal.string(value)
            return exp.Literal.number(value)
        return node

    tree = sqlglot.parse_one(query.text, read="trino")
    return str(tree.transform(bind).sql(dialect=dialect, pretty=True))


def athena_text(query: SavedQuery) -> str:
    """The file with each ``:name`` replaced by ``?``, for an Athena named query.

    The Athena console prompts for ``?`` execution parameters in order; the header lists them
    in that same order (checked by the tests).
    """
    lines = []
    for line in query.text.splitlines():
        if line.startswith("--"):
            lines.append(line)
            continue
        code, sep, comment = line.partition("--")
        lines.append(_PLACEHOLDER_RE.sub("?", code) + sep + comment)
    return "\n".join(lines) + "\n"
