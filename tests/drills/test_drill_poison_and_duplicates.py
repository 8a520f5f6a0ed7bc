"""Drills: poison records in every position of a batch; a burst of duplicate deliveries."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import decode
from rotorwatch.deployment.resources import EnvKey
from tests.drills.figures import Figure, record
from tests.drills.harness import Pipeline
from tests.handlers.conftest import Aws, FakeContext
from tests.signals import message

TS0 = 1_763_900_000_000
STEP_MS = 5 * 60_000
#: Velocity RMS per ISO zone of the test asset (group 2 rigid: 1.4 / 2.8 / 4.5 mm/s).
ZONE_V = {"A": 1.0, "D": 6.0}

POISON = {
    "not_json": b"\xff\xfe not json at all",
    "unsupported_version": json.dumps(
        {"v": 2, "device_id": "pump-01", "ts": TS0, "seq": 1}
    ).encode(),
    "missing_field": json.dumps({"v": 1, "device_id": "pump-01", "ts": TS0}).encode(),
    "bad_device_id": json.dumps({"v": 1, "device_id": "pump 01!", "ts": TS0, "seq": 1}).encode(),
    "bad_base64": json.dumps(
        {
            "v": 1,
            "device_id": "pump-01",
            "ts": TS0,
            "seq": 1,
            "vibration": {
                "fs_hz": 10240,
                "unit": "g",
                "encoding": "int16le+base64",
                "scale": 0.001,
                "data": "***",
            },
        }
    ).encode(),
    "not_object": b"[1, 2, 3]",
    "empty": b"",
}


def reason_of(payload: bytes) -> str:
    with pytest.raises(TelemetryError) as err:
        decode(payload)
    return str(err.value.reason)


def windows(device: str, first_seq: int, zones: str) -> list[bytes]:
    return [
        message(device, TS0 + (first_seq + i) * STEP_MS, first_seq + i, v1x_mm_s=ZONE_V[z], seed=i)
        for i, z in enumerate(zones)
    ]


@pytest.fixture
def rules(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """score_and_alert as deployed before a model exists (rules score everything)."""
    from rotorwatch.deployment.resources import SCORE_AND_ALERT_HANDLER
    from tests.handlers.conftest import load_handler_module

    monkeypatch.delenv(EnvKey.ENDPOINT_NAME)
    module = load_handler_module(SCORE_AND_ALERT_HANDLER)
    monkeypatch.setattr(module.DEPS, "sleep", lambda _s: None)
    return module


def test_poison_in_every_position_of_a_batch(
    extract_features: ModuleType, rules: ModuleType, aws: Aws, context: FakeContext
) -> None:
    n_good = 6
    kinds = list(POISON)
    pipe = Pipeline(aws, context)
    sent: set[tuple[str, int, int]] = set()
    redeliveries = 0
    for pos in range(n_good + 1):  # before the first, between each, after the last
        good = windows("pump-01", pos * 100, "A" * n_good)
        batch = [*good[:pos], POISON[kinds[pos % len(kinds)]], *good[pos:]]
        sent |= {("pump-01", TS0 + (pos * 100 + i) * STEP_MS, pos * 100 + i) for i in range(n_good)}
        r, feats = pipe.extract(extract_features, batch)
        redeliveries += r
        # The features stream is fed to scoring with one poison record of its own in the same spot.
        scored = [*feats[:pos], b'{"device_id": 7}', *feats[pos:]]
        redeliveries += pipe.score(rules, scored)
    ledger = pipe.collect()
    n_in = (n_good + 1) * (n_good + 1)
    assert redeliveries == 0  # bad input never fails a batch
    assert set(ledger.feature_windows) == sent
    assert set(ledger.predicted_windows) == sent  # every good window reached the lake
    assert max(ledger.predicted_windows.values()) == 1
    assert len(ledger.quarantined) == n_good + 1  # one object per poison record
    reasons = sorted(k.split("/")[1] for k in ledger.quarantined)
    assert reasons == sorted(
        f"reason={reason_of(POISON[kinds[p % len(kinds)]])}" for p in range(n_good + 1)
    )
    lost = n_in - len(ledger.feature_windows) - len(ledger.quarantined)
    assert lost == 0
    record(
        Figure(
            "poison in every position (7 batches x 7 records)",
            records_in=n_in,
            records_out=len(ledger.predicted_windows),
            quarantined=len(ledger.quarantined),
            alerts=len(ledger.alerts),
            redeliveries=redeliveries,
            lake_rows=len(ledger.predictions),
            lost=lost,
            duplicated=ledger.duplicated_alerts,
            note="poison kinds: " + ", ".join(kinds) + "; + 7 malformed feature records skipped",
        )
    )


def test_burst_of_duplicate_deliveries(
    extract_features: ModuleType, rules: ModuleType, aws: Aws, context: FakeContext
) -> None:
    pipe = Pipeline(aws, context)
    good = windows("pump-01", 0, "AADDDDDD")
    # IoT QoS 1 re-sends: every message three times, and the whole batch delivered three times
    # (a Lambda retry after a timeout, then a replay): 8 windows as 72 records.
    burst = [m for m in good for _ in range(3)]
    records_in = 0
    for _ in range(3):
        records_in += len(burst)
        _, feats = pipe.extract(extract_features, burst)
        assert len(feats) == len(good)  # within a batch, duplicates collapse to one window
        pipe.score(rules, feats)
        pipe.score(rules, [f for f in feats for _ in range(2)])  # and the features stream repeats
    ledger = pipe.collect()
    assert len(ledger.predicted_windows) == len(good)
    assert ledger.severities == ["WARNING", "ALARM"]  # each once, however often data came
    assert ledger.duplicated_alerts == 0
    record(
        Figure(
            "duplicate burst (QoS1 x3, batch x3, features x2)",
            records_in=records_in,
            records_out=len(ledger.predicted_windows),
            quarantined=len(ledger.quarantined),
            alerts=len(ledger.alerts),
            lake_rows=len(ledger.predictions),
            duplicated=ledger.duplicated_alerts,
            note="repeated batches re-enter the lake (at-least-once); alerts never repeat",
        )
    )
