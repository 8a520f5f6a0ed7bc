"""The load drill's figures: what each quota was offered, what reached the lake, the table.

:func:`lake_count` counts a lake table's rows by (device_id, ts, seq) against what the devices
published; :func:`table` prints a :class:`DrillResult` (local_cloud/load_drill.py) as Markdown.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_cloud.load_config import DrillConfig
from rotorwatch.lake import layout as lake

Window = tuple[str, int, int]


@dataclass
class QuotaFigure:
    """One quota: what the drill offered it (``unit`` per the scaled limit's unit)."""

    quota: str
    offered: float
    limit: float
    unit: str
    throttled: int | None = None
    note: str = ""

    @property
    def share(self) -> float:
        return self.offered / self.limit if self.limit else math.inf


@dataclass
class TableCount:
    """One lake table's rows against the windows the devices published."""

    rows: int = 0
    distinct: int = 0
    lost: int = 0
    duplicated: int = 0
    strangers: int = 0  # keys in the table the devices never published


@dataclass
class DrillResult:
    """What one run of the drill measured; ``failures`` says why it failed (empty: passed)."""

    config: DrillConfig
    devices: int
    published: int
    shards: tuple[int, int]
    sim_publish_s: float
    sim_total_s: float
    wall_s: float
    drained: bool
    quotas: list[QuotaFigure]
    iterator_age_s: dict[str, float]
    iterator_age_limit_s: float
    lake: dict[str, TableCount]
    rule_errors: int
    discarded: int
    put_records_retried: int
    alerts: int
    duplicated_alerts: int
    burst_s: float
    interval_s: float
    quarantined: int
    load_average: tuple[float, float, float]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def lost(self) -> int:
        return max(t.lost for t in self.lake.values())

    @property
    def duplicated(self) -> int:
        return max(t.duplicated for t in self.lake.values())


def raw_keys(s3: Any, bucket: str) -> list[Window]:
    """(device_id, ts, seq) of every line of the raw objects extract_features wrote."""
    out: list[Window] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=lake.RAW_PREFIX):
        for obj in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            for line in body.splitlines():
                r = json.loads(line)
                out.append((r["device_id"], r["ts"], r["seq"]))
    return out


def parquet_keys(lake_dir: Path, table: str) -> list[Window]:
    """(device_id, ts, seq) of every row of a Firehose-written table in the lake folder."""
    import pyarrow.parquet as pq

    out: list[tuple[str, int, int]] = []
    for path in sorted((lake_dir / lake.table(table).prefix).rglob("*.parquet")):
        t = pq.read_table(path, columns=["device_id", "ts", "seq"]).to_pydict()
        out += zip(t["device_id"], t["ts"], t["seq"], strict=True)
    return out


def lake_count(keys: list[Window], published: set[Window]) -> TableCount:
    c = Counter(keys)
    return TableCount(
        rows=len(keys),
        distinct=len(c),
        lost=len(published - c.keys()),
        duplicated=sum(v - 1 for v in c.values()),
        strangers=len(c.keys() - published),
    )


def table(r: DrillResult) -> str:
    """The figures as a Markdown table, with the run's lines above it."""
    c = r.config
    mode = (
        f"One shard at full rate: the busiest telemetry shard of stage {c.stage!r}"
        if c.one_shard
        else f"Scaled load drill: factor {c.factor:g} of stage {c.stage!r}"
    )
    lines = [
        f"{mode} ({r.devices} devices, "
        f"a window every {r.interval_s:g} s, {r.shards[0]} telemetry + {r.shards[1]} features "
        f"shards), {r.sim_publish_s / 60:g} simulated minutes of windows, drained after "
        f"{r.sim_total_s:.0f} s simulated; quota buckets hold {r.burst_s:g} s of the scaled "
        f"quota; {r.wall_s:.0f} s real at load average {r.load_average[0]:.2f} (1 min).",
        "",
        "| quota | offered | scaled limit | used | throttled | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for q in r.quotas:
        th = "" if q.throttled is None else str(q.throttled)
        lines.append(
            f"| {q.quota} | {q.offered:,.2f} {q.unit} | {q.limit:,.2f} {q.unit} | "
            f"{q.share:.0%} | {th} | {q.note} |"
        )
    lines += ["", "| end to end | value |", "| --- | --- |"]
    lines.append(f"| windows published | {r.published} |")
    for name, tc in r.lake.items():
        lines.append(
            f"| {name} in the lake: rows / lost / duplicated | {tc.rows} / {tc.lost} / {tc.duplicated} |"
        )
    lines.append(f"| quarantined | {r.quarantined} |")
    lines.append(f"| alerts sent / duplicated | {r.alerts} / {r.duplicated_alerts} |")
    lines.append(f"| to the IoT rule's error action | {r.rule_errors} |")
    lines.append(f"| given up by an event source mapping | {r.discarded} |")
    lines.append(f"| features entries throttled and retried | {r.put_records_retried} |")
    for fn, age in sorted(r.iterator_age_s.items()):
        lines.append(
            f"| max iterator age, {fn} | {age:.1f} s (alarm at {r.iterator_age_limit_s:.0f} s) |"
        )
    lines.append(f"| verdict | {'PASS' if r.passed else 'FAIL: ' + '; '.join(r.failures)} |")
    return "\n".join(lines)
