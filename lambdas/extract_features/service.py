"""extract_features: one Kinesis telemetry batch -> quarantine + feature records on Kinesis.

The batch is processed as a whole: decode every record, quarantine the invalid ones, fetch the
assets the batch needs, ONE ``compute_features`` call, PutRecords. The result says which source
records could not be completed, so the handler can report only the failed tail.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.batch import SourceRecord, put_records
from lambdas.common.dynamo import from_attributes
from lambdas.common.settings import positive_float, required
from rotorwatch.contract.iot_rule import parse_partition_key
from rotorwatch.contract.published import decode_published
from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import Telemetry
from rotorwatch.contract.telemetry_v2 import is_v2, raw_line
from rotorwatch.deployment.resources import ASSETS_TABLE_PARTITION_KEY, EnvKey
from rotorwatch.diagnosis.assets import Asset, AssetError, parse_asset
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.lake.layout import PARTITION_KEYS, QUARANTINE_PREFIX, raw_object_key

DEFAULT_ASSETS_CACHE_TTL_S = 300.0
#: gzip level of the raw objects: 1 compresses a batch's base64 waveforms nearly as well as 6
#: at several times the speed (benchmarks/bench_raw_gzip.py); the Lambda's time is billed.
RAW_GZIP_LEVEL = 1
#: BatchGetItem takes at most 100 keys per call.
_BATCH_GET_MAX_KEYS = 100


@dataclass(frozen=True, slots=True)
class Settings:
    features_stream_name: str
    #: The lake bucket: quarantine/ and raw/telemetry/ objects.
    quarantine_bucket: str
    assets_table: str
    assets_cache_ttl_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            features_stream_name=required(env, EnvKey.FEATURES_STREAM_NAME),
            quarantine_bucket=required(env, EnvKey.QUARANTINE_BUCKET),
            assets_table=required(env, EnvKey.ASSETS_TABLE),
            assets_cache_ttl_s=positive_float(
                env, EnvKey.ASSETS_CACHE_TTL_S, DEFAULT_ASSETS_CACHE_TTL_S
            ),
        )


class AssetCache:
    """Asset records by device id, read from DynamoDB and kept across invocations for a TTL.

    If DynamoDB cannot be read, expired entries are still used (a machine's group and bearing do
    not change by the minute) and devices never seen get no asset: features are still computed,
    only without an ISO zone and bearing indicators, and the lookup failure is counted.
    """

    def __init__(
        self, dynamodb: Any, table: str, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, Asset | None]] = {}
        self.lookup_failures = 0
        self.invalid_records = 0

    def get(self, device_ids: Iterable[str]) -> dict[str, Asset]:
        now = self._clock()
        wanted = set(device_ids)
        stale = sorted(d for d in wanted if d not in self._entries or self._entries[d][0] <= now)
        if stale:
            self._refresh(stale, now)
        return {
            d: a for d in wanted if d in self._entries and (a := self._entries[d][1]) is not None
        }

    def _refresh(self, device_ids: list[str], now: float) -> None:
        found: dict[str, Asset | None] = {}
        try:
            for start in range(0, len(device_ids), _BATCH_GET_MAX_KEYS):
                keys = [
                    {ASSETS_TABLE_PARTITION_KEY: {"S": d}}
                    for d in device_ids[start : start + _BATCH_GET_MAX_KEYS]
                ]
                request: dict[str, Any] = {self._table: {"Keys": keys}}
                while request:
                    response = self._dynamodb.batch_get_item(RequestItems=request)
                    for item in response.get("Responses", {}).get(self._table, []):
                        record = from_attributes(item)
                        try:
                            asset = parse_asset(record)
                        except AssetError:
                            self.invalid_records += 1
                            continue
                        found[asset.device_id] = asset
                    request = response.get("UnprocessedKeys") or {}
        except (BotoCoreError, ClientError):
            self.lookup_failures += 1
            return  # keep whatever (possibly expired) entries we have
        expires = now + self._ttl_s
        for d in device_ids:
            # Unknown devices are cached too (as None), so they do not cost a read per batch.
            self._entries[d] = (expires, found.get(d))


@dataclass
class Outcome:
    """What happened to one batch (for the partial response, metrics and the benchmark)."""

    received: int = 0
    valid: int = 0
    duplicates: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    features_put: int = 0
    #: Raw lake lines written, the raw object's key and its (gzip'd) size.
    raw_put: int = 0
    raw_key: str | None = None
    raw_object_bytes: int = 0
    put_retried: int = 0
    failed_positions: list[int] = field(default_factory=list)
    timings_s: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("decode", "features", "io"), 0.0)
    )


def quarantine_key(record: SourceRecord, reason: str) -> str:
    """quarantine/reason=<code>/year=/month=/day=/hour=/<sequence number>.json (arrival time, UTC)."""
    t = datetime.fromtimestamp(record.arrival_ms / 1000.0, tz=UTC)
    parts = dict(zip(PARTITION_KEYS, (f"{t:%Y}", f"{t:%m}", f"{t:%d}", f"{t:%H}"), strict=True))
    partition = "/".join(f"{k}={v}" for k, v in parts.items())
    return f"{QUARANTINE_PREFIX}reason={reason}/{partition}/{record.sequence_number}.json"


def quarantine_body(record: SourceRecord, error: TelemetryError) -> bytes:
    """The quarantined record: original bytes (base64, they may not even be text) and why."""
    body = {
        "reason": str(error.reason),
        "message": str(error),
        "field": error.field,
        "sequence_number": record.sequence_number,
        "partition_key": record.partition_key,
        "event_source_arn": record.event_source_arn,
        "approximate_arrival_ms": record.arrival_ms,
        "data_base64": base64.b64encode(record.data).decode("ascii"),
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


@dataclass
class Deps:
    settings: Settings
    s3: Any
    kinesis: Any
    assets: AssetCache
    firehose: Any
    sleep: Callable[[float], None] = time.sleep


def process(records: list[SourceRecord], deps: Deps) -> Outcome:
    """Run one batch; never raises for bad input, only reports failed positions."""
    out = Outcome(received=len(records))
    t0 = time.perf_counter()
    messages: list[Telemetry] = []
    positions: list[int] = []
    bad: list[tuple[int, TelemetryError]] = []
    seen: set[tuple[str, int, int]] = set()
    # The raw lake (telemetry_raw, gzip'd JSON lines, one object per invocation, written last):
    # a valid record as its v1 form, the site its partition key's (a device's own ``site``
    # label never reaches the lake); an invalid v1 record as the rule made it; a v1 record of
    # a release up to 0.2.0 (no site in its key) as that rule made it, as that release did.
    raw: list[bytes] = []
    raw_positions: list[int] = []
    for i, rec in enumerate(records):
        v2 = is_v2(rec.data)
        try:
            # Who published is the partition key the rule set from the topic (v1: site:device,
            # v2: site/device); when the cloud received it is the Kinesis record's arrival.
            msg = decode_published(rec.data, rec.partition_key, rec.arrival_ms)
        except TelemetryError as exc:
            if not v2:
                raw.append(rec.data.rstrip(b"\n") + b"\n")
                raw_positions.append(i)
            bad.append((i, exc))
            continue
        if v2:
            raw.append(raw_line(msg, rec.arrival_ms))
        elif _key_names_site(rec.partition_key):
            raw.append(raw_line(msg, rec.arrival_ms, contract=1))
        else:
            raw.append(rec.data.rstrip(b"\n") + b"\n")
        raw_positions.append(i)
        key = (msg.device_id, msg.ts, msg.seq)
        if key in seen:
            out.duplicates += 1  # IoT QoS 1 redelivers: the same window twice is one window
            continue
        seen.add(key)
        messages.append(msg)
        positions.append(i)
    out.valid = len(messages)
    t1 = time.perf_counter()
    out.timings_s["decode"] += t1 - t0

    for i, err in bad:
        rec = records[i]
        try:
            deps.s3.put_object(
                Bucket=deps.settings.quarantine_bucket,
                Key=quarantine_key(rec, str(err.reason)),
                Body=quarantine_body(rec, err),
                ContentType="application/json",
            )
        except (BotoCoreError, ClientError):
            out.failed_positions.append(i)  # not lost: retried with the tail
            continue
        out.quarantined[str(err.reason)] += 1
    # The features step goes only as far as the earliest record a step before it failed:
    # Lambda redelivers from there, so what lies beyond is done once, on the redelivery, not
    # twice. Quarantine keys are the record's sequence number, so re-quarantining the tail
    # overwrites the same object.
    cut = _cut(out)
    upto = sum(1 for i in positions if i < cut)  # positions rise: a prefix of the messages
    messages, positions = messages[:upto], positions[:upto]
    assets = deps.assets.get(m.device_id for m in messages) if messages else {}
    t2 = time.perf_counter()
    out.timings_s["io"] += t2 - t1

    features = compute_features(messages, assets) if messages else []
    data = [json.dumps(f, separators=(",", ":"), allow_nan=False).encode("utf-8") for f in features]
    t3 = time.perf_counter()
    out.timings_s["features"] += t3 - t2

    if data:
        # A retried entry can land after a later window of the same device that went through
        # first; score_and_alert keeps the later state and counts the straggler as a late window
        # (its prediction still reaches the lake). Per-device order would cost one PutRecord per
        # entry, which the throughput target cannot afford.
        result = put_records(
            deps.kinesis,
            deps.settings.features_stream_name,
            data,
            [m.device_id for m in messages],
            sleep=deps.sleep,
        )
        out.put_retried = result.retried
        out.features_put = len(data) - len(result.failed)
        out.failed_positions.extend(positions[j] for j in result.failed)
    t4 = time.perf_counter()
    out.timings_s["io"] += t4 - t3
    # The raw object last, holding exactly the records this invocation commits: Lambda resumes
    # from the earliest failed record, so the prefix before it is done and the rest comes
    # again. A retried tail then writes its own raw lines once (no duplicate rows), and a
    # batch retried whole rewrites the same key (shard and the prefix's sequence range).
    done = _cut(out)
    committed = [(line, i) for line, i in zip(raw, raw_positions, strict=True) if i < done]
    if committed:
        first, last = records[committed[0][1]], records[committed[-1][1]]
        key = raw_object_key(
            first.arrival_ms,
            first.event_id.split(":", 1)[0],
            first.sequence_number,
            last.sequence_number,
        )
        body = gzip.compress(
            b"".join(line for line, _ in committed), compresslevel=RAW_GZIP_LEVEL, mtime=0
        )
        try:
            deps.s3.put_object(
                Bucket=deps.settings.quarantine_bucket,
                Key=key,
                Body=body,
                # No Content-Encoding (as Firehose writes its .gz objects): a client that
                # honours it would hand Spark or Athena already-decompressed bytes.
                ContentType="application/gzip",
            )
        except (BotoCoreError, ClientError):
            # Nothing of the batch is in the raw lake: retry it from its first raw line.
            out.failed_positions.append(committed[0][1])
        else:
            out.raw_put, out.raw_key, out.raw_object_bytes = len(committed), key, len(body)
    out.timings_s["io"] += time.perf_counter() - t4
    return out


def _key_names_site(partition_key: str) -> bool:
    """Whether a record's partition key carries its site (every key since 0.2.0's v1 keys)."""
    pub = parse_partition_key(partition_key)
    return pub is not None and pub.site is not None


def _cut(out: Outcome) -> float:
    """The earliest failed position so far (Lambda redelivers from it), or infinity."""
    return min(out.failed_positions, default=math.inf)
