"""The per-device baseline on synthetic feature records whose statistics are known."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rotorwatch.diagnosis.baseline import (
    BASELINE_WARNING_SCORE,
    D_REF_MIN,
    INPUT_FIELDS,
    INPUTS,
    RUN_WINDOWS,
    Baseline,
    apply_baseline,
    distance,
    inputs,
    score,
    update,
)
from rotorwatch.diagnosis.features.schema import FEATURE_NAMES
from rotorwatch.diagnosis.predictions import FAULTS, STATES
from rotorwatch.diagnosis.scoring import readable

#: A healthy machine's feature record (zone B velocity for a group 2 rigid machine).
BASE: dict[str, Any] = {
    "velocity_rms_mm_s": 2.0,
    "accel_rms_g": 0.30,
    "kurtosis": 3.0,
    "crest_factor": 3.5,
    "band_10_100hz_g": 0.10,
    "band_100_1000hz_g": 0.15,
    "band_1_5khz_g": 0.08,
    "band_5_20khz_g": 0.02,
    "order_0_5x_g": 0.003,
    "order_1x_g": 0.06,
    "order_2x_g": 0.02,
    "env_bpfo": 1.9,
    "env_bpfi": 2.0,
    "env_bsf": 1.8,
    "env_ftf": 1.7,
}


def noisy(rng: np.random.Generator, rel: float = 0.03, **over: float | None) -> dict[str, Any]:
    """BASE with independent log-normal noise of ``rel`` relative spread on every field."""
    rec: dict[str, Any] = {k: v * math.exp(rel * rng.standard_normal()) for k, v in BASE.items()}
    rec.update(over)
    return rec


def learned(rng: np.random.Generator, n: int = 144, rel: float = 0.03, **over: Any) -> Baseline:
    b = Baseline(target=n)
    for _ in range(n):
        b = update(b, noisy(rng, rel, **over))
    return b


def test_inputs_read_only_feature_fields_and_keep_missing_values_missing() -> None:
    assert set(INPUT_FIELDS) <= set(FEATURE_NAMES)
    x = inputs({**BASE, "velocity_rms_mm_s": None, "env_bpfo": 0.0, "band_10_100hz_g": math.nan})
    by_name = dict(zip((i.name for i in INPUTS), x, strict=True))
    assert by_name["log_velocity_rms_mm_s"] is None  # not log(0), not 0
    assert by_name["log_env_bpfo"] is None  # an amplitude of 0 is below the noise, not -inf
    assert by_name["log_band_100_1000_over_10_100"] is None  # NaN denominator
    assert by_name["log_accel_rms_g"] == pytest.approx(math.log(0.30))
    assert by_name["log_order_2x_over_1x"] == pytest.approx(math.log(0.02 / 0.06))


def test_learning_ends_after_the_configured_number_of_windows() -> None:
    rng = np.random.default_rng(1)
    b = Baseline(target=20)
    for i in range(20):
        assert not b.learned
        assert b.count == i
        assert score(b, BASE) is None  # still learning: no score
        b = update(b, noisy(rng))
    assert b.learned
    assert b.count == 20
    assert score(b, BASE) is not None
    assert update(b, noisy(rng, velocity_rms_mm_s=50.0)) == b  # frozen once learned


def test_a_window_without_any_vibration_input_is_not_learned() -> None:
    b = Baseline(target=5)
    assert update(b, {"temperature_c": 40.0, "velocity_rms_mm_s": None}) == b


def test_stationary_noise_stays_below_the_edge() -> None:
    rng = np.random.default_rng(7)
    b = learned(rng)
    scores = np.array([score(b, noisy(rng)) for _ in range(2000)], dtype=float)
    assert np.mean(scores < 0.5) >= 0.99
    assert np.max(scores) < BASELINE_WARNING_SCORE


def test_stationary_noise_of_a_noisier_machine_stays_below_the_edge_too() -> None:
    rng = np.random.default_rng(8)
    b = learned(rng, rel=0.25)  # spreads far above the floors: the learned spread rules
    scores = np.array([score(b, noisy(rng, rel=0.25)) for _ in range(2000)], dtype=float)
    assert np.mean(scores < 0.5) >= 0.99


def test_doubling_of_velocity_rms_reaches_the_warning_level() -> None:
    rng = np.random.default_rng(11)
    b = learned(rng)
    doubled = [score(b, noisy(rng, velocity_rms_mm_s=2 * 2.0)) for _ in range(200)]
    assert min(s for s in doubled if s is not None) >= BASELINE_WARNING_SCORE


def test_a_perfectly_steady_machine_does_not_alarm_on_a_rounding_change() -> None:
    b = Baseline(target=50)
    for _ in range(50):
        b = update(b, BASE)
    assert all(s.std < 1e-6 for s in b.stats if s.n)  # nothing varied: the floors decide
    nudged = {k: v * (1 + 1e-6) for k, v in BASE.items()}
    s = score(b, nudged)
    assert s is not None
    assert s < 0.01
    # ... yet a real change still shows: +20 % velocity is 3.6 floors (z = log 1.2 / 0.05).
    up = score(b, {**BASE, "velocity_rms_mm_s": 2.4})
    assert up is not None
    assert 0.2 < up < 0.5
    assert b.d_ref == D_REF_MIN


def test_missing_inputs_are_ignored_when_learning_and_scoring() -> None:
    rng = np.random.default_rng(3)
    # No bearing geometry, no 5-20 kHz band: those inputs are never learned.
    b = learned(rng, env_bpfo=None, env_bpfi=None, env_bsf=None, env_ftf=None, band_5_20khz_g=None)
    unused = {i.name for i, s in zip(INPUTS, b.stats, strict=True) if s.n == 0}
    assert unused == {
        "log_env_bpfo",
        "log_env_bpfi",
        "log_env_bsf",
        "log_env_ftf",
        "log_band_5_20k_over_accel_rms",
    }
    rec = noisy(rng)
    # Values for inputs the baseline never learned change nothing, whatever they are.
    assert score(b, rec) == score(b, {**rec, "env_bpfo": 500.0, "band_5_20khz_g": None})
    # A value missing now is left out, not read as zero (log 0 would be a huge distance).
    s = score(b, {**rec, "velocity_rms_mm_s": None})
    assert s is not None
    assert s < 0.5


def test_an_input_seen_in_few_learning_windows_is_not_compared() -> None:
    rng = np.random.default_rng(4)
    b = Baseline(target=40)
    for i in range(40):
        b = update(b, noisy(rng, env_bpfo=1.9 if i < 5 else None))
    rec = noisy(rng)
    assert score(b, {**rec, "env_bpfo": 300.0}) == score(b, {**rec, "env_bpfo": None})


def test_one_odd_learning_window_does_not_blunt_the_baseline() -> None:
    rng = np.random.default_rng(5)
    b = Baseline(target=144)
    for i in range(144):
        odd = {"velocity_rms_mm_s": 20.0} if i == 100 else {}
        b = update(b, noisy(rng, **odd))
    assert b.top_d[0] > 10 * b.top_d[1]  # the odd window is the largest distance ...
    assert b.d_ref < 2 * D_REF_MIN  # ... and the edge ignores it


def test_round_trip_through_json_and_dynamodb_numbers_is_exact_and_small() -> None:
    rng = np.random.default_rng(6)
    b = learned(rng, env_ftf=None)
    d = b.to_dict()
    text = json.dumps(d, allow_nan=False, separators=(",", ":"))
    assert len(text.encode()) < 1024
    as_dynamodb = json.loads(text, parse_float=Decimal)  # what the state table gives back
    again = Baseline.from_dict(as_dynamodb)
    assert again == b
    assert again is not None
    assert score(again, BASE) == score(b, BASE)


def test_a_stored_baseline_of_another_format_is_dropped() -> None:
    assert Baseline.from_dict({**Baseline().to_dict(), "format": 0}) is None


def prediction(state: str = "HEALTHY", fault: str = "normal", zone: str = "B") -> dict[str, Any]:
    return {
        "device_id": "pump-1",
        "ts": 0,
        "seq": 0,
        "anomaly_score": 0.2,
        "fault": fault,
        "fault_confidence": 0.7,
        "state": state,
        "iso_zone": zone,
    }


def test_while_learning_the_prediction_is_unchanged_and_only_healthy_windows_are_learned() -> None:
    rng = np.random.default_rng(9)
    b = None
    for _ in range(3):
        p = prediction()
        out, b = apply_baseline(p, noisy(rng), b, learning_windows=10)
        assert out == p
    assert b is not None
    assert b.count == 3
    # A window the cold-start path does not call HEALTHY is not learned.
    out, after = apply_baseline(
        prediction("WARNING", "bearing_outer"), noisy(rng), b, learning_windows=10
    )
    assert after == b
    assert out["state"] == "WARNING"


def test_learning_period_setting_applies_to_a_baseline_still_learning() -> None:
    rng = np.random.default_rng(10)
    b = learned(rng, n=4)
    assert b.learned
    _, same = apply_baseline(prediction(), noisy(rng), b, learning_windows=10)
    assert same.learned  # learned stays learned ...
    assert (same.target, same.count, same.stats, same.top_d) == (
        b.target,
        b.count,
        b.stats,
        b.top_d,
    )
    partial = Baseline(target=4)
    _, longer = apply_baseline(prediction(), noisy(rng), partial, learning_windows=10)
    assert longer.target == 10
    assert longer.count == 1


def test_once_learned_the_score_is_the_larger_and_warns_only_when_something_is_named() -> None:
    rng = np.random.default_rng(12)
    b = learned(rng)
    quiet, _ = apply_baseline(prediction(), noisy(rng), b)
    assert quiet["state"] == "HEALTHY"
    assert quiet["anomaly_score"] == 0.2
    far = noisy(rng, velocity_rms_mm_s=6.0, accel_rms_g=0.9)
    named, same = apply_baseline(prediction(fault="imbalance", zone="A"), far, b)
    # A learned baseline's statistics and edges do not change; only its run moves on.
    assert replace(same, recent_d=b.recent_d) == b
    assert named["anomaly_score"] >= BASELINE_WARNING_SCORE
    assert named["state"] == "WARNING"
    zone_b, _ = apply_baseline(prediction(fault="normal", zone="B"), far, b)
    assert zone_b["state"] == "WARNING"
    drift_only, _ = apply_baseline(prediction(fault="normal", zone="A"), far, b)
    assert drift_only["state"] == "HEALTHY"  # nothing named: no page
    assert drift_only["anomaly_score"] >= BASELINE_WARNING_SCORE  # but the lake shows it
    alarm, _ = apply_baseline(prediction("ALARM", "imbalance", "D"), far, b)
    assert alarm["state"] == "ALARM"  # never lowered
    # The baseline alone never raises ALARM, however far.
    very_far, _ = apply_baseline(
        prediction(fault="imbalance"), noisy(rng, velocity_rms_mm_s=200.0), b
    )
    assert very_far["state"] == "WARNING"


def test_a_leaning_the_window_cannot_show_is_not_made_its_fault() -> None:
    """A 0.1 s window (FEMTO's) cannot resolve the shaft orders and reads no bearing line: the
    endpoint keeps what its classifier leant to (``fault_leaning``) but names nothing. The
    device's history saying the window is unusual does not make that guess the window's fault,
    nor, on a zone-A machine, a reason to page."""
    rng = np.random.default_rng(13)
    b = learned(rng)
    unresolved = {"order_1x_g": None, "order_2x_g": None, "order_0_5x_g": None}
    unlined = {name: None for name in ("env_bpfo", "env_bpfi", "env_bsf", "env_ftf")}
    far = noisy(rng, velocity_rms_mm_s=6.0, accel_rms_g=0.9, **unresolved, **unlined)
    for leaning in ("misalignment", "bearing_ball"):
        zone_b, _ = apply_baseline({**prediction(), "fault_leaning": leaning}, far, b)
        assert zone_b["state"] == "WARNING"  # zone B names the machine's condition
        assert zone_b["fault"] == "normal"
        zone_a, _ = apply_baseline({**prediction(zone="A"), "fault_leaning": leaning}, far, b)
        assert zone_a["state"] == "HEALTHY"  # nothing named: no page
    # The same leaning on a window that shows its lines is the window's fault.
    shown = noisy(rng, velocity_rms_mm_s=6.0, accel_rms_g=0.9)
    named, _ = apply_baseline({**prediction(zone="A"), "fault_leaning": "misalignment"}, shown, b)
    assert (named["state"], named["fault"]) == ("WARNING", "misalignment")


@settings(max_examples=200, deadline=None)
@given(
    fault=st.sampled_from([*FAULTS, None]),
    leaning=st.sampled_from([*FAULTS, None]),
    zone=st.sampled_from(["A", "B", "C", "D", None]),
    state=st.sampled_from(list(STATES)),
    blank=st.sets(st.sampled_from(["order_1x_g", "env_bpfo", "env_bpfi", "env_bsf", "env_ftf"])),
)
def test_a_fault_the_baseline_names_is_one_the_window_shows(
    fault: str | None, leaning: str | None, zone: str | None, state: str, blank: set[str]
) -> None:
    """The class: whatever the endpoint answered, a fault the baseline writes into the record
    (from the leaning) is one :func:`readable` allows on that window, and the baseline never
    names a fault on a window it leaves HEALTHY."""
    b = learned(np.random.default_rng(14))
    far = noisy(np.random.default_rng(15), velocity_rms_mm_s=6.0, accel_rms_g=0.9)
    far.update(dict.fromkeys(blank))
    given_row = {**prediction(state, "normal" if fault is None else fault, zone or "B")}
    given_row.update(iso_zone=zone, fault_leaning=leaning)
    out, _ = apply_baseline(given_row, far, b)
    if out["fault"] != given_row["fault"]:
        assert out["fault"] == leaning
        assert readable(out["fault"], far)
        assert out["state"] == "WARNING"


def impulsive_history(rng: np.random.Generator, n: int = 144) -> Baseline:
    """A healthy history whose second half has a few single impulsive windows (a knock, a spike:
    the accelerometer's level and impulsiveness far up for one window), never two in a row."""
    b = Baseline(target=n)
    for i in range(n):
        knock = i >= n // 2 and i % 12 == 0
        b = update(
            b, noisy(rng, accel_rms_g=1.2, crest_factor=9.0, kurtosis=12.0) if knock else noisy(rng)
        )
    return b


def sustained(rng: np.random.Generator) -> dict[str, Any]:
    """A shift that holds window after window: acceleration 35 % up, its high band 50 %."""
    return noisy(rng, accel_rms_g=0.30 * 1.35, band_5_20khz_g=0.02 * 1.5 * 1.35)


def test_single_impulses_in_the_history_widen_the_window_edge_but_not_the_runs() -> None:
    b = impulsive_history(np.random.default_rng(21))
    assert b.d_ref > 3 * D_REF_MIN  # the knocks set the single window's edge ...
    assert b.run_d_ref == D_REF_MIN  # ... never two in a row, so not the run's


def test_a_shift_that_holds_warns_after_a_run_where_the_widened_edge_alone_would_not() -> None:
    rng = np.random.default_rng(22)
    b = impulsive_history(rng)
    states, single_scores = [], []
    for _ in range(2 * RUN_WINDOWS):
        rec = sustained(rng)
        single_scores.append(1.0 - 0.5 ** (distance(b, rec) / b.d_ref))
        out, b = apply_baseline(prediction(fault="normal", zone="B"), rec, b)
        states.append(out["state"])
    assert max(single_scores) < BASELINE_WARNING_SCORE  # each window is within the wide edge
    # Not before a run is complete, every window after.
    assert states == ["HEALTHY"] * (RUN_WINDOWS - 1) + ["WARNING"] * (RUN_WINDOWS + 1)


def test_one_window_like_the_history_knocks_does_not_warn_and_breaks_no_run() -> None:
    rng = np.random.default_rng(23)
    b = impulsive_history(rng)
    knock = noisy(rng, accel_rms_g=1.2, crest_factor=9.0, kurtosis=12.0)
    for rec in (noisy(rng), noisy(rng), knock, noisy(rng), noisy(rng)):
        out, b = apply_baseline(prediction(fault="normal", zone="B"), rec, b)
        assert out["state"] == "HEALTHY"


@pytest.mark.parametrize("rel", [0.01, 0.03, 0.08])
def test_on_a_device_whose_windows_are_alike_the_run_changes_no_score(rel: float) -> None:
    """The class: where the run's edge is not below the window's, the run's distance (the
    smallest of the run) can never score above the window's own, whatever the windows."""
    rng = np.random.default_rng(24)
    b = learned(rng, rel=rel)
    assert b.run_d_ref is not None
    assert b.run_d_ref >= b.d_ref
    for k in range(200):
        rec = noisy(rng, rel=rel * (1 + k % 7), velocity_rms_mm_s=2.0 * math.exp(0.01 * k))
        out, b = apply_baseline(prediction(), rec, b)
        single = 1.0 - 0.5 ** (distance(b, rec) / b.d_ref)
        assert out["anomaly_score"] == max(0.2, single)


def test_scoring_a_replayed_window_does_not_move_the_run_on() -> None:
    rng = np.random.default_rng(25)
    b = impulsive_history(rng)
    _, again = apply_baseline(prediction(), sustained(rng), b, learn=False)
    assert again == b
    _, moved = apply_baseline(prediction(), sustained(rng), b)
    assert moved.recent_d != b.recent_d
    assert len(moved.recent_d) == RUN_WINDOWS - 1
    _, broken = apply_baseline(prediction(), {}, moved)  # no vibration: the run is broken
    assert broken.recent_d == ()


def test_a_baseline_stored_before_the_run_edge_reads_and_is_read_across_releases() -> None:
    rng = np.random.default_rng(26)
    b = impulsive_history(rng)
    new = b.to_dict()
    assert new["format"] == 1  # optional keys: the format a release before reads
    old = {k: v for k, v in new.items() if k not in ("top_run_d", "recent_d")}
    # What a release before wrote, read now: learned, so its run edge was never learned; it
    # scores on the window's edge alone, exactly as it did.
    before = Baseline.from_dict(old)
    assert before is not None
    assert before.top_run_d is None
    assert before.run_d_ref is None
    for _ in range(RUN_WINDOWS + 1):
        rec = sustained(rng)
        out, before = apply_baseline(prediction(fault="normal", zone="B"), rec, before)
        assert out["anomaly_score"] == max(0.2, 1.0 - 0.5 ** (distance(b, rec) / b.d_ref))
    # One still in the first half of learning learns the run's edge from here on.
    early = Baseline.from_dict({**old, "count": 10, "stats": {}})
    assert early is not None
    assert early.top_run_d == (0.0, 0.0)
    # Read by a release before: the keys it knows mean what they meant.
    assert {k: new[k] for k in old} == old
    assert old["top_d"] == list(b.top_d)
