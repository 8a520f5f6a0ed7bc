"""score_and_alert with per-device baselines, against moto: learning, scoring, redelivery, reset.

The function is deployed before any model exists here (rules only), with a learning period of
``LEARN`` windows, so a device finishes learning within a test.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest

from cli.baseline import reset
from lambdas.common.dynamo import from_attributes
from lambdas.common.settings import SettingsError
from rotorwatch.alerting.alerts import DeviceState
from rotorwatch.contract.telemetry import decode
from rotorwatch.deployment.resources import (
    SCORE_AND_ALERT_HANDLER,
    STATE_TABLE_PARTITION_KEY,
    EnvKey,
)
from rotorwatch.diagnosis.baseline import BASELINE_WARNING_SCORE, DEFAULT_LEARNING_WINDOWS
from rotorwatch.diagnosis.features import compute_features
from tests.events import kinesis_event
from tests.handlers.conftest import STATE_TABLE, Aws, FakeContext, load_handler_module
from tests.signals import SITE, asset, message

TS0 = 1_763_900_000_000
STEP_MS = 10 * 60_000
LEARN = 6
#: Zone B for the test asset (group 2 rigid: A/B 1.4, B/C 2.8 mm/s): the rules call it HEALTHY
#: and name a shaft fault from the orders, so a baseline exceedance may warn.
HEALTHY_V = 1.6
#: Still zone B (HEALTHY by ISO and by the rules), but 1.6x the learned velocity.
RAISED_V = 2.6


def event(windows: Sequence[tuple[int, float]], device: str = "pump-01") -> dict[str, Any]:
    """A features-stream event for (seq, 1x velocity mm/s) windows, one every 10 minutes."""
    msgs = [
        decode(message(device, TS0 + seq * STEP_MS, seq, v1x_mm_s=v, seed=seq))
        for seq, v in windows
    ]
    feats = compute_features(msgs, {device: asset(device)})
    for f in feats:
        f["site"] = SITE
    payloads = [json.dumps(f).encode() for f in feats]
    return kinesis_event(
        payloads, template="kinesis_features", partition_keys=[device] * len(payloads)
    )


@pytest.fixture
def learning(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv(EnvKey.ENDPOINT_NAME)
    monkeypatch.setenv(EnvKey.BASELINE_WINDOWS, str(LEARN))
    return load_handler_module(SCORE_AND_ALERT_HANDLER)


def state_of(aws: Aws, device: str = "pump-01") -> DeviceState:
    item = aws.dynamodb.get_item(
        TableName=STATE_TABLE, Key={STATE_TABLE_PARTITION_KEY: {"S": device}}, ConsistentRead=True
    )["Item"]
    return DeviceState.from_item(from_attributes(item))


def by_seq(aws: Aws, device: str = "pump-01") -> dict[int, dict[str, Any]]:
    return {p["seq"]: p for p in aws.predictions() if p["device_id"] == device}


def test_learning_period_is_read_once_at_cold_start(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_handler_module(SCORE_AND_ALERT_HANDLER)
    assert module.SETTINGS.baseline_windows == DEFAULT_LEARNING_WINDOWS  # not set: one day
    monkeypatch.setenv(EnvKey.BASELINE_WINDOWS, "36")
    assert load_handler_module(SCORE_AND_ALERT_HANDLER).SETTINGS.baseline_windows == 36
    for bad in ("0", "-3", "1.5", "lots"):
        monkeypatch.setenv(EnvKey.BASELINE_WINDOWS, bad)
        with pytest.raises(SettingsError, match=EnvKey.BASELINE_WINDOWS):
            load_handler_module(SCORE_AND_ALERT_HANDLER)


def test_device_learns_then_is_scored_against_its_own_history(
    learning: ModuleType, aws: Aws, context: FakeContext
) -> None:
    healthy = [(s, HEALTHY_V) for s in range(LEARN)]
    assert learning.handler(event(healthy), context) == {"batchItemFailures": []}
    state = state_of(aws)
    assert state.baseline is not None
    assert state.baseline.learned
    assert state.baseline.count == LEARN
    learned_rows = by_seq(aws)
    # The same raised window on a device still learning (pump-02) and on the learned one.
    learning.handler(event([(0, HEALTHY_V), (1, RAISED_V)], device="pump-02"), context)
    learning.handler(event([(LEARN, HEALTHY_V), (LEARN + 1, RAISED_V)]), context)
    rows, cold = by_seq(aws), by_seq(aws, "pump-02")
    # Cold start: the rules alone decide, zone B is healthy: no fault, only a leaning.
    assert cold[1]["iso_zone"] == "B"
    assert cold[1]["fault"] == "normal"
    assert cold[1]["fault_leaning"] not in (None, "normal")
    assert cold[1]["state"] == "HEALTHY"
    assert cold[1]["anomaly_score"] < BASELINE_WARNING_SCORE
    # Learned: a healthy window stays healthy, the raised one warns on the device's own history.
    assert rows[LEARN]["state"] == "HEALTHY"
    assert rows[LEARN]["anomaly_score"] < 0.5
    assert rows[LEARN + 1]["state"] == "WARNING"
    assert rows[LEARN + 1]["anomaly_score"] >= BASELINE_WARNING_SCORE
    # No longer healthy on its own history: the leaning is now the window's fault.
    assert rows[LEARN + 1]["fault"] == cold[1]["fault_leaning"]
    assert rows[LEARN + 1]["fault_leaning"] is None
    # While learning, the predictions were the cold-start path's own.
    assert all(r["state"] == "HEALTHY" for r in learned_rows.values())
    # Learned is frozen: scoring did not move the statistics or the edges; only the run (the
    # last distances) moved on, by the two windows scored, and the state item kept it.
    after = state_of(aws).baseline
    assert after is not None
    assert replace(after, recent_d=state.baseline.recent_d) == state.baseline
    assert len(after.recent_d) == 2
    assert after.recent_d != state.baseline.recent_d
    assert set(rows[LEARN + 1]) == set(cold[1])  # no new column in the predictions table


def test_redelivered_windows_are_not_learned_twice(
    learning: ModuleType, aws: Aws, context: FakeContext
) -> None:
    first = event([(s, HEALTHY_V) for s in range(3)])
    learning.handler(first, context)
    assert state_of(aws).baseline.count == 3  # type: ignore[union-attr]
    learning.handler(first, context)  # the same batch again (a retried tail, a replay)
    assert state_of(aws).baseline.count == 3  # type: ignore[union-attr]
    # An overlapping batch: windows 1-2 again plus 3-4: only the new two are learned.
    learning.handler(event([(s, HEALTHY_V) for s in range(1, 5)]), context)
    assert state_of(aws).baseline.count == 5  # type: ignore[union-attr]


def test_redelivered_window_after_learning_gets_the_same_lake_row(
    learning: ModuleType, aws: Aws, context: FakeContext
) -> None:
    learning.handler(event([(s, HEALTHY_V) for s in range(LEARN)]), context)
    raised = event([(LEARN, RAISED_V)])
    learning.handler(raised, context)
    learning.handler(raised, context)  # already applied: scored, not learned, no second alert
    rows = [p for p in aws.predictions() if p["seq"] == LEARN]
    assert len(rows) == 2
    assert rows[0]["state"] == rows[1]["state"] == "WARNING"
    assert rows[0]["anomaly_score"] == rows[1]["anomaly_score"]


def test_reset_restarts_learning(learning: ModuleType, aws: Aws, context: FakeContext) -> None:
    learning.handler(event([(s, HEALTHY_V) for s in range(LEARN)]), context)
    before = reset(aws.dynamodb, STATE_TABLE, "pump-01")
    assert before.baseline is not None
    assert before.baseline.count == LEARN
    state = state_of(aws)
    assert state.baseline is None
    assert state.baseline_resets == 1
    assert state.window == before.window  # idempotency untouched
    # The raised window now belongs to a device learning again: no baseline warning ...
    learning.handler(event([(LEARN, RAISED_V)]), context)
    assert by_seq(aws)[LEARN]["state"] == "HEALTHY"
    # ... and it is the first window of the new baseline.
    assert state_of(aws).baseline.count == 1  # type: ignore[union-attr]
    assert state_of(aws).baseline_resets == 1


class ResetDuringBatch:
    """The state table client of one invocation, with an operator's reset landing between the
    invocation's read and its conditional write (the first write only)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.resets = 0
        self.refused = 0

    def update_item(self, **kw: Any) -> Any:
        if not self.resets and kw.get("UpdateExpression", "").startswith("SET "):
            self.resets += 1
            reset(self.real, STATE_TABLE, "pump-01")
        try:
            return self.real.update_item(**kw)
        except self.real.exceptions.ConditionalCheckFailedException:
            self.refused += 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_reset_racing_a_batch_is_not_overwritten(
    learning: ModuleType, aws: Aws, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    learning.handler(event([(s, HEALTHY_V) for s in range(4)]), context)
    proxy = ResetDuringBatch(aws.dynamodb)
    monkeypatch.setattr(learning.DEPS.store, "_dynamodb", proxy)
    learning.handler(event([(4, HEALTHY_V), (5, HEALTHY_V)]), context)
    assert proxy.refused == 1  # the write folded from the old baseline lost ...
    state = state_of(aws)
    assert state.baseline_resets == 1
    # ... and the re-read fold learned only this batch's two windows on the restarted baseline.
    assert state.baseline is not None
    assert state.baseline.count == 2
    assert state.window == (TS0 + 5 * STEP_MS, 5)


def test_state_item_with_a_baseline_stays_small(
    learning: ModuleType, aws: Aws, context: FakeContext
) -> None:
    learning.handler(event([(s, HEALTHY_V) for s in range(LEARN)]), context)
    item = aws.dynamodb.get_item(
        TableName=STATE_TABLE, Key={STATE_TABLE_PARTITION_KEY: {"S": "pump-01"}}
    )["Item"]
    size = len(json.dumps(item["baseline"]))  # attribute-value JSON: larger than DynamoDB's
    assert size < 2048
