"""The per-device alert state machine and its messages (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from rotorwatch.alerting.alert_messages import (
    SMS_MAX_CHARS,
    TREND_QUERY_NAME,
    message,
    message_attributes,
    short_message,
    subject,
)
from rotorwatch.alerting.alerts import Alert, AlertPolicy, DeviceState, step
from rotorwatch.diagnosis.end_of_life import EndOfLife
from rotorwatch.diagnosis.life import update
from rotorwatch.diagnosis.predictions import FAULTS
from rotorwatch.lake.query import AthenaTarget

TS0 = 1_763_900_000_000
MIN = 60_000
POLICY = AlertPolicy(window_n=5, alarm_k=3, warning_k=2, recovery_m=3, cooldown_ms=15 * MIN)
ZONE = {"HEALTHY": ("A", 1.0), "WARNING": ("C", 3.5), "ALARM": ("D", 6.0)}
LETTER = {"H": "HEALTHY", "W": "WARNING", "A": "ALARM"}


def prediction(seq: int, state: str, *, spacing_ms: int = 5 * MIN) -> dict[str, Any]:
    zone, velocity = ZONE[state]
    return {
        "device_id": "fan-7",
        "site": "plant-b",
        "ts": TS0 + seq * spacing_ms,
        "seq": seq,
        "state": state,
        "fault": "imbalance" if state != "HEALTHY" else "normal",
        "fault_confidence": 0.7,
        "iso_zone": zone,
        "velocity_rms_mm_s": velocity,
        "degraded": False,
    }


def run(
    points: str, *, policy: AlertPolicy = POLICY, spacing_ms: int = 5 * MIN
) -> tuple[DeviceState, list[Alert]]:
    state = DeviceState(device_id="fan-7")
    alerts = []
    for seq, letter in enumerate(points):
        state, alert = step(state, prediction(seq, LETTER[letter], spacing_ms=spacing_ms), policy)
        if alert:
            alerts.append(alert)
    return state, alerts


def severities(alerts: list[Alert]) -> list[str]:
    return [a.severity for a in alerts]


def test_occasional_exceedance_only_warns() -> None:
    state, alerts = run("HHHAHHHHHH")
    assert severities(alerts) == ["WARNING", "RECOVERY"]
    assert state.state == "HEALTHY"


def test_single_warning_point_is_not_an_alert() -> None:
    _, alerts = run("HHWHHHHHWHH")
    assert alerts == []


def test_persistent_alarm_points_alarm_once() -> None:
    state, alerts = run("HHAAAAAAAA")
    assert severities(alerts) == ["WARNING", "ALARM"]
    assert state.state == "ALARM"
    assert alerts[1].since_ms == TS0 + 2 * 5 * MIN  # the episode began at the first ALARM point


def test_no_flapping_between_warning_and_alarm() -> None:
    _, alerts = run("AAAWAWAWAWAW")
    assert severities(alerts) == ["WARNING", "ALARM"]


def test_recovery_needs_m_consecutive_healthy_windows() -> None:
    state, alerts = run("AAAAHHAHH")
    assert severities(alerts) == ["WARNING", "ALARM"]
    assert state.state == "ALARM"
    _, alerts = run("AAAAHHH")
    assert severities(alerts)[-1] == "RECOVERY"


def test_cooldown_delays_recovery_after_a_recent_alert() -> None:
    # One-minute windows: three healthy windows come 3 minutes after the alarm, inside the
    # 15-minute cooldown, so the recovery notice waits until the cooldown has passed.
    _, alerts = run("AAA" + "H" * 20, spacing_ms=MIN)
    recovery = alerts[-1]
    assert recovery.severity == "RECOVERY"
    assert recovery.ts - alerts[-2].ts >= POLICY.cooldown_ms
    assert recovery.seq == 2 + 15


def test_a_point_at_or_before_the_last_window_changes_nothing() -> None:
    state, _ = run("HHAAA")
    for seq in (4, 3, 0):
        again, alert = step(state, prediction(seq, "ALARM"), POLICY)
        assert again is state
        assert alert is None


def test_after_recovery_old_points_do_not_retrigger() -> None:
    _, alerts = run("HAHHHHHHHH")
    assert severities(alerts) == ["WARNING", "RECOVERY"]


def test_state_item_round_trip_with_dynamodb_numbers() -> None:
    state, _ = run("HHAAAA")
    item = json.loads(json.dumps(state.to_item()), parse_float=Decimal)
    assert DeviceState.from_item(item) == state


def test_state_item_with_remaining_life_reads_both_ways() -> None:
    life = None
    for i in range(30):
        life = update(
            life,
            EndOfLife("velocity_rms_mm_s", 4.5),
            i * 600_000,
            1.0 + i / 100,
            learning_windows=10,
        )
    state, _ = run("HHAAAA")
    newer = replace(
        state,
        life=life,
        remaining_life_s=3600.0,
        remaining_life_low_s=1800.0,
        remaining_life_high_s=7200.0,
        remaining_life_limit="zone D",
    )
    item = json.loads(json.dumps(newer.to_item()), parse_float=Decimal)
    assert DeviceState.from_item(item) == newer
    # A newer reader on an item written before remaining life: no trend yet, no estimate.
    older_item = {k: v for k, v in item.items() if not k.startswith(("life", "remaining_life"))}
    assert DeviceState.from_item(older_item) == state
    # An older reader ignores what it does not know: fields a later version adds, or a trend
    # stored in another format, are skipped, not fatal.
    future = {**item, "some_later_field": 1, "life": {**item["life"], "format": 99}}
    assert DeviceState.from_item(future) == replace(newer, life=None)


def test_an_outbox_alert_from_before_remaining_life_still_reads() -> None:
    _, alerts = run("HHHHAAAA")
    old = json.loads(alerts[-1].to_json())
    for key in (
        "remaining_life_s",
        "remaining_life_low_s",
        "remaining_life_high_s",
        "remaining_life_limit",
    ):
        del old[key]
    again = Alert.from_json(json.dumps(old))
    assert "Remaining life: no estimate yet" in message(again)


def test_remaining_life_in_the_alert_text() -> None:
    _, alerts = run("HHHHAAAA")
    alarm = replace(
        alerts[-1],
        remaining_life_s=12 * 86400.0,
        remaining_life_low_s=8 * 86400.0,
        remaining_life_high_s=20 * 86400.0,
        remaining_life_limit="zone D",
    )
    assert "Remaining life: at this rate, zone D in about 12 days (8-20 days)" in message(alarm)
    none = replace(
        alarm, remaining_life_s=None, remaining_life_low_s=None, remaining_life_high_s=None
    )
    assert (
        "Remaining life: no estimate yet: too little of the degradation seen to say when it reaches zone D"
        in message(none)
    )
    reached = replace(
        alarm, remaining_life_s=0.0, remaining_life_low_s=0.0, remaining_life_high_s=0.0
    )
    assert "Remaining life: zone D reached" in message(reached)


def test_trend_and_message_contents() -> None:
    _, alerts = run("HHHHAAAA")
    alarm = alerts[-1]
    assert alarm.trend.startswith("rising: 1.0 -> 6.0 mm/s")
    text = message(alarm, athena=AthenaTarget("analysts", "rotorwatch_dev"))
    for expected in (
        "ALARM: fan-7 at plant-b (was WARNING)",
        "Probable fault: imbalance (right 70% of the time on held-out simulated machines)",
        "ISO 10816-3 zone: D, velocity RMS 6.00 mm/s",
        "Since: 2025-11-23 12:33 UTC",  # the first ALARM point (seq 4)
        "Trend: rising",
        f"Athena saved query '{TREND_QUERY_NAME}' in workgroup analysts (database rotorwatch_dev) with device_id='fan-7', since='2025-11-22 12:33:20'",
    ):
        assert expected in text
    assert subject(alarm) == "[rotorwatch] ALARM fan-7: imbalance"
    assert message_attributes(alarm) == {
        "severity": "ALARM",
        "device_id": "fan-7",
        "site": "plant-b",
    }


@pytest.mark.parametrize(
    ("confidence", "shown"),
    [(0.9999, "99%"), (1.0, "99%"), (0.995, "99%"), (0.987, "98%"), (0.5, "50%"), (0.0, "0%")],
)
def test_no_alert_says_100_percent(confidence: float, shown: str) -> None:
    """A figure from a state an older (uncalibrated) model stored, or rounding, never reads as
    certainty: the shown confidence is floored and capped at the calibration's cap."""
    _, alerts = run("HHHHAAAA")
    alarm = replace(alerts[-1], fault_confidence=confidence)
    text = message(alarm)
    assert f"(right {shown} of the time on held-out simulated machines)" in text
    assert "100%" not in text
    assert "100 %" not in text


def test_a_sensor_alert_shows_no_figure_for_a_healthy_vibration() -> None:
    _, alerts = run("HHHHAAAA")
    alarm = replace(
        alerts[-1], fault="normal", fault_confidence=0.00007, sensor_cause="temperature_high"
    )
    assert "Probable fault: normal\n" in message(alarm)


@pytest.mark.parametrize(
    ("zone", "short", "why"),
    [
        ("B", "off its baseline", "the vibration is unlike this machine's own baseline"),
        ("C", "no fault named", "the velocity is in ISO 10816-3 zone C"),
        ("D", "no fault named", "the velocity is in ISO 10816-3 zone D"),
    ],
)
def test_a_vibration_alert_with_no_fault_named_says_what_raised_it(
    zone: str, short: str, why: str
) -> None:
    """A window the device's baseline (zone B) or the ISO zone raised, with no fault's
    signature in it (FEMTO's 0.1 s windows read no line): "WARNING fan-7: normal" told the
    technician nothing, or the opposite of the page."""
    _, alerts = run("HHHHWWWW")
    warning = replace(alerts[-1], fault="normal", fault_confidence=None, iso_zone=zone)
    assert subject(warning).endswith(f"fan-7: {short}")
    assert f"fan-7@plant-b: {short}, ISO {zone}" in short_message(warning)
    assert f"Probable fault: none named: {why}" in message(warning)


@pytest.mark.parametrize("kind", ["WARNING", "ALARM"])
@pytest.mark.parametrize("fault", [*FAULTS, None])
@pytest.mark.parametrize("zone", ["A", "B", "C", "D", None])
@pytest.mark.parametrize("sensor", [None, "temperature_high"])
def test_no_page_names_normal_as_what_is_wrong(
    kind: str, fault: str | None, zone: str | None, sensor: str | None
) -> None:
    """The class: whatever raised a WARNING or ALARM, its subject and SMS never give "normal"
    as what is wrong; the e-mail says the vibration is normal only beside a sensor's cause."""
    _, alerts = run("HHHHAAAA")
    alert = replace(
        alerts[-1], state=kind, fault=fault, iso_zone=zone, sensor_cause=sensor,
        sensor_reason=None if sensor is None else "temperature 95 degC above its limit 90 degC",
    )  # fmt: skip
    assert not subject(alert).endswith(": normal")
    assert ": normal," not in short_message(alert)
    if "Probable fault: normal" in message(alert):
        assert sensor is not None


def test_the_rules_figure_is_not_shown_as_a_measured_one() -> None:
    """Degraded (the model unavailable): the rules' confidence is a heuristic, not measured."""
    _, alerts = run("HHHHAAAA")
    alarm = replace(alerts[-1], degraded=True, fault_confidence=0.7)
    text = message(alarm)
    assert "Probable fault: imbalance\n" in text
    assert "of the time" not in text


def test_sms_form_fits_one_segment() -> None:
    _, alerts = run("AAAAHHHHHH")
    long_id = DeviceState(device_id="x" * 128)
    _state, alert = step(long_id, {**prediction(0, "ALARM"), "device_id": "x" * 128}, POLICY)
    assert alert is not None
    for a in [*alerts, alert]:
        assert len(short_message(a)) <= SMS_MAX_CHARS
    assert short_message(alerts[0]).startswith("RW WARNING fan-7@plant-b: imbalance, ISO D 6.0mm/s")


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="alarm_k"):
        AlertPolicy(window_n=3, alarm_k=4)
