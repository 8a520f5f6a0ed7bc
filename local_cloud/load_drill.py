"""The scaled load drill: prod's design rate, shrunk, through the local cloud on a simulated clock.

Prod is sized for ``fleet.devices`` devices sending a window every ``fleet.interval_s`` seconds
on its shard counts (cdk.json, stage ``prod``). The drill shrinks the rate by ``factor``
(devices = prod's x factor, same interval, same shards, same batching) and the Kinesis write
quotas by the same factor (:mod:`local_cloud.quota_gate`, figures from
:data:`rotorwatch.deployment.cost.quotas.QUOTAS`), then plays several simulated minutes through the
deployed handlers, wired as :class:`~local_cloud.cloud.LocalCloud` wires them:

    devices -> IoT rule (one PutRecords attempt; a refused entry goes to the error action)
      -> telemetry stream (16 shards) -> extract_features (one invocation per shard at a time)
         -> raw object in S3; features stream (8 shards) -> score_and_alert -> Firehose
            (predictions), and the Kinesis-sourced features Firehose -> the lake.

Time. The drill's clock is simulated: it advances in ``tick_s`` steps; a function invocation
occupies its shard for the wall time it took here (so the machine's load shows in the iterator
age), plus the backoff its retries asked for (counted, not slept). Quotas, Kinesis arrival times,
received_at, Firehose partitions and the iterator age are on that clock. What runs in real
time is the handlers' work and every AWS call (through botocore to moto and the local services).

What it checks, counted by (device_id, ts, seq) from the device to the lake: every published
window is in the raw objects, the features table and the predictions table exactly once; no
window went to the rule's error action or an on-failure destination; the iterator age of every
consumer stayed under the stage's alarm threshold. The figures table puts what each quota was
offered next to its scaled limit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from local_cloud.bridge import RuleBridge
from local_cloud.cloud import LAKE_BUCKET, BatchSettings, LocalCloud
from local_cloud.lambda_runtime import EventSourceMapping, StreamRecord
from local_cloud.load_config import DEFAULT_FACTOR, DEFAULT_MINUTES, DrillConfig
from local_cloud.load_figures import (
    DrillResult,
    QuotaFigure,
    lake_count,
    parquet_keys,
    raw_keys,
    table,
)
from local_cloud.poller import ShardPoller
from local_cloud.quota_gate import KinesisGate, TokenBucket, bucket_capacity
from rotorwatch.contract.iot_rule import partition_key, telemetry_topic
from rotorwatch.contract.telemetry import encode, encode_samples
from rotorwatch.deployment.cost.fleet import hottest_shard_share
from rotorwatch.deployment.cost.quotas import QUOTAS, MiB
from rotorwatch.deployment.resources import (
    EXTRACT_FEATURES_HANDLER,
    FEATURES_STREAM,
    SCORE_AND_ALERT_HANDLER,
    TELEMETRY_STREAM,
)
from rotorwatch.deployment.stage import StageConfig, from_context
from rotorwatch.lake import layout as lake
from simulator.scenario import BEARING_CATALOG, bearing_record

REPO_ROOT = Path(__file__).resolve().parents[1]
SITE = "drill"
#: Kinesis splits the 128-bit MD5 space of partition keys evenly between a new stream's shards.
_HASH_SPACE = 2**128
#: The sampling rate and the tone of the drill's vibration windows (a healthy pump at 1780 rpm).
_FS_HZ = 10_240.0
_RPM = 1780.0


class DrillConfigError(ValueError):
    """Settings the drill cannot run with (a one-line message for the command line)."""


def stage_config(stage: str) -> StageConfig:
    context = dict(json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"])
    context["stage"] = stage
    return from_context(context, env={})


def shard_of(key: str, shards: int) -> int:
    """The shard index Kinesis gives partition key ``key`` on a new stream of ``shards``."""
    h = int(hashlib.md5(key.encode("utf-8"), usedforsecurity=False).hexdigest(), 16)
    return min(h // (_HASH_SPACE // shards), shards - 1)


def balanced_devices(n: int, shards: int) -> list[str]:
    """``n`` device ids whose partition keys spread over ``shards`` as evenly as counts allow.

    At prod's 10,000 devices the hash spread between shards is a few per cent (the quota check
    sizes the busiest at mean + 2 sd); 200 devices hashed at random would spread by a quarter,
    an artefact of shrinking the fleet, not a property of the design.
    """
    cap = math.ceil(n / shards)
    per: Counter[int] = Counter()
    out: list[str] = []
    k = 0
    while len(out) < n:
        device = f"drill-{k:05d}"
        k += 1
        key = partition_key(telemetry_topic(SITE, device)) or device
        s = shard_of(key, shards)
        if per[s] < cap:
            per[s] += 1
            out.append(device)
    return out


def _asset(device_id: str) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "machine_group": 2,
        "foundation": "rigid",
        "rated_rpm": int(_RPM),
        "site": SITE,
        "bearing": bearing_record(BEARING_CATALOG[0]),  # a 6205
    }


def _vibration(i: int, samples: int) -> dict[str, Any]:
    rng = np.random.default_rng(i)
    t = np.arange(samples) / _FS_HZ
    x = 0.05 * np.sin(2 * np.pi * (_RPM / 60.0) * t) + rng.normal(0.0, 0.01, samples)
    return encode_samples(x, fs_hz=_FS_HZ)


def _sample_record(samples: int) -> bytes:
    """One window as the IoT rule puts it on the telemetry stream (for its size)."""
    from rotorwatch.contract.iot_rule import project

    payload = encode(
        device_id="drill-00000",
        ts=0,
        seq=0,
        rpm=_RPM,
        temperature_c=41.0,
        vibration=_vibration(0, samples),
    )
    row = project(telemetry_topic(SITE, "drill-00000"), json.loads(payload), 0)
    return json.dumps(row, separators=(",", ":")).encode()


class _Consumer:
    """One reader of one shard, on the simulated clock: an event source mapping (``mapping``)
    or a Kinesis-sourced Firehose (``deliver``)."""

    def __init__(
        self,
        poller: ShardPoller,
        mapping: EventSourceMapping | None,
        read_bucket: TokenBucket,
        gate: KinesisGate,
    ) -> None:
        self.p = poller
        self.mapping = mapping
        self.read_bucket = read_bucket
        self.gate = gate
        self.name = poller.name
        self.unread: list[StreamRecord] = []
        self.pending: list[StreamRecord] = []
        self.busy_until = 0.0
        self.seen = 0
        self.read_bytes = 0
        self.max_age_s = 0.0
        self._iterator: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.p.stream_name, self.p.shard_id)

    @property
    def unseen(self) -> int:
        """Records on the shard this reader has not fetched yet."""
        return self.gate.accepted[self.key] - self.seen

    def oldest_unseen_s(self) -> float | None:
        if self.unseen <= 0:
            return None
        return self.gate.arrivals_by_shard[self.key][self.seen] / 1000.0

    def fetch(self) -> None:
        if self.unseen <= 0:
            return  # nothing new on the shard: spare moto a scan
        k = self.p.kinesis
        if self._iterator is None:
            self._iterator = k.get_shard_iterator(
                StreamName=self.p.stream_name,
                ShardId=self.p.shard_id,
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
        while True:
            got = k.get_records(ShardIterator=self._iterator, Limit=10_000)
            self._iterator = got["NextShardIterator"]
            for r in got["Records"]:
                ms = self.gate.arrivals_ms[r["SequenceNumber"]]
                self.unread.append(
                    StreamRecord(
                        r["SequenceNumber"],
                        r["PartitionKey"],
                        bytes(r["Data"]),
                        ms / 1000.0,
                        self.p.shard_id,
                    )
                )
            self.seen += len(got["Records"])
            if not got["Records"] or got.get("MillisBehindLatest", 0) == 0:
                break

    def read(self, now: float) -> None:
        """Move what the shard's read quota allows from unread to pending."""
        moved = 0
        for r in self.unread:
            if not self.read_bucket.take(len(r.data) + len(r.partition_key), now):
                break
            self.read_bytes += len(r.data) + len(r.partition_key)
            moved += 1
        if moved:
            self.pending.extend(self.unread[:moved])
            del self.unread[:moved]

    def oldest_s(self) -> float | None:
        """Arrival of the oldest record not yet done: what the iterator age is measured from."""
        for group in ((self.mapping.in_flight if self.mapping else []), self.pending, self.unread):
            if group:
                return group[0].arrival_s
        return self.oldest_unseen_s()

    def oldest_waiting_s(self) -> float | None:
        """Arrival of the oldest record waiting for an invocation (not in one)."""
        for group in (self.pending, self.unread):
            if group:
                return group[0].arrival_s
        return self.oldest_unseen_s()

    @property
    def idle(self) -> bool:
        busy = self.mapping is not None and bool(self.mapping.in_flight)
        return not (busy or self.pending or self.unread or self.unseen > 0)


class _Clock:
    """Simulated seconds: the tick's time plus the backoff the running invocation slept."""

    def __init__(self, start_s: float) -> None:
        self.start_s = start_s
        self.now_s = start_s
        self.offset_s = 0.0

    def __call__(self) -> float:
        return self.now_s + self.offset_s

    def sleep(self, seconds: float) -> None:
        self.offset_s += seconds


def run(
    cfg: DrillConfig, work_dir: Path, progress: Callable[[str], None] | None = None
) -> DrillResult:
    stage = stage_config(cfg.stage)
    fleet_devices = stage.fleet_devices or 10_000
    interval_s = float(stage.fleet_interval_s or 10.0)
    tel_n = cfg.telemetry_shards or stage.telemetry_stream.shards
    feat_n = cfg.features_shards or stage.features_stream.shards
    n = max(1, round(fleet_devices * cfg.factor))
    shard_factor = cfg.factor  # the per-shard quotas' scale
    if cfg.one_shard:
        n = math.ceil(fleet_devices * hottest_shard_share(tel_n, fleet_devices))
        tel_n = feat_n = 1
        cfg = replace(cfg, factor=n / fleet_devices, burst_s=cfg.burst_s or 1.0)
        shard_factor = 1.0
    devices = balanced_devices(n, tel_n)
    start_ms = int(datetime(2026, 12, 7, tzinfo=UTC).timestamp() * 1000)
    clock = _Clock(start_ms / 1000.0)
    ef, sa = stage.extract_features, stage.score_and_alert
    cloud = LocalCloud(
        work_dir / "lake",
        [_asset(d) for d in devices],
        model_artifact=cfg.model_artifact,
        extract_batch=BatchSettings(ef.batch_size, float(ef.window_s), ef.retry_attempts),
        score_batch=BatchSettings(sa.batch_size, float(sa.window_s), sa.retry_attempts),
        firehose_window_s=float(stage.firehose.buffer_interval_s),
        shards=tel_n,
        features_shards=feat_n,
        start_pollers=False,
        log_dir=work_dir / "logs",
    )
    burst_s = cfg.burst_s or interval_s
    gate = KinesisGate(clock, shard_factor, burst_s)
    window_bytes = len(_sample_record(cfg.samples))
    if bucket_capacity(gate.bytes_per_s, burst_s) < window_bytes:
        raise DrillConfigError(
            f"a shard's scaled quota of {burst_s:g} s holds "
            f"{bucket_capacity(gate.bytes_per_s, burst_s):,.0f} bytes, less than one "
            f"{window_bytes:,}-byte window: raise --burst-s or --factor"
        )
    wall0 = time.monotonic()
    with gate, cloud:
        return _drive(
            cfg, stage, cloud, gate, clock, devices, interval_s, start_ms, wall0, progress
        )


def _drive(
    cfg: DrillConfig,
    stage: StageConfig,
    cloud: LocalCloud,
    gate: KinesisGate,
    clock: _Clock,
    devices: Sequence[str],
    interval_s: float,
    start_ms: int,
    wall0: float,
    progress: Callable[[str], None] | None = None,
) -> DrillResult:
    extract_app = sys.modules[EXTRACT_FEATURES_HANDLER.rpartition(".")[0]]
    score_app = sys.modules[SCORE_AND_ALERT_HANDLER.rpartition(".")[0]]
    # The handlers' retry backoff is simulated time: counted into the invocation, not slept.
    extract_app.DEPS.sleep = clock.sleep
    score_app.DEPS.sleep = clock.sleep
    score_app.DEPS.clock_ms = lambda: int(clock() * 1000)
    calls = _count_calls(score_app.DEPS)

    # The IoT rule: one attempt per message, a refused one goes to the error action.
    bridge = RuleBridge(
        cloud.clients["kinesis"],
        TELEMETRY_STREAM,
        cloud.lake_dir,
        clock_ms=cloud.sim_clock,
        put_attempts=1,
    )
    read_rate = QUOTAS["kinesis_shard_read_bytes"].limit(None) * MiB * gate.factor
    read_buckets: dict[tuple[str, str], TokenBucket] = {}
    consumers: list[_Consumer] = []
    for p in cloud.pollers:
        if p.stream_name == TELEMETRY_STREAM and p.name.startswith("firehose-"):
            continue  # the local cloud's latency timer, not a deployed reader
        function = p.name.split(":", 1)[0]
        mapping = cloud.mappings.get(f"{function}/{p.shard_id}")
        key = (p.stream_name, p.shard_id)
        if key not in read_buckets:
            read_buckets[key] = TokenBucket(
                read_rate, bucket_capacity(read_rate, gate.burst_s), clock()
            )
        consumers.append(_Consumer(p, mapping, read_buckets[key], gate))

    vib = {d: _vibration(i, cfg.samples) for i, d in enumerate(devices)}
    n = len(devices)
    schedule: list[tuple[float, str, int]] = []  # (offset s, device, seq)
    publish_s = cfg.minutes * 60.0
    # Phases spread evenly, unless the drill is about a shard's busy seconds: then each device
    # keeps its own clock, as deployed devices do.
    rng = np.random.default_rng(cfg.seed)
    for i, d in enumerate(devices):
        phase = rng.uniform(0.0, interval_s) if cfg.one_shard else interval_s * i / n
        k = 0
        while phase + k * interval_s < publish_s:
            schedule.append((phase + k * interval_s, d, k))
            k += 1
    schedule.sort()
    published: set[tuple[str, int, int]] = set()

    t = 0.0
    nxt = 0
    drained = False
    peak_concurrency: Counter[str] = Counter()
    while True:
        clock.now_s, clock.offset_s = clock.start_s + t, 0.0
        cloud.sim_clock.now_ms = int(clock.now_s * 1000)
        while nxt < len(schedule) and schedule[nxt][0] < t + cfg.tick_s:
            off, d, seq = schedule[nxt]
            nxt += 1
            ts = start_ms + int(off * 1000)
            payload = encode(
                device_id=d, ts=ts, seq=seq, rpm=_RPM, temperature_c=41.0, vibration=vib[d]
            )
            bridge.publish(telemetry_topic(SITE, d), payload)
            published.add((d, ts, seq))
        bridge.flush()
        for c in consumers:
            _step(c, clock, t, cloud)
        now = clock.start_s + t
        busy: Counter[str] = Counter(
            c.name.split(":", 1)[0] for c in consumers if c.mapping and c.busy_until > now
        )
        for fn, k in busy.items():
            peak_concurrency[fn] = max(peak_concurrency[fn], k)
        peak_concurrency["all"] = max(peak_concurrency["all"], sum(busy.values()))
        t += cfg.tick_s
        if progress is not None and t % 60 == 0:
            progress(
                f"simulated {t:.0f} s: {len(published)} windows published, "
                f"{sum(gate.throttled.values())} writes refused, "
                f"{time.monotonic() - wall0:.0f} s real"
            )
        # Drained: every write taken by its readers (gate.accepted counts them all) and done.
        if (
            nxt >= len(schedule)
            and all(c.idle for c in consumers)
            and all(gate.accepted[c.key] <= c.seen for c in consumers)
        ):
            drained = True
            break
        if t > publish_s + cfg.drain_limit_s:
            break
    cloud.services.flush()
    return _result(
        cfg,
        stage,
        cloud,
        gate,
        consumers,
        bridge,
        devices,
        published,
        t,
        publish_s,
        drained,
        peak_concurrency,
        calls,
        wall0,
        interval_s,
    )


#: How often the drill's Firehose reader polls a shard (simulated s). Firehose reads each shard
#: about once a second; polling less often spares moto (each GetRecords scans the shard) and
#: only adds to the iterator age the drill reports for it.
FIREHOSE_POLL_S = 5.0


def _step(c: _Consumer, clock: _Clock, t: float, cloud: LocalCloud) -> None:
    now = clock.start_s + t
    _age(c, now)
    if c.mapping is None:
        # A Kinesis-sourced Firehose checkpoints what it has read and buffers it for S3 (its
        # buffering is delivery latency, alarmed as DataFreshness, not the shard's age).
        oldest = c.oldest_unseen_s()
        if oldest is not None and now - oldest >= FIREHOSE_POLL_S:
            c.fetch()
        c.read(now)
        if c.pending:
            c.p.deliver(list(c.pending))
            c.pending.clear()
    elif now >= c.busy_until:
        m = c.mapping
        if not m.in_flight:
            # The mapping invokes when a batch is full or the oldest record has waited the
            # batching window; only then does the drill fetch (one GetRecords, not one a tick).
            waiting = len(c.pending) + len(c.unread) + max(c.unseen, 0)
            oldest = c.oldest_waiting_s()
            if oldest is not None and (
                waiting >= m.batch_size or now - oldest >= m.batching_window_s
            ):
                c.fetch()
                c.read(now)
                if c.pending:
                    m.begin(c.pending[: m.batch_size])
                    del c.pending[: m.batch_size]
        if m.in_flight:
            clock.offset_s = 0.0
            w0 = time.perf_counter()
            m.step()
            c.busy_until = now + (time.perf_counter() - w0) + clock.offset_s
            clock.offset_s = 0.0
    _age(c, now)


def _age(c: _Consumer, now: float) -> None:
    """The iterator age: how long the oldest record not yet done has been on the shard."""
    oldest = c.oldest_s()
    if oldest is not None:
        c.max_age_s = max(c.max_age_s, now - oldest)


def _count_calls(deps: Any) -> Counter[str]:
    """Requests, records and bytes score_and_alert sends to Firehose, and its DynamoDB writes."""
    calls: Counter[str] = Counter()

    def firehose(params: dict[str, Any], **_kw: Any) -> None:
        calls["firehose_requests"] += 1
        calls["firehose_records"] += len(params["Records"])
        calls["firehose_bytes"] += sum(len(r["Data"]) for r in params["Records"])

    def write(**_kw: Any) -> None:
        calls["dynamodb_writes"] += 1

    deps.firehose.meta.events.register("provide-client-params.firehose.PutRecordBatch", firehose)
    ddb = getattr(deps.store, "_dynamodb", None) or getattr(deps.store, "dynamodb", None)
    if ddb is not None:
        for op in ("UpdateItem", "PutItem"):
            ddb.meta.events.register(f"before-call.dynamodb.{op}", write)
    return calls


def _result(
    cfg: DrillConfig,
    stage: StageConfig,
    cloud: LocalCloud,
    gate: KinesisGate,
    consumers: list[_Consumer],
    bridge: RuleBridge,
    devices: Sequence[str],
    published: set[tuple[str, int, int]],
    t: float,
    publish_s: float,
    drained: bool,
    peak: Counter[str],
    calls: Counter[str],
    wall0: float,
    interval_s: float,
) -> DrillResult:
    f = cfg.factor
    quotas: list[QuotaFigure] = []
    busiest_note = "busiest shard, mean over the publishing minutes"
    for stream, label in ((TELEMETRY_STREAM, "telemetry"), (FEATURES_STREAM, "features")):
        uses = [u for (s, _sh), u in gate.use.items() if s == stream]
        throttled = sum(u.records_throttled for u in uses)
        quotas.append(
            QuotaFigure(
                f"Kinesis write per shard ({label})",
                max((u.bytes_offered for u in uses), default=0) / publish_s / 1024,
                gate.bytes_per_s / 1024,
                "KiB/s",
                throttled,
                busiest_note,
            )
        )
        quotas.append(
            QuotaFigure(
                f"Kinesis records per shard ({label})",
                max((u.records_offered for u in uses), default=0) / publish_s,
                gate.records_per_s,
                "records/s",
                throttled,
                busiest_note,
            )
        )
        readers = [c for c in consumers if c.p.stream_name == stream]
        per_shard: Counter[str] = Counter()
        for c in readers:
            per_shard[c.p.shard_id] += c.read_bytes
        quotas.append(
            QuotaFigure(
                f"Kinesis read per shard ({label}, all readers)",
                max(per_shard.values(), default=0) / publish_s / 1024,
                QUOTAS["kinesis_shard_read_bytes"].limit(None) * MiB * gate.factor / 1024,
                "KiB/s",
                None,
                "enforced in the readers (GetRecords is not refused)",
            )
        )
    fh = QUOTAS["firehose_direct_put_throughput"]
    quotas.append(
        QuotaFigure(
            "Firehose Direct PUT (predictions)",
            calls["firehose_bytes"] / publish_s / 1024,
            fh.limit(stage.region) * MiB * f / 1024,
            "KiB/s",
            None,
            "measured, not enforced",
        )
    )
    quotas.append(
        QuotaFigure(
            "Firehose Direct PUT requests (predictions)",
            calls["firehose_requests"] / publish_s,
            QUOTAS["firehose_direct_put_requests"].limit(stage.region) * f,
            "requests/s",
            None,
            "measured, not enforced",
        )
    )
    quotas.append(
        QuotaFigure(
            "DynamoDB writes (state table)",
            calls["dynamodb_writes"] / publish_s,
            QUOTAS["dynamodb_table_writes"].limit(stage.region) * f,
            "writes/s",
            None,
            "measured, not enforced",
        )
    )
    quotas.append(
        QuotaFigure(
            "Lambda concurrency (peak)",
            float(peak["all"]),
            QUOTAS["lambda_concurrency"].limit(stage.region),
            "executions",
            None,
            "not scaled: the drill keeps prod's shards, which set the peak",
        )
    )
    if cfg.model_artifact is not None:
        quotas.append(
            QuotaFigure(
                "SageMaker serverless concurrency (peak)",
                float(peak["score_and_alert"]),
                float(stage.endpoint.max_concurrency),
                "invocations",
                None,
                "not scaled; the stage's MaxConcurrency",
            )
        )
    lake_counts = {
        "raw": lake_count(raw_keys(cloud.clients["s3"], LAKE_BUCKET), published),
        "features": lake_count(parquet_keys(cloud.lake_dir, lake.FEATURES_TABLE), published),
        "predictions": lake_count(parquet_keys(cloud.lake_dir, lake.PREDICTIONS_TABLE), published),
    }
    ages: dict[str, float] = {}
    for c in consumers:
        fn = c.name.split(":", 1)[0]
        ages[fn] = max(ages.get(fn, 0.0), c.max_age_s)
    limit_s = stage.alarms.iterator_age_ms / 1000.0
    retried = sum(m.stats.retried_records for m in cloud.mappings.values())
    discarded = len(cloud.failed_batches)
    alert_ids = Counter(a.alert_id for a in cloud.receive_alerts())
    result = DrillResult(
        config=cfg,
        devices=len(devices),
        published=len(published),
        shards=(cloud.shards, cloud.features_shards),
        sim_publish_s=publish_s,
        sim_total_s=t,
        wall_s=time.monotonic() - wall0,
        drained=drained,
        quotas=quotas,
        iterator_age_s=ages,
        iterator_age_limit_s=limit_s,
        lake=lake_counts,
        rule_errors=bridge.rule_errors,
        discarded=discarded,
        put_records_retried=gate.throttled[FEATURES_STREAM] + retried,
        alerts=sum(alert_ids.values()),
        duplicated_alerts=sum(n - 1 for n in alert_ids.values()),
        burst_s=gate.burst_s,
        interval_s=interval_s,
        quarantined=len(cloud.quarantined()),
        load_average=os.getloadavg(),
    )
    fail = result.failures
    if not drained:
        fail.append(f"not drained {cfg.drain_limit_s:g} s after the last window: a backlog")
    if bridge.rule_errors:
        fail.append(
            f"{bridge.rule_errors} windows went to the IoT rule's error action "
            f"({gate.throttled[TELEMETRY_STREAM]} Kinesis entries refused: "
            "ProvisionedThroughputExceededException)"
        )
    if result.quarantined:
        fail.append(f"{result.quarantined} valid windows quarantined")
    if result.duplicated_alerts:
        fail.append(f"{result.duplicated_alerts} alerts sent twice")
    if discarded:
        fail.append(f"{discarded} records given up by an event source mapping")
    for name, tc in lake_counts.items():
        if tc.lost or tc.duplicated or tc.strangers:
            fail.append(
                f"{name}: {tc.lost} lost, {tc.duplicated} duplicated, {tc.strangers} unknown"
            )
    for fn, age in ages.items():
        if age > limit_s:
            fail.append(f"{fn}: iterator age reached {age:.0f} s (alarm at {limit_s:.0f} s)")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m local_cloud.load_drill", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--factor",
        type=float,
        default=DEFAULT_FACTOR,
        help="share of prod's rate (default 0.02)",
    )
    ap.add_argument(
        "--minutes", type=float, default=DEFAULT_MINUTES, help="simulated minutes of windows"
    )
    ap.add_argument("--telemetry-shards", type=int, default=None)
    ap.add_argument("--features-shards", type=int, default=None)
    ap.add_argument(
        "--burst-s",
        type=float,
        default=None,
        help="seconds of scaled quota a shard's bucket holds (default: the fleet's interval)",
    )
    ap.add_argument(
        "--one-shard",
        action="store_true",
        help="the busiest telemetry shard at full rate (its prod devices, random phases, "
        "unscaled per-second quotas) instead of the fleet shrunk",
    )
    ap.add_argument("--seed", type=int, default=0, help="the devices' phases (--one-shard)")
    ap.add_argument(
        "--model", type=Path, default=None, help="model artifact (default: rules score)"
    )
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "drill-load.md")
    a = ap.parse_args(argv)
    if not 0 < a.factor <= 1:
        print(f"--factor must be in (0, 1], got {a.factor}", file=sys.stderr)
        return 2
    cfg = DrillConfig(
        factor=a.factor,
        minutes=a.minutes,
        telemetry_shards=a.telemetry_shards,
        features_shards=a.features_shards,
        burst_s=a.burst_s,
        one_shard=a.one_shard,
        seed=a.seed,
        model_artifact=a.model,
    )
    with tempfile.TemporaryDirectory(prefix="rotorwatch-drill-") as tmp:
        try:
            result = run(cfg, Path(tmp), lambda line: print(line, file=sys.stderr, flush=True))
        except DrillConfigError as exc:
            print(f"rotorwatch drill-load: {exc}", file=sys.stderr)
            return 2
    text = table(result)
    print(text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text + "\n", encoding="utf-8")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
