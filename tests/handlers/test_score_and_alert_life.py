"""Remaining life through score_and_alert on moto, and the same windows through `replay`'s
DeviceReplay: one fold, so the lake rows, the state and the alerts agree window for window.

Rules only (no endpoint), a learning period of ``LEARN`` windows, one window every 10 minutes;
the machine's 1x velocity grows exponentially after its learning period until zone D.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from lambdas.common.dynamo import from_attributes
from rotorwatch.alerting.alerts import DeviceState
from rotorwatch.alerting.replay import DeviceReplay
from rotorwatch.contract.telemetry import decode
from rotorwatch.deployment.resources import (
    SCORE_AND_ALERT_HANDLER,
    STATE_TABLE_PARTITION_KEY,
    EnvKey,
)
from rotorwatch.diagnosis.features import compute_features
from tests.events import kinesis_event
from tests.handlers.conftest import STATE_TABLE, Aws, FakeContext, load_handler_module
from tests.signals import SITE, asset, message

TS0 = 1_763_900_000_000
STEP_MS = 10 * 60_000
LEARN = 24
DEVICE = "pump-01"
#: Zone B (group 2 rigid) while learning, then x1.06 a window: zone D (4.5 mm/s) in ~17 windows.
V0_MM_S = 1.6
GROWTH = 1.06
N = LEARN + 40
LIFE_KEYS = ("remaining_life_s", "remaining_life_low_s", "remaining_life_high_s")


def velocity(seq: int) -> float:
    return V0_MM_S * GROWTH ** max(seq - LEARN, 0)


def features(seqs: range) -> list[dict[str, Any]]:
    msgs = [
        decode(message(DEVICE, TS0 + s * STEP_MS, s, v1x_mm_s=velocity(s), seed=s)) for s in seqs
    ]
    feats = compute_features(msgs, {DEVICE: asset(DEVICE)})
    for f in feats:
        f["site"] = SITE
    return feats


@pytest.fixture
def handler(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv(EnvKey.ENDPOINT_NAME)
    monkeypatch.setenv(EnvKey.BASELINE_WINDOWS, str(LEARN))
    return load_handler_module(SCORE_AND_ALERT_HANDLER)


def test_handler_and_replay_fold_the_same_way(
    handler: ModuleType, aws: Aws, context: FakeContext
) -> None:
    feats = features(range(N))
    # The handler in batches of 8, as Kinesis would deliver them.
    for start in range(0, N, 8):
        batch = [json.dumps(f).encode() for f in feats[start : start + 8]]
        event = kinesis_event(
            batch, template="kinesis_features", partition_keys=[DEVICE] * len(batch)
        )
        assert handler.handler(event, context) == {"batchItemFailures": []}
    lake = {p["seq"]: p for p in aws.predictions()}
    replay = DeviceReplay(DEVICE, learning_windows=LEARN)
    replayed = list(replay.feed(feats, None))
    assert len(replayed) == N
    for r in replayed:
        row = lake[r.prediction["seq"]]
        for key in ("state", "anomaly_score", "fault", *LIFE_KEYS):
            assert row[key] == pytest.approx(r.prediction[key]), (r.prediction["seq"], key)
    # The wear shows: an estimate before zone D, none while the machine was steady.
    with_estimate = [r.prediction for r in replayed if r.prediction["remaining_life_s"]]
    assert with_estimate
    assert all(p["seq"] > LEARN for p in with_estimate)
    assert all(lake[s]["remaining_life_s"] is None for s in range(LEARN))
    # The state item carries the trend and the last estimate; it reads back as replay's.
    item = aws.dynamodb.get_item(
        TableName=STATE_TABLE, Key={STATE_TABLE_PARTITION_KEY: {"S": DEVICE}}, ConsistentRead=True
    )["Item"]
    stored = DeviceState.from_item(from_attributes(item))
    assert stored.life is not None
    assert stored.life == replay.state.life
    assert stored.remaining_life_limit == "zone D"
    assert len(json.dumps(stored.to_item())) < 4096  # DynamoDB bills reads per 4 KB


def test_estimate_before_zone_d_is_close_to_the_true_time() -> None:
    feats = features(range(N))
    replayed = list(DeviceReplay(DEVICE, learning_windows=LEARN).feed(feats, None))
    zone_d = next(r.prediction["ts"] for r in replayed if r.prediction["iso_zone"] == "D")
    errors = [
        abs(r.prediction["remaining_life_s"] - (zone_d - r.prediction["ts"]) / 1000)
        for r in replayed
        if r.prediction["remaining_life_s"] is not None and r.prediction["ts"] < zone_d
    ]
    # An exponential rise is the estimator's own model: within a window (10 min) of the truth,
    # from the first estimate (seven windows before zone D) on.
    assert len(errors) >= 5
    assert max(errors) <= STEP_MS / 1000
