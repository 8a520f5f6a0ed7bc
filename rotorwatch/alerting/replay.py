"""The deployed alert path replayed: what a technician would have received.

:class:`DeviceReplay` runs one device's windows through the deployed stateful path
(``rotorwatch replay``, ``make eval-life``). The rest of this module replays a labelled
simulated fleet:

Each machine's time-ordered feature records go through the model, :func:`rotorwatch.diagnosis.scoring.combine`
and, as score_and_alert folds them, the device's baseline and sensor history, then the alert
state machine (:mod:`rotorwatch.alerting.alerts`). The simulator's ground truth then says which alerts
were false alarms and how long before the machine reached ISO zone D or failure they came
(``make eval``, benchmarks/eval_model.py). Model-only metrics are :mod:`rotorwatch.diagnosis.model.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rotorwatch.alerting.alerts import DEFAULT_POLICY, Alert, AlertPolicy, DeviceState, step
from rotorwatch.alerting.fold import fold_window
from rotorwatch.diagnosis.life import clock_s, rate_to_limit
from rotorwatch.diagnosis.life_prior import PF_PRIORS
from rotorwatch.diagnosis.model.model import Model
from rotorwatch.diagnosis.pf_prior import PfPrior
from rotorwatch.diagnosis.predictions import SENSOR_FAULTS
from rotorwatch.diagnosis.scoring import combine

_MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class Replayed:
    """One window after the device's fold: its prediction (as the lake keeps it), the device's
    sustained state after it, and the alert it raised (None for most windows)."""

    prediction: dict[str, Any]
    state: DeviceState
    alert: Alert | None


class DeviceReplay:
    """One device's windows, fed in time order, through the deployed stateful path.

    The model's rows (or None: the rules decide, as when no endpoint is deployed) are combined
    with the feature records as score_and_alert combines them, then folded by
    :func:`rotorwatch.alerting.fold.fold_window`, the handler's own fold. A window at or before the last
    one applied is skipped, as the handler skips a redelivery (counted in ``skipped``).
    """

    def __init__(
        self,
        device_id: str,
        *,
        learning_windows: int,
        policy: AlertPolicy = DEFAULT_POLICY,
        priors: Mapping[str, PfPrior] = PF_PRIORS,
    ) -> None:
        self.state = DeviceState(device_id=device_id)
        self.learning_windows = learning_windows
        self.policy = policy
        self.priors = priors
        self.skipped = 0

    def feed(
        self,
        features: Sequence[Mapping[str, Any]],
        rows: Sequence[Mapping[str, Any]] | None,
    ) -> Iterator[Replayed]:
        """Fold ``features`` (time-ordered) with the model's ``rows`` (None: rules only)."""
        for i, rec in enumerate(features):
            if (int(rec["ts"]), int(rec["seq"])) <= self.state.window:
                self.skipped += 1
                continue
            p = combine(None if rows is None else rows[i], rec)
            folded = fold_window(
                self.state,
                p,
                rec,
                learning_windows=self.learning_windows,
                policy=self.policy,
                priors=self.priors,
            )
            self.state = folded.state
            yield Replayed(folded.prediction, folded.state, folded.alert)


_MS_PER_H = 3_600_000


def device_alerts(
    model: Model,
    recs: Sequence[Mapping[str, Any]],
    policy: Any = None,
    history_windows: int | None = None,
) -> list[Any]:
    """The alerts (rises, not recoveries) one device's time-ordered windows raise.

    Without ``history_windows`` the cold-start path alone (model, ISO zone, absolute sensor
    limits: :func:`rotorwatch.diagnosis.scoring.combine`); with it, through score_and_alert's own fold
    (:func:`rotorwatch.alerting.fold.fold_window`): then also the device's vibration baseline,
    temperature/pressure history and remaining-life trend, each learning ``history_windows``
    windows.
    """
    st = DeviceState(device_id=str(recs[0]["device_id"]))
    alerts = []
    for rec, row in zip(recs, model.score(recs), strict=True):
        p = combine(row, rec)
        if history_windows is None:
            st, alert = step(st, p, policy or DEFAULT_POLICY)
        else:
            folded = fold_window(
                st, p, rec, learning_windows=history_windows, policy=policy or DEFAULT_POLICY
            )
            st, alert = folded.state, folded.alert
        if alert is not None and alert.kind == "ALERT":
            alerts.append(alert)
    return alerts


def alert_replay(
    model: Model,
    records: Sequence[Mapping[str, Any]],
    policy: Any = None,
    history_windows: int | None = None,
) -> dict[str, Any]:
    """Replay each machine's windows through the alert state machine (rotorwatch.alerting.alerts).

    Returns false alarms per machine-day on machines that never develop a fault (and how many
    of those a temperature/pressure cause raised), alerts raised before a fault's onset, and
    for each faulty machine that reaches ISO zone D the lead time (hours) between the first
    alert and the first zone-D window. ``history_windows``: see :func:`device_alerts`.
    """
    by_device: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        by_device.setdefault(str(rec["device_id"]), []).append(rec)
    healthy_days = 0.0
    healthy_alerts = 0
    healthy_sensor_alerts = 0
    early_alerts = 0
    leads_h: list[float] = []
    iso_leads_h: list[float] = []
    missed_before_d = 0
    faulty = 0
    for _device, recs in sorted(by_device.items()):
        recs = sorted(recs, key=lambda r: (r["ts"], r["seq"]))
        alerts = device_alerts(model, recs, policy, history_windows)
        ever_faulty = any(r["fault"] != "normal" for r in recs)
        if not ever_faulty:
            span = recs[-1]["ts"] - recs[0]["ts"]
            healthy_days += span / _MS_PER_DAY
            healthy_alerts += len(alerts)
            healthy_sensor_alerts += sum(a.sensor_cause is not None for a in alerts)
            continue
        faulty += 1
        onset = min(r["ts"] for r in recs if r["fault"] != "normal")
        early_alerts += sum(a.ts < onset for a in alerts)
        first_alert = min((a.ts for a in alerts if a.ts >= onset), default=None)
        first_d = min((r["ts"] for r in recs if r.get("iso_zone") == "D"), default=None)
        if first_d is None:
            continue
        # What ISO rules alone would give: zone C (WARNING) before zone D.
        first_c = min((r["ts"] for r in recs if r.get("iso_zone") in ("C", "D")), default=first_d)
        iso_leads_h.append((first_d - first_c) / _MS_PER_H)
        if first_alert is None or first_alert > first_d:
            missed_before_d += 1
            leads_h.append(0.0 if first_alert is None else (first_d - first_alert) / _MS_PER_H)
        else:
            leads_h.append((first_d - first_alert) / _MS_PER_H)
    leads = np.asarray(leads_h) if leads_h else np.asarray([np.nan])
    iso_leads = np.asarray(iso_leads_h) if iso_leads_h else np.asarray([np.nan])
    return {
        "healthy_machine_days": healthy_days,
        "false_alarms_healthy": healthy_alerts,
        "false_alarms_healthy_by_sensors": healthy_sensor_alerts,
        "false_alarms_per_healthy_machine_day": (
            healthy_alerts / healthy_days if healthy_days else float("nan")
        ),
        "alerts_before_onset_on_faulty_machines": early_alerts,
        "faulty_machines": faulty,
        "faulty_machines_reaching_zone_d": len(leads_h),
        "alerted_only_at_or_after_zone_d": missed_before_d,
        "lead_time_before_zone_d_h": {
            "median": float(np.median(leads)),
            "min": float(np.min(leads)),
            "max": float(np.max(leads)),
        },
        "iso_zone_c_lead_time_before_zone_d_h": {
            "median": float(np.median(iso_leads)),
            "min": float(np.min(iso_leads)),
        },
    }


def _by_device(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    by_device: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        by_device.setdefault(str(rec["device_id"]), []).append(rec)
    return {
        d: sorted(recs, key=lambda r: (r["ts"], r["seq"])) for d, recs in sorted(by_device.items())
    }


def _zone_d_ms(recs: Sequence[Mapping[str, Any]]) -> int | None:
    return next((int(r["ts"]) for r in recs if r.get("iso_zone") == "D"), None)


def pf_episodes(
    model: Model, records: Sequence[Mapping[str, Any]], history_windows: int
) -> tuple[
    dict[str, float], dict[str, list[float]], dict[str, list[tuple[float, float | None, float]]]
]:
    """Per faulty machine, as the deployed fold detects it:

    - its P-F interval: from the start of the sustained non-HEALTHY episode it is in at its
      first zone-D window (its lasting alert) to that window (machines never alerted before
      zone D have none);
    - ``ln(true time to zone D / the time at this rate)``
      (:func:`rotorwatch.diagnosis.life.rate_to_limit`) over that episode's windows before zone
      D where the indicator rises: what a rate calibration is fitted on
      (:func:`rotorwatch.diagnosis.pf_prior.fit_rate_calibration`);
    - those windows as ``(true time to zone D, at-this-rate time or None, clock)`` in seconds
      (:func:`rotorwatch.diagnosis.life.clock_s`): what
      :func:`rotorwatch.diagnosis.pf_prior.with_clock_fitted` fits."""
    intervals: dict[str, float] = {}
    ratios: dict[str, list[float]] = {}
    windows: dict[str, list[tuple[float, float | None, float]]] = {}
    for device, recs in _by_device(records).items():
        zone_d = _zone_d_ms(recs)
        if zone_d is None or not any(r["fault"] != "normal" for r in recs):
            continue
        replay = DeviceReplay(device, learning_windows=history_windows, priors={})
        start = None
        episode: list[float] = []
        clocked: list[tuple[float, float | None, float]] = []
        for r in replay.feed(recs, model.score(recs)):
            ts = int(r.prediction["ts"])
            if ts >= zone_d:
                break
            if r.state.state == "HEALTHY":
                start, episode, clocked = None, [], []
                continue
            start = start or ts
            left_s = (zone_d - ts) / 1000.0
            rate = rate_to_limit(r.state.life)
            rate_s = rate[0] if rate is not None and rate[0] > 0 else None
            if rate_s is not None:
                episode.append(math.log(left_s / rate_s))
            clock = None if r.state.life is None else clock_s(r.state.life)
            if clock is not None:
                clocked.append((left_s, rate_s, clock))
        if start is not None and zone_d > start:
            intervals[device] = (zone_d - start) / 1000.0
            ratios[device] = episode
            windows[device] = clocked
    return intervals, ratios, windows


def life_replay(
    model: Model,
    records: Sequence[Mapping[str, Any]],
    history_windows: int,
    priors_for: Callable[[str], Mapping[str, PfPrior]] | None = None,
) -> dict[str, Any]:
    """Remaining life against the simulator's ground truth, per faulty machine reaching zone D.

    Each machine's windows go through :class:`DeviceReplay` (the deployed fold); the truth at a
    window is the time to the machine's first zone-D window (the default end-of-life limit).
    Over the windows before it: the share with an estimate, the share whose interval holds the
    truth, the median interval width over the truth and the median percent error (windows with
    an estimate), and how long before zone D the first estimate came. Healthy machines: windows
    with an estimate (each one a number invented for a machine that is not degrading).
    ``priors_for(device)``: the P-F priors to replay that device with (default: the shipped).
    """
    machines: dict[str, dict[str, Any]] = {}
    healthy_estimates = 0
    for device, recs in _by_device(records).items():
        replay = DeviceReplay(
            device,
            learning_windows=history_windows,
            priors=PF_PRIORS if priors_for is None else priors_for(device),
        )
        rows = [r.prediction for r in replay.feed(recs, model.score(recs))]
        if not any(r["fault"] != "normal" for r in recs):
            healthy_estimates += sum(p["remaining_life_s"] is not None for p in rows)
            continue
        zone_d = _zone_d_ms(recs)
        if zone_d is None:
            continue
        before = [p for p in rows if int(p["ts"]) < zone_d]
        est = [p for p in before if p["remaining_life_s"] is not None]
        truth = [(zone_d - int(p["ts"])) / 1000.0 for p in est]
        machines[device] = {
            "windows_before_zone_d": len(before),
            "estimated_share": len(est) / len(before) if before else float("nan"),
            "coverage": (
                sum(
                    p["remaining_life_low_s"] <= t <= p["remaining_life_high_s"]
                    for p, t in zip(est, truth, strict=True)
                )
                / len(before)
                if before
                else float("nan")
            ),
            "median_width_ratio": float(
                np.median(
                    [
                        (p["remaining_life_high_s"] - p["remaining_life_low_s"]) / t
                        for p, t in zip(est, truth, strict=True)
                    ]
                )
            )
            if est
            else float("nan"),
            "median_pct_error": float(
                np.median(
                    [
                        100.0 * abs(p["remaining_life_s"] - t) / t
                        for p, t in zip(est, truth, strict=True)
                    ]
                )
            )
            if est
            else float("nan"),
            "first_estimate_h_before_zone_d": (
                (zone_d - int(est[0]["ts"])) / _MS_PER_H if est else None
            ),
        }
    return {"machines": machines, "estimates_on_healthy_machines": healthy_estimates}


def sensor_fault_replay(
    model: Model,
    records: Sequence[Mapping[str, Any]],
    policy: Any = None,
    history_windows: int | None = None,
) -> dict[str, Any]:
    """Faults that show first in temperature or pressure (rotorwatch.diagnosis.predictions.SENSOR_FAULTS),
    replayed per machine through the model, :func:`rotorwatch.diagnosis.scoring.combine` and the alert
    state machine, as :func:`alert_replay` does for vibration faults.

    Per faulty machine: the first alert after onset, the sensor cause it named (right when it is
    the fault's cause), and its lead time before the failure point (the first window at
    severity 1; None when the run ends first). Alerts on machines that never develop a fault
    are false alarms. ``history_windows``: see :func:`device_alerts`.
    """
    by_device: dict[str, list[Mapping[str, Any]]] = {}
    for rec in records:
        by_device.setdefault(str(rec["device_id"]), []).append(rec)
    machines: dict[str, dict[str, Any]] = {}
    healthy_alerts = 0
    healthy_days = 0.0
    for device, recs in sorted(by_device.items()):
        recs = sorted(recs, key=lambda r: (r["ts"], r["seq"]))
        alerts = device_alerts(model, recs, policy, history_windows)
        faults = {str(r["fault"]) for r in recs} - {"normal"}
        if not faults:
            healthy_alerts += len(alerts)
            healthy_days += (recs[-1]["ts"] - recs[0]["ts"]) / _MS_PER_DAY
            continue
        fault = faults.pop()
        onset = min(r["ts"] for r in recs if r["fault"] != "normal")
        failure = next((r["ts"] for r in recs if float(r["severity"]) >= 1.0 - 1e-9), None)
        first = next((a for a in alerts if a.ts >= onset), None)
        machines[device] = {
            "fault": fault,
            "expected_causes": SENSOR_FAULTS.get(fault, ()),
            "alerts_before_onset": sum(a.ts < onset for a in alerts),
            "first_alert_h_after_onset": None if first is None else (first.ts - onset) / _MS_PER_H,
            "first_alert_state": None if first is None else first.state,
            "first_alert_cause": None if first is None else first.sensor_cause,
            "failure_h_after_onset": None if failure is None else (failure - onset) / _MS_PER_H,
            "lead_time_before_failure_h": (
                None if first is None or failure is None else (failure - first.ts) / _MS_PER_H
            ),
            "caught_before_failure": first is not None and (failure is None or first.ts < failure),
        }
    return {
        "machines": machines,
        "false_alarms_healthy": healthy_alerts,
        "healthy_machine_days": healthy_days,
    }
