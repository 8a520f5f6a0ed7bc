"""One window into a device's state: the stateful path, in one place.

score_and_alert (and through it the local demo), ``rotorwatch replay`` and the simulated-fleet
evaluation (:mod:`rotorwatch.alerting.replay`) all call :func:`fold_window`, so what a replay shows is
what the deployed handler does: the device's vibration baseline (:mod:`rotorwatch.diagnosis.baseline`),
its temperature/pressure history (:mod:`rotorwatch.diagnosis.sensors`), the remaining-life trend
(:mod:`rotorwatch.diagnosis.life`) and the alert state machine (:func:`rotorwatch.alerting.alerts.step`), in that
order. What stays in the handler is what only the cloud knows: when a window was received,
redeliveries and the conditional write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rotorwatch.alerting.alerts import (
    DEFAULT_POLICY,
    HEALTHY,
    Alert,
    AlertPolicy,
    DeviceState,
    step,
)
from rotorwatch.diagnosis.baseline import apply_baseline
from rotorwatch.diagnosis.end_of_life import EndOfLife
from rotorwatch.diagnosis.life import (
    LifeState,
    estimate,
    indicator_value,
    limit_text,
    update,
)
from rotorwatch.diagnosis.life_prior import PF_PRIORS
from rotorwatch.diagnosis.pf_prior import PfPrior
from rotorwatch.diagnosis.sensors import SensorHistory, apply_history


@dataclass(frozen=True, slots=True)
class Folded:
    """The device's state after the window, the window's prediction as the device's history
    left it (what reaches the lake), and the alert it raised, if any."""

    state: DeviceState
    prediction: dict[str, Any]
    alert: Alert | None


def sensor_history_of(state: DeviceState) -> SensorHistory | None:
    """The device's temperature/pressure history; restarted with its baseline (an operator's
    ``rotorwatch baseline reset`` after maintenance removes the baseline)."""
    return state.sensor_history if state.baseline is not None else None


def life_of(state: DeviceState) -> LifeState | None:
    """The device's indicator trend; restarted with its baseline, for the same reason: after
    maintenance (a bearing replaced) the old trend says nothing about the new part."""
    return state.life if state.baseline is not None else None


def end_of_life_in(features: Mapping[str, Any]) -> EndOfLife | None:
    """The threshold the feature record carries (the asset's), or None without one."""
    indicator, limit = features.get("end_of_life_indicator"), features.get("end_of_life_limit")
    if not isinstance(indicator, str) or isinstance(limit, bool):
        return None
    if not isinstance(limit, int | float) or not limit > 0:
        return None
    return EndOfLife(indicator, float(limit))


def fold_window(
    state: DeviceState,
    prediction: Mapping[str, Any],
    features: Mapping[str, Any],
    *,
    learning_windows: int,
    policy: AlertPolicy = DEFAULT_POLICY,
    priors: Mapping[str, PfPrior] = PF_PRIORS,
) -> Folded:
    """Apply one window, newer than ``state.window``, to the device's state (the caller skips
    redelivered and late windows: :func:`rotorwatch.alerting.alerts.step` would ignore them anyway, but
    the baseline would learn them twice).

    ``priors``: the P-F interval prior of each end-of-life indicator that has one (by default
    the shipped fits, :mod:`rotorwatch.diagnosis.life_prior`); ``rotorwatch replay --life-prior`` and
    ``make eval-life`` (leave-one-bearing-out) pass others."""
    p, baseline = apply_baseline(
        prediction, features, state.baseline, learning_windows=learning_windows
    )
    p, history = apply_history(
        p, features, sensor_history_of(state), learning_windows=learning_windows
    )
    eol = end_of_life_in(features)
    life = life_of(state)
    previous_ms = -1 if life is None else life.last_ts_ms
    limit = None
    if eol is not None:
        life = update(
            life,
            eol,
            int(p["ts"]),
            indicator_value(features, eol.indicator),
            learning_windows=learning_windows,
            healthy=p["state"] == HEALTHY,
        )
        limit = limit_text(eol.indicator, eol.limit)
    # The alert state machine first (its sustained state is the degradation stage the P-F
    # prior counts from), then the estimate, into both the state and an alert this window
    # raised: one step, so an alert says the estimate of the window that raised it.
    new, alert = step(replace(state, remaining_life_limit=limit), {**p, **_NO_LIFE}, policy)
    est = None
    if life is not None:
        onset_ms = _onset_ms(life, new)
        life = replace(
            life, onset_ms=onset_ms, last_healthy_ms=_last_healthy_ms(life, onset_ms, previous_ms)
        )
        est = estimate(life, learning_windows=learning_windows, prior=priors.get(life.indicator))
    low = None if est is None else est.low_s
    mid = None if est is None else est.remaining_s
    high = None if est is None else est.high_s
    p = {**p, "remaining_life_s": mid, "remaining_life_low_s": low, "remaining_life_high_s": high}
    new = replace(
        new,
        baseline=baseline,
        sensor_history=history,
        life=life,
        remaining_life_s=mid,
        remaining_life_low_s=low,
        remaining_life_high_s=high,
    )
    if alert is not None and alert.kind == "ALERT":
        if est is not None and not est.quoted:
            # A range the episode's clock alone would give at its first windows (the
            # technician's one message about it) says "no estimate yet" rather than the window
            # spacing's guess, where no early calibration of the rate replaced it; a limit
            # already reached (0) is a fact and stays.
            mid = low = high = None
        alert = replace(
            alert, remaining_life_s=mid, remaining_life_low_s=low, remaining_life_high_s=high
        )
    return Folded(new, p, alert)


_NO_LIFE: dict[str, None] = {
    "remaining_life_s": None,
    "remaining_life_low_s": None,
    "remaining_life_high_s": None,
}


def _onset_ms(life: LifeState, state: DeviceState) -> int:
    """When the current degradation episode began: the window the sustained state left HEALTHY
    (kept while the episode lasts, through a WARNING-to-ALARM rise); -1 when HEALTHY."""
    if state.state == HEALTHY:
        return -1
    if life.onset_ms >= 0:
        return life.onset_ms
    return int(state.since_ms) if state.since_ms is not None else state.last_ts


def _last_healthy_ms(life: LifeState, onset_ms: int, previous_ms: int) -> int:
    """The last window before the current episode (the clock's zero): the window before the
    one the episode began at, kept while it lasts; -1 outside an episode, and for an episode
    that began before the state kept it (the clock then counts from the episode's start)."""
    if onset_ms < 0:
        return -1
    if life.onset_ms == onset_ms and life.last_healthy_ms >= 0:
        return life.last_healthy_ms
    if life.last_ts_ms == onset_ms and 0 <= previous_ms < onset_ms:
        return previous_ms
    return -1
