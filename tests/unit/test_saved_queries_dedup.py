"""Issue 26 item 7: a window the lake holds twice (a batch redelivered after a partial Firehose
failure writes its rows again) counts once in every saved query an analyst runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")

from local_cloud import athena
from local_cloud.firehose import LocalFirehose
from rotorwatch import lake
from tests.unit.test_saved_queries import ALL, _records


def _lake(root: Path, copies: int) -> Path:
    features, predictions = _records()
    with LocalFirehose(root, buffer_records=7) as fh:
        for k in range(copies):
            fh.put_records(lake.FEATURES_TABLE, features)
            # A redelivered window is scored again: same window, a later scored_at.
            fh.put_records(
                lake.PREDICTIONS_TABLE, [dict(p, scored_at=p["scored_at"] + k) for p in predictions]
            )
    return root


def _answer(root: Path, name: str) -> list[dict[str, Any]]:
    params = {"device_id": "pump-1"} if name == "machine_trend" else {}
    return athena.run_saved(name, root, params).records()


@pytest.mark.parametrize("name", ALL)
def test_a_window_written_twice_counts_once(name: str, tmp_path: Path) -> None:
    once = _answer(_lake(tmp_path / "once", 1), name)
    twice = _answer(_lake(tmp_path / "twice", 2), name)
    assert once  # the fleet gives every query something to say
    assert twice == once
