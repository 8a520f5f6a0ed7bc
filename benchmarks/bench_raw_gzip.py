"""What writing a batch's raw windows as one gzip'd object costs extract_features.

One batch of simulated fleet-24 windows (contract v1, 4096 int16 samples, the rule's fields
added), joined as the raw lake's JSON lines, compressed with gzip at levels 1 and 6 on one
core: CPU milliseconds per record (process time: the box is shared) (the Lambda time the cost model adds per window,
``Assumptions.raw_gzip_ms_per_record``) and the compressed/raw size ratio
(``Assumptions.raw_compression_ratio``).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_raw_gzip.py
"""

from __future__ import annotations

import gzip
import json
import statistics
import time

from simulator.fleet import generate
from simulator.scenario import load_scenario

BATCH = 413  # the prod stage's mean extract batch at 10,000 devices (rotorwatch cost)
REPEATS = 7


def batch_lines() -> list[bytes]:
    lines = []
    for _topic, payload in generate(
        load_scenario("fleet-24"),
        start_ms=1_763_900_000_000,
        duration_s=None,
        interval_s=10.0,
        seed=7,
    ):
        msg = json.loads(payload)
        msg.update(site="site-01", received_at=1_763_900_000_123)  # what the v1 rule adds
        lines.append(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        if len(lines) == BATCH:
            return lines
    raise AssertionError("unreachable: the feed is endless")


def main() -> None:
    data = b"".join(batch_lines())
    print(f"batch: {BATCH} lines, {len(data):,} bytes ({len(data) / BATCH:,.0f} per line)")
    for level in (1, 6):
        times = []
        for _ in range(REPEATS):
            t0 = time.process_time()
            out = gzip.compress(data, compresslevel=level, mtime=0)
            times.append(time.process_time() - t0)
        ms = statistics.median(times) * 1000.0
        print(
            f"gzip level {level}: {ms:.1f} ms per batch, {ms / BATCH:.3f} ms per record, "
            f"ratio {len(out) / len(data):.3f}"
        )


if __name__ == "__main__":
    main()
