"""Remaining life on machines whose lives run on another time scale (``make eval-life-scale``).

The shipped P-F prior comes from six bearings of one accelerated rig, whose detected failures
take minutes to hours. A plant machine on the same indicator may take days. Nothing else from
another rig's run-to-failure history is here, so this stands one in: the six FEMTO bearings,
each replayed exactly as ``make eval-life`` replays it, but with every timestamp multiplied by
K. The machine is the same vibration, window for window, and its life runs K times slower.
Each bearing is scored against the **shipped** prior, which knows none of those time scales.

An estimate that transfers scales with the machine:
- the interval should hold the true time left about as often at K = 10 or 100 as at K = 1;
- its width over the true time left should stay about the same.

An estimate that leans on the prior's minutes fails this: it says "minutes" to a machine with
days. The alerts may move with K, because the alert state machine's persistence and quiet
periods are times, not window counts. That is why the number of windows after the first lasting
alert changes.

Not leave-one-out: at K = 1 the shipped prior was fitted on these six, so that row is the
in-sample reference; the stretched rows are what the prior has never seen.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import eval_life  # the replay and the judge that make eval-life uses


def write_stretched(out_dir: Path, data: Path, k: float) -> dict[str, float]:
    """The six bearings' telemetry with every snapshot's time multiplied by ``k``."""
    stretched = out_dir / "data"
    stretched.mkdir()
    for b in eval_life.BEARINGS:
        with np.load(data / f"Bearing{b}.npz") as d:
            np.savez(stretched / f"Bearing{b}.npz", acc_mg=d["acc_mg"], t_s=d["t_s"] * k)
    return eval_life.write_telemetry(out_dir, stretched, eval_life.BEARINGS)


def judge_scale(data: Path, k: float) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        lengths = write_stretched(out, data, k)
        registry = out / "assets.json"
        registry.write_text(json.dumps(eval_life.assets(sorted(lengths))))
        rows = eval_life.replay(
            sorted(out.glob("femto-*.jsonl")),
            registry,
            out / "alerts.jsonl",
            rules_only=False,
            priors=None,  # the shipped prior
        )
    by_device = eval_life.rows_by_device(rows)
    return {d: eval_life.judge(by_device.get(d, []), lengths[d]) for d in sorted(lengths)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=eval_life.DATA)
    parser.add_argument("--scale", type=float, action="append", help="K (repeatable)")
    args = parser.parse_args()
    if not (args.data / "Bearing1_1.npz").exists():
        print(f"no FEMTO recordings in {args.data} (see ../shared/data/real)", file=sys.stderr)
        return 2
    scales = args.scale or [1.0, 10.0, 100.0]
    print("shipped prior; after the first lasting alert: coverage, median width / true time left,")
    print("median % error; lead time before the end of the run")
    print(
        f"{'K':>6}  {'bearing':<10} {'windows':>7} {'lead':>10} {'cover':>6} {'width':>6} {'err%':>6}"
    )
    for k in scales:
        judged = judge_scale(args.data, k)
        for d, j in judged.items():
            lead = "-" if j["lead_min"] is None else f"{j['lead_min'] / 60:.2f} h"
            print(
                f"{k:>6g}  {d:<10} {j['windows_after_alert']:>7} {lead:>10} "
                f"{j['coverage']:>6.2f} {j['width_ratio']:>6.2f} {j['pct_error']:>6.0f}"
            )
        covered = [j["coverage"] for j in judged.values() if j["windows_after_alert"] > 1]
        widths = [j["width_ratio"] for j in judged.values() if j["windows_after_alert"] > 1]
        print(
            f"{k:>6g}  median over the bearings with more than one window after the alert: "
            f"coverage {statistics.median(covered):.2f}, width {statistics.median(widths):.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
