"""A device's raw telemetry window read back from the demo's lake folder (the raw table, or
the windows the raw_keep job kept), for the report's spectrum plot."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import Telemetry, decode
from rotorwatch.lake import layout as lake


def _raw_lines(lake_dir: Path, device_id: str) -> Iterable[str]:
    """A device's raw lines from telemetry_raw (gzip'd JSON, as Firehose writes it)."""
    for path in sorted((lake_dir / lake.RAW_PREFIX).rglob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield from (line for line in fh if f'"device_id":"{device_id}"' in line)


def _without_nulls(value: Any) -> Any:
    # Parquet gives every column, absent ones as null; the raw line had no such key.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _kept_lines(lake_dir: Path, device_id: str) -> Iterable[str]:
    """A device's windows from telemetry_raw_kept (Parquet, written by the raw_keep job: what
    outlives raw expiry), as raw lines again."""
    root = lake_dir / lake.RAW_KEPT_PREFIX
    if not root.is_dir():
        return
    import pyarrow.parquet as pq

    for path in sorted(root.rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            if row.get("device_id") == device_id:
                yield json.dumps(_without_nulls(row))


def raw_window(lake_dir: Path, device_id: str, ts: int | None = None) -> Telemetry | None:
    """A device's raw telemetry window from the lake (``ts`` or its latest): from the raw
    table, or, once raw expiry has removed it, from the windows the raw_keep job kept."""
    best: tuple[int, str] | None = None
    for source in (_raw_lines, _kept_lines):
        for line in source(lake_dir, device_id):
            rec = json.loads(line)
            if rec.get("device_id") != device_id or not isinstance(rec.get("ts"), int):
                continue
            if ts is not None and rec["ts"] == ts:
                best = (rec["ts"], line)
                break
            if ts is None and (best is None or rec["ts"] > best[0]):
                best = (rec["ts"], line)
        if ts is not None and best is not None:
            break
    if best is None:
        return None
    try:
        return decode(best[1])
    except TelemetryError:
        return None
