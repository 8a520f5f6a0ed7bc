"""The local Firehose stand-in writes the deployed layout, deterministically, losing nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

pq = pytest.importorskip("pyarrow.parquet")

from local_cloud.firehose import LocalFirehose, write_table  # noqa: E402
from rotorwatch.lake import layout as lake  # noqa: E402

T0_MS = 1_795_416_000_000  # 2026-11-23 06:40:00 UTC


def _rel(root: Path, paths: list[Path]) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in paths)


def test_features_are_parquet_in_arrival_time_partitions(tmp_path: Path) -> None:
    records = [
        {
            "device_id": "m1",
            "ts": T0_MS - 3_600_000,  # measured an hour before it arrived: arrival decides
            "received_at": T0_MS,
            "seq": 1,
            "velocity_rms_mm_s": 1.5,
            "n_samples": 4096,
            "extra": "x",
        },
        # 07:10
        {"device_id": "m1", "ts": T0_MS, "received_at": T0_MS + 30 * 60_000, "seq": 2},
    ]
    written = write_table(tmp_path, lake.FEATURES_TABLE, records)
    assert [p.rsplit("/", 1)[0] for p in _rel(tmp_path, written)] == [
        "features/year=2026/month=11/day=23/hour=06",
        "features/year=2026/month=11/day=23/hour=07",
    ]
    assert written[0].name.startswith("features-1-2026-11-23-06-40-00-")
    table = pq.read_table(written[0])
    assert table.schema.equals(
        lake.arrow_schema(lake.FEATURES_TABLE)
    )  # Glue schema, extra key dropped
    assert table.column("velocity_rms_mm_s").to_pylist() == [1.5]
    # Same batch again: same object names (no duplicate files from a re-run of the demo).
    assert write_table(tmp_path, lake.FEATURES_TABLE, records) == written


def test_buffer_flushes_into_several_objects(tmp_path: Path) -> None:
    fh = LocalFirehose(tmp_path, buffer_records=2)
    fh.put_records(
        lake.PREDICTIONS_TABLE,
        [
            {"device_id": "m", "ts": T0_MS + i, "seq": i, "state": "HEALTHY", "scored_at": T0_MS}
            for i in range(5)
        ],
    )
    assert len(fh.written) == 2  # two full buffers so far
    fh.flush()
    assert len(fh.written) == 3
    assert sum(pq.read_table(p).num_rows for p in fh.written) == 5


def test_bad_records_go_to_the_error_prefix_not_lost(tmp_path: Path) -> None:
    fh = LocalFirehose(tmp_path)
    fh.put_records(
        lake.FEATURES_TABLE,
        [{"device_id": "m", "seq": 1}, {"device_id": "m", "ts": T0_MS, "seq": 2}],
    )
    fh.put_records(
        lake.PREDICTIONS_TABLE,
        [{"device_id": "m", "ts": T0_MS, "seq": "not-a-number", "state": "HEALTHY"}],
    )
    fh.flush()
    # Only the records that cannot be converted are diverted; the good one is written.
    (written,) = fh.written
    assert pq.read_table(written).column("seq").to_pylist() == [2]
    errors = [json.loads(line) for p in fh.errors for line in p.read_text().splitlines()]
    assert {e["rawData"]["seq"] for e in errors} == {1, "not-a-number"}
    assert all(
        str(p.relative_to(tmp_path)).startswith(lake.FIREHOSE_ERRORS_PREFIX) for p in fh.errors
    )


def test_raw_is_gzip_json_lines_by_arrival_time(tmp_path: Path) -> None:
    msg = {"v": 1, "device_id": "m", "ts": T0_MS - 3 * 3_600_000, "seq": 1, "received_at": T0_MS}
    (path,) = write_table(tmp_path, lake.RAW_TABLE, [msg])
    assert str(path.relative_to(tmp_path)).startswith(
        "raw/telemetry/year=2026/month=11/day=23/hour=06/"
    )
    assert path.suffix == ".gz"
    assert json.loads(gzip.decompress(path.read_bytes())) == msg


def test_only_firehose_tables_accepted(tmp_path: Path) -> None:
    # Arrival-time tables only: the Firehose ones and raw (its layout, written per batch by
    # extract_features; the local lake takes raw rows through the same writer).
    with pytest.raises(ValueError, match="not an arrival-time table"):
        LocalFirehose(tmp_path).put_record(lake.HEALTH_DAILY_TABLE, {})
