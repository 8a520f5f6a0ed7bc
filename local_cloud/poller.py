"""Kinesis shard consumers: the Lambda event source mapping's poller and Firehose's source reader.

A :class:`ShardPoller` follows one shard from TRIM_HORIZON with GetRecords (through the moto
server, so every byte crosses the same API a real consumer uses), collects records until the
batch is full or the batching window has passed since the first one arrived, and hands them to
``deliver`` (an :class:`~local_cloud.lambda_runtime.EventSourceMapping`'s ``process``, or
the Firehose stand-in). It runs in its own thread, as each shard's poller does on AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from local_cloud.lambda_runtime import StreamRecord

#: Lambda polls each shard about once a second when it is idle; locally a shorter pause keeps
#: an accelerated demo's latency figures about the pipeline rather than the idle poll. Not much
#: shorter: moto's GetRecords scans the shard from its first record on every call.
DEFAULT_IDLE_POLL_S = 0.2
GET_RECORDS_LIMIT = 10_000


def _arrival_s(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


class ShardPoller:
    """Poll one shard and deliver batches of at most ``batch_size`` records."""

    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        shard_id: str,
        deliver: Callable[[Sequence[StreamRecord]], None],
        *,
        name: str,
        batch_size: int,
        batching_window_s: float,
        idle_poll_s: float = DEFAULT_IDLE_POLL_S,
    ) -> None:
        self.kinesis = kinesis
        self.stream_name = stream_name
        self.shard_id = shard_id
        self.deliver = deliver
        self.name = name
        self.batch_size = batch_size
        self.batching_window_s = batching_window_s
        self.idle_poll_s = idle_poll_s
        self.delivered = 0
        self.empty_polls = 0
        self.errors: list[str] = []
        self._pending: list[StreamRecord] = []
        self._first_seen: float | None = None
        self._busy = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterator: str | None = None

    # -- one step -------------------------------------------------------------------------

    def _get(self) -> int:
        if self._iterator is None:
            self._iterator = self.kinesis.get_shard_iterator(
                StreamName=self.stream_name, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        response = self.kinesis.get_records(ShardIterator=self._iterator, Limit=GET_RECORDS_LIMIT)
        self._iterator = response.get("NextShardIterator")
        got = response.get("Records", [])
        for r in got:
            self._pending.append(
                StreamRecord(
                    sequence_number=r["SequenceNumber"],
                    partition_key=r["PartitionKey"],
                    data=bytes(r["Data"]),
                    arrival_s=_arrival_s(r["ApproximateArrivalTimestamp"]),
                    shard_id=self.shard_id,
                )
            )
        if got and self._first_seen is None:
            self._first_seen = time.monotonic()
        return len(got)

    def step(self, *, flush: bool = False) -> int:
        """Poll once and deliver the batches that are due; returns records delivered."""
        got = self._get()
        delivered = 0
        self._busy = True
        try:
            while self._pending:
                full = len(self._pending) >= self.batch_size
                waited = (
                    self._first_seen is not None
                    and time.monotonic() - self._first_seen >= self.batching_window_s
                )
                if not (full or waited or flush):
                    break
                batch = self._pending[: self.batch_size]
                self.deliver(batch)
                del self._pending[: len(batch)]
                delivered += len(batch)
                self._first_seen = time.monotonic() if self._pending else None
        finally:
            self._busy = False
        self.delivered += delivered
        if got == 0 and not self._pending:
            self.empty_polls += 1
        return delivered

    @property
    def idle(self) -> bool:
        return not self._pending and not self._busy

    # -- thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = self.step()
            except Exception as exc:  # a poller must not die silently: record and keep going
                self.errors.append(f"{type(exc).__name__}: {exc}")
                n = 0
            if n == 0:
                self._stop.wait(self.idle_poll_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
