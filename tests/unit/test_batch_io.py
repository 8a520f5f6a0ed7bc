"""PutRecords / PutRecordBatch chunking and entry-level retries (fake clients, no AWS)."""

from __future__ import annotations

from typing import Any

from lambdas.common.batch import (
    KINESIS_MAX_BYTES,
    KINESIS_MAX_ENTRIES,
    SourceRecord,
    failed_tail,
    put_record_batch,
    put_records,
)


class FakeKinesis:
    def __init__(self, fail_first: set[bytes] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_once = set(fail_first or ())

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Records)
        out = []
        for r in Records:
            if r["Data"] in self.fail_once:
                self.fail_once.discard(r["Data"])
                out.append({"ErrorCode": "ProvisionedThroughputExceededException"})
            else:
                out.append({"SequenceNumber": "1"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in out), "Records": out}


def test_put_records_respects_entry_and_byte_limits() -> None:
    kinesis = FakeKinesis()
    data = [b"x" * 1000 for _ in range(1200)]
    result = put_records(kinesis, "s", data, ["k"] * 1200, sleep=lambda _s: None)
    assert result.failed == []
    assert [len(c) for c in kinesis.calls] == [KINESIS_MAX_ENTRIES, KINESIS_MAX_ENTRIES, 200]

    kinesis = FakeKinesis()
    big = [b"y" * (1024 * 1024) for _ in range(12)]  # 1 MiB each: at most 4 per 5 MiB call
    put_records(kinesis, "s", big, ["k"] * 12, sleep=lambda _s: None)
    assert all(sum(len(r["Data"]) + 1 for r in c) <= KINESIS_MAX_BYTES for c in kinesis.calls)
    assert sum(len(c) for c in kinesis.calls) == 12


def test_only_failed_entries_are_resent() -> None:
    data = [bytes([i]) for i in range(10)]
    kinesis = FakeKinesis(fail_first={data[3], data[7]})
    result = put_records(kinesis, "s", data, ["k"] * 10, sleep=lambda _s: None)
    assert result.failed == []
    assert result.retried == 2
    assert [r["Data"] for r in kinesis.calls[1]] == [data[3], data[7]]


def test_put_record_batch_reports_what_never_succeeded() -> None:
    class AlwaysThrottled:
        calls = 0

        def put_record_batch(self, **kw: Any) -> dict[str, Any]:
            self.calls += 1
            n = len(kw["Records"])
            return {
                "FailedPutCount": n,
                "RequestResponses": [{"ErrorCode": "ServiceUnavailableException"}] * n,
            }

    firehose = AlwaysThrottled()
    result = put_record_batch(firehose, "d", [b"a", b"b"], max_attempts=3, sleep=lambda _s: None)
    assert result.failed == [0, 1]
    assert firehose.calls == 3


def test_failed_tail_starts_at_the_earliest_failure() -> None:
    recs = [SourceRecord(str(i), "k", b"", 0, "", "") for i in range(6)]
    assert failed_tail(recs, [4, 2]) == ["2", "3", "4", "5"]
    assert failed_tail(recs, []) == []


class SizeLimitedFirehose:
    """Refuses a whole request above ``limit`` bytes, as Firehose answers an oversized
    PutRecordBatch (the call fails; no per-entry results)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.accepted: list[bytes] = []
        self.refused = 0

    def put_record_batch(
        self, *, DeliveryStreamName: str, Records: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if sum(len(r["Data"]) for r in Records) > self.limit:
            self.refused += 1
            raise ClientError(
                {
                    "Error": {"Code": "ValidationException", "Message": "too large"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "PutRecordBatch",
            )
        self.accepted.extend(r["Data"] for r in Records)
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"} for _ in Records]}


def test_put_record_batch_stays_under_the_documented_4_mb_request_limit() -> None:
    # "Each record ... can be as large as 1,000 KB ..., up to a limit of 4 MB for the entire
    # request" (PutRecordBatch API reference): four 1,000 KiB records are 4,096,000 bytes.
    firehose = SizeLimitedFirehose(limit=4_000_000)
    data = [bytes([i]) * (1000 * 1024) for i in range(4)]
    result = put_record_batch(firehose, "s", data, sleep=lambda _s: None)
    assert result.failed == []
    assert firehose.refused == 0
    assert firehose.accepted == data


def test_a_request_refused_as_too_large_is_split_and_retried_in_order() -> None:
    # A service that counts the limit tighter than we do: halves are sent, order kept.
    firehose = SizeLimitedFirehose(limit=2_500_000)
    data = [bytes([i]) * 1_000_000 for i in range(4)]
    result = put_record_batch(firehose, "s", data, sleep=lambda _s: None)
    assert result.failed == []
    assert firehose.refused == 1
    assert firehose.accepted == data
