"""Predictions travel to Firehose as few newline-delimited records (rotorwatch.lake.layout.aggregate_lines)."""

from __future__ import annotations

import json

import pytest

from rotorwatch.lake.layout import FIREHOSE_RECORD_MAX_BYTES, aggregate_lines


def _lines(n: int, pad: int = 380) -> list[bytes]:
    return [
        json.dumps({"device_id": f"pump-{i:04d}", "seq": i, "pad": "x" * pad}).encode() + b"\n"
        for i in range(n)
    ]


def test_rows_read_back_line_by_line_are_the_rows_sent() -> None:
    lines = _lines(500)
    packed = aggregate_lines(lines)
    assert len(packed) == 1  # 500 x ~420 B fit one 1,000 KiB record
    rows = [json.loads(line) for record, _ in packed for line in record.splitlines()]
    assert rows == [json.loads(line) for line in lines]
    assert [i for _, idx in packed for i in idx] == list(range(500))


def test_records_never_exceed_the_firehose_record_limit() -> None:
    lines = _lines(6000)  # ~2.5 MB
    packed = aggregate_lines(lines)
    assert len(packed) == 3
    assert all(len(record) <= FIREHOSE_RECORD_MAX_BYTES for record, _ in packed)
    assert b"".join(record for record, _ in packed) == b"".join(lines)


def test_a_line_without_newline_or_too_big_is_refused() -> None:
    with pytest.raises(ValueError, match="newline"):
        aggregate_lines([b'{"a":1}'])
    with pytest.raises(ValueError, match="limit"):
        aggregate_lines([b"x" * 20 + b"\n"], max_record_bytes=10)
