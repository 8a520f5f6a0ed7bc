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
run and at its last window, beside a constant prior's.

The estimators, each with the served model and with the rules alone: the trend alone (no P-F
prior: ``--life-prior []``), then the P-F interval prior (rotorwatch.diagnosis.pf_prior) fitted on the
other five bearings' intervals from first lasting alert to end (the trend-only replay detects
them; alerts do not depend on the estimate), each bearing replayed with its own
leave-one-bearing-out prior: alone, updated by the bearing's own rate, and updated by its rate
and clock (the shipped method), each calibration (and the clock's weight) fitted on the other
five. The constant prior is fitted leave-one-bearing-out too: for a
bearing, the median over the other five of the time from the first lasting alert to the end
(after an alert: that minus the time since the alert; before any: the median run length minus
the time run so far). Nothing else is fitted from these six.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
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


def write_telemetry(out_dir: Path, data: Path, bearings: tuple[str, ...]) -> dict[str, float]:
    """Each bearing's snapshots as telemetry v1 lines in ``out_dir/<device>.jsonl``; returns
    each run's length in s."""
    from rotorwatch.contract.telemetry import encode

    lengths: dict[str, float] = {}
    for b in bearings:
        d = np.load(data / f"Bearing{b}.npz")
        acc_mg, t_s = d["acc_mg"], d["t_s"]
        device = f"femto-{b.replace('_', '-')}"
        with (out_dir / f"{device}.jsonl").open("wb") as f:
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
    telemetry: list[Path],
    registry: Path,
    alerts: Path,
    *,
    rules_only: bool,
    priors: list[dict[str, Any]] | None,
) -> list[dict[str, Any]]:
    """``rotorwatch replay`` of the files (one after the other, as one input on stdin) with
    the given P-F priors (None: the shipped ones; []: none, the trend alone)."""
    cmd = [sys.executable, "-m", "rotorwatch", "replay", "-"]
    cmd += ["--assets", str(registry), "--alerts", str(alerts)]
    cmd += ["--rules-only"] if rules_only else []
    if priors is not None:
        prior_file = alerts.with_suffix(".priors.json")
        prior_file.write_text(json.dumps(priors))
        cmd += ["--life-prior", str(prior_file)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stdin = b"".join(p.read_bytes() for p in telemetry)
    done = subprocess.run(cmd, input=stdin, capture_output=True, check=True, env=env, cwd=REPO)
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def rows_by_device(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The replay's rows per device, each in the replay's (time) order."""
    by_device: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_device.setdefault(r["device_id"], []).append(r)
    return by_device


def pf_intervals_s(rows: list[dict[str, Any]], lengths: dict[str, float]) -> dict[str, float]:
    """Each bearing's P-F interval as the deployed path detects it: from the first lasting
    alert to the end of the run (bearings never alerted have none)."""
    by_device = rows_by_device(rows)
    out = {}
    for d, length_s in lengths.items():
        first = first_lasting_alert_ms(by_device.get(d, []))
        if first is not None:
            out[d] = max(START_MS + length_s * 1000.0 - first, 1000.0 * WINDOW_S) / 1000.0
    return out


def rate_log_ratios(
    rows: list[dict[str, Any]], lengths: dict[str, float]
) -> dict[str, list[float]]:
    """Per bearing, ``ln(true time left / at-this-rate time)`` over the windows of
    :func:`rate_windows` where its indicator rises (``remaining_life_rate_s`` > 0): what
    :func:`rotorwatch.diagnosis.pf_prior.fit_rate_calibration` calibrates."""
    return {
        d: [math.log(t / r) for t, r, _ in w if r is not None and r > 0]
        for d, w in rate_windows(rows, lengths).items()
    }


def rate_windows(
    rows: list[dict[str, Any]], lengths: dict[str, float]
) -> dict[str, list[tuple[float, float | None, float]]]:
    """Per bearing, ``(true time left, at-this-rate time or None, clock)`` in seconds over the
    windows from the first lasting alert to the end, the clock being the time since the last window before
    the first lasting alert (the estimator's own clock,
    :func:`rotorwatch.diagnosis.life.clock_s`): what
    :func:`rotorwatch.diagnosis.pf_prior.fit_clock_weight` (the windows with a rate) and
    :func:`rotorwatch.diagnosis.pf_prior.fit_clock_calibration` (all of them) fit."""
    by_device = rows_by_device(rows)
    out: dict[str, list[tuple[float, float | None, float]]] = {}
    for d, length_s in lengths.items():
        device_rows = by_device.get(d, [])
        first = first_lasting_alert_ms(device_rows)
        if first is None:
            continue
        before = [int(r["ts"]) for r in device_rows if r["ts"] < first]
        zero_ms = before[-1] if before else first
        end_ms = START_MS + length_s * 1000.0
        out[d] = [
            ((end_ms - r["ts"]) / 1000.0, r["remaining_life_rate_s"], (r["ts"] - zero_ms) / 1000.0)
            for r in device_rows
            if r["ts"] >= first and end_ms - r["ts"] > 0 and r["ts"] > zero_ms
        ]
    return out


def fit_prior(
    intervals_s: dict[str, float],
    bearings: list[str],
    rate_ratios: dict[str, list[float]] | None = None,
    windows: dict[str, list[tuple[float, float | None, float]]] | None = None,
) -> dict[str, Any]:
    """The P-F prior of the end-of-life indicator, fitted on ``bearings``' intervals, with
    their rate calibration when ``rate_ratios`` (:func:`rate_log_ratios`) are given, or the
    clock weight and the evidence time's calibration when ``windows`` (:func:`rate_windows`)
    are."""
    from rotorwatch.diagnosis.pf_prior import (
        calibration_df,
        fit,
        fit_rate_calibration,
        rate_summary,
        with_clock_fitted,
    )

    used = {b: intervals_s[b] for b in bearings if b in intervals_s}
    source = (
        "FEMTO/PRONOSTIA (IEEE PHM 2012 learning set) bearings "
        + ", ".join(sorted(used))
        + ": first lasting alert of the deployed path to the end of the run (20 g)"
    )
    prior = fit(str(END_OF_LIFE["indicator"]), list(used.values()), source)
    if windows is not None:
        prior = with_clock_fitted(
            prior, [windows.get(b, []) for b in used], [used[b] for b in used]
        )
    if rate_ratios is not None:
        summaries = [rate_summary(rate_ratios[b]) for b in bearings if rate_ratios.get(b)]
        bias, sd = fit_rate_calibration(summaries)
        df = calibration_df(summaries)
        # Beside a clocked calibration, the rate's own is the early one (an episode's first
        # windows, rotorwatch.diagnosis.life.prior_estimate); alone, it is the calibration.
        prior = (
            prior.with_early(bias, sd, df)
            if windows is not None
            else prior.with_rate(bias, sd, df=df)
        )
    return prior.to_dict()


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
    # Near the end, where the width matters most: the last third of the time from the first
    # lasting alert to the end.
    lead_s = (end_ms - first) / 1000.0 if first is not None else 0.0
    late = [r for r in est if (end_ms - r["ts"]) / 1000.0 <= lead_s / 3.0]
    out["width_ratio_late"] = (
        statistics.median(
            (r["remaining_life_high_s"] - r["remaining_life_low_s"]) / ((end_ms - r["ts"]) / 1000)
            for r in late
        )
        if late
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


def _sent(path: Path) -> list[dict[str, Any]]:
    """The alerts a replay wrote (as the SNS message says them)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


#: The remaining life an alert's e-mail quotes (rotorwatch.diagnosis.life.interval_text), as
#: the technician reads it: the range in whole units.
_QUOTED = re.compile(
    r"^Remaining life: .* in (?:about \d+|under 1) (min|h|days) \((\d+)-(\d+) \1\)$", re.M
)


def quoted_range_s(alert: dict[str, Any]) -> tuple[float, float, float] | None:
    """The range an alert's e-mail quotes, in seconds, with the unit it is rounded to; (0, 0,
    0) for a limit reached; None for no estimate."""
    if re.search(r"^Remaining life: .* reached$", alert["message"], re.M):
        return 0.0, 0.0, 0.0
    m = _QUOTED.search(alert["message"])
    if m is None:
        return None
    from rotorwatch.diagnosis.life import UNIT_S

    unit = UNIT_S[m.group(1)]
    return float(m.group(2)) * unit, float(m.group(3)) * unit, unit


def alert_ranges(
    alerts: list[dict[str, Any]], rows: list[dict[str, Any]], length_s: float
) -> dict[str, int]:
    """The remaining-life ranges the WARNING and ALARM alerts quoted (what a technician reads,
    in the e-mail's whole units, not the windows between them): how many alerts, how many
    quoted a range, how many of those held the true time left (to the unit's rounding: half a
    unit either side); split into the episode that lasted to the end and the ones before it
    that recovered."""
    end_ms = START_MS + length_s * 1000.0
    first = first_lasting_alert_ms(rows)
    out = dict.fromkeys(("alerts", "ranged", "held", "lasting", "lasting_held"), 0)
    for a in alerts:
        if a["attributes"]["severity"] not in ("WARNING", "ALARM"):
            continue
        ts = int(a["alert_id"].split(":")[-3])
        true_s = (end_ms - ts) / 1000.0
        quoted = quoted_range_s(a)
        held = quoted is not None and (
            quoted[0] - quoted[2] / 2 <= true_s <= quoted[1] + quoted[2] / 2
        )
        lasting = first is not None and ts >= first
        out["alerts"] += 1
        out["ranged"] += quoted is not None
        out["held"] += held
        out["lasting"] += lasting
        out["lasting_held"] += lasting and held
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
    title: str,
    rows: list[dict[str, Any]],
    lengths: dict[str, float],
    alerts: list[dict[str, Any]],
) -> None:
    by_device = rows_by_device(rows)
    judged = {d: judge(by_device[d], lengths[d]) for d in sorted(lengths)}

    print(f"== {title}: {len(rows)} windows, {len(alerts)} alerts sent")
    print(
        "bearing  run_h  first lasting alert: lead  ALARM 1st half  | after alert: "
        "estimated  coverage  width/true (last third)  %err"
    )
    for d, j in judged.items():
        lead = "none" if j["lead_min"] is None else f"{j['lead_min']:.1f} min"
        print(
            f"{d:10s} {j['length_h']:5.2f}  {lead:>26s}  {j['alarms_first_half']:14d}  | "
            f"{j['estimated_share']:9.0%}  {j['coverage']:8.0%}  {j['width_ratio']:10.2f} "
            f"({j['width_ratio_late']:6.2f})  {j['pct_error']:5.0f}"
        )
    counts = {
        d: alert_ranges(
            [a for a in alerts if a["attributes"]["device_id"] == d], by_device[d], lengths[d]
        )
        for d in judged
    }
    total = {k: sum(c[k] for c in counts.values()) for k in next(iter(counts.values()))}
    print(
        "remaining life in the alerts (WARNING/ALARM sent: with a range, holding the true time "
        "left; of them in the episode that lasted to the end): "
        + "; ".join(
            f"{d} {c['held']}/{c['ranged']}/{c['alerts']} ({c['lasting_held']}/{c['lasting']})"
            for d, c in counts.items()
        )
        + f"; all {total['held']} of {total['ranged']} ranges held"
        f" ({total['lasting_held']} of {total['lasting']} in lasting episodes)"
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


def replay_loo(
    tmp: Path, reg: Path, lengths: dict[str, float], *, rules_only: bool
) -> tuple[dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]], dict[str, float]]:
    """The trend alone over all bearings (the estimate without a P-F prior), then each bearing
    with the P-F prior fitted on the other five (leave-one-bearing-out): alone, and updated by
    the bearing's own rate (calibrated on the other five). Returns each estimator's rows and
    the alerts it sent, and the P-F intervals the trend-only replay detected."""
    files = {d: tmp / f"{d}.jsonl" for d in lengths}
    al = tmp / "a.jsonl"
    trend_rows = replay(list(files.values()), reg, al, rules_only=rules_only, priors=[])
    out = {"trend": (trend_rows, _sent(al))}
    intervals = pf_intervals_s(trend_rows, lengths)
    ratios = rate_log_ratios(trend_rows, lengths)
    windows = rate_windows(trend_rows, lengths)
    for name in ("pf", "pf+rate", "pf+rate+clock"):
        loo_rows: list[dict[str, Any]] = []
        sent: list[dict[str, Any]] = []
        for d in sorted(lengths):
            others = [o for o in lengths if o != d]
            prior = fit_prior(
                intervals,
                others,
                ratios if name in ("pf+rate", "pf+rate+clock") else None,
                windows if name == "pf+rate+clock" else None,
            )
            if name == "pf+rate+clock":
                print(f"  {d}: clock weight {prior['clock_weight']:.1f} (fitted on the other five)")
            loo_rows += replay([files[d]], reg, al, rules_only=rules_only, priors=[prior])
            sent += _sent(al)
        out[name] = (loo_rows, sent)
    return out, intervals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    data: Path = args.data
    if not all((data / f"Bearing{b}.npz").is_file() for b in BEARINGS):
        print(f"eval-life: the FEMTO bearings are not in {data}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        reg = tmp / "assets.json"
        lengths = write_telemetry(tmp, data, BEARINGS)
        reg.write_text(json.dumps(assets(sorted(lengths))))
        print(
            f"eval-life: {len(BEARINGS)} FEMTO bearings as devices publishing every "
            f"{WINDOW_S:g} s, through `rotorwatch replay`; threshold {END_OF_LIFE}"
        )
        for rules_only, title in (
            (False, "served model (the committed bootstrap artifact) and rules"),
            (True, "rules only (as with no endpoint deployed)"),
        ):
            runs, intervals = replay_loo(tmp, reg, lengths, rules_only=rules_only)
            print(
                "P-F intervals detected (first lasting alert to end, min): "
                + ", ".join(f"{d} {v / 60:.1f}" for d, v in sorted(intervals.items()))
            )
            for name, label in (
                ("trend", "trend alone (no P-F prior)"),
                ("pf", "P-F prior alone, leave-one-bearing-out"),
                ("pf+rate", "P-F prior updated by the bearing's own rate, leave-one-bearing-out"),
                (
                    "pf+rate+clock",
                    "P-F prior updated by the bearing's own rate and clock, leave-one-bearing-out",
                ),
            ):
                report(f"{title}; {label}", runs[name][0], lengths, runs[name][1])
    print(f"eval-life: {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
