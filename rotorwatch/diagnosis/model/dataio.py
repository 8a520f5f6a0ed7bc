"""Reading training data: feature records (JSON lines, a JSON array, or Parquet as the lake and
Athena UNLOAD write them) and labels (ground-truth rows joined on device and window)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rotorwatch.diagnosis.model.labels import TrainingError

#: Parquet files start (and end) with this magic; Firehose names its objects without an
#: extension, so files are told apart by content, not by name.
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"


def data_files(paths: Iterable[Path]) -> list[Path]:
    """Data files under the given files or directories, sorted (deterministic order).

    Hidden files and markers such as ``_SUCCESS`` (names starting with ``.`` or ``_``) are
    skipped.
    """
    out: list[Path] = []
    for p in paths:
        candidates = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        out.extend(q for q in candidates if not q.name.startswith((".", "_")))
    return out


def read_json_records(text: str, where: str) -> list[dict[str, Any]]:
    """A JSON array of objects, or JSON lines (one object per line)."""
    stripped = text.lstrip()
    rows: list[Any]
    if stripped.startswith("["):
        rows = json.loads(stripped)
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise TrainingError(f"{where} line {n}: not JSON: {exc}") from None
    if not all(isinstance(r, dict) for r in rows):
        raise TrainingError(f"{where}: every record must be a JSON object")
    return [dict(r) for r in rows]


def read_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """All records under the given files/directories: Parquet, or JSON lines / a JSON array
    (plain or gzipped)."""
    rows: list[dict[str, Any]] = []
    for f in data_files(paths):
        data = f.read_bytes()
        if data[:4] == PARQUET_MAGIC:
            import pyarrow.parquet as pq

            rows.extend(pq.read_table(f).to_pylist())
            continue
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise TrainingError(f"{f}: neither Parquet nor UTF-8 JSON") from None
        rows.extend(read_json_records(text, str(f)))
    return rows


def join_labels(
    records: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Feature records with ``fault`` and ``severity`` from ground-truth rows.

    Rows match on (device_id, ts, seq) (the simulator's truth format; a maintenance log exported
    in the same shape works too). A record without a truth row is an error: unlabelled data
    would silently train as whatever default we picked.
    """
    index = {(str(t["device_id"]), int(t["ts"]), int(t["seq"])): t for t in truth}
    out = []
    for rec in records:
        key = (str(rec.get("device_id")), int(rec.get("ts") or 0), int(rec.get("seq") or 0))
        t = index.get(key)
        if t is None:
            raise TrainingError(f"no label for device {key[0]} ts {key[1]} seq {key[2]}")
        out.append({**rec, "fault": t["fault"], "severity": t.get("severity")})
    return out
