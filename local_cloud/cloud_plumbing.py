"""What the local cloud's wiring needs beneath it: moto's Kinesis shard calls serialised,
each function's stdout routed to its log file, asset records as DynamoDB items, window keys for
arrival timing, and simulated arrival times stamped onto stream records."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from local_cloud.lambda_runtime import StreamRecord
from rotorwatch.contract.iot_rule import parse_partition_key
from rotorwatch.contract.telemetry_v2 import HEADER, HEADER_BYTES


class _FunctionStdout:
    """sys.stdout that sends what a function prints while it runs (Powertools' EMF metrics go to
    stdout unconditionally) to that function's log file, like CloudWatch Logs, and everything
    else to the real stdout (the demo's console)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.local = threading.local()

    def write(self, text: str) -> int:
        target = getattr(self.local, "target", None)
        if target is None:
            return int(self.real.write(text))
        return int(target.write(text))

    def flush(self) -> None:
        target = getattr(self.local, "target", None)
        (target or self.real).flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


_SHARD_LOCK = threading.RLock()


def _serialise_moto_shards() -> None:
    """moto's Kinesis shard iterates its record dict in GetRecords while PutRecords appends to it
    ("OrderedDict mutated during iteration" under concurrent consumers); Kinesis itself has no
    such race, so the in-process server's shard calls are serialised."""
    from moto.kinesis.models import Shard

    if getattr(Shard, "_rotorwatch_locked", False):
        return
    for name in ("get_records", "put_record"):
        original = getattr(Shard, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _SHARD_LOCK:
                return _original(self, *args, **kwargs)

        setattr(Shard, name, locked)
    Shard._rotorwatch_locked = True  # type: ignore[attr-defined]


def _ddb_item(record: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    plain = json.loads(json.dumps(record), parse_float=Decimal)
    ser = TypeSerializer()
    return {k: ser.serialize(v) for k, v in plain.items()}


def _key(rec: Mapping[str, Any]) -> tuple[str, int, int] | None:
    d, ts, seq = rec.get("device_id"), rec.get("ts"), rec.get("seq")
    if isinstance(d, str) and isinstance(ts, int) and isinstance(seq, int):
        return (d, ts, seq)
    return None


def _v2_key(r: StreamRecord) -> tuple[str, int, int] | None:
    key = parse_partition_key(r.partition_key)
    if key is None or len(r.data) < HEADER_BYTES:
        return None
    _magic, _version, _flags, seq, ts, *_ = HEADER.unpack_from(r.data)
    return (key.device_id, int(ts), int(seq))


def _restamped(
    deliver: Callable[[Sequence[StreamRecord]], None], arrivals_ms: Mapping[str, int]
) -> Callable[[Sequence[StreamRecord]], None]:
    def restamp(records: Sequence[StreamRecord]) -> None:
        deliver(
            [
                dataclasses.replace(r, arrival_s=ms / 1000.0)
                if (ms := arrivals_ms.get(r.sequence_number)) is not None
                else r
                for r in records
            ]
        )

    return restamp
