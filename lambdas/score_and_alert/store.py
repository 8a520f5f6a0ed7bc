"""The device state table as score_and_alert reads and writes it: a batch read of every device in
the batch, and a conditional update of score_and_alert's own attributes only (optimistic
concurrency against the watchdog, a baseline reset and another batch; rotorwatch.alerting.state_item
says which writer owns which attribute)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.dynamo import from_attributes, to_attributes
from rotorwatch.alerting.alerts import BASELINE_RESETS_ATTRIBUTE, DeviceState
from rotorwatch.alerting.state_item import (
    FORMAT_ATTRIBUTE,
    SCORE_AND_ALERT_ATTRIBUTES,
    STATE_FORMAT,
    read_state,
)
from rotorwatch.deployment.resources import STATE_TABLE_PARTITION_KEY

#: BatchGetItem reads at most 100 keys per request (DynamoDB API reference, BatchGetItem).
_BATCH_GET_MAX_KEYS = 100


class StateStore:
    """Device state items in the DynamoDB ``state`` table (one item per device)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def load(self, device_ids: list[str]) -> dict[str, DeviceState]:
        states: dict[str, DeviceState] = {}
        for start in range(0, len(device_ids), _BATCH_GET_MAX_KEYS):
            keys = [
                {STATE_TABLE_PARTITION_KEY: {"S": d}}
                for d in device_ids[start : start + _BATCH_GET_MAX_KEYS]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    stored = read_state(from_attributes(item))  # any release's item, healed
                    states[stored.state.device_id] = stored.state
                request = response.get("UnprocessedKeys") or {}
        return states

    def save(self, state: DeviceState, read: DeviceState | None) -> bool:
        """Write ``state`` if the item still holds the window and the baseline reset count of
        ``read``, the state it was folded from (None: no item yet).

        Only score_and_alert's own attributes are set or removed (an UpdateItem, not a whole
        item): the watchdog's ``no_data_for_ms`` and attributes a newer release keeps are left
        as they are, so a silence flag set between our read and our write survives (issue 26:
        the "data resumed" notice was lost) and a rollback erases nothing.

        Returns False when another writer got there first (the condition failed): another batch
        moved the window, or an operator restarted the baseline.
        """
        item = to_attributes(state.to_item())
        names = {"#k": STATE_TABLE_PARTITION_KEY, "#f": FORMAT_ATTRIBUTE}
        values: dict[str, Any] = {":format": {"N": str(STATE_FORMAT)}}
        sets, removes = ["#f = if_not_exists(#f, :format)"], []
        for n, attr in enumerate(SCORE_AND_ALERT_ATTRIBUTES):
            names[f"#a{n}"] = attr
            if attr in item:
                values[f":a{n}"] = item[attr]
                sets.append(f"#a{n} = :a{n}")
            else:
                removes.append(f"#a{n}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        if read is None:
            condition = "attribute_not_exists(#k)"
        else:
            names.update({"#ts": "last_ts", "#seq": "last_seq", "#r": BASELINE_RESETS_ATTRIBUTE})
            values.update(
                {
                    ":ts": {"N": str(read.last_ts)},
                    ":seq": {"N": str(read.last_seq)},
                    ":resets": {"N": str(read.baseline_resets)},
                }
            )
            # An attribute the item did not hold reads as its default (-1, 0): the condition
            # accepts its absence too, or an older item could never be written again.
            parts = []
            for attr, value, default in (
                ("#ts", ":ts", read.last_ts == -1),
                ("#seq", ":seq", read.last_seq == -1),
                ("#r", ":resets", read.baseline_resets == 0),
            ):
                test = f"{attr} = {value}"
                parts.append(f"(attribute_not_exists({attr}) OR {test})" if default else test)
            condition = "attribute_exists(#k) AND " + " AND ".join(parts)
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={STATE_TABLE_PARTITION_KEY: {"S": state.device_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def clear_pending(self, device_id: str, window: tuple[int, int]) -> None:
        """Mark the outbox as sent, unless the state has moved on meanwhile."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={STATE_TABLE_PARTITION_KEY: {"S": device_id}},
                UpdateExpression="REMOVE pending_alert",
                ConditionExpression="last_ts = :ts AND last_seq = :seq",
                ExpressionAttributeValues={
                    ":ts": {"N": str(window[0])},
                    ":seq": {"N": str(window[1])},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
