"""`rotorwatch query`: run a saved Athena query on the local lake (DuckDB) or on Athena."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import app
from cli.demo import DEMO_LAKE
from rotorwatch.lake import layout as lake
from rotorwatch.lake.query import QueryError, SavedQuery, list_queries, load, render

#: Athena states after which a query will not change any more.
ATHENA_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaQueryFailed(RuntimeError):
    """Athena finished the query in FAILED or CANCELLED state (the reason is the message)."""


def run_athena(
    client: Any,
    sql: str,
    *,
    workgroup: str,
    database: str = lake.GLUE_DATABASE,
    poll_s: float = 1.0,
    timeout_s: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[str], list[list[str | None]]]:
    """Run ``sql`` on an Athena workgroup and return (column names, rows as strings).

    The workgroup enforces the result location, encryption and the bytes-scanned cutoff, so
    none is passed here. Results are paged through GetQueryResults; Athena repeats the header
    as the first row of the first page, which is dropped.
    """
    qid = client.start_query_execution(
        QueryString=sql, WorkGroup=workgroup, QueryExecutionContext={"Database": database}
    )["QueryExecutionId"]
    waited = 0.0
    while True:
        status = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] in ATHENA_DONE:
            break
        if waited >= timeout_s:
            client.stop_query_execution(QueryExecutionId=qid)
            raise AthenaQueryFailed(
                f"query {qid} still {status['State']} after {timeout_s:g} s; stopped"
            )
        sleep(poll_s)
        waited += poll_s
    if status["State"] != "SUCCEEDED":
        raise AthenaQueryFailed(
            f"query {qid} {status['State']}: {status.get('StateChangeReason', '')}"
        )
    columns: list[str] = []
    rows: list[list[str | None]] = []
    kwargs: dict[str, Any] = {"QueryExecutionId": qid}
    first = True
    while True:
        page = client.get_query_results(**kwargs)
        result = page.get("ResultSet", {})
        if first:
            columns = [
                c.get("Name", "") for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            ]
        data = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in result.get("Rows", [])]
        if first and data and columns and data[0] == columns:
            data = data[1:]
        rows.extend(data)
        first = False
        token = page.get("NextToken")
        if not token:
            return columns, rows
        kwargs["NextToken"] = token


def _params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise QueryError(f"--param wants key=value, got {item!r}")
        out[key.strip()] = value
    return out


def _describe(q: SavedQuery) -> str:
    params = ", ".join(
        f"{p.name}={p.default}" if p.default is not None else p.name for p in q.params
    )
    return f"{q.name}({params}): {q.title}"


#: Output formats of `rotorwatch query`.
FORMATS = ("table", "records", "json")


def _print(columns: list[str], rows: list[Any], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            typer.echo(json.dumps(dict(zip(columns, row, strict=True)), default=str))
        return
    from rich.console import Console

    from rotorwatch.lake.display import cell

    console = Console()
    texts = [[cell(c, v) for c, v in zip(columns, row, strict=True)] for row in rows]
    if fmt == "records" or _table_width(columns, texts) > console.width:
        # Wider than the terminal: a table would fold every value across lines (an 80-column
        # terminal turned "bearing_ball" into "beari/ng_ba/ll"), so one block per row, one
        # "column  value" line each, as psql's expanded display does.
        _print_records(console, columns, texts)
        return
    from rich.table import Table

    table = Table()
    for c in columns:
        # Fold rather than cut: a truncated date or number is a wrong one.
        table.add_column(c, overflow="fold")
    for row_texts in texts:
        table.add_row(*row_texts)
    console.print(table)


def _table_width(columns: list[str], texts: list[list[str]]) -> int:
    """Characters a rich table of these cells needs unfolded: each column as wide as its
    widest cell or header, plus a border and one space of padding either side."""
    widths = [max([len(c), *(len(row[j]) for row in texts)]) for j, c in enumerate(columns)]
    return sum(widths) + 3 * len(columns) + 1


def _print_records(console: Any, columns: list[str], texts: list[list[str]]) -> None:
    label = max((len(c) for c in columns), default=0)
    for i, row_texts in enumerate(texts, start=1):
        console.print(f"-[ row {i} ]-", markup=False, highlight=False)
        for c, text in zip(columns, row_texts, strict=True):
            console.print(
                f"{c.ljust(label)}  {text}", markup=False, highlight=False, soft_wrap=True
            )


@app.command("query")
def query_command(
    name: Annotated[str | None, typer.Argument(help="Saved query name (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the saved queries and exit.")] = False,
    lake_dir: Annotated[
        Path,
        typer.Option("--lake", help="Local lake folder (default: the one `make demo` writes)."),
    ] = DEMO_LAKE,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Parameter key=value.")
    ] = None,
    athena: Annotated[
        bool, typer.Option("--athena", help="Run on Athena instead of locally.")
    ] = False,
    stage: Annotated[
        str, typer.Option(help="Deployed stage (with --athena): names its database and workgroup.")
    ] = "dev",
    workgroup: Annotated[
        str | None, typer.Option(help="Athena workgroup (with --athena; default: the stage's).")
    ] = None,
    database: Annotated[
        str | None, typer.Option(help="Glue database (with --athena; default: the stage's).")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="AWS region (with --athena; default: your AWS configuration)."),
    ] = None,
    show_sql: Annotated[
        bool, typer.Option("--sql", help="Print the rendered SQL, do not run.")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (one row per line; records when wider than the terminal), records "
            "(one block per row) or json (one object per line).",
        ),
    ] = "table",
) -> None:
    """Run a saved analyst query: locally through sqlglot (Trino ▶ DuckDB) over the local lake,
    or with --athena on a deployed workgroup."""
    if list_:
        for q in list_queries():
            typer.echo(_describe(q))
        return
    if name is None:
        typer.echo("error: give a query NAME or --list", err=True)
        raise typer.Exit(2)
    if fmt not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}, got {fmt!r}", err=True)
        raise typer.Exit(2)
    try:
        q = load(name)
        values = _params(param or [])
        sql = render(q, values, dialect="trino" if athena else "duckdb")
    except QueryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if show_sql:
        typer.echo(sql)
        return
    if athena:
        from cli.aws import client

        try:
            columns, rows = run_athena(
                client("athena", region),
                sql,
                workgroup=workgroup or lake.athena_workgroup(stage),
                database=database or lake.glue_database(stage),
            )
        except AthenaQueryFailed as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        _print(columns, rows, fmt)
        _note_empty(rows, values, q)
        return
    from local_cloud.athena import connect, run_sql

    if not lake_dir.is_dir():
        typer.echo(
            f"error: no local lake at {lake_dir} (run `make demo` first, or pass --lake DIR)",
            err=True,
        )
        raise typer.Exit(2)
    if not any((lake_dir / t.prefix).is_dir() for t in lake.TABLES.values()):
        # Any folder would answer "no rows", which reads as "nothing wrong".
        tables = ", ".join(sorted({t.prefix.split("/")[0] + "/" for t in lake.TABLES.values()}))
        typer.echo(f"error: {lake_dir} is not a lake: it has none of {tables}", err=True)
        raise typer.Exit(2)
    result = run_sql(connect(lake_dir), sql)
    _print(result.columns, result.rows, fmt)
    _note_empty(result.rows, values, q)


def _note_empty(rows: list[Any], values: dict[str, str], q: SavedQuery) -> None:
    """An empty answer is said on stderr (stdout stays machine-readable): usually a device id
    that does not exist or a look-back that misses the data (a query without a device id is
    not told to check one)."""
    if rows:
        return
    given = ", ".join(f"{k}={v}" for k, v in values.items())
    hint = f" for {given}" if given else ""
    takes = {p.name for p in q.params}
    check = "the device id (fleet_health_now lists them) and " if "device_id" in takes else ""
    typer.echo(f"note: no rows{hint}; check {check}the look-back", err=True)
