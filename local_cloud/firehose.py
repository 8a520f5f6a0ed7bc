"""Local stand-in for Amazon Data Firehose: the same hive-partitioned layout, on a folder.

What it reproduces (from :mod:`rotorwatch.lake.layout`, the one home of the layout):

* features/ and predictions/: Parquet with the Glue table's schema; raw/telemetry/: GZIP JSON
  lines. All three are partitioned by arrival time, like the deployed Firehose
  ``!{timestamp:...}`` prefixes. Firehose's clock is the one given (the local cloud's simulated
  clock), else the record's time stamped closest to arrival
  (:data:`rotorwatch.lake.layout.ARRIVAL_CLOCK_FIELDS`: the IoT rule's ``received_at``, the scorer's
  ``scored_at``), else the wall clock;
* object names ``<stream>-1-YYYY-MM-DD-HH-MM-SS-<id>``, one object per partition per flush.
  The id is a content hash, so re-delivering the same batch rewrites the same file.

Records that Firehose would divert (a record the Parquet schema cannot hold) go to ``errors/firehose/<table>/...`` with the reason, never lost.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rotorwatch.lake import layout as lake

#: Firehose's default buffering hint is 5 MiB / 300 s; locally a record count is what matters.
DEFAULT_BUFFER_RECORDS = 10_000


_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError)


def _arrival_clock(rec: Mapping[str, Any]) -> int:
    for name in lake.ARRIVAL_CLOCK_FIELDS:
        value = rec.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    # Arrival-time prefixes never fail: a record without a usable time is still kept.
    return int(time.time() * 1000)


class LocalFirehose:
    """Buffers records per table and flushes them into ``lake_dir`` in the Firehose layout.

    >>> fh = LocalFirehose("lake")
    >>> fh.put_records("features", records)
    >>> fh.flush()  # paths written
    """

    def __init__(
        self,
        lake_dir: str | Path,
        *,
        buffer_records: int = DEFAULT_BUFFER_RECORDS,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        """``clock_ms`` is Firehose's clock (e.g. a simulation's); without it each record's
        :data:`rotorwatch.lake.layout.ARRIVAL_CLOCK_FIELDS` stand in for its arrival."""
        if buffer_records < 1:
            raise ValueError(f"buffer_records must be >= 1, got {buffer_records}")
        self.lake_dir = Path(lake_dir)
        self.buffer_records = buffer_records
        self.clock_ms = clock_ms
        # (arrival ms, record) per table: arrival is stamped when the record is put.
        self._buffers: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        self.written: list[Path] = []
        self.errors: list[Path] = []

    def put_record(self, table_name: str, record: Mapping[str, Any]) -> None:
        """Buffer one record for a Firehose-written table (flushes when the buffer is full)."""
        self.put_records(table_name, [record])

    def put_records(self, table_name: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Buffer records for a Firehose-written table (flushes when the buffer is full)."""
        if table_name not in lake.ARRIVAL_TABLES:
            raise ValueError(
                f"{table_name!r} is not an arrival-time table; one of {', '.join(lake.ARRIVAL_TABLES)}"
            )
        for record in records:
            buf = self._buffers[table_name]
            arrival = self.clock_ms() if self.clock_ms is not None else _arrival_clock(record)
            buf.append((arrival, dict(record)))
            if len(buf) >= self.buffer_records:
                self._flush_table(table_name)

    def flush(self) -> list[Path]:
        """Write every buffered record; returns the files written by this call."""
        before = len(self.written)
        for name in list(self._buffers):
            self._flush_table(name)
        return self.written[before:]

    def __enter__(self) -> LocalFirehose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    # -- internals ------------------------------------------------------------------------

    def _flush_table(self, table_name: str) -> None:
        records = self._buffers.pop(table_name, [])
        if not records:
            return
        t = lake.table(table_name)
        by_partition: dict[str, list[dict[str, Any]]] = defaultdict(list)
        first_ts: dict[str, int] = {}
        bad: list[tuple[dict[str, Any], str]] = []
        # Every Firehose table is partitioned by arrival time (rotorwatch.lake.layout).
        for arrival, rec in records:
            part = lake.partition_path(arrival, t.partition_keys)
            by_partition[part].append(rec)
            first_ts.setdefault(part, arrival)
        for part in sorted(by_partition):
            rows = by_partition[part]
            try:
                content, ext = self._encode(t, rows)
            except _CONVERSION_ERRORS:
                # Firehose converts record by record: only the records that fail are diverted.
                rows = []
                for rec in by_partition[part]:
                    try:
                        self._encode(t, [rec])
                    except _CONVERSION_ERRORS as exc:
                        bad.append((rec, f"DataFormatConversion.Failed: {exc}"))
                    else:
                        rows.append(rec)
                if not rows:
                    continue
                content, ext = self._encode(t, rows)
            name = lake.firehose_object_name(t.name, first_ts[part], content, ext)
            path = self.lake_dir / t.prefix / part / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            self.written.append(path)
        if bad:
            self._write_errors(t.name, bad)

    @staticmethod
    def _encode(t: lake.Table, rows: list[dict[str, Any]]) -> tuple[bytes, str]:
        if t.format == "json.gz":
            text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
            # mtime=0: the same records always give the same bytes (and the same object name).
            return gzip.compress(text.encode("utf-8"), mtime=0), ".gz"
        schema = lake.arrow_schema(t.name)
        # Firehose's conversion keeps only the table's columns: extra keys are dropped.
        batch = pa.Table.from_pylist(
            [{k: r.get(k) for k in schema.names} for r in rows], schema=schema
        )
        sink = io.BytesIO()
        pq.write_table(batch, sink, compression="snappy")
        return sink.getvalue(), ".parquet"

    def _write_errors(self, table_name: str, bad: list[tuple[dict[str, Any], str]]) -> None:
        text = "".join(
            json.dumps({"errorMessage": reason, "rawData": rec}, separators=(",", ":"), default=str)
            + "\n"
            for rec, reason in bad
        )
        content = text.encode("utf-8")
        name = lake.firehose_object_name(table_name, 0, content, ".json")
        path = self.lake_dir / lake.FIREHOSE_ERRORS_PREFIX / table_name / "processing-failed" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        self.errors.append(path)


def write_table(
    lake_dir: str | Path, table_name: str, records: Iterable[Mapping[str, Any]]
) -> list[Path]:
    """Deliver ``records`` to one table in a single flush; returns the files written."""
    fh = LocalFirehose(lake_dir, buffer_records=1 << 30)
    fh.put_records(table_name, records)
    return fh.flush()
