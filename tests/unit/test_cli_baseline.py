"""`rotorwatch baseline reset/status` against a moto state table: one-line errors, no traceback."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from cli import app
from lambdas.common.dynamo import from_attributes, to_attributes
from rotorwatch.alerting.alerts import BASELINE_ATTRIBUTE, BASELINE_RESETS_ATTRIBUTE, DeviceState
from rotorwatch.deployment.resources import STATE_TABLE_PARTITION_KEY
from rotorwatch.diagnosis.baseline import Baseline, update
from tests.unit.test_baseline import noisy

REGION = "eu-west-1"
TABLE = "rw-state-cli"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": STATE_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": STATE_TABLE_PARTITION_KEY, "AttributeType": "S"}
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def learned_state(device_id: str = "pump-7", n: int = 12) -> DeviceState:
    rng = np.random.default_rng(0)
    b = Baseline(target=n)
    for _ in range(n):
        b = update(b, noisy(rng))
    return DeviceState(device_id=device_id, last_ts=1000, last_seq=12, baseline=b)


def put(client: Any, state: DeviceState) -> None:
    client.put_item(TableName=TABLE, Item=to_attributes(state.to_item()))


def get(client: Any, device_id: str) -> DeviceState:
    item = client.get_item(TableName=TABLE, Key={STATE_TABLE_PARTITION_KEY: {"S": device_id}})
    return DeviceState.from_item(from_attributes(item["Item"]))


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["baseline", *args])


def test_attribute_names_are_the_state_fields() -> None:
    names = {f.name for f in dataclasses.fields(DeviceState)}
    assert {BASELINE_ATTRIBUTE, BASELINE_RESETS_ATTRIBUTE} <= names


def test_reset_forgets_the_baseline_and_counts_the_restart(dynamodb: Any) -> None:
    put(dynamodb, learned_state())
    put(dynamodb, learned_state("pump-8"))
    result = run("reset", "--device-id", "pump-7", "--state-table", TABLE)
    assert result.exit_code == 0, result.output
    assert "had learned 12 windows" in result.stdout
    after = get(dynamodb, "pump-7")
    assert after.baseline is None
    assert after.baseline_resets == 1
    assert after.window == (1000, 12)  # the rest of the state is untouched
    assert get(dynamodb, "pump-8") == learned_state("pump-8")  # other devices too
    again = run("reset", "--device-id", "pump-7", "--state-table", TABLE)
    assert "nothing learned yet" in again.stdout
    assert get(dynamodb, "pump-7").baseline_resets == 2


def test_status_says_where_learning_stands(dynamodb: Any) -> None:
    put(dynamodb, learned_state())
    partial = learned_state("pump-9")
    put(
        dynamodb,
        dataclasses.replace(partial, baseline=dataclasses.replace(partial.baseline, target=20)),
    )  # type: ignore[arg-type]
    learned = run("status", "--device-id", "pump-7", "--state-table", TABLE)
    assert learned.exit_code == 0
    assert "learned (12 windows)" in learned.stdout
    assert (
        "learning, 12 of 20"
        in run("status", "--device-id", "pump-9", "--state-table", TABLE).stdout
    )
    run("reset", "--device-id", "pump-7", "--state-table", TABLE)
    assert (
        "not learning yet" in run("status", "--device-id", "pump-7", "--state-table", TABLE).stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reset", "--device-id", "nobody", "--state-table", TABLE), "has no state"),
        (("status", "--device-id", "nobody", "--state-table", TABLE), "has no state"),
        (("reset", "--device-id", "pump-7", "--state-table", "no-such-table"), "not found"),
    ],
    ids=["reset-unknown-device", "status-unknown-device", "unknown-table"],
)
def test_operator_mistakes_are_one_line_errors(
    dynamodb: Any, args: tuple[str, ...], message: str
) -> None:
    put(dynamodb, learned_state())
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert get(dynamodb, "pump-7").baseline is not None  # nothing was changed


def test_missing_options_are_usage_errors() -> None:
    result = run("reset", "--device-id", "pump-7")
    assert result.exit_code == 2
    assert "--state-table" in result.output
