"""Labelled feature datasets from simulated fleets (training and evaluation data for the model).

The simulator knows the truth behind every window; the feature engine turns each window into the
same feature record the deployed pipeline computes. Together they give labelled rows: the
feature record plus ``fault`` (the ground-truth label, "normal" before the onset) and
``severity`` (0..1).
"""

from __future__ import annotations

from typing import Any

from rotorwatch.contract.telemetry import decode
from rotorwatch.diagnosis.features import compute_features
from simulator.fleet import generate_windows
from simulator.scenario import Scenario, random_fleet

#: Windows decoded and featurised in one vectorised pass.
_BATCH = 256
#: 2026-01-01T00:00:00Z: simulated fleets start here unless told otherwise.
DEFAULT_START_MS = 1_767_225_600_000


def labelled_features(
    scenario: Scenario,
    *,
    seed: int,
    duration_s: float,
    interval_s: float,
    start_ms: int = DEFAULT_START_MS,
) -> list[dict[str, Any]]:
    """Feature records of a simulated run, each with its ``fault`` label and ``severity``."""
    out: list[dict[str, Any]] = []
    batch: list[tuple[Any, dict[str, Any]]] = []
    assets = scenario.assets

    def flush() -> None:
        feats = compute_features([m for m, _ in batch], assets)
        for rec, (_msg, truth) in zip(feats, batch, strict=True):
            rec["site"] = rec.get("site") or truth["site"]
            rec["fault"] = truth["fault"]
            rec["severity"] = truth["severity"]
            out.append(rec)
        batch.clear()

    for w in generate_windows(
        scenario, start_ms=start_ms, duration_s=duration_s, interval_s=interval_s, seed=seed
    ):
        batch.append((decode(w.payload), w.truth))
        if len(batch) >= _BATCH:
            flush()
    if batch:
        flush()
    return out


def simulated_fleet_features(
    n_machines: int,
    *,
    seed: int,
    duration_h: float = 24.0,
    interval_s: float = 600.0,
    prefix: str = "m",
    n_healthy: int | None = None,
) -> tuple[Scenario, list[dict[str, Any]]]:
    """A seeded random fleet (:func:`simulator.scenario.random_fleet`) and its labelled features.

    Different seeds give different machines, bearings, speeds, fault onsets and severities.
    """
    scenario = random_fleet(
        n_machines,
        seed=seed,
        name=f"random-{seed}",
        horizon_h=duration_h,
        prefix=prefix,
        n_healthy=n_healthy,
    )
    rows = labelled_features(
        scenario, seed=seed, duration_s=duration_h * 3600.0, interval_s=interval_s
    )
    return scenario, rows
