"""`rotorwatch query --athena`: StartQueryExecution / GetQueryExecution / GetQueryResults on moto."""

from __future__ import annotations

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")
requests = pytest.importorskip("requests")

from cli.query import run_athena  # noqa: E402
from rotorwatch.lake import layout as lake  # noqa: E402
from rotorwatch.lake import query  # noqa: E402

REGION = "eu-west-1"
# moto's way to give the next query a result set (Athena itself does not run on moto).
MOTO_RESULTS_API = "http://motoapi.amazonaws.com/moto-api/static/athena/query-results"


@pytest.fixture
def athena_client(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        client = boto3.client("athena", region_name=REGION)
        client.create_work_group(Name="rw-analysts")
        yield client


def _column(name: str) -> dict:
    return {
        "Name": name,
        "Type": "varchar",
        "CatalogName": "c",
        "SchemaName": "s",
        "TableName": "t",
        "Label": name,
    }


def test_run_athena_sends_rendered_sql_to_the_workgroup(athena_client) -> None:  # type: ignore[no-untyped-def]
    sql = query.render(query.load("fleet_health_now"), {"lookback_hours": "6"})
    columns, rows = run_athena(athena_client, sql, workgroup="rw-analysts", sleep=lambda _s: None)
    assert (columns, rows) == ([], [])  # moto returns no rows unless told to
    (qid,) = athena_client.list_query_executions(WorkGroup="rw-analysts")["QueryExecutionIds"]
    execution = athena_client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    assert execution["Query"] == sql
    assert execution["QueryExecutionContext"]["Database"] == lake.GLUE_DATABASE
    assert "6 AS BIGINT" in sql.upper() or "CAST(6 AS BIGINT)" in sql.upper()


def test_run_athena_drops_the_header_row(athena_client) -> None:  # type: ignore[no-untyped-def]
    header = {"Data": [{"VarCharValue": "device_id"}, {"VarCharValue": "state"}]}
    row = {"Data": [{"VarCharValue": "pump-1"}, {"VarCharValue": "ALARM"}]}
    requests.post(
        MOTO_RESULTS_API,
        json={
            "account_id": "123456789012",
            "region": REGION,
            "results": [
                {"rows": [header, row], "column_info": [_column("device_id"), _column("state")]}
            ],
        },
        timeout=5,
    ).raise_for_status()
    assert run_athena(athena_client, "SELECT 1", workgroup="rw-analysts") == (
        ["device_id", "state"],
        [["pump-1", "ALARM"]],
    )


def test_cli_athena_path(athena_client) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    out = runner.invoke(
        app,
        ["query", "top_offenders", "--athena", "--workgroup", "rw-analysts", "--format", "json"],
    )
    assert out.exit_code == 0, out.output
    (qid,) = athena_client.list_query_executions(WorkGroup="rw-analysts")["QueryExecutionIds"]
    sent = athena_client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Query"]
    assert query.placeholders(sent) == []  # every :name bound before it left
    assert "10 AS top_n" in sent
    assert "7 AS BIGINT" in sent.upper()
    # Without --workgroup/--database the stage names them, as the CDK app does.
    athena_client.create_work_group(Name=lake.athena_workgroup("prod"))
    staged = runner.invoke(app, ["query", "top_offenders", "--athena", "--stage", "prod"])
    assert staged.exit_code == 0, staged.output
    (qid,) = athena_client.list_query_executions(WorkGroup="rotorwatch-prod")["QueryExecutionIds"]
    context = athena_client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    assert context["QueryExecutionContext"]["Database"] == "rotorwatch_prod"
