"""A fixed corpus of telemetry for the feature engine, and its records frozen to compare against.

The feature pass is rewritten for speed from time to time; what it computes must not move. The
corpus covers every path of :func:`rotorwatch.diagnosis.features.compute_features`: the
benchmark's 500 windows (benchmarks/bench_features.py), a simulated fleet with every fault class
(with and without ``rpm`` in the message), analytic windows (each bearing defect, float32 and
m/s2 windows, dead, saturated and clipped sensors, mixed sample rates in one batch, long windows
read in segments, a window without an asset), and real windows from ../shared/data/real (CWRU,
IMS, FEMTO; as recorded and twice as long, with the message's rpm and without it).

The reference (tests/data/features_frozen.npz) holds every field of every record: numbers as
float64 with a mask for None, everything else as text. After a change that is meant to move the
features (and only then), write it again from the new code and say why in the commit:

    PYTHONPATH=$PWD .venv/bin/python -m tests.feature_corpus --diff   # what moved, per field
    PYTHONPATH=$PWD .venv/bin/python -m tests.feature_corpus --write
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rotorwatch.contract.telemetry import Telemetry, decode, encode, encode_samples
from rotorwatch.diagnosis.assets import Asset
from tests import signals

REFERENCE = Path(__file__).resolve().parent / "data" / "features_frozen.npz"

Part = tuple[list[Telemetry], dict[str, Asset]]


def bench_part() -> Part:
    """The 500 windows benchmarks/bench_features.py times."""
    from benchmarks.bench_features import make_payloads

    payloads, _v2, assets = make_payloads(500, 4096)
    return [decode(p) for p in payloads], assets


def simulated_part() -> Part:
    """A seeded fleet with every fault class; every third message without ``rpm``."""
    from simulator.fleet import generate_windows
    from simulator.scenario import random_fleet

    scenario = random_fleet(14, seed=11, name="frozen", horizon_h=24.0)
    msgs = [
        decode(w.payload)
        for w in generate_windows(
            scenario, start_ms=1_767_225_600_000, duration_s=24 * 3600.0, interval_s=7200.0, seed=11
        )
    ]
    msgs = [replace(m, rpm=None) if i % 3 == 2 else m for i, m in enumerate(msgs)]
    return msgs, dict(scenario.assets)


def _msg(
    x: np.ndarray[Any, Any],
    fs_hz: float,
    seq: int,
    *,
    device: str = "pump-01",
    rpm: float | None = signals.RPM,
    encoding: str = "int16le+base64",
    unit: str = "g",
    scale: float | None = None,
) -> Telemetry:
    return decode(
        encode(
            device_id=device,
            ts=1_763_900_000_000 + seq,
            seq=seq,
            rpm=rpm,
            temperature_c=41.5,
            vibration=encode_samples(x, fs_hz=fs_hz, unit=unit, encoding=encoding, scale=scale),
        )
    )


def analytic_part() -> Part:
    """Known signals on every path the records can take, including the sensor checks."""
    n, fs = signals.N_SAMPLES, signals.FS_HZ
    t = np.arange(n) / fs
    rng = np.random.default_rng(5)
    msgs: list[Telemetry] = []
    seq = iter(range(10_000))
    for defect in (None, "bpfo", "bpfi", "bsf", "ftf"):
        for s in range(3):
            x = signals.window(v1x_mm_s=2.0 + s, h2=0.4, half=0.1 * s, defect=defect, seed=s)
            msgs.append(_msg(x, fs, next(seq)))
            msgs.append(_msg(x, fs, next(seq), rpm=None))  # speed from the window
            msgs.append(_msg(x, fs, next(seq), encoding="float32le+base64"))
            msgs.append(_msg(x * 9.80665, fs, next(seq), encoding="float32le+base64", unit="m/s2"))
            msgs.append(_msg(x, fs, next(seq), device="no-asset"))
    sine = np.sin(2 * np.pi * signals.SHAFT_HZ * t)
    noise = 0.01 * rng.standard_normal(n)
    msgs.append(_msg(np.zeros(n), fs, next(seq)))  # flat line
    msgs.append(_msg(np.full(n, 0.3), fs, next(seq)))  # constant offset
    msgs.append(_msg(np.clip(sine + noise, -0.8, 0.8), fs, next(seq)))  # clipped
    saturated = sine + noise
    saturated[::500] = 5.0  # beyond the range of a 1/32767 g scale: full-scale counts
    msgs.append(_msg(saturated, fs, next(seq), scale=2.0 / 32767))
    msgs.append(_msg(np.zeros(n), fs, next(seq), encoding="float32le+base64"))
    # The same length at other sample rates in the same batch (mixed bin spacings).
    for fs_other in (8192.0, 12000.0, 25600.0, 51200.0):
        x = np.sin(2 * np.pi * 50.0 * np.arange(n) / fs_other) + 0.05 * rng.standard_normal(n)
        msgs.append(_msg(x, fs_other, next(seq)))
        msgs.append(_msg(x, fs_other, next(seq), rpm=None))
    # Long windows, read in segments by the envelope analysis.
    for n_long, fs_long in ((16384, 12000.0), (32768, 25600.0)):
        tl = np.arange(n_long) / fs_long
        bearing = signals.asset().bearing
        assert bearing is not None
        x = 0.2 * np.sin(2 * np.pi * signals.SHAFT_HZ * tl) + signals.impulse_train_g(
            bearing.defect_frequencies_hz(signals.RPM)["bpfo"],
            resonance_hz=0.3 * fs_long,
            damping_per_s=800.0,
            amp_g=0.5,
            noise_g=0.02,
            fs_hz=fs_long,
            n=n_long,
        )
        msgs.append(_msg(x, fs_long, next(seq)))
        msgs.append(_msg(x, fs_long, next(seq), rpm=None))
    assets = {"pump-01": signals.asset()}
    return msgs, assets


def real_part() -> Part | None:
    """A few windows of every real recording (None where the shared folder is absent)."""
    from benchmarks import real_recordings as rr

    try:
        recordings = rr.load()
    except rr.MissingDataError:
        return None
    msgs: list[Telemetry] = []
    assets: dict[str, Asset] = {}
    for rec in recordings:
        n = rr.window_samples(rec.fs_hz)
        for scale, limit in ((1, 3), (2, 2)):
            if rec.snapshots_g is not None and scale > 1:
                continue  # a snapshot is as long as it is
            for rpm in (True, False):
                dev = f"{rec.device_id}-{scale}-{'rpm' if rpm else 'norpm'}"
                assets[dev] = replace(rec.asset(nameplate=not rpm), device_id=dev)
                for p in rr.messages(rec, n * scale, limit=limit, rpm=rpm):
                    msgs.append(replace(decode(p), device_id=dev))
    return msgs, assets


PARTS: dict[str, Callable[[], Part | None]] = {
    "bench": bench_part,
    "simulated": simulated_part,
    "analytic": analytic_part,
    "real": real_part,
}


def encode_records(records: list[dict[str, Any]]) -> dict[str, np.ndarray[Any, Any]]:
    """Columns of the records: ``num:<field>`` float64 and ``none:<field>`` for numbers,
    ``text:<field>`` (JSON of each value) for everything else."""
    fields = sorted({k for r in records for k in r})
    out: dict[str, np.ndarray[Any, Any]] = {}
    for f in fields:
        values = [r.get(f) for r in records]
        numeric = all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        )
        if numeric:
            out[f"none:{f}"] = np.array([v is None for v in values])
            out[f"num:{f}"] = np.array([np.nan if v is None else float(v) for v in values])
        else:
            out[f"text:{f}"] = np.array([json.dumps(v, sort_keys=True) for v in values])
    return out


def compute(part: str) -> dict[str, np.ndarray[Any, Any]] | None:
    from rotorwatch.diagnosis.features import compute_features

    built = PARTS[part]()
    if built is None:
        return None
    msgs, assets = built
    return encode_records(compute_features(msgs, assets))


def write(path: Path = REFERENCE) -> None:
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for part in PARTS:
        cols = compute(part)
        if cols is None:
            raise SystemExit(f"part {part!r} unavailable: the reference needs every part")
        arrays.update({f"{part}/{k}": v for k, v in cols.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(arrays)} columns)")


def diff(path: Path = REFERENCE) -> None:
    """Print, per part and field, how many records this code computes differently (exactly,
    NaN equal to NaN): what a rewrite of the reference would change."""
    reference = np.load(path)
    for part in PARTS:
        cols = compute(part)
        if cols is None:
            print(f"{part}: unavailable")
            continue
        changed = []
        for key in sorted(
            set(cols) | {k.split("/", 1)[1] for k in reference.files if k.startswith(part + "/")}
        ):
            ref_key = f"{part}/{key}"
            if key not in cols or ref_key not in reference.files:
                changed.append(
                    f"{key} (only in {'the reference' if key not in cols else 'this code'})"
                )
                continue
            a, b = cols[key], reference[ref_key]
            same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
            if not same.all():
                changed.append(f"{key} ({int((~same).sum())} of {same.size})")
        print(f"{part}: " + (", ".join(changed) if changed else "identical"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the reference from this code")
    mode.add_argument("--diff", action="store_true", help="which fields this code changes")
    args = ap.parse_args()
    if args.write:
        write()
    else:
        diff()
