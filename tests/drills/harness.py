"""Drive the handlers the way the Lambda Kinesis event source mapping does, and account for
every record: what went in, what came out (features stream, lake), what was quarantined, which
alerts were sent, and whether anything was lost or duplicated."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from rotorwatch.lake.layout import QUARANTINE_PREFIX
from tests.events import kinesis_event
from tests.handlers.conftest import BUCKET, FEATURES_STREAM, Aws, FakeContext

Window = tuple[str, int, int]  # (device_id, ts, seq)


def deliver(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context: FakeContext,
    *,
    max_deliveries: int = 5,
    between: Callable[[int], None] | None = None,
) -> int:
    """Call ``handler`` as the event source mapping would: while it reports failed items,
    re-deliver the batch from the earliest reported sequence number. Returns the redeliveries.
    """
    records = event["Records"]
    for delivery in range(max_deliveries):
        response = handler({"Records": records}, context)
        failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
        if not failed:
            return delivery
        seqs = [r["kinesis"]["sequenceNumber"] for r in records]
        records = records[seqs.index(min(failed, key=int)) :]
        if between is not None:
            between(delivery)
    raise AssertionError(f"batch still failing after {max_deliveries} deliveries")


@dataclass
class Ledger:
    """Everything observable downstream, read once after a drill."""

    features: list[dict[str, Any]] = field(default_factory=list)  # on the features stream
    predictions: list[dict[str, Any]] = field(default_factory=list)  # raw lake rows
    quarantined: dict[str, bytes] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def window(rec: dict[str, Any]) -> Window:
        return (rec["device_id"], rec["ts"], rec["seq"])

    @property
    def feature_windows(self) -> Counter[Window]:
        return Counter(self.window(f) for f in self.features)

    @property
    def predicted_windows(self) -> Counter[Window]:
        return Counter(self.window(p) for p in self.predictions)

    @property
    def alert_ids(self) -> Counter[str]:
        return Counter(a["body"].rsplit("Alert id: ", 1)[-1].strip() for a in self.alerts)

    @property
    def severities(self) -> list[str]:
        return [a["attributes"]["severity"] for a in self.alerts]

    @property
    def duplicated_alerts(self) -> int:
        return sum(n - 1 for n in self.alert_ids.values())


class Pipeline:
    """telemetry -> extract_features -> features stream -> score_and_alert, on moto."""

    def __init__(self, aws: Aws, context: FakeContext) -> None:
        self.aws = aws
        self.context = context
        self._iterator: str | None = None
        self._events = 0
        self.ledger = Ledger()

    def event(self, payloads: Sequence[bytes], **kw: Any) -> dict[str, Any]:
        """A Kinesis event whose sequence numbers never repeat those of earlier events."""
        self._events += 1
        first = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_000_000
        return kinesis_event(payloads, first_sequence=first + self._events * 10**9, **kw)

    def new_feature_records(self) -> list[dict[str, Any]]:
        """Records put on the features stream since the last call (one shard, read onwards)."""
        kinesis = self.aws.kinesis
        if self._iterator is None:
            shard = kinesis.describe_stream(StreamName=FEATURES_STREAM)["StreamDescription"][
                "Shards"
            ][0]
            self._iterator = kinesis.get_shard_iterator(
                StreamName=FEATURES_STREAM,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
        got = kinesis.get_records(ShardIterator=self._iterator, Limit=10_000)
        self._iterator = got["NextShardIterator"]
        records: list[dict[str, Any]] = got["Records"]
        return records

    def quarantined_count(self) -> int:
        pages = self.aws.s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=QUARANTINE_PREFIX
        )
        return sum(page.get("KeyCount", 0) for page in pages)

    def extract(
        self,
        module: ModuleType,
        payloads: Sequence[bytes],
        *,
        arrival_s: float = 1_763_900_000.987,
        **kw: Any,
    ) -> tuple[int, list[bytes]]:
        """Run a telemetry batch through extract_features (arriving on the stream at
        arrival_s, which becomes the windows' received_at); (redeliveries, new payloads)."""
        event = self.event(payloads, arrival_s=arrival_s)
        redeliveries = deliver(module.handler, event, self.context, **kw)
        new = [r["Data"] for r in self.new_feature_records()]
        self.ledger.features += [json.loads(d) for d in new]
        return redeliveries, new

    def score(
        self,
        module: ModuleType,
        payloads: Sequence[bytes],
        *,
        arrival_s: float = 1_763_900_000.987,
        **kw: Any,
    ) -> int:
        """Run feature payloads through score_and_alert (arriving on the stream at arrival_s)."""
        keys = [str(json.loads(p)["device_id"]) if _is_obj(p) else "x" for p in payloads]
        event = self.event(
            payloads, template="kinesis_features", partition_keys=keys, arrival_s=arrival_s
        )
        return deliver(module.handler, event, self.context, **kw)

    def collect(self) -> Ledger:
        self.ledger.predictions = self.aws.predictions()
        self.ledger.quarantined = self.aws.objects(QUARANTINE_PREFIX)
        self.ledger.alerts += self.aws.alerts()
        return self.ledger


def _is_obj(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict) and "device_id" in json.loads(data)
    except ValueError:
        return False
