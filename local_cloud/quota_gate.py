"""Kinesis per-shard write quotas, enforced inside the local cloud's moto server.

moto accepts any write rate. The load drill (:mod:`local_cloud.load_drill`) installs a
:class:`KinesisGate` that makes moto's PutRecords answer as Kinesis does when a shard's write
quota is spent: the request succeeds (HTTP 200) and each refused entry carries
``ErrorCode: ProvisionedThroughputExceededException`` with Kinesis' message ("Rate exceeded for
shard ... in stream ... under account ...", API_PutRecords.html), counted in
``FailedRecordCount``. The answer crosses the wire, so the caller's real code decides what to do
with it (the handlers' retries of failed entries, the IoT rule's error action).

Limits are :data:`rotorwatch.deployment.cost.quotas.QUOTAS` scaled by the drill's factor: one home for the
figures. Each shard has a token bucket per quota (bytes: data plus partition key; records),
refilled at the scaled rate on the drill's simulated clock and holding ``burst_s`` seconds of it
(see :func:`bucket_capacity` for why not one second).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rotorwatch.deployment.cost.quotas import QUOTAS, MiB

#: What Kinesis answers for an entry over its shard's write quota (API_PutRecords.html).
THROTTLED = "ProvisionedThroughputExceededException"


class TokenBucket:
    """``rate`` units a second, at most ``capacity`` saved; time is the caller's (seconds)."""

    def __init__(self, rate: float, capacity: float, now_s: float) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError(f"rate and capacity must be > 0, got {rate}, {capacity}")
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last_s = now_s

    def _refill(self, now_s: float) -> None:
        # Clocks of concurrent simulated invocations may step back a little: no refill then.
        if now_s > self.last_s:
            self.tokens = min(self.capacity, self.tokens + (now_s - self.last_s) * self.rate)
            self.last_s = now_s

    def take(self, amount: float, now_s: float) -> bool:
        self._refill(now_s)
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


def bucket_capacity(rate: float, burst_s: float) -> float:
    """Tokens a bucket holds: ``burst_s`` seconds of its rate.

    AWS measures a shard's write quota per second. Shrunk 50-fold, a second of a shard's quota
    (21 KiB) holds fewer than two 11 KB windows, so a second in which two of its devices happen
    to publish would throttle: at full scale (about 90 windows a second per shard) that is noise
    in the count, not load. Over a device's interval (10 s) each device publishes once, so a
    bucket of that many seconds sees the shard's load rather than its devices' phases.
    """
    return rate * burst_s


@dataclass
class ShardUse:
    """What one shard was offered and what it refused (for the figures table)."""

    bytes_offered: int = 0
    records_offered: int = 0
    records_throttled: int = 0


@dataclass
class KinesisGate:
    """Per-shard write quotas for every stream of moto's Kinesis backend, while installed.

    ``clock_s`` is the simulated now (seconds). ``factor`` scales the quotas.
    """

    clock_s: Callable[[], float]
    factor: float
    burst_s: float
    #: (stream, shard) -> what it was offered.
    use: dict[tuple[str, str], ShardUse] = field(default_factory=dict)
    #: Sequence number -> simulated arrival (ms): moto stamps the wall clock.
    arrivals_ms: dict[str, int] = field(default_factory=dict)
    #: (stream, shard) -> records accepted (a reader polls only when it grew).
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (stream, shard) -> simulated arrival (ms) of each accepted record, in shard order.
    arrivals_by_shard: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    _buckets: dict[tuple[str, str, str], TokenBucket] = field(default_factory=dict)
    _original: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bytes_per_s(self) -> float:
        return QUOTAS["kinesis_shard_write_bytes"].limit(None) * MiB * self.factor

    @property
    def records_per_s(self) -> float:
        return QUOTAS["kinesis_shard_write_records"].limit(None) * self.factor

    def _bucket(self, stream: str, shard: str, what: str, rate: float, now: float) -> TokenBucket:
        key = (stream, shard, what)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = TokenBucket(rate, bucket_capacity(rate, self.burst_s), now)
        return b

    def admit(self, stream: str, shard: str, size: int) -> bool:
        """Charge one entry of ``size`` bytes to ``shard``; False if its quota is spent."""
        now = self.clock_s()
        with self._lock:
            u = self.use.setdefault((stream, shard), ShardUse())
            u.bytes_offered += size
            u.records_offered += 1
            b = self._bucket(stream, shard, "bytes", self.bytes_per_s, now)
            r = self._bucket(stream, shard, "records", self.records_per_s, now)
            # A record is written whole or refused whole: check both before charging either.
            b._refill(now)
            r._refill(now)
            if size > b.tokens or r.tokens < 1:
                u.records_throttled += 1
                return False
            b.tokens -= size
            r.tokens -= 1
            return True

    def install(self) -> KinesisGate:
        from moto.kinesis.models import KinesisBackend

        if self._original is not None:
            raise RuntimeError("gate already installed")
        self._original = KinesisBackend.put_records
        gate = self

        def put_records(
            backend: Any, stream_arn: str, stream_name: str, records: list[dict[str, Any]]
        ) -> dict[str, Any]:
            from base64 import b64decode

            stream = backend.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
            admitted: list[dict[str, Any]] = []
            answers: list[dict[str, Any] | None] = []
            for rec in records:
                key = rec.get("PartitionKey", "")
                shard = stream.get_shard_for_key(key, rec.get("ExplicitHashKey"))
                size = len(b64decode(rec.get("Data", ""))) + len(key.encode())
                if shard is not None and not gate.admit(stream.stream_name, shard.shard_id, size):
                    answers.append(
                        {
                            "ErrorCode": THROTTLED,
                            "ErrorMessage": f"Rate exceeded for shard {shard.shard_id} in "
                            f"stream {stream.stream_name} under account {backend.account_id}.",
                        }
                    )
                else:
                    admitted.append(rec)
                    answers.append(None)
            # moto writes the admitted entries (and checks the request limits) as before.
            done = gate._original(backend, stream_arn, stream_name, admitted)["Records"]
            out = iter(done)
            now_ms = int(gate.clock_s() * 1000)
            merged: list[dict[str, Any]] = []
            for a in answers:
                if a is None:
                    ok = next(out)
                    gate.arrivals_ms[ok["SequenceNumber"]] = now_ms
                    key = (stream.stream_name, ok["ShardId"])
                    gate.accepted[key] += 1
                    gate.arrivals_by_shard.setdefault(key, []).append(now_ms)
                    merged.append(ok)
                else:
                    merged.append(a)
            return {
                "FailedRecordCount": sum(1 for a in answers if a is not None),
                "Records": merged,
            }

        KinesisBackend.put_records = put_records  # type: ignore[method-assign,assignment]
        return self

    def remove(self) -> None:
        from moto.kinesis.models import KinesisBackend

        if self._original is not None:
            KinesisBackend.put_records = self._original  # type: ignore[method-assign]
            self._original = None

    def __enter__(self) -> KinesisGate:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    @property
    def throttled(self) -> Counter[str]:
        """Entries refused, per stream."""
        c: Counter[str] = Counter()
        for (stream, _shard), u in self.use.items():
            c[stream] += u.records_throttled
        return c
