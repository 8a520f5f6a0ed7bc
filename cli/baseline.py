"""`rotorwatch baseline`: see and restart a device's learning period (rotorwatch.diagnosis.baseline).

After maintenance (a new bearing, a rebuilt coupling, a machine moved) the device's old healthy
behaviour is no longer its normal: ``reset`` forgets it, and the device learns again from its
next healthy windows. The restart is one conditional DynamoDB update of the device's state
item; it also counts the restart, which the score_and_alert Lambda's write is conditioned on,
so a batch in flight cannot write the old baseline back.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import app
from rotorwatch.alerting.alerts import BASELINE_ATTRIBUTE, BASELINE_RESETS_ATTRIBUTE, DeviceState
from rotorwatch.deployment.resources import STATE_TABLE_PARTITION_KEY

baseline_app = typer.Typer(
    help="A device's baseline (learning period): show it, restart it after maintenance.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")

DeviceOption = Annotated[str, typer.Option("--device-id", help="The device (thing name).")]
TableOption = Annotated[
    str, typer.Option("--state-table", help="The state table (stack output StateTableName).")
]
RegionOption = Annotated[
    str | None, typer.Option(help="AWS region (default: your AWS configuration's).")
]


class BaselineCommandError(RuntimeError):
    """Something the operator can fix: printed as one line, exit status 1."""


def _plain(value: Any) -> Any:
    """DynamoDB attribute values to Python values (numbers as Decimal)."""
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer().deserialize(value)


def _call(what: str, table: str, fn: Any) -> Any:
    """Run one DynamoDB call; AWS and configuration errors become one readable line."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code == "ResourceNotFoundException":
            raise BaselineCommandError(f"state table {table!r} not found") from None
        raise BaselineCommandError(f"{what} failed: {code}: {error.get('Message', '')}") from None
    except BotoCoreError as exc:
        from cli.errors import user_error_message

        if user_error_message(exc) is not None:
            raise  # no credentials, no region...: worded as every command words them
        raise BaselineCommandError(f"{what} failed: {exc}") from None


def _client(region: str | None) -> Any:
    from cli.aws import client

    # No region or a bad profile reach cli.errors.guard: the same line as every command's.
    return client("dynamodb", region)


def reset(dynamodb: Any, table: str, device_id: str) -> DeviceState:
    """Forget the device's baseline and count the restart. Returns the state as it was.

    Raises
    ------
    BaselineCommandError
        The device has no state item (it never sent a window, or the id is wrong), or AWS said no.
    """
    from botocore.exceptions import ClientError

    key = {STATE_TABLE_PARTITION_KEY: {"S": device_id}}

    def update() -> Any:
        try:
            return dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="REMOVE #b SET #r = if_not_exists(#r, :zero) + :one",
                ConditionExpression="attribute_exists(#k)",
                ExpressionAttributeNames={
                    "#b": BASELINE_ATTRIBUTE,
                    "#r": BASELINE_RESETS_ATTRIBUTE,
                    "#k": STATE_TABLE_PARTITION_KEY,
                },
                ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise BaselineCommandError(
                    f"device {device_id!r} has no state in {table!r} "
                    "(wrong id, or it has not sent a window yet)"
                ) from None
            raise

    old = _call("UpdateItem", table, update).get("Attributes", {})
    return DeviceState.from_item({k: _plain(v) for k, v in old.items()})


def status(dynamodb: Any, table: str, device_id: str) -> DeviceState:
    """The device's state item (for its baseline)."""
    got = _call(
        "GetItem",
        table,
        lambda: dynamodb.get_item(
            TableName=table,
            Key={STATE_TABLE_PARTITION_KEY: {"S": device_id}},
            ConsistentRead=True,
        ),
    )
    if "Item" not in got:
        raise BaselineCommandError(f"device {device_id!r} has no state in {table!r}")
    return DeviceState.from_item({k: _plain(v) for k, v in got["Item"].items()})


def describe(state: DeviceState) -> str:
    """One line: where the device's learning stands."""
    b = state.baseline
    restarts = f", restarted {state.baseline_resets}x" if state.baseline_resets else ""
    if b is None:
        return (
            f"{state.device_id}: not learning yet (starts with its next healthy window){restarts}"
        )
    if b.learned:
        return (
            f"{state.device_id}: learned ({b.count} windows); scored against its own history, "
            f"edge of healthy behaviour at distance {b.d_ref:.2f}{restarts}"
        )
    return f"{state.device_id}: learning, {b.count} of {b.target} healthy windows{restarts}"


@baseline_app.command("reset")
def reset_command(
    device_id: DeviceOption, state_table: TableOption, region: RegionOption = None
) -> None:
    """Restart a device's learning period (after maintenance): its old baseline is forgotten."""
    try:
        before = reset(_client(region), state_table, device_id)
    except BaselineCommandError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    had = before.baseline
    what = "nothing learned yet" if had is None else f"had learned {had.count} windows"
    typer.echo(
        f"{device_id}: baseline restarted ({what}); it learns again from its next healthy window"
    )


@baseline_app.command("status")
def status_command(
    device_id: DeviceOption, state_table: TableOption, region: RegionOption = None
) -> None:
    """Show where a device's learning period stands."""
    try:
        state = status(_client(region), state_table, device_id)
    except BaselineCommandError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(describe(state))
