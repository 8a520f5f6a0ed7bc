"""The raw-sampling Glue job (glue_jobs/raw_keep.py) on one day of a small fleet, on local Spark.

Writes one UTC day of raw telemetry (4096 int16 samples per window: a tone plus noise, so gzip
finds what it finds in a real window) and its predictions in Firehose's layout, then times the
job's ``run``: read the day's raw and predictions, select, write raw_kept. The figure the cost
model needs is raw gigabytes (uncompressed JSON lines) sampled per core-hour; a Glue G.1X DPU
has 4 vCPUs (https://docs.aws.amazon.com/glue/latest/dg/add-job.html, worker types).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_raw_keep.py --devices 10 --interval 60
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from local_cloud.firehose import LocalFirehose
from rotorwatch.contract.telemetry import decode, encode, encode_samples
from rotorwatch.contract.telemetry_v2 import raw_line
from rotorwatch.lake import layout as lake

DAY_MS = 1_795_392_000_000  # 2026-11-23 00:00 UTC
FS_HZ = 4096.0


def write_day(lake_dir: Path, devices: int, interval_s: float, changes_per_day: int) -> int:
    """One day of raw windows and predictions; returns the raw bytes (uncompressed lines)."""
    rng = np.random.default_rng(7)
    step = int(interval_s * 1000)
    t = np.arange(4096) / FS_HZ
    raw_bytes = 0
    with LocalFirehose(lake_dir, buffer_records=2000) as fh:
        for d in range(devices):
            device = f"dev-{d:05d}"
            # changes_per_day state changes at random times of the day
            flips = np.sort(rng.integers(DAY_MS, DAY_MS + 86_400_000, changes_per_day))
            for i, ts in enumerate(range(DAY_MS, DAY_MS + 86_400_000, step)):
                x = 0.05 * np.sin(2 * np.pi * 50.0 * t) + 0.01 * rng.standard_normal(4096)
                vib = encode_samples(x, fs_hz=FS_HZ, encoding="int16le+base64")
                msg = decode(encode(device_id=device, ts=ts, seq=i, rpm=1480.0, vibration=vib))
                line = raw_line(msg, ts + 2000)
                raw_bytes += len(line)
                fh.put_record(lake.RAW_TABLE, json.loads(line))
                state = "WARNING" if int(np.searchsorted(flips, ts)) % 2 else "HEALTHY"
                fh.put_record(
                    lake.PREDICTIONS_TABLE,
                    {
                        "device_id": device,
                        "ts": ts,
                        "seq": i,
                        "state": state,
                        "scored_at": ts + 3000,
                    },
                )
    return raw_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--changes-per-day", type=int, default=4)
    args = ap.parse_args()

    from glue_jobs import raw_keep

    with tempfile.TemporaryDirectory() as tmp:
        lake_dir = Path(tmp)
        raw_bytes = write_day(lake_dir, args.devices, args.interval, args.changes_per_day)
        gz_bytes = sum(p.stat().st_size for p in (lake_dir / lake.RAW_PREFIX).rglob("*.gz"))
        spark = raw_keep.spark_session()
        spark.sparkContext.setLogLevel("ERROR")
        spark.range(1).count()  # JVM warm: time the job, not Spark's start
        argv = ["job", "--lake_uri", lake_dir.as_uri() + "/", "--day", "2026-11-23"]
        t0 = time.perf_counter()
        summary = raw_keep.run(spark, raw_keep.parse_args(argv))
        run_s = time.perf_counter() - t0
        kept_bytes = sum(
            p.stat().st_size for p in (lake_dir / lake.RAW_KEPT_PREFIX).rglob("*.parquet")
        )
        cores = int(spark.sparkContext.defaultParallelism)
        spark.stop()
    gb = raw_bytes / 1024**3
    print(
        json.dumps(
            {
                **summary,
                "devices": args.devices,
                "interval_s": args.interval,
                "raw_gb": round(gb, 4),
                "raw_gzip_ratio": round(gz_bytes / raw_bytes, 3),
                "kept_fraction": round(summary["kept"] / summary["windows"], 4),
                "kept_parquet_bytes_per_raw_byte_kept": round(
                    kept_bytes / (raw_bytes * summary["kept"] / summary["windows"]), 3
                ),
                "run_s": round(run_s, 1),
                "cores": cores,
                "raw_gb_per_core_hour": round(gb / (run_s * cores / 3600.0), 2),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
