"""The local Kinesis event source mapping keeps Lambda's delivery contract: batch size, partial
failures retried from the lowest failed sequence number, bisect on function error, retries
exhausted -> on-failure destination; events have the shape of tests/events/*.json."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from local_cloud.lambda_runtime import EventSourceMapping, StreamRecord, kinesis_event

ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/telemetry"


def records(n: int) -> list[StreamRecord]:
    return [
        StreamRecord(
            f"{1000 + i}", f"pk-{i % 3}", f"r{i}".encode(), 1.7e9 + i, "shardId-000000000000"
        )
        for i in range(n)
    ]


class Recorder:
    """A function that records the sequence numbers of every invocation."""

    def __init__(self, behaviour: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.behaviour = behaviour

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
        self.calls.append(seqs)
        assert context.get_remaining_time_in_millis() > 0
        return self.behaviour(seqs) if self.behaviour else {"batchItemFailures": []}


def mapping(fn: Recorder, **kw: Any) -> tuple[EventSourceMapping, list[tuple[str, str]]]:
    failed: list[tuple[str, str]] = []

    def on_failure(recs: Sequence[StreamRecord], reason: str) -> None:
        failed.extend((r.sequence_number, reason) for r in recs)

    m = EventSourceMapping(
        fn, function_name="f", stream_arn=ARN, region="eu-west-1", on_failure=on_failure, **kw
    )
    return m, failed


def test_event_shape_matches_the_stored_lambda_event() -> None:
    stored = json.loads(
        (Path(__file__).parents[1] / "events" / "kinesis_telemetry.json").read_text()
    )["Records"][0]
    rec = StreamRecord("4959", "pump-01", b'{"v":1}', 1763900000.987, "shardId-000000000006")
    built = kinesis_event([rec], ARN, "eu-west-1")["Records"][0]
    assert set(built) == set(stored)
    assert set(built["kinesis"]) == set(stored["kinesis"])
    assert base64.b64decode(built["kinesis"]["data"]) == b'{"v":1}'
    assert built["eventID"] == "shardId-000000000006:4959"
    assert built["kinesis"]["approximateArrivalTimestamp"] == 1763900000.987


def test_batches_respect_batch_size_and_order() -> None:
    fn = Recorder()
    m, failed = mapping(fn, batch_size=4)
    m.process(records(10))
    assert [len(c) for c in fn.calls] == [4, 4, 2]
    assert [s for c in fn.calls for s in c] == [r.sequence_number for r in records(10)]
    assert m.stats.records_done == 10
    assert not failed


def test_partial_failure_retries_from_the_lowest_failed_record() -> None:
    attempts = {"n": 0}

    def fail_once(seqs: list[str]) -> dict[str, Any]:
        attempts["n"] += 1
        if attempts["n"] == 1:  # report 1005 and 1003: Lambda resumes at 1003
            return {"batchItemFailures": [{"itemIdentifier": "1005"}, {"itemIdentifier": "1003"}]}
        return {"batchItemFailures": []}

    fn = Recorder(fail_once)
    m, failed = mapping(fn, batch_size=10)
    m.process(records(8))
    assert fn.calls[1] == [str(1000 + i) for i in range(3, 8)]
    assert len(fn.calls) == 2
    assert not failed
    assert m.stats.partial_failures == 1
    assert m.stats.retried_records == 5


def test_function_error_bisects_until_the_poison_record_is_isolated() -> None:
    def poison(seqs: list[str]) -> dict[str, Any]:
        if "1005" in seqs:
            raise RuntimeError("boom")
        return {"batchItemFailures": []}

    fn = Recorder(poison)
    m, failed = mapping(fn, batch_size=8, retry_attempts=2)
    m.process(records(8))
    # Every record but the poison one is delivered in a successful invocation, in order.
    ok = [s for c in fn.calls if "1005" not in c for s in c]
    assert ok == [str(1000 + i) for i in range(8) if i != 5]
    assert [s for s, _ in failed] == ["1005"]
    assert "RuntimeError: boom" in failed[0][1]
    # The lone poison record was tried 1 + retry_attempts times.
    assert fn.calls.count(["1005"]) == 3
    assert m.stats.bisections >= 3
    assert m.stats.records_done == 8


def test_retries_exhausted_without_bisect_discard_the_batch_tail() -> None:
    fn = Recorder(lambda seqs: {"batchItemFailures": [{"itemIdentifier": seqs[-1]}]})
    m, failed = mapping(fn, batch_size=4, retry_attempts=1, bisect_on_error=False)
    m.process(records(4))
    assert fn.calls == [["1000", "1001", "1002", "1003"], ["1003"]]
    assert failed == [("1003", "batchItemFailures")]


def test_unknown_item_identifier_fails_the_whole_batch() -> None:
    calls = {"n": 0}

    def bad_then_ok(seqs: list[str]) -> dict[str, Any]:
        calls["n"] += 1
        return {"batchItemFailures": [{"itemIdentifier": "nope"}]} if calls["n"] == 1 else {}

    fn = Recorder(bad_then_ok)
    m, failed = mapping(fn, batch_size=4)
    m.process(records(3))
    assert fn.calls == [["1000", "1001", "1002"]] * 2
    assert not failed


def test_invalid_settings_rejected() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        mapping(Recorder(), batch_size=0)


def test_the_local_telemetry_mapping_reports_arrival_on_the_bridges_clock() -> None:
    """Kinesis stamps arrival at put time; locally the rule bridge's (simulated) clock stands in
    for it, so a v2 window's received_at lands where a v1 window's timestamp() does."""
    from local_cloud.cloud_plumbing import _restamped
    from local_cloud.lambda_runtime import StreamRecord

    got: list[StreamRecord] = []
    deliver = _restamped(got.extend, {"2": 1_700_000_000_000})
    recs = [StreamRecord(str(i), "plant-a/pump-1", b"RW", 1_800_000_000.0, "s0") for i in (1, 2)]
    deliver(recs)
    assert [r.arrival_s for r in got] == [1_800_000_000.0, 1_700_000_000.0]
