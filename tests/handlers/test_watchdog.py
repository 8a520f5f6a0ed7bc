"""The watchdog against moto: score_and_alert records last_seen, the watchdog alerts on silence."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from rotorwatch.alerting.silence import NO_DATA
from rotorwatch.deployment.resources import EnvKey
from tests.handlers.conftest import STATE_TABLE, Aws, FakeContext
from tests.handlers.test_score_and_alert import features_event, zones

MIN_MS = 60_000
ARRIVAL_S = 1_763_900_000.0


def feed(score: ModuleType, start_seq: int, n: int, arrival_s: float, ctx: FakeContext) -> None:
    event = features_event(zones(start_seq, "A" * n))
    for i, rec in enumerate(event["Records"]):
        rec["kinesis"]["approximateArrivalTimestamp"] = arrival_s + i
    assert score.handler(event, ctx) == {"batchItemFailures": []}


def item(aws: Aws) -> dict[str, Any]:
    got = aws.dynamodb.get_item(TableName=STATE_TABLE, Key={"device_id": {"S": "pump-01"}})
    return got["Item"]


@pytest.fixture
def rules(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    from rotorwatch.deployment.resources import SCORE_AND_ALERT_HANDLER
    from tests.handlers.conftest import load_handler_module

    monkeypatch.delenv(EnvKey.ENDPOINT_NAME)
    return load_handler_module(SCORE_AND_ALERT_HANDLER)


def at(watchdog: ModuleType, monkeypatch: pytest.MonkeyPatch, now_ms: int) -> None:
    monkeypatch.setattr(watchdog.DEPS, "clock_ms", lambda: now_ms)


def test_one_no_data_alert_per_silence_and_a_resumed_notice(
    rules: ModuleType,
    watchdog: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed(rules, 0, 3, ARRIVAL_S, context)
    last_seen = int((ARRIVAL_S + 2) * 1000)  # the newest window's arrival, not its device ts
    assert int(item(aws)["last_seen_ms"]["N"]) == last_seen
    aws.alerts()  # (none: healthy windows)

    at(watchdog, monkeypatch, last_seen + 29 * MIN_MS)
    assert watchdog.handler({}, context)["sent"] == 0
    runs = []
    for minutes in (30, 35, 40, 120):  # every scheduled run while it stays silent
        at(watchdog, monkeypatch, last_seen + minutes * MIN_MS)
        runs.append(watchdog.handler({}, context))
    assert [r["sent"] for r in runs] == [1, 0, 0, 0]
    assert [r["silent"] for r in runs] == [1, 1, 1, 1]
    (alert,) = aws.alerts()
    assert alert["attributes"] == {"severity": NO_DATA, "device_id": "pump-01", "site": "plant-a"}
    assert "received nothing new from pump-01 at plant-a for 30 min" in alert["body"]

    # It reports again: scoring records the new arrival, the next run says data resumed, once.
    back_s = ARRIVAL_S + 3 * 3600
    feed(rules, 3, 2, back_s, context)
    at(watchdog, monkeypatch, int(back_s * 1000) + 5 * MIN_MS)
    assert watchdog.handler({}, context)["sent"] == 1
    assert watchdog.handler({}, context)["sent"] == 0
    (resumed,) = aws.alerts()
    assert resumed["attributes"]["severity"] == "DATA_RESUMED"
    assert "DATA RESUMED: pump-01 at plant-a is reporting again after 2 h 59 min" in resumed["body"]
    assert "no_data_for_ms" not in item(aws)


def test_two_concurrent_runs_send_one_alert(
    rules: ModuleType,
    watchdog: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed(rules, 0, 2, ARRIVAL_S, context)
    now = int(ARRIVAL_S * 1000) + 60 * MIN_MS
    at(watchdog, monkeypatch, now)
    store = watchdog.DEPS.store
    (state,) = list(store.scan())  # both runs read the same state ...
    from rotorwatch.alerting.silence import decide

    notice = decide(state, now, watchdog.SETTINGS.policy)
    assert notice is not None
    assert store.claim(notice) is True
    assert store.claim(notice) is False  # ... only one of them may claim it
    assert watchdog.handler({}, context)["lost_races"] == 0  # already claimed: decided quiet


def test_publish_failure_releases_the_claim_and_the_next_run_sends(
    rules: ModuleType,
    watchdog: ModuleType,
    aws: Aws,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed(rules, 0, 2, ARRIVAL_S, context)
    at(watchdog, monkeypatch, int(ARRIVAL_S * 1000) + 45 * MIN_MS)
    with Stubber(watchdog.DEPS.sns) as stub:
        stub.add_client_error("publish", "Throttling", http_status_code=400)
        with pytest.raises(watchdog.PublishFailed):
            watchdog.handler({}, context)
    assert "no_data_for_ms" not in item(aws)
    assert aws.alerts() == []
    assert watchdog.handler({}, context)["sent"] == 1
    assert [a["attributes"]["severity"] for a in aws.alerts()] == [NO_DATA]


def test_gap_comes_from_the_environment(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from rotorwatch.deployment.resources import WATCHDOG_HANDLER
    from tests.handlers.conftest import load_handler_module

    monkeypatch.setenv(EnvKey.SILENCE_AFTER_S, "600")
    module = load_handler_module(WATCHDOG_HANDLER)
    assert module.SETTINGS.policy.silence_after_ms == 600_000
    monkeypatch.setenv(EnvKey.SILENCE_AFTER_S, "soon")
    with pytest.raises(Exception, match=EnvKey.SILENCE_AFTER_S):
        load_handler_module(WATCHDOG_HANDLER)


def test_scan_pages_through_every_device(
    watchdog: ModuleType, aws: Aws, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdas.common.dynamo import to_attributes
    from rotorwatch.alerting.alerts import DeviceState

    for i in range(30):
        s = DeviceState(device_id=f"fan-{i:02d}", last_ts=1, last_seq=1, last_seen_ms=1000 * i)
        aws.dynamodb.put_item(TableName=STATE_TABLE, Item=to_attributes(s.to_item()))
    calls: list[dict[str, Any]] = []
    real_scan = watchdog.DEPS.store._dynamodb.scan

    def small_pages(**kw: Any) -> Any:
        calls.append(kw)
        return real_scan(**kw, Limit=7)

    monkeypatch.setattr(watchdog.DEPS.store._dynamodb, "scan", small_pages)
    at(watchdog, monkeypatch, 1000 * 29 + 30 * MIN_MS)  # the 30 devices all went silent
    result = watchdog.handler({}, context)
    assert (result["devices"], result["sent"]) == (30, 30)
    assert len(calls) >= 5
    assert sorted(json.loads(json.dumps(a["attributes"]))["device_id"] for a in aws.alerts()) == [
        f"fan-{i:02d}" for i in range(30)
    ]
