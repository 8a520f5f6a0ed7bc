"""End-to-end figures of the local pipeline (the `rotorwatch demo` stack) on this machine.

1. Sustained throughput: the fleet's messages (generated beforehand, so the simulator's cost is
   not counted) are pushed into the rule bridge as fast as it takes them, with the deployed
   event source mapping settings (batch 500, 5 s window); records/s = messages / (first message
   bridged -> pipeline drained: every record in the lake, every alert delivered).
2. Latency: the same kind of fleet paced well below that throughput; p50/p95 from a message
   entering the rule bridge to its alert arriving in the technicians' SQS inbox, split by hop.
   With the deployed 5 s batching windows most of it is waiting for batches to fill, as on AWS.

Where the time goes: per-function invocation durations (event source mapping), the bridge's
PutRecords time and the model's share. Everything runs over the local moto server's HTTP API,
so absolute figures are this machine's and moto's, not AWS's.

    make VENV=/work/main/.venv bench-e2e
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from cli.demo import DEFAULT_MODEL, batch_settings
from local_cloud import demo
from local_cloud.cloud import BatchSettings
from simulator.fleet import generate_windows
from simulator.scenario import load_scenario


def fleet(scenario: str, hours: float, interval_s: float, seed: int) -> tuple[Any, list[Any], int]:
    sc = load_scenario(scenario)
    start_ms = 1_767_225_600_000
    windows = list(
        generate_windows(
            sc, start_ms=start_ms, duration_s=hours * 3600, interval_s=interval_s, seed=seed
        )
    )
    return sc, windows, start_ms


def one_run(
    label: str,
    sc: Any,
    windows: list[Any],
    start_ms: int,
    speed: float | None,
    batches: tuple[BatchSettings, BatchSettings],
    model: Path | None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rw-bench-e2e-") as tmp:
        quiet = Console(file=io.StringIO())
        result = demo.run(
            out=Path(tmp),
            asset_records=sc.to_dict()["assets"],
            assets=sc.assets,
            messages=((w.topic, w.payload, w.truth["ts"]) for w in windows),
            truth_rows=[w.truth for w in windows],
            life_h={m.device_id: m.fault.life_h for m in sc.machines if m.fault is not None},
            start_ms=start_ms,
            end_ms=windows[-1].truth["ts"],
            speed=speed,
            model_artifact=model,
            extract_batch=batches[0],
            score_batch=batches[1],
            console=quiet,
        )
    f = result.figures
    print(f"\n== {label}: {f.messages} messages, {len(result.alerts)} alerts ==")
    print(
        f"  wall, first message bridged -> drained: {f.total_wall_s:.1f} s "
        f"(publishing took {f.publish_wall_s:.1f} s)"
    )
    print(f"  sustained throughput: {f.records_per_s:.1f} records/s")
    for s in f.alert_latency:
        if not math.isnan(s.p50_s):
            print(f"  {s.name}: p50 {s.p50_s:.2f} s, p95 {s.p95_s:.2f} s, max {s.max_s:.2f} s")
    busy = {"rule bridge PutRecords": f.bridge["put_seconds"]}
    for name, st in f.functions.items():
        busy[name.split("/")[0]] = st["duration_total_s"]
        print(
            f"  {name}: {st['invocations']} invocations, mean batch {st['mean_batch']}, "
            f"p50 {st['duration_p50_ms']} ms, p95 {st['duration_p95_ms']} ms, "
            f"{st['ms_per_record']} ms/record"
        )
    if f.model:
        busy["model (inference script, inside score_and_alert)"] = f.model["seconds"]
    print("  where the wall time went (busy seconds; stages overlap in threads):")
    for k, v in busy.items():
        print(f"    {k:55s} {v:7.2f} s  ({100 * v / f.total_wall_s:5.1f} % of wall)")
    return {"label": label, **f.to_dict(), "alerts": len(result.alerts)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scenario", default="fleet-24")
    p.add_argument("--hours", type=float, default=12.0)
    p.add_argument("--interval-s", type=float, default=600.0)
    p.add_argument(
        "--latency-rate",
        type=float,
        default=20.0,
        help="messages per wall second in the latency run",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    model = DEFAULT_MODEL if DEFAULT_MODEL.exists() else None
    print(f"model: {model or 'none (rules fallback, degraded)'}; batching: CDK defaults")
    batches = batch_settings()
    t0 = time.monotonic()
    sc, windows, start_ms = fleet(args.scenario, args.hours, args.interval_s, args.seed)
    n_dev = len(sc.machines)
    print(
        f"generated {len(windows)} messages ({n_dev} machines, {args.hours} h) "
        f"in {time.monotonic() - t0:.1f} s (not counted)"
    )
    results = [one_run("throughput (unpaced)", sc, windows, start_ms, None, batches, model)]
    # Simulated seconds per wall second giving `latency_rate` messages per second.
    speed = args.latency_rate * args.interval_s / n_dev
    results.append(
        one_run(
            f"latency (paced at {args.latency_rate:g} msg/s)",
            sc,
            windows,
            start_ms,
            speed,
            batches,
            model,
        )
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
