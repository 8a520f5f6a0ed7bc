"""Remaining life per window, against the feature engine's per-window cost in the same run.

The fold runs :func:`rotorwatch.diagnosis.life.update` on every window and
:func:`rotorwatch.diagnosis.life.estimate` wherever it can say something: the trend's first
passage (rotorwatch.diagnosis.first_passage) once a degradation is visible, the P-F method's
closed-form t once an alert episode runs. Timed here on a device whose indicator rises (an
estimate every window) and one that is steady (no estimate), each as microseconds per window
and as a ratio to ``compute_features`` of one window of the same run (the work every window
costs anyway): a serving-cost target is that ratio, not a time on a shared machine.

    make bench-life
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from rotorwatch.contract.telemetry import decode  # noqa: E402
from rotorwatch.diagnosis.end_of_life import EndOfLife  # noqa: E402
from rotorwatch.diagnosis.features import compute_features  # noqa: E402
from rotorwatch.diagnosis.life import LifeState, estimate, update  # noqa: E402
from rotorwatch.diagnosis.life_prior import PF_PRIORS  # noqa: E402
from tests.signals import message  # noqa: E402

STEP_MS = 600_000
LEARN = 48
WINDOWS = 200
REPEATS = 5


def states(values: list[float], eol: EndOfLife) -> list[LifeState]:
    out, state = [], None
    for i, v in enumerate(values):
        state = update(state, eol, i * STEP_MS, v, learning_windows=LEARN)
        out.append(state)
    return out


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Median over REPEATS of the mean time of ``n`` calls, in microseconds."""
    runs = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    rng = np.random.default_rng(0)
    rise = [
        math.exp(0.1 * max(i - LEARN, 0) * STEP_MS / 3.6e6 + 0.1 * rng.standard_normal())
        for i in range(LEARN + WINDOWS)
    ]
    steady = [math.exp(0.1 * rng.standard_normal()) for _ in range(LEARN + WINDOWS)]
    velocity = EndOfLife("velocity_rms_mm_s", 4.5)
    rising_states = states(rise, velocity)[LEARN:]
    trend = [s for s in rising_states if estimate(s, learning_windows=LEARN) is not None]
    steady_states = states(steady, velocity)[LEARN:]
    peak = EndOfLife("accel_peak_g", 20.0)
    episode = [
        replace(s, onset_ms=(LEARN + 10) * STEP_MS, last_healthy_ms=(LEARN + 9) * STEP_MS)
        for s in states(rise, peak)[LEARN + 10 :]
    ]
    prior = PF_PRIORS["accel_peak_g"]

    records = [decode(message(seq=i)) for i in range(8)]
    features_us = per_call_us(lambda: compute_features(records[:1]), 50)
    batch_us = per_call_us(lambda: compute_features(records), 20) / len(records)

    def cycle(items: list[LifeState], fn: Callable[[LifeState], object]) -> Callable[[], object]:
        """A call of ``fn`` on the next of ``items``, round and round."""
        states_in_turn = itertools.cycle(items)
        return lambda: fn(next(states_in_turn))

    rows = [
        (
            "update (every window)",
            per_call_us(
                cycle(
                    rising_states,
                    lambda s: update(
                        s, velocity, s.last_ts_ms + STEP_MS, 2.0, learning_windows=LEARN
                    ),
                ),
                2000,
            ),
        ),
        (
            "estimate, steady (none)",
            per_call_us(cycle(steady_states, lambda s: estimate(s, learning_windows=LEARN)), 2000),
        ),
        (
            f"estimate, trend first passage ({len(trend)} states)",
            per_call_us(cycle(trend, lambda s: estimate(s, learning_windows=LEARN)), 300),
        ),
        (
            "estimate, P-F rate and clock",
            per_call_us(
                cycle(episode, lambda s: estimate(s, learning_windows=LEARN, prior=prior)), 2000
            ),
        ),
    ]
    print(
        f"compute_features, one window alone: {features_us:.0f} us; in a batch of "
        f"{len(records)}: {batch_us:.0f} us a window (the bare per-window work)"
    )
    for name, us in rows:
        print(
            f"  {name:45s} {us:8.1f} us a window = {us / batch_us:6.3f} x a batched feature window"
        )


if __name__ == "__main__":
    main()
