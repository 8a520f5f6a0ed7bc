"""Local stand-in for Athena: saved queries transpiled Trino ▶ DuckDB, run over the local lake.

Each lake table (from :data:`rotorwatch.lake.layout.TABLES`) becomes a DuckDB view over its prefix
with hive partitioning, partition values kept as strings ('07' stays '07', as with the Glue
tables' string partition columns). A table with no files yet is an empty view with the table's
columns, so every saved query runs on a young lake too. The session time zone is UTC, as
Athena's is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from rotorwatch.lake import layout as lake
from rotorwatch.lake import schemas
from rotorwatch.lake.query import SavedQuery, load, render

_DUCK_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
}


def duck_type(glue_type: str) -> str:
    """The DuckDB type for a Glue type (primitives and ``struct<...>``)."""
    t = glue_type.strip().lower()
    if t in _DUCK_TYPES:
        return _DUCK_TYPES[t]
    if t.startswith("struct<") and t.endswith(">"):
        inner = ", ".join(f'"{n}" {duck_type(ty)}' for n, ty in schemas._split_struct(t[7:-1]))
        return f"STRUCT({inner})"
    raise ValueError(f"no DuckDB type for Glue type {glue_type!r}")


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _view_sql(lake_dir: Path, t: lake.Table) -> str:
    depth = "/".join("*" for _ in t.partition_keys)
    root = lake_dir / t.prefix
    ext = ".parquet" if t.format == "parquet" else ".gz"
    if any(root.glob(f"{depth}/*{ext}")):
        pattern = _quote(root / f"{depth}/*{ext}")
        if t.format == "parquet":
            source = (
                f"read_parquet({pattern}, hive_partitioning = true, "
                "hive_types_autocast = false, union_by_name = true)"
            )
        else:
            columns = ", ".join(f"'{f.name}': '{duck_type(f.type)}'" for f in t.fields)
            source = (
                f"read_json({pattern}, format = 'newline_delimited', compression = 'gzip', "
                f"columns = {{{columns}}}, hive_partitioning = true, hive_types_autocast = false)"
            )
        return f'CREATE OR REPLACE VIEW "{t.name}" AS SELECT * FROM {source}'
    cols = [f'CAST(NULL AS {duck_type(f.type)}) AS "{f.name}"' for f in t.fields]
    cols += [f'CAST(NULL AS VARCHAR) AS "{k}"' for k in t.partition_keys]
    return f'CREATE OR REPLACE VIEW "{t.name}" AS SELECT {", ".join(cols)} WHERE false'


def connect(lake_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per lake table (UTC session)."""
    root = Path(lake_dir)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for t in lake.TABLES.values():
        con.execute(_view_sql(root, t))
    return con


@dataclass(frozen=True, slots=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> Result:
    """Run DuckDB SQL on a connection from :func:`connect`."""
    cur = con.execute(sql)
    columns = [d[0] for d in cur.description]
    return Result(columns, [tuple(r) for r in cur.fetchall()])


def run_saved(
    query: SavedQuery | str,
    lake_dir: str | Path,
    params: Mapping[str, str] | None = None,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Result:
    """Render a saved query (Trino ▶ DuckDB via sqlglot) and run it over ``lake_dir``."""
    q = load(query) if isinstance(query, str) else query
    sql = render(q, params, dialect="duckdb")
    return run_sql(con if con is not None else connect(lake_dir), sql)
