"""watchdog: every device's state -> one NO_DATA alert per silence, a notice when data resumes.

Runs on a schedule (EventBridge rate rule). The decision is :func:`rotorwatch.alerting.silence.decide`;
this module reads the state table and makes each decision stick exactly once:

1. **claim**: a conditional update records the decision in the device's item
   (``no_data_for_ms``), conditioned on ``last_seen_ms`` still being what was read. Two runs at
   once (EventBridge delivers at least once) cannot both claim, and a device that reported in
   the meantime is not called silent.
2. **publish** to the alerts topic (same attributes as health alerts, so filter policies apply).
3. if the publish fails, the claim is **released**, so the next run tries again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.dynamo import from_attributes
from lambdas.common.settings import positive_float, required
from lambdas.common.sns import publish as sns_publish
from rotorwatch.alerting.alerts import DeviceState
from rotorwatch.alerting.silence import (
    DEFAULT_SILENCE_AFTER_MS,
    SilenceNotice,
    SilencePolicy,
    decide,
    message,
    message_attributes,
    short_message,
    subject,
)
from rotorwatch.deployment.resources import STATE_TABLE_PARTITION_KEY, EnvKey

#: Only what the decision needs is read (a state item also holds the alert history windows).
_PROJECTION = "#k, site, last_ts, last_seq, #s, last_seen_ms, no_data_for_ms, last_received_ms"
_NAMES = {"#k": STATE_TABLE_PARTITION_KEY, "#s": "state"}


@dataclass(frozen=True, slots=True)
class Settings:
    state_table: str
    alerts_topic_arn: str
    policy: SilencePolicy

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        after_s = positive_float(env, EnvKey.SILENCE_AFTER_S, DEFAULT_SILENCE_AFTER_MS / 1000.0)
        return cls(
            state_table=required(env, EnvKey.STATE_TABLE),
            alerts_topic_arn=required(env, EnvKey.ALERTS_TOPIC_ARN),
            policy=SilencePolicy(silence_after_ms=int(after_s * 1000)),
        )


def _conditional(call: Callable[[], Any]) -> bool:
    """Run a conditional write; False when its condition did not hold."""
    try:
        call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


class SilenceStore:
    """The watchdog's view of the state table: scan, claim and release silence decisions."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def scan(self) -> Iterator[DeviceState]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ProjectionExpression": _PROJECTION,
            "ExpressionAttributeNames": _NAMES,
        }
        while True:
            page = self._dynamodb.scan(**kwargs)
            for item in page.get("Items", []):
                yield DeviceState.from_item(from_attributes(item))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _update(self, device_id: str, expression: str, condition: str, values: Any) -> bool:
        return _conditional(
            lambda: self._dynamodb.update_item(
                TableName=self._table,
                Key={STATE_TABLE_PARTITION_KEY: {"S": device_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues={k: {"N": str(v)} for k, v in values.items()},
            )
        )

    def claim(self, n: SilenceNotice) -> bool:
        if n.kind == "NO_DATA":
            # Still silent since the same moment, and not already claimed for it.
            return self._update(
                n.device_id,
                "SET no_data_for_ms = :seen",
                "last_seen_ms = :seen AND "
                "(attribute_not_exists(no_data_for_ms) OR no_data_for_ms <> :seen)",
                {":seen": n.last_seen_ms},
            )
        return self._update(
            n.device_id,
            "REMOVE no_data_for_ms",
            "no_data_for_ms = :flag",
            {":flag": n.silent_since_ms},
        )

    def release(self, n: SilenceNotice) -> bool:
        """Undo :meth:`claim` after a failed publish (the next run decides again)."""
        if n.kind == "NO_DATA":
            return self._update(
                n.device_id,
                "REMOVE no_data_for_ms",
                "no_data_for_ms = :seen",
                {":seen": n.last_seen_ms},
            )
        return self._update(
            n.device_id,
            "SET no_data_for_ms = :flag",
            "attribute_not_exists(no_data_for_ms)",
            {":flag": n.silent_since_ms},
        )


@dataclass
class Deps:
    settings: Settings
    store: SilenceStore
    sns: Any
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))


@dataclass
class Outcome:
    devices: int = 0
    silent: int = 0  # silent longer than the gap at this run (alerted now or before)
    sent: list[SilenceNotice] = field(default_factory=list)
    lost_races: int = 0  # the device reported, or another run claimed, between read and write
    failed: list[str] = field(default_factory=list)  # device ids whose publish failed


def publish(deps: Deps, n: SilenceNotice) -> str:
    return sns_publish(
        deps.sns,
        deps.settings.alerts_topic_arn,
        subject=subject(n),
        text=message(n),
        sms=short_message(n),
        attributes=message_attributes(n),
    )


def run(deps: Deps) -> Outcome:
    """One watchdog pass over every device; publish failures are collected, not raised."""
    out = Outcome()
    now = deps.clock_ms()
    gap = deps.settings.policy.silence_after_ms
    for state in deps.store.scan():
        out.devices += 1
        if state.last_seen_ms is not None and now - state.last_seen_ms >= gap:
            out.silent += 1
        notice = decide(state, now, deps.settings.policy)
        if notice is None:
            continue
        if not deps.store.claim(notice):
            out.lost_races += 1
            continue
        try:
            publish(deps, notice)
        except (BotoCoreError, ClientError):
            deps.store.release(notice)
            out.failed.append(notice.device_id)
            continue
        out.sent.append(notice)
    return out
