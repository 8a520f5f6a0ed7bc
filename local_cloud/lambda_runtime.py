"""What the Lambda service does for a Kinesis-triggered function, on one machine.

* :func:`load_handler` imports a handler by its deployed handler string (``pkg.module.func``),
  as the Lambda runtime does: a fresh import is a cold start (settings and clients bind to the
  environment at that moment).
* :class:`EventSourceMapping` reproduces the Kinesis event source mapping's delivery contract:
  batches of at most ``batch_size`` records in shard order, a ``batching_window_s`` to fill them,
  ``ReportBatchItemFailures`` (retry from the lowest failed sequence number; everything before it
  is checkpointed), ``BisectBatchOnFunctionError`` (a batch whose invocation raised is split in
  two and each half retried, first half first; splitting does not use up a retry) and
  ``MaximumRetryAttempts`` (then the records go to the on-failure destination and the shard
  moves on).
* :func:`kinesis_event` builds the event exactly as Lambda does (see tests/events/*.json).
"""

from __future__ import annotations

import base64
import importlib
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Role the local functions "run as" (appears as invokeIdentityArn in events).
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/rotorwatch-local"

Handler = Callable[[dict[str, Any], Any], Any]


def load_handler(handler_string: str) -> Handler:
    """Import ``pkg.module.func`` like the Lambda runtime; a module already loaded is re-imported
    (a new cold start, so it reads the current environment)."""
    module_name, _, func_name = handler_string.rpartition(".")
    if not module_name or not func_name:
        raise ValueError(f"handler string must be module.function, got {handler_string!r}")
    if module_name in sys.modules:
        module = importlib.reload(sys.modules[module_name])
    else:
        module = importlib.import_module(module_name)
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ValueError(f"{handler_string!r}: {module_name} has no callable {func_name}")
    handler: Handler = fn
    return handler


@dataclass
class LocalContext:
    """The Lambda context attributes Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 1769
    timeout_s: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = field(default=0.0, repr=False)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record as GetRecords returned it."""

    sequence_number: str
    partition_key: str
    data: bytes
    arrival_s: float  # ApproximateArrivalTimestamp, epoch seconds
    shard_id: str


def kinesis_event(records: Sequence[StreamRecord], stream_arn: str, region: str) -> dict[str, Any]:
    """A Kinesis event as the event source mapping delivers it (data base64-encoded)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64.b64encode(r.data).decode("ascii"),
                    "approximateArrivalTimestamp": round(r.arrival_s, 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{r.shard_id}:{r.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": LOCAL_ROLE_ARN,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for r in records
        ]
    }


@dataclass
class MappingStats:
    """What the event source mapping did (the CloudWatch metrics Lambda would show)."""

    invocations: int = 0
    records_delivered: int = 0  # records in invocations, retries included
    records_done: int = 0  # records checkpointed (succeeded or discarded)
    function_errors: int = 0
    partial_failures: int = 0
    bisections: int = 0
    retried_records: int = 0
    discarded_records: int = 0
    duration_s: float = 0.0
    durations_s: list[float] = field(default_factory=list)


class EventSourceMapping:
    """Deliver a shard's records to a function the way the Kinesis event source mapping does.

    ``on_failure`` receives records the mapping gave up on (the SQS on-failure destination
    receives their metadata on AWS) with the reason.
    """

    def __init__(
        self,
        function: Handler,
        *,
        function_name: str,
        stream_arn: str,
        region: str,
        batch_size: int = 500,
        batching_window_s: float = 5.0,
        retry_attempts: int = 3,
        bisect_on_error: bool = True,
        report_batch_item_failures: bool = True,
        timeout_s: float = 60.0,
        on_failure: Callable[[Sequence[StreamRecord], str], None] | None = None,
    ) -> None:
        if batch_size < 1 or batching_window_s < 0 or retry_attempts < 0:
            raise ValueError("batch_size >= 1, batching_window_s >= 0, retry_attempts >= 0")
        self.function = function
        self.function_name = function_name
        self.stream_arn = stream_arn
        self.region = region
        self.batch_size = batch_size
        self.batching_window_s = batching_window_s
        self.retry_attempts = retry_attempts
        self.bisect_on_error = bisect_on_error
        self.report_batch_item_failures = report_batch_item_failures
        self.timeout_s = timeout_s
        self.on_failure = on_failure
        self.stats = MappingStats()
        self.discarded: list[tuple[StreamRecord, str]] = []
        self._lock = threading.Lock()
        self._work: deque[tuple[list[StreamRecord], int]] = deque()

    def _invoke(self, records: Sequence[StreamRecord]) -> tuple[int | None, str | None]:
        """One invocation: (index of the first record to retry or None, error text)."""
        event = kinesis_event(records, self.stream_arn, self.region)
        ctx = LocalContext(self.function_name, timeout_s=self.timeout_s)
        ctx._deadline = time.monotonic() + self.timeout_s
        self.stats.invocations += 1
        self.stats.records_delivered += len(records)
        t0 = time.perf_counter()
        try:
            response = self.function(event, ctx)
        except Exception as exc:  # the function's error, as Lambda sees it
            self.stats.function_errors += 1
            return 0, f"{type(exc).__name__}: {exc}"
        finally:
            dt = time.perf_counter() - t0
            self.stats.duration_s += dt
            self.stats.durations_s.append(dt)
        if not self.report_batch_item_failures:
            return None, None
        return self._first_failed(records, response)

    def _first_failed(
        self, records: Sequence[StreamRecord], response: Any
    ) -> tuple[int | None, str | None]:
        if not isinstance(response, Mapping):
            return None, None  # no partial-failure response: the whole batch succeeded
        failures = response.get("batchItemFailures") or []
        if not failures:
            return None, None
        index = {r.sequence_number: i for i, r in enumerate(records)}
        positions = []
        for f in failures:
            ident = f.get("itemIdentifier") if isinstance(f, Mapping) else None
            if ident not in index:
                # Lambda treats a null, empty or unknown identifier as a failure of the batch.
                return 0, f"batchItemFailures: invalid itemIdentifier {ident!r}"
            positions.append(index[ident])
        self.stats.partial_failures += 1
        return min(positions), "batchItemFailures"

    def process(self, records: Sequence[StreamRecord]) -> None:
        """Deliver ``records`` (one shard, in order) until every one is checkpointed."""
        with self._lock:
            for start in range(0, len(records), self.batch_size):
                self.begin(records[start : start + self.batch_size])
                while self.step():
                    pass

    # -- one invocation at a time (a driver on a simulated clock retries in its own time) --

    def begin(self, batch: Sequence[StreamRecord]) -> None:
        """Take one batch (at most ``batch_size`` records of one shard, in order)."""
        if self._work:
            raise RuntimeError("the previous batch is not checkpointed yet")
        self._work.append((list(batch), 0))

    @property
    def in_flight(self) -> list[StreamRecord]:
        """Records of the current batch not checkpointed yet, in shard order."""
        return [r for recs, _attempts in self._work for r in recs]

    def step(self) -> bool:
        """One invocation of the current batch (or of a retry or bisected half of it); True
        while some of the batch is still to be checkpointed."""
        work = self._work
        if not work:
            return False
        recs, attempts = work.popleft()
        failed_at, reason = self._invoke(recs)
        if failed_at is None:
            self.stats.records_done += len(recs)
            return bool(work)
        self.stats.records_done += failed_at  # checkpointed before the failed record
        rest = recs[failed_at:]
        function_error = reason is not None and not reason.startswith("batchItemFailures")
        if function_error and self.bisect_on_error and len(rest) > 1:
            self.stats.bisections += 1
            half = len(rest) // 2
            work.appendleft((rest[half:], attempts))
            work.appendleft((rest[:half], attempts))
            return True
        if attempts >= self.retry_attempts:
            self.stats.discarded_records += len(rest)
            self.stats.records_done += len(rest)
            self.discarded.extend((r, str(reason)) for r in rest)
            if self.on_failure is not None:
                self.on_failure(rest, str(reason))
            return bool(work)
        self.stats.retried_records += len(rest)
        work.appendleft((rest, attempts + 1))
        return True
