"""Held-out evaluation of a model artifact (prints figures; `make eval`).

The evaluation fleet is a seeded random fleet whose seed, machines (speeds, bearings, sizes,
resonances) and fault severities/onsets differ from the training fleet's.

PYTHONPATH=. python benchmarks/eval_model.py --model sagemaker/bootstrap/model.tar.gz
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rotorwatch.alerting.replay import (
    alert_replay,
    life_replay,
    pf_episodes,
    sensor_fault_replay,
)
from rotorwatch.diagnosis.baseline import DEFAULT_LEARNING_WINDOWS
from rotorwatch.diagnosis.end_of_life import DEFAULT_INDICATOR
from rotorwatch.diagnosis.model.calibration import ECE_BINS, ECE_BOUND, MAX_SHOWN_CONFIDENCE
from rotorwatch.diagnosis.model.evaluate import calibration_report, metrics
from rotorwatch.diagnosis.model.features import INPUT_FIELDS
from rotorwatch.diagnosis.pf_prior import (
    PfPrior,
    calibration_df,
    fit,
    fit_rate_calibration,
    rate_summary,
    with_clock_fitted,
)
from rotorwatch.diagnosis.scoring import encode_request
from simulator.dataset import labelled_features, simulated_fleet_features
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _load_inference(code_dir: Path) -> object:
    spec = importlib.util.spec_from_file_location("rw_eval_inference", code_dir / "inference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=ROOT / "sagemaker/bootstrap/model.tar.gz")
    p.add_argument("--machines", type=int, default=35)
    p.add_argument("--healthy", type=int, default=14)
    p.add_argument("--hours", type=float, default=48.0)
    p.add_argument("--interval-s", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=2027)
    p.add_argument(
        "--sensor-scenario",
        default="sensor-faults",
        help="scenario of faults that show first in temperature/pressure ('' to skip)",
    )
    p.add_argument("--sensor-hours", type=float, default=62.0)
    p.add_argument(
        "--history-windows",
        type=int,
        default=DEFAULT_LEARNING_WINDOWS,
        help="learning period of the device baseline and sensor history (windows)",
    )
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        with tarfile.open(args.model) as tar:
            tar.extractall(model_dir, filter="data")
        inference = _load_inference(model_dir / "code")
        model = inference.model_fn(str(model_dir))  # type: ignore[attr-defined]

        t0 = time.perf_counter()
        _sc, records = simulated_fleet_features(
            args.machines,
            seed=args.seed,
            duration_h=args.hours,
            interval_s=args.interval_s,
            prefix="eval-",
            n_healthy=args.healthy,
        )
        sim_s = time.perf_counter() - t0
        print(
            f"held-out fleet: seed {args.seed}, {args.machines} machines ({args.healthy} healthy),"
            f" {args.hours:g} h, {len(records)} windows (simulated in {sim_s:.1f} s)"
        )
        m = metrics(model, records)
        print(f"  model {model.version}")
        print(
            f"  fault classification (normal + faults past severity 0.05, "
            f"{m['windows_judged']} windows): accuracy {m['accuracy']:.4f}, "
            f"macro-F1 {m['macro_f1']:.4f}"
        )
        print(
            f"  accuracy over every window (incl. barely started faults): "
            f"{m['accuracy_all_windows']:.4f}"
        )
        print(
            "  recall per class: "
            + ", ".join(f"{k} {v:.3f}" for k, v in m["per_class_recall"].items())
        )
        print(
            "  fault recall by severity: "
            + ", ".join(f"{k} {v:.3f}" for k, v in m["fault_recall_by_severity"].items())
        )
        print(f"  anomaly ROC AUC (healthy vs faults past 0.05): {m['anomaly_roc_auc']:.4f}")
        _calibration(model, records)
        r = alert_replay(model, records)
        print(
            f"  false alarms on healthy machines: {r['false_alarms_healthy']} in "
            f"{r['healthy_machine_days']:.1f} machine-days = "
            f"{r['false_alarms_per_healthy_machine_day']:.3f} per machine-day"
        )
        print(
            f"  alerts before onset on faulty machines: "
            f"{r['alerts_before_onset_on_faulty_machines']}"
        )
        lead = r["lead_time_before_zone_d_h"]
        print(
            f"  lead time first alert -> ISO zone D ({r['faulty_machines_reaching_zone_d']} of "
            f"{r['faulty_machines']} faulty machines reach D): median {lead['median']:.1f} h, "
            f"min {lead['min']:.1f} h, max {lead['max']:.1f} h; alerted only at/after D: "
            f"{r['alerted_only_at_or_after_zone_d']}"
        )

        iso = r["iso_zone_c_lead_time_before_zone_d_h"]
        print(
            f"  (ISO rules alone, zone C -> D: median {iso['median']:.1f} h, "
            f"min {iso['min']:.1f} h)"
        )
        h = alert_replay(model, records, history_windows=args.history_windows)
        lead = h["lead_time_before_zone_d_h"]
        print(
            f"  with device history as score_and_alert folds it (vibration baseline + "
            f"temperature/pressure history, learning {args.history_windows} windows): false "
            f"alarms on healthy machines {h['false_alarms_healthy']} "
            f"({h['false_alarms_healthy_by_sensors']} by a sensor cause), alerts before onset "
            f"{h['alerts_before_onset_on_faulty_machines']}, lead time -> zone D median "
            f"{lead['median']:.1f} h"
        )

        _remaining_life(model, records, args.history_windows)

        if args.sensor_scenario:
            _sensor_faults(model, args)

        batch = records[:500]
        # The request exactly as score_and_alert sends it (the fields the model reads).
        body = encode_request(batch, INPUT_FIELDS)
        times, predict_only = [], []
        data = inference.input_fn(body, "application/json")  # type: ignore[attr-defined]
        for _ in range(30):
            t = time.perf_counter()
            inference.predict_fn(data, model)  # type: ignore[attr-defined]
            predict_only.append(time.perf_counter() - t)
        for _ in range(30):
            t = time.perf_counter()
            data = inference.input_fn(body, "application/json")  # type: ignore[attr-defined]
            rows = inference.predict_fn(data, model)  # type: ignore[attr-defined]
            inference.output_fn(rows, "application/json")  # type: ignore[attr-defined]
            times.append(time.perf_counter() - t)
        ms = np.asarray(times) * 1000
        print(
            f"  500-row batch through input_fn/predict_fn/output_fn: median {np.median(ms):.1f} ms,"
            f" p90 {np.percentile(ms, 90):.1f} ms (predict_fn alone: median "
            f"{np.median(predict_only) * 1000:.1f} ms; load average {os.getloadavg()[0]:.1f})"
        )


def _calibration(model: Any, records: Any) -> None:
    """Expected calibration error of the confidence people read, and of the classifier's figure
    before the cap, on this fleet neither fit saw (rotorwatch.diagnosis.model.calibration)."""
    rep = calibration_report(model, records)
    print(
        f"  confidence, expected calibration error ({ECE_BINS} bins; over judged windows / over "
        f"windows naming a fault, what alerts show; bound {ECE_BOUND}):"
    )
    for label in ("uncapped", "shown"):
        c = rep[label]
        print(
            f"    {label:<8} ECE {c['ece']:.4f} over {c['windows']} windows, "
            f"{c['ece_naming_a_fault']:.4f} over {c['windows_naming_a_fault']}; "
            f"highest figure {c['max_confidence']:.4f}"
        )
    print(
        f"    reliability of the shown figure (capped at {MAX_SHOWN_CONFIDENCE:.0%}; bin: "
        "windows, mean confidence -> accuracy): "
        + "; ".join(
            f"{b['bin']}: {b['rows']}, {b['mean_confidence']:.3f} -> {b['accuracy']:.3f}"
            for b in rep["shown"]["reliability"]
        )
    )


def _remaining_life(model: Any, records: Any, history_windows: int) -> None:
    """Remaining life against the simulator's truth (time to the first zone-D window): the
    shipped estimator (the trend: no P-F prior ships for velocity), then the P-F prior method
    with a velocity prior fitted leave-one-machine-out on this fleet's own alert-to-zone-D
    intervals (does the method transfer? nothing fitted here ships)."""
    _life_columns("shipped (trend)", life_replay(model, records, history_windows))
    intervals, ratios, windows = pf_episodes(model, records, history_windows)

    def loo(device: str) -> dict[str, PfPrior]:
        others = [v for d, v in intervals.items() if d != device]
        prior = fit(DEFAULT_INDICATOR, others, "simulated fleet, leave-one-machine-out")
        return {DEFAULT_INDICATOR: prior}

    def loo_rate(device: str) -> dict[str, PfPrior]:
        summaries = [rate_summary(v) for d, v in ratios.items() if d != device and v]
        prior = loo(device)[DEFAULT_INDICATOR].with_rate(
            *fit_rate_calibration(summaries), df=calibration_df(summaries)
        )
        return {DEFAULT_INDICATOR: prior}

    def loo_clock(device: str) -> dict[str, PfPrior]:
        others = [d for d in windows if d != device]
        prior = with_clock_fitted(
            loo(device)[DEFAULT_INDICATOR],
            [windows[d] for d in others],
            [intervals[d] for d in others],
        )
        return {DEFAULT_INDICATOR: prior}

    title = (
        f"P-F prior, leave-one-machine-out over {len(intervals)} alert-to-D intervals "
        f"(median {statistics.median(intervals.values()) / 3600:.1f} h)"
    )
    _life_columns(title, life_replay(model, records, history_windows, priors_for=loo))
    _life_columns(
        title + ", updated by each machine's own rate (calibration leave-one-machine-out too)",
        life_replay(model, records, history_windows, priors_for=loo_rate),
    )
    _life_columns(
        title + ", updated by each machine's own rate and clock (weight and calibrations "
        "leave-one-machine-out too)",
        life_replay(model, records, history_windows, priors_for=loo_clock),
    )


def _life_columns(title: str, life: dict[str, Any]) -> None:
    ms = life["machines"]
    print(
        f"  remaining life to zone D, {title} ({len(ms)} faulty machines reaching D, windows "
        f"before D): estimates on healthy machines {life['estimates_on_healthy_machines']}"
    )

    def med(key: str) -> float:
        vals = [m[key] for m in ms.values() if not math.isnan(m[key])]
        return float(statistics.median(vals)) if vals else float("nan")

    firsts = [
        m["first_estimate_h_before_zone_d"]
        for m in ms.values()
        if m["first_estimate_h_before_zone_d"] is not None
    ]
    # Coverage of the windows with an estimate: what the interval's nominal level is about.
    held = [m["coverage"] / m["estimated_share"] for m in ms.values() if m["estimated_share"] > 0]
    print(
        f"    per machine, median: estimated {med('estimated_share'):.0%} of windows, interval "
        f"holds the truth in {med('coverage'):.0%} (in "
        f"{statistics.median(held) if held else float('nan'):.0%} of those with an estimate), "
        f"width {med('median_width_ratio'):.2f} x the "
        f"time left, error {med('median_pct_error'):.0f} %; first estimate "
        f"{statistics.median(firsts) if firsts else float('nan'):.1f} h before D "
        f"({len(firsts)} of {len(ms)} machines got one)"
    )


def _sensor_faults(model: object, args: argparse.Namespace) -> None:
    """Thermal and pressure faults (simulator/scenarios/sensor-faults.json): caught before their
    failure point, with which cause, and false alarms on that scenario's healthy machines."""
    scenario = load_scenario(args.sensor_scenario)
    records = labelled_features(
        scenario,
        seed=args.seed,
        duration_s=args.sensor_hours * 3600.0,
        interval_s=args.interval_s,
    )
    print(
        f"sensor faults ({scenario.name}: {len(scenario.machines)} machines, "
        f"{args.sensor_hours:g} h, {len(records)} windows):"
    )
    for title, windows in (
        ("absolute limits only (cold start)", None),
        (f"with device history (learning {args.history_windows} windows)", args.history_windows),
    ):
        print(f" {title}:")
        r = sensor_fault_replay(model, records, history_windows=windows)  # type: ignore[arg-type]
        _print_sensor_faults(r)


def _print_sensor_faults(r: dict[str, object]) -> None:
    machines: dict[str, dict[str, object]] = r["machines"]  # type: ignore[assignment]
    for device, m in machines.items():
        first = m["first_alert_h_after_onset"]
        lead = m["lead_time_before_failure_h"]
        fail = m["failure_h_after_onset"]
        named = m["first_alert_cause"] or "no sensor cause"
        print(
            f"  {device} {m['fault']}: "
            + (
                "not alerted"
                if first is None
                else f"{m['first_alert_state']} {first:.1f} h after onset ({named}"
                f"{', right' if named in m['expected_causes'] else ''}), "  # type: ignore[operator]
                + (
                    f"{lead:.1f} h before the failure point"
                    if lead is not None
                    else "failure point after the run"
                )
            )
            + (f" (fails {fail:.1f} h after onset)" if fail is not None else "")
            + f"; alerts before onset {m['alerts_before_onset']}"
        )
    caught = sum(bool(m["caught_before_failure"]) for m in machines.values())
    print(
        f"  caught before the failure point: {caught} of {len(machines)}; false alarms on "
        f"its healthy machines: {r['false_alarms_healthy']} in "
        f"{r['healthy_machine_days']:.1f} machine-days"
    )


if __name__ == "__main__":
    main()
