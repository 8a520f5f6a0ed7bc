"""One window into a device's state: the stateful path, in one place.

score_and_alert (and through it the local demo), ``rotorwatch replay`` and the simulated-fleet
evaluation (:mod:`rotorwatch.replay`) all call :func:`fold_window`, so what a replay shows is
what the deployed handler does: the device's vibration baseline (:mod:`rotorwatch.baseline`),
its temperature/pressure history (:mod:`rotorwatch.sensors`), the remaining-life trend
(:mod:`rotorwatch.life`) and the alert state machine (:func:`rotorwatch.alerts.step`), in that
order. What stays in the handler is what only the cloud knows: when a window was received,
redeliveries and the conditional write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rotorwatch.alerts import DEFAULT_POLICY, HEALTHY, Alert, AlertPolicy, DeviceState, step
from rotorwatch.baseline import apply_baseline
from rotorwatch.end_of_life import EndOfLife
from rotorwatch.life import LifeState, estimate, indicator_value, limit_text, update
from rotorwatch.sensors import SensorHistory, apply_history


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
) -> Folded:
    """Apply one window, newer than ``state.window``, to the device's state (the caller skips
    redelivered and late windows: :func:`rotorwatch.alerts.step` would ignore them anyway, but
    the baseline would learn them twice)."""
    p, baseline = apply_baseline(
        prediction, features, state.baseline, learning_windows=learning_windows
    )
    p, history = apply_history(
        p, features, sensor_history_of(state), learning_windows=learning_windows
    )
    eol = end_of_life_in(features)
    life = life_of(state)
    limit = None
    est = None
    if eol is not None:
        life = update(
            life,
            eol,
            int(p["ts"]),
            indicator_value(features, eol.indicator),
            learning_windows=learning_windows,
            healthy=p["state"] == HEALTHY,
        )
        est = estimate(life, learning_windows=learning_windows)
        limit = limit_text(eol.indicator, eol.limit)
    p = {
        **p,
        "remaining_life_s": None if est is None else est.remaining_s,
        "remaining_life_low_s": None if est is None else est.low_s,
        "remaining_life_high_s": None if est is None else est.high_s,
    }
    # The limit's wording goes in before the step, so an alert raised by this window says it.
    new, alert = step(replace(state, remaining_life_limit=limit), p, policy)
    new = replace(new, baseline=baseline, sensor_history=history, life=life)
    return Folded(new, p, alert)
