"""Kinesis batches in and out: event records, partial responses, retried PutRecords/PutRecordBatch.

Why the batch is not processed record by record through Powertools' ``BatchProcessor``: the
feature engine and the endpoint are vectorised (one FFT pass, one InvokeEndpoint per batch), so
each handler first processes the whole batch itself and knows which records failed. Those
outcomes are then replayed through ``BatchProcessor`` with a record handler that only looks up
the precomputed result (:func:`partial_response`), so the response has Powertools' shape, logs
and semantics without giving up the vectorised pass.

Kinesis semantics: Lambda restarts the shard from the LOWEST sequence number reported in
``batchItemFailures`` and re-delivers every record after it, succeeded or not. So the handlers
report the whole tail from the earliest failed record (:func:`failed_tail`), which is exactly
what will be retried; records before it are checkpointed.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

#: PutRecords: at most 500 entries and 5 MiB per call. PutRecordBatch (Firehose): 500 and 4 MB.
KINESIS_MAX_ENTRIES = 500
KINESIS_MAX_BYTES = 5 * 1024 * 1024
FIREHOSE_MAX_ENTRIES = 500
#: PutRecordBatch: "up to a limit of 4 MB for the entire request. These limits cannot be
#: changed." (Firehose API reference, PutRecordBatch). MB read as 10^6 bytes, the smaller
#: reading: a batch of 4 x 1,000 KiB records (4,096,000 bytes) is over it.
FIREHOSE_MAX_BYTES = 4_000_000
#: Error codes of a request the service refused as too large: split it and send the halves.
_TOO_LARGE_CODES = frozenset(
    {
        "RequestEntityTooLarge",
        "RequestEntityTooLargeException",
        "ValidationException",
        "InvalidArgumentException",
        "413",
    }
)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One Kinesis record from a Lambda event, payload already base64-decoded."""

    sequence_number: str
    partition_key: str
    data: bytes
    arrival_ms: int
    event_source_arn: str
    event_id: str


def source_records(event: Mapping[str, Any]) -> list[SourceRecord]:
    """The event's records in delivery order (Kinesis order within the shard)."""
    out = []
    for rec in event.get("Records", []):
        k = rec["kinesis"]
        out.append(
            SourceRecord(
                sequence_number=k["sequenceNumber"],
                partition_key=k.get("partitionKey", ""),
                # Lambda always base64-encodes Kinesis data; what is inside is only bytes.
                data=base64.b64decode(k["data"]),
                arrival_ms=int(float(k.get("approximateArrivalTimestamp", 0.0)) * 1000),
                event_source_arn=rec.get("eventSourceARN", ""),
                event_id=rec.get("eventID", ""),
            )
        )
    return out


def failed_tail(records: Sequence[SourceRecord], failed_positions: Iterable[int]) -> list[str]:
    """Sequence numbers from the earliest failed position to the end of the batch."""
    positions = list(failed_positions)
    if not positions:
        return []
    return [r.sequence_number for r in records[min(positions) :]]


class RecordFailed(RuntimeError):
    """Raised for a record the batch pass could not complete (retried by Lambda)."""


def partial_response(
    event: dict[str, Any], failed_sequence_numbers: Iterable[str], context: LambdaContext
) -> dict[str, Any]:
    """The ``batchItemFailures`` response for precomputed outcomes, built by Powertools."""
    failed = frozenset(failed_sequence_numbers)
    # Reporting every record is how a fully failed Kinesis batch is retried; raising instead
    # would also work but logs it as a crash and triggers bisection of a healthy batch.
    processor = BatchProcessor(
        event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
    )

    def record_handler(record: KinesisStreamRecord) -> None:
        if record.kinesis.sequence_number in failed:
            raise RecordFailed(f"record {record.kinesis.sequence_number} not completed; retried")

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def _chunks(
    entries: Sequence[bytes], max_entries: int, max_bytes: int, overhead: Callable[[int], int]
) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, data in enumerate(entries):
        n = len(data) + overhead(i)
        if current and (len(current) >= max_entries or size + n > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(i)
        size += n
    if current:
        chunks.append(current)
    return chunks


@dataclass
class PutResult:
    failed: list[int]  # entry indices still failed after the last attempt
    retried: int  # entries re-sent after a partial failure
    calls: int


def _backoff(attempt: int, base_s: float, sleep: Callable[[float], None]) -> None:
    # Full jitter: concurrent shards that were throttled together do not retry together.
    sleep(random.uniform(0.0, base_s * 2**attempt))


def _put_with_retries(
    chunks: list[list[int]],
    send: Callable[[list[int]], tuple[int, list[Any]]],
    *,
    max_attempts: int,
    backoff_base_s: float,
    sleep: Callable[[float], None],
) -> PutResult:
    """Send each chunk of entry indices; re-send only the entries the service failed.

    ``send`` returns (failed count, per-entry results in request order). Errors of the call
    itself (after the client's own retries) leave its whole chunk failed.
    """
    result = PutResult(failed=[], retried=0, calls=0)
    queue = list(chunks)
    while queue:
        pending = queue.pop(0)
        for attempt in range(max_attempts):
            if attempt:
                _backoff(attempt, backoff_base_s, sleep)
                result.retried += len(pending)
            result.calls += 1
            try:
                failed_count, entries = send(pending)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
                if len(pending) > 1 and (code in _TOO_LARGE_CODES or status == "413"):
                    # Refused as a whole (too large for the request limit, however counted):
                    # the halves go back in order, nothing is lost or reported failed yet.
                    half = len(pending) // 2
                    queue[:0] = [pending[:half], pending[half:]]
                    pending = []
                break  # else the client already retried the call: the chunk stays failed
            except BotoCoreError:
                break
            if not failed_count:
                pending = []
                break
            pending = [i for i, r in zip(pending, entries, strict=True) if r.get("ErrorCode")]
        result.failed.extend(pending)
    return result


def put_records(
    kinesis: Any,
    stream_name: str,
    data: Sequence[bytes],
    partition_keys: Sequence[str],
    *,
    max_attempts: int = 4,
    backoff_base_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> PutResult:
    """PutRecords with retries of only the failed entries (throttling is per entry)."""

    def send(pending: list[int]) -> tuple[int, list[Any]]:
        response = kinesis.put_records(
            StreamName=stream_name,
            Records=[{"Data": data[i], "PartitionKey": partition_keys[i]} for i in pending],
        )
        return response.get("FailedRecordCount", 0), response["Records"]

    pk_bytes = [len(k.encode()) for k in partition_keys]
    chunks = _chunks(data, KINESIS_MAX_ENTRIES, KINESIS_MAX_BYTES, lambda i: pk_bytes[i])
    return _put_with_retries(
        chunks, send, max_attempts=max_attempts, backoff_base_s=backoff_base_s, sleep=sleep
    )


def put_record_batch(
    firehose: Any,
    delivery_stream: str,
    data: Sequence[bytes],
    *,
    max_attempts: int = 4,
    backoff_base_s: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> PutResult:
    """Firehose PutRecordBatch with retries of only the failed entries."""

    def send(pending: list[int]) -> tuple[int, list[Any]]:
        response = firehose.put_record_batch(
            DeliveryStreamName=delivery_stream, Records=[{"Data": data[i]} for i in pending]
        )
        return response.get("FailedPutCount", 0), response["RequestResponses"]

    chunks = _chunks(data, FIREHOSE_MAX_ENTRIES, FIREHOSE_MAX_BYTES, lambda _i: 0)
    return _put_with_retries(
        chunks, send, max_attempts=max_attempts, backoff_base_s=backoff_base_s, sleep=sleep
    )
