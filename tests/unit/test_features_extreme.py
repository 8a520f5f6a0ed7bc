"""Issue 26 item 2: memory and time per batch are bounded whatever one record's rpm says, and
a wild row changes nothing of its neighbours' features."""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest

from rotorwatch.contract.plausible import PLAUSIBLE
from rotorwatch.contract.telemetry import Telemetry, decode, encode, encode_samples
from rotorwatch.diagnosis.features import compute_features
from tests.signals import asset

_T = np.arange(4096) / 8192.0


def _batch(rows: int) -> list[Telemetry]:
    out = []
    for i in range(rows):
        x = np.sin(2 * np.pi * 29.7 * _T) + 0.1 * np.random.default_rng(i).standard_normal(_T.size)
        payload = encode(
            device_id="pump-01",
            ts=1_763_900_000_000 + i,
            seq=i,
            rpm=1780.0,
            vibration=encode_samples(x, fs_hz=8192.0),
        )
        out.append(decode(payload))
    return out


def _peak_bytes(messages: list[Telemetry]) -> tuple[int, list[dict[str, object]]]:
    tracemalloc.start()
    try:
        feats = compute_features(messages, {"pump-01": asset("pump-01")})
        return tracemalloc.get_traced_memory()[1], feats
    finally:
        tracemalloc.stop()


# The contract's highest rpm, and (bypassing the contract, as a caller of the pure engine may)
# values far beyond it: the engine itself must stay bounded.
@pytest.mark.parametrize("rpm", [PLAUSIBLE["rpm"].high, 1e7, 1e300])
def test_one_wild_rpm_neither_grows_memory_nor_changes_other_rows(rpm: float) -> None:
    batch = _batch(20)
    base_peak, base = _peak_bytes(batch)
    wild = [dataclasses.replace(batch[0], rpm=rpm), *batch[1:]]
    peak, feats = _peak_bytes(wild)
    # Before the fix one row at 1e6 rpm took the batch from 47 to 261 MiB (ru_maxrss, 100 rows).
    assert peak < 1.5 * base_peak, (peak, base_peak)
    assert feats[1:] == base[1:]
    assert feats[0]["velocity_rms_mm_s"] == base[0]["velocity_rms_mm_s"]
    assert feats[0]["env_bpfo"] is None  # its lines are beyond the spectrum: not read
