"""An Athena client stand-in that answers StartQueryExecution with DuckDB over a local lake.

moto's Athena returns no rows, so a test that must run a command exactly as a user types it
(``rotorwatch query ... --athena``) gets this instead of ``boto3.client("athena")``: the Trino
SQL the command sends is transpiled the way the local runner does it (sqlglot, Trino ▶ DuckDB)
and run over the lake; results come back in Athena's GetQueryResults shape (header row first,
every value a string).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlglot

from local_cloud.athena import connect, run_sql


class DuckDbAthena:
    """``workgroup`` and ``database``, when given, are the only ones this account has: a query
    in another workgroup is refused and one in another database fails, as Athena does."""

    def __init__(
        self, lake_dir: Path, *, workgroup: str | None = None, database: str | None = None
    ) -> None:
        self.lake_dir = lake_dir
        self.workgroup = workgroup
        self.database = database
        self.calls: list[dict[str, Any]] = []
        self._results: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        self._failed: dict[str, str] = {}

    def start_query_execution(self, **kwargs: Any) -> dict[str, str]:
        from botocore.exceptions import ClientError

        self.calls.append(kwargs)
        qid = f"q{len(self.calls)}"
        if self.workgroup is not None and kwargs.get("WorkGroup") != self.workgroup:
            error = {"Code": "InvalidRequestException", "Message": "WorkGroup is not found."}
            raise ClientError({"Error": error}, "StartQueryExecution")
        database = kwargs.get("QueryExecutionContext", {}).get("Database")
        if self.database is not None and database != self.database:
            self._failed[qid] = f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist"
            return {"QueryExecutionId": qid}
        sql = sqlglot.transpile(kwargs["QueryString"], read="trino", write="duckdb")[0]
        result = run_sql(connect(self.lake_dir), sql)
        self._results[qid] = (result.columns, result.rows)
        return {"QueryExecutionId": qid}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        if QueryExecutionId in self._failed:
            reason = self._failed[QueryExecutionId]
            return {"QueryExecution": {"Status": {"State": "FAILED", "StateChangeReason": reason}}}
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}

    def get_query_results(self, QueryExecutionId: str, **_: Any) -> dict[str, Any]:
        columns, rows = self._results[QueryExecutionId]

        def row(values: Any) -> dict[str, Any]:
            return {"Data": [{} if v is None else {"VarCharValue": str(v)} for v in values]}

        return {
            "ResultSet": {
                "ResultSetMetadata": {"ColumnInfo": [{"Name": c} for c in columns]},
                "Rows": [row(columns), *(row(r) for r in rows)],
            }
        }
