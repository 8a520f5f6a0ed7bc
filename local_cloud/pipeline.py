"""Play messages through the local cloud and measure what happened.

:func:`play` feeds (topic, payload, window ts) messages to the IoT-rule bridge (in process, or
through an MQTT sink whose broker the bridge subscribes to), paced in accelerated time, waits for
the pipeline to drain, collects the technicians' alerts and returns figures: throughput, the
time from the rule bridge to the alert (with where it went), what each function did.
The message source is the caller's (the CLI brings the simulator), so this module imports no
adapter beyond the local cloud.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from local_cloud.bridge import RuleBridge
from local_cloud.cloud import LocalCloud, ReceivedAlert
from rotorwatch.lake import layout as lake

#: How often the driver looks into the alerts inbox and reports progress (wall seconds).
_POLL_S = 0.5


@dataclass
class Progress:
    sim_ms: int
    published: int
    features: int
    predictions: int
    alerts: list[ReceivedAlert]


@dataclass
class StageLatency:
    """Seconds from the rule bridge, per hop, for every window that raised an alert."""

    name: str
    p50_s: float
    p95_s: float
    max_s: float


@dataclass
class RunFigures:
    messages: int = 0
    publish_wall_s: float = 0.0
    total_wall_s: float = 0.0  # first message bridged -> pipeline drained
    drained: bool = True
    records_per_s: float = 0.0
    alert_latency: list[StageLatency] = field(default_factory=list)
    alert_latencies_s: list[float] = field(default_factory=list)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    bridge: dict[str, Any] = field(default_factory=dict)
    lake_records: dict[str, int] = field(default_factory=dict)
    failed_batches: int = 0
    quarantined: int = 0
    poller_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "publish_wall_s": round(self.publish_wall_s, 3),
            "total_wall_s": round(self.total_wall_s, 3),
            "drained": self.drained,
            "records_per_s": round(self.records_per_s, 1),
            "alert_latency": [vars(s) for s in self.alert_latency],
            "functions": self.functions,
            "model": self.model,
            "bridge": self.bridge,
            "lake_records": self.lake_records,
            "failed_batches": self.failed_batches,
            "quarantined": self.quarantined,
            "poller_errors": self.poller_errors,
        }


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def alert_key(alert_id: str) -> tuple[str, int, int] | None:
    """(device_id, ts, seq) of an alert id ``device:ts:seq:severity``."""
    parts = alert_id.rsplit(":", 3)
    if len(parts) != 4:
        return None
    try:
        return parts[0], int(parts[1]), int(parts[2])
    except ValueError:
        return None


def latency_breakdown(cloud: LocalCloud) -> tuple[list[StageLatency], list[float]]:
    """Per-hop latency of the windows that raised an alert: bridge ▶ telemetry stream ▶
    (extract_features) ▶ features stream ▶ (score_and_alert, SNS) ▶ the SQS inbox."""
    hops: dict[str, list[float]] = {
        "rule bridge -> telemetry stream": [],
        "telemetry stream -> features stream (batching + extract_features)": [],
        "features stream -> alert delivered (batching + score_and_alert + SNS)": [],
    }
    totals: list[float] = []
    c = cloud.clock
    for a in cloud.alerts:
        k = alert_key(a.alert_id)
        if k is None or k not in c.bridged_s:
            continue
        t0 = c.bridged_s[k]
        end = a.sent_ms / 1000.0
        totals.append(end - t0)
        if k in c.telemetry_s and k in c.features_s:
            t1, t2 = c.telemetry_s[k], c.features_s[k]
            for name, v in zip(hops, (t1 - t0, t2 - t1, end - t2), strict=True):
                hops[name].append(v)
    stages = [StageLatency("rule bridge -> alert delivered (total)", *_stats(totals))]
    stages += [StageLatency(name, *_stats(v)) for name, v in hops.items()]
    return stages, totals


def _stats(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    return _pct(values, 50), _pct(values, 95), max(values)


def play(
    cloud: LocalCloud,
    messages: Iterable[tuple[str, bytes, int]],
    *,
    start_ms: int,
    speed: float | None = None,
    send: Callable[[str, bytes], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    drain_timeout_s: float = 300.0,
    bridge: RuleBridge | None = None,
) -> RunFigures:
    """Feed ``messages`` to the pipeline and wait until it has processed all of them.

    ``send`` publishes a message somewhere the bridge listens (an MQTT sink); without it the
    messages go straight to ``bridge`` (made here if not given). ``speed`` is simulated seconds
    per wall second (None: as fast as possible). The cloud's simulated clock (the bridge's and
    Firehose's) follows the published windows' times.
    """
    sim_clock = cloud.sim_clock
    sim_clock.now_ms = start_ms
    if bridge is None:
        bridge = cloud.rule_bridge()
    direct = send is None
    publish = bridge.publish if send is None else send
    figures = RunFigures()
    t0 = time.monotonic()
    last_poll = t0
    sim_ms = start_ms

    def tick(force: bool = False) -> None:
        nonlocal last_poll
        now = time.monotonic()
        if not force and now - last_poll < _POLL_S:
            return
        last_poll = now
        if direct:
            bridge.flush()
        new = cloud.receive_alerts()
        if on_progress is not None:
            on_progress(
                Progress(
                    sim_ms=sim_ms,
                    published=figures.messages,
                    features=cloud.services.records_in.get("features", 0),
                    predictions=cloud.services.records_in.get("predictions", 0),
                    alerts=new,
                )
            )

    for topic, payload, ts in messages:
        sim_ms = sim_clock.now_ms = max(sim_clock.now_ms, ts)
        if speed:
            due = t0 + (ts - start_ms) / 1000.0 / speed
            while (wait := due - time.monotonic()) > 0:
                tick(force=True)
                time.sleep(min(wait, _POLL_S))
        publish(topic, payload)
        figures.messages += 1
        tick()
    figures.publish_wall_s = time.monotonic() - t0
    if direct:
        bridge.flush()
    figures.drained = _wait_bridged(bridge, figures.messages, drain_timeout_s) and cloud.drain(
        drain_timeout_s
    )
    figures.total_wall_s = time.monotonic() - t0
    tick(force=True)
    cloud.services.flush()
    figures.records_per_s = figures.messages / figures.total_wall_s if figures.total_wall_s else 0.0
    figures.alert_latency, figures.alert_latencies_s = latency_breakdown(cloud)
    for name, m in cloud.mappings.items():
        s = m.stats
        figures.functions[name] = {
            "invocations": s.invocations,
            "records": s.records_done,
            "mean_batch": round(s.records_delivered / s.invocations, 1) if s.invocations else 0,
            "duration_total_s": round(s.duration_s, 3),
            "duration_p50_ms": round(_pct(s.durations_s, 50) * 1000, 1),
            "duration_p95_ms": round(_pct(s.durations_s, 95) * 1000, 1),
            "ms_per_record": round(s.duration_s * 1000 / max(1, s.records_delivered), 3),
            "function_errors": s.function_errors,
            "partial_failures": s.partial_failures,
            "bisections": s.bisections,
            "retried_records": s.retried_records,
            "discarded_records": s.discarded_records,
        }
    if cloud.model is not None:
        figures.model = {
            "invocations": cloud.model.invocations,
            "seconds": round(cloud.model.seconds, 3),
        }
    figures.bridge = {
        "received": bridge.received,
        "forwarded": bridge.forwarded,
        "rule_errors": bridge.rule_errors,
        "not_matched": bridge.not_matched,
        "put_seconds": round(bridge.put_seconds, 3),
    }
    # Firehose tables from the stand-in's counters; raw from the objects extract_features wrote.
    figures.lake_records = {**cloud.services.records_in, lake.RAW_TABLE: cloud.raw_lines()}
    figures.failed_batches = len(cloud.failed_batches)
    figures.quarantined = len(cloud.quarantined())
    figures.poller_errors = cloud.poller_errors()
    return figures


def _wait_bridged(bridge: RuleBridge, expected: int, timeout_s: float) -> bool:
    """Over MQTT, messages are still on their way to the bridge when the sink returns."""
    deadline = time.monotonic() + timeout_s
    while bridge.received < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    bridge.flush()
    return bridge.received >= expected
