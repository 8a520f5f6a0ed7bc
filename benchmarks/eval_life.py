"""Remaining life judged on real run-to-failure bearings (``make eval-life``).

Each FEMTO/PRONOSTIA bearing of the IEEE PHM 2012 learning set (../shared/data/real/femto) is
replayed as one device publishing a window every 10 s (the recorded snapshots, horizontal
accelerometer, exactly as recorded: int16 milli-g) through ``rotorwatch replay``, the deployed
stateful path, with the stage's settings. The asset record gives the rig's bearing geometry and
the run's own end-of-life rule as the threshold: ``{"indicator": "accel_peak_g", "limit": 20}``
(the rig stopped a run when the vibration passed 20 g). The true time left at a window is the
time from it to the end of the run.

Per bearing: the first lasting alert (the rise after which the machine never went back to
HEALTHY) and its lead time before the end; any ALARM raised in the first half of the run (these
bearings are healthy then: a false alarm); after the first lasting alert, the share of windows
with an estimate, the share whose interval holds the true time left (a window without an
estimate counts as a miss), the median interval width over the true time left and the median
percent error (windows with an estimate); the PHM 2012 challenge score at 50, 70 and 90 % of the
run and at its last window, beside a constant prior's. The prior is the only thing fitted from
these six bearings, and it is fitted leave-one-bearing-out: for a bearing, the median over the
other five of the time from the first lasting alert to the end (after an alert: that minus the
time since the alert; before any: the median run length minus the time run so far).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "real" / "femto"
BEARINGS = ("1_1", "1_2", "2_1", "2_2", "3_1", "3_2")
#: Shaft speed of each operating condition (README: 1 = 1800 rpm, 2 = 1650, 3 = 1500).
RPM = {"1": 1800.0, "2": 1650.0, "3": 1500.0}
FS_HZ = 25_600.0
WINDOW_S = 10.0
START_MS = 1_767_571_200_000  # 2026-01-05 00:00 UTC: any fixed time; only differences matter
CUTS = (0.5, 0.7, 0.9)
#: The rig's bearing (README): 13 rolling elements, 3.5 mm balls, 25.6 mm pitch, contact 0.
BEARING = {"n_balls": 13, "ball_diameter_mm": 3.5, "pitch_diameter_mm": 25.6}
END_OF_LIFE = {"indicator": "accel_peak_g", "limit": 20}


def phm_score(actual_s: float, estimate_s: float) -> float:
    """The PHM 2012 challenge score of one estimate (README): late estimates cost more."""
    er = 100.0 * (actual_s - estimate_s) / actual_s
    if er <= 0:
        return math.exp(-math.log(0.5) * er / 5.0)
    return math.exp(math.log(0.5) * er / 20.0)


def write_telemetry(out: Path, data: Path, bearings: tuple[str, ...]) -> dict[str, float]:
    """Every bearing's snapshots as telemetry v1 lines; returns each run's length in s."""
    from rotorwatch.telemetry import encode

    lengths: dict[str, float] = {}
    with out.open("wb") as f:
        for b in bearings:
            d = np.load(data / f"Bearing{b}.npz")
            acc_mg, t_s = d["acc_mg"], d["t_s"]
            device = f"femto-{b.replace('_', '-')}"
            for i in range(len(t_s)):
                raw = acc_mg[i, :, 0].astype("<i2").tobytes()  # horizontal, as recorded
                vibration = {
                    "fs_hz": FS_HZ,
                    "unit": "g",
                    "encoding": "int16le+base64",
                    "scale": 0.001,  # milli-g counts
                    "data": base64.b64encode(raw).decode("ascii"),
                }
                f.write(
                    encode(
                        device_id=device,
                        ts=START_MS + round(float(t_s[i]) * 1000),
                        seq=i,
                        rpm=RPM[b[0]],
                        vibration=vibration,
                    )
                    + b"\n"
                )
            # The run ends with its last snapshot (README: time left is to the end of the run).
            lengths[device] = float(t_s[-1])
    return lengths


def assets(devices: list[str]) -> list[dict[str, Any]]:
    # A small motor on a rigid test bench: group 2, rigid (only the ISO zone depends on it).
    return [
        {
            "device_id": d,
            "machine_group": 2,
            "foundation": "rigid",
            "rated_rpm": RPM[d.split("-")[1]],
            "bearing": BEARING,
            "end_of_life": END_OF_LIFE,
        }
        for d in devices
    ]


def replay(
    telemetry: Path, registry: Path, alerts: Path, *, rules_only: bool
) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "rotorwatch", "replay", str(telemetry)]
    cmd += ["--assets", str(registry), "--alerts", str(alerts)]
    cmd += ["--rules-only"] if rules_only else []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, check=True, env=env, cwd=REPO)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def first_lasting_alert_ms(rows: list[dict[str, Any]]) -> int | None:
    """ts of the rise after which the sustained state never went back to HEALTHY."""
    start = None
    for r in rows:
        if r["state"] == "HEALTHY":
            start = None
        elif start is None:
            start = int(r["ts"])
    return start


def judge(rows: list[dict[str, Any]], length_s: float) -> dict[str, Any]:
    end_ms = START_MS + length_s * 1000.0
    half_ms = START_MS + length_s * 500.0
    alarm_first_half = sum(1 for r in rows if r["alert"] == "ALARM" and r["ts"] < half_ms)
    first = first_lasting_alert_ms(rows)
    out: dict[str, Any] = {
        "length_h": length_s / 3600.0,
        "first_alert_ms": first,
        "lead_min": None if first is None else (end_ms - first) / 60_000.0,
        "alarms_first_half": alarm_first_half,
    }
    after = [r for r in rows if first is not None and r["ts"] >= first and end_ms - r["ts"] > 0]
    est = [r for r in after if r["remaining_life_s"] is not None]
    covered = [
        r
        for r in est
        if r["remaining_life_low_s"] <= (end_ms - r["ts"]) / 1000.0 <= r["remaining_life_high_s"]
    ]
    out["windows_after_alert"] = len(after)
    out["estimated_share"] = len(est) / len(after) if after else float("nan")
    out["coverage"] = len(covered) / len(after) if after else float("nan")
    out["width_ratio"] = (
        statistics.median(
            (r["remaining_life_high_s"] - r["remaining_life_low_s"]) / ((end_ms - r["ts"]) / 1000)
            for r in est
        )
        if est
        else float("nan")
    )
    out["pct_error"] = (
        statistics.median(
            100.0
            * abs((end_ms - r["ts"]) / 1000 - r["remaining_life_s"])
            / ((end_ms - r["ts"]) / 1000)
            for r in est
        )
        if est
        else float("nan")
    )
    return out


def cut_rows(rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    n = len(rows)
    picks = [(f"{int(c * 100)}%", rows[max(int(c * n) - 1, 0)]) for c in CUTS]
    return [*picks, ("last", rows[-1])]


def episode_start_ms(rows: list[dict[str, Any]], upto: dict[str, Any]) -> int | None:
    """When the sustained non-HEALTHY episode running at ``upto`` began (None: HEALTHY)."""
    start = None
    for r in rows:
        if r["state"] == "HEALTHY":
            start = None
        elif start is None:
            start = int(r["ts"])
        if r is upto:
            return start
    return start


def report(
    title: str, rows: list[dict[str, Any]], lengths: dict[str, float], n_alerts: int
) -> None:
    by_device: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_device.setdefault(r["device_id"], []).append(r)
    judged = {d: judge(by_device[d], lengths[d]) for d in sorted(lengths)}

    print(f"== {title}: {len(rows)} windows, {n_alerts} alerts sent")
    print(
        "bearing  run_h  first lasting alert: lead  ALARM 1st half  | after alert: "
        "estimated  coverage  width/true  %err"
    )
    for d, j in judged.items():
        lead = "none" if j["lead_min"] is None else f"{j['lead_min']:.1f} min"
        print(
            f"{d:10s} {j['length_h']:5.2f}  {lead:>26s}  {j['alarms_first_half']:14d}  | "
            f"{j['estimated_share']:9.0%}  {j['coverage']:8.0%}  {j['width_ratio']:10.2f}  "
            f"{j['pct_error']:5.0f}"
        )
    # Constant prior, leave-one-bearing-out.
    print("PHM 2012 score at cut points: estimate (R h vs actual A h) | constant prior (LOBO)")
    scores: dict[str, list[float]] = {}
    prior_scores: dict[str, list[float]] = {}
    for d in judged:
        others = [o for o in judged if o != d]
        alert_to_end = [
            judged[o]["lead_min"] * 60.0 for o in others if judged[o]["lead_min"] is not None
        ]
        m_alert = statistics.median(alert_to_end) if alert_to_end else None
        m_life = statistics.median(lengths[o] for o in others)
        end_ms = START_MS + lengths[d] * 1000.0
        cells = []
        for name, r in cut_rows(by_device[d]):
            actual = (end_ms - r["ts"]) / 1000.0
            if actual <= 0:
                actual = WINDOW_S  # the last window: the run ends one window later
            since = episode_start_ms(by_device[d], r)
            if since is not None and m_alert is not None:
                prior = max(m_alert - (r["ts"] - since) / 1000.0, 0.0)
            else:
                prior = max(m_life - (r["ts"] - START_MS) / 1000.0, 0.0)
            p_score = phm_score(actual, prior)
            prior_scores.setdefault(name, []).append(p_score)
            est = r["remaining_life_s"]
            if est is None:
                cells.append(f"{name}: none (A {actual / 3600:.2f}) | {p_score:.2f}")
                scores.setdefault(name, []).append(float("nan"))
            else:
                s = phm_score(actual, est)
                scores.setdefault(name, []).append(s)
                cells.append(
                    f"{name}: {s:.2f} (R {est / 3600:.2f} A {actual / 3600:.2f}) | {p_score:.2f}"
                )
        print(f"  {d:10s} " + "; ".join(cells))
    for name in scores:
        got = [s for s in scores[name] if not math.isnan(s)]
        mean = f"{statistics.mean(got):.2f} over {len(got)} with an estimate" if got else "none"
        print(
            f"  mean at {name}: estimate {mean}; constant prior "
            f"{statistics.mean(prior_scores[name]):.2f} over {len(prior_scores[name])}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    data: Path = args.data
    if not all((data / f"Bearing{b}.npz").is_file() for b in BEARINGS):
        print(f"eval-life: the FEMTO bearings are not in {data}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tel, reg = Path(tmp) / "t.jsonl", Path(tmp) / "assets.json"
        lengths = write_telemetry(tel, data, BEARINGS)
        reg.write_text(json.dumps(assets(sorted(lengths))))
        print(
            f"eval-life: {len(BEARINGS)} FEMTO bearings as devices publishing every "
            f"{WINDOW_S:g} s, through `rotorwatch replay`; threshold {END_OF_LIFE}"
        )
        for rules_only, title in (
            (False, "served model (the committed bootstrap artifact) and rules"),
            (True, "rules only (as with no endpoint deployed)"),
        ):
            al = Path(tmp) / "a.jsonl"
            rows = replay(tel, reg, al, rules_only=rules_only)
            n_alerts = len(al.read_text().splitlines())
            report(title, rows, lengths, n_alerts)
    print(f"eval-life: {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
