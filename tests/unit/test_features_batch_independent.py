"""A window's features do not depend on which other windows share its batch.

Lambda hands extract_features whatever records a Kinesis poll returned, and a retry (a failed
record, a split batch, a resharded stream) hands it the same records grouped differently. The
lake must then hold the same values for the same window: the features of a record computed
alone, in the whole corpus at once, and in shuffled batches of other sizes among unrelated
windows (other machines, sample rates, lengths and encodings, with and without ``rpm``) must be
equal, bit for bit. Bit for bit because a value that moves by one ulp with its neighbours moves
further wherever a threshold or an argmax reads it (a speed estimate's grid, a line's peak),
and a row's arithmetic can be made independent of the others exactly: each reduction runs over
the row's own values, in an order and a layout set by that row alone.

The corpus is tests/feature_corpus.py's: every fault of a simulated fleet, analytic windows on
every path (sensor problems, mixed sample rates, long windows read in segments), the benchmark's
windows and real CWRU, IMS and FEMTO windows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rotorwatch.contract.telemetry import Telemetry
from rotorwatch.diagnosis.assets import Asset
from rotorwatch.diagnosis.features import compute_features
from tests import feature_corpus as fc

#: Batch sizes the shuffled corpus is cut into: below, at and across the fused pass's block
#: (32 rows) and the cross-check's chunk (64 rows), and larger than either.
BATCH_SIZES = (5, 33, 97)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Telemetry], dict[str, Asset]]:
    messages: list[Telemetry] = []
    assets: dict[str, Asset] = {}
    for build in fc.PARTS.values():
        part = build()
        if part is None:  # no ../shared/data/real: the other parts still cover every path
            continue
        messages += part[0]
        assets.update(part[1])
    return messages, assets


@pytest.fixture(scope="module")
def alone(corpus: tuple[list[Telemetry], dict[str, Asset]]) -> list[dict[str, Any]]:
    messages, assets = corpus
    return [compute_features([m], assets)[0] for m in messages]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _differences(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> dict[str, int]:
    """Per field, how many records differ (a missing or extra field counts too)."""
    counts: dict[str, int] = {}
    for g, w in zip(got, want, strict=True):
        for field in g.keys() | w.keys():
            if not _same(g.get(field), w.get(field)):
                counts[field] = counts.get(field, 0) + 1
    return counts


def test_corpus_holds_what_could_couple_rows(
    corpus: tuple[list[Telemetry], dict[str, Asset]], alone: list[dict[str, Any]]
) -> None:
    # Rows couple only through what a batch shares: the comb needs estimated speeds next to
    # given ones, the cross-check estimated speeds with bearing geometry, grids and spans
    # sized by the widest row need different search ranges and sample rates in one group.
    messages, _assets = corpus
    sources = {r["rpm_source"] for r in alone}
    assert {"message", "estimated", "none"} <= sources
    assert any(r["rpm_source"] == "estimated" and r["env_bpfo"] is not None for r in alone)
    rates = {(m.vibration.n_samples, m.vibration.fs_hz) for m in messages if m.vibration}
    assert len({fs for n, fs in rates if n == 4096}) >= 3


def test_whole_corpus_in_one_batch(
    corpus: tuple[list[Telemetry], dict[str, Asset]], alone: list[dict[str, Any]]
) -> None:
    messages, assets = corpus
    differ = _differences(compute_features(messages, assets), alone)
    assert not differ, f"records whose field differs from the window alone: {differ}"


@pytest.mark.parametrize("size", BATCH_SIZES)
def test_shuffled_batches(
    size: int, corpus: tuple[list[Telemetry], dict[str, Asset]], alone: list[dict[str, Any]]
) -> None:
    messages, assets = corpus
    order = np.random.default_rng(size).permutation(len(messages))
    got: list[dict[str, Any]] = [{}] * len(messages)
    for start in range(0, len(order), size):
        rows = order[start : start + size].tolist()
        records = compute_features([messages[i] for i in rows], assets)
        for i, record in zip(rows, records, strict=True):
            got[i] = record
    differ = _differences(got, alone)
    assert not differ, f"records whose field differs from the window alone: {differ}"
