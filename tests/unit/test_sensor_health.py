"""Sensor health on analytic windows (issue 26 item 9): a flat line, a saturated and a clipped
window are named; live windows, however quiet or loud, are not."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from rotorwatch.contract.telemetry import decode, encode, encode_samples
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.features.sensor_health import (
    CLIP_MIN_COUNTS,
    CLIPPED,
    FLAT_LINE,
    SATURATED,
    _count_true,
    sensor_problems,
)
from rotorwatch.diagnosis.scoring import combine
from tests.signals import asset, window

N = 4096
T = np.arange(N) / 8192.0
SINE = np.sin(2 * np.pi * 29.7 * T)


def counts(x: npt.ArrayLike) -> npt.NDArray[np.int16]:
    return np.clip(np.rint(np.asarray(x, dtype=float)), -32768, 32767).astype(np.int16)


def judge(*rows: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> list[str | None]:
    raw = np.stack(rows)
    return sensor_problems(raw, np.full(len(rows), 1e-3))


def test_a_flat_line_is_named_whatever_its_level() -> None:
    zeros = counts(np.zeros(N))
    constant = counts(np.full(N, 1234.0))
    full_scale = counts(np.full(N, 32767.0))  # pinned: a dead sensor first, not a saturated one
    two_counts = counts(np.random.default_rng(0).integers(-1, 2, N))  # ptp 2: stuck ADC
    assert judge(zeros, constant, full_scale, two_counts) == [FLAT_LINE] * 4


def test_the_quietest_live_window_is_not_flat() -> None:
    noise = counts(np.random.default_rng(1).normal(0.0, 1.5, N))  # a few counts of noise
    assert np.ptp(noise) > 2
    assert judge(noise) == [None]


def test_samples_at_full_scale_are_saturated() -> None:
    loud = counts(40_000 * SINE)  # the converter's range exceeded on every peak
    assert judge(loud) == [SATURATED]
    two = counts(20_000 * SINE)
    two[[10, 20]] = 32767  # two spikes: below SATURATION_MIN_SAMPLES
    assert judge(two) == [None]


@pytest.mark.parametrize("clip_at", [0.5, 0.8, 0.95])
def test_a_clipped_window_is_named(clip_at: float) -> None:
    amplitude = 20_000
    x = np.clip(amplitude * SINE, -clip_at * amplitude, clip_at * amplitude)
    assert judge(counts(x)) == [CLIPPED]


@pytest.mark.parametrize("amplitude", [20, CLIP_MIN_COUNTS, 5_000, 29_788])
def test_an_unclipped_sine_is_not_clipped_at_any_level(amplitude: int) -> None:
    # 29 788 counts is where the encoders' auto scale puts a window's peak (90 % of full scale).
    assert judge(counts(amplitude * SINE)) == [None]


def test_float32_windows() -> None:
    flat = np.zeros(N, dtype=np.float32)
    clipped = np.clip(2.0 * SINE, -1.5, 1.5).astype(np.float32)
    live = (2.0 * SINE + np.random.default_rng(2).normal(0, 0.01, N)).astype(np.float32)
    assert sensor_problems(np.stack([flat, clipped, live]), np.ones(3)) == [
        FLAT_LINE,
        CLIPPED,
        None,
    ]


def test_simulated_healthy_and_faulty_machines_are_never_flagged() -> None:
    rows = [window(v1x_mm_s=v, seed=s) for v in (0.3, 2.0, 8.0) for s in range(3)]
    msgs = [
        decode(encode(device_id="pump-01", ts=i, seq=i, vibration=encode_samples(x, fs_hz=8192.0)))
        for i, x in enumerate(rows)
    ]
    assert {f["vibration_sensor"] for f in compute_features(msgs)} == {None}


@pytest.mark.parametrize(
    ("samples", "problem"),
    [(np.zeros(N), FLAT_LINE), (np.clip(3.0 * SINE, -2.0, 2.0), CLIPPED)],
)
def test_a_sensor_problem_is_never_healthy_and_names_itself(
    samples: npt.NDArray[np.float64], problem: str
) -> None:
    vib = encode_samples(samples, fs_hz=8192.0, scale=1e-4)
    msg = decode(encode(device_id="pump-01", ts=1, seq=1, rpm=1780.0, vibration=vib))
    (features,) = compute_features([msg], {"pump-01": asset("pump-01")})
    assert features["vibration_sensor"] == problem
    prediction = combine(None, features)
    assert prediction["state"] != "HEALTHY"
    assert prediction["sensor_cause"] == problem
    assert "accelerometer" in prediction["sensor_reason"]


def _problems_by_definition(raw: npt.NDArray[np.int16]) -> list[str | None]:
    # The module docstring's checks, sample by sample, with no shortcut: a full-scale count
    # over every sample and the median of every row (the oracle for the counted shortcuts).
    out: list[str | None] = []
    for row in raw.astype(np.int64):
        hi, lo = int(row.max()), int(row.min())
        at_hi, at_lo = int((row == hi).sum()), int((row == lo).sum())
        median = float(np.median(row))
        level = hi - median if at_hi >= at_lo else median - lo
        if hi - lo <= 2:
            out.append(FLAT_LINE)
        elif int(((row == -32768) | (row == 32767)).sum()) >= 3:
            out.append(SATURATED)
        elif max(at_hi, at_lo) >= 0.05 * row.size and level >= CLIP_MIN_COUNTS:
            out.append(CLIPPED)
        else:
            out.append(None)
    return out


def test_counted_shortcuts_agree_with_the_definition_on_random_batches() -> None:
    # Rows at full scale at one end, both ends or constant there, plateaus below full scale,
    # small and large signals: the fast path (extremes counted once, medians only on plateau
    # rows) names each exactly as the definition does.
    rng = np.random.default_rng(23)
    rows = []
    for _ in range(400):
        amp = float(rng.choice([1.0, 3.0, 50.0, 3000.0, 40000.0]))
        x = amp * np.sin(2 * np.pi * rng.uniform(5, 500) * T + rng.uniform(0, 6)) + rng.normal(
            0, amp * 0.05 + 0.5, N
        )
        cap = float(rng.choice([np.inf, 0.9, 0.97])) * amp
        x = np.clip(x, -cap, cap) + float(rng.choice([0.0, 5000.0, -20000.0]))
        row = counts(x)
        if rng.random() < 0.2:  # a few samples pinned at one or both ends
            row[rng.integers(0, N, int(rng.integers(1, 6)))] = 32767
            if rng.random() < 0.5:
                row[rng.integers(0, N, int(rng.integers(1, 6)))] = -32768
        rows.append(row)
    rows += [np.full(N, v, np.int16) for v in (32767, -32768, 0, 123)]
    raw = np.stack(rows)
    got = sensor_problems(raw, np.full(len(rows), 1e-3))
    assert got == _problems_by_definition(raw)
    assert {FLAT_LINE, SATURATED, CLIPPED, None} <= set(got)


@pytest.mark.parametrize("width", [8, 24, 4093, 4096])
def test_extremes_are_counted_exactly_word_by_word_or_not(width: int) -> None:
    # The per-row count of true values (bits of 64-bit words where the row is whole words,
    # the booleans' sum where it is not) on sparse, dense, empty and full rows.
    rng = np.random.default_rng(width)
    mask = rng.random((7, width)) < np.array([0.0, 0.001, 0.1, 0.5, 0.9, 0.999, 1.0])[:, None]
    np.testing.assert_array_equal(_count_true(mask), mask.sum(axis=1))
