"""Issue 26 item 7: a window the lake holds twice (a batch redelivered after a partial Firehose
failure writes its rows again) counts once in every saved query an analyst runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")

from local_cloud import athena
from local_cloud.firehose import LocalFirehose
from rotorwatch.lake import layout as lake
from tests.unit.test_saved_queries import ALL, _records

#: Columns computed from current_timestamp (data_freshness' age_minutes).
NOW_RELATIVE = frozenset({"age_minutes"})


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
    # Sums over rows read in another order differ in the last bits (0.1 vs 0.0999...): compare
    # doubles to 9 significant digits, everything else exactly, but for ages measured from
    # the query's own clock (two runs a moment apart read another "now").
    return [
        {
            k: float(f"{v:.9g}") if isinstance(v, float) else v
            for k, v in row.items()
            if k not in NOW_RELATIVE
        }
        for row in athena.run_saved(name, root, params).records()
    ]


#: Queries over the feedback table, whose rows the feedback function and score_and_alert write
#: under content-hash keys: a row written again overwrites itself (rotorwatch.alerting.feedback), so there
#: is no second copy to count. Every other query reads the windows Firehose may land twice.
IDEMPOTENT_BY_KEY = frozenset({"alert_outcomes"})
WINDOW_QUERIES = [name for name in ALL if name not in IDEMPOTENT_BY_KEY]


@pytest.mark.parametrize("name", WINDOW_QUERIES)
def test_a_window_written_twice_counts_once(name: str, tmp_path: Path) -> None:
    once = _answer(_lake(tmp_path / "once", 1), name)
    twice = _answer(_lake(tmp_path / "twice", 2), name)
    assert once  # the fleet gives every query something to say
    # Equal up to the order floating-point sums run in (rows sit in other files).
    assert twice == [{k: _approx(v) for k, v in row.items()} for row in once]


def _approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9) if isinstance(value, float) else value
