"""The device-silent decision: one NO_DATA per silence, one notice when data resumes."""

from __future__ import annotations

import pytest

from rotorwatch.alerting.alert_messages import SMS_MAX_CHARS
from rotorwatch.alerting.alerts import DeviceState
from rotorwatch.alerting.silence import (
    NO_DATA,
    SilencePolicy,
    decide,
    message,
    message_attributes,
    short_message,
    subject,
)
from rotorwatch.deployment import resources

MIN_MS = 60_000
SEEN = 1_763_900_000_000
POLICY = SilencePolicy(silence_after_ms=30 * MIN_MS)


def state(**kw: object) -> DeviceState:
    base: dict[str, object] = {
        "device_id": "pump-01",
        "site": "plant-a",
        "last_ts": SEEN - 5_000,
        "last_seq": 7,
        "last_seen_ms": SEEN,
    }
    return DeviceState(**{**base, **kw})  # type: ignore[arg-type]


def test_quiet_until_the_gap_then_one_no_data() -> None:
    assert decide(state(), SEEN + 30 * MIN_MS - 1, POLICY) is None
    n = decide(state(), SEEN + 30 * MIN_MS, POLICY)
    assert n is not None
    assert n.kind == "NO_DATA"
    assert n.severity == NO_DATA
    assert n.gap_ms == 30 * MIN_MS
    assert n.notice_id == f"pump-01:{SEEN}:NO_DATA"
    # Once recorded for this silence, later checks stay quiet however long it lasts.
    assert decide(state(no_data_for_ms=SEEN), SEEN + 600 * MIN_MS, POLICY) is None


def test_data_resumed_after_a_no_data_alert_then_quiet() -> None:
    back = SEEN + 90 * MIN_MS
    n = decide(state(last_seen_ms=back, no_data_for_ms=SEEN), back + MIN_MS, POLICY)
    assert n is not None
    assert n.kind == "DATA_RESUMED"
    assert n.severity == "DATA_RESUMED"
    assert n.gap_ms == 90 * MIN_MS
    assert decide(state(last_seen_ms=back), back + MIN_MS, POLICY) is None


def test_a_new_silence_after_a_short_return_alerts_again() -> None:
    # Back briefly (the resumed notice not sent yet), then silent again: a new silence.
    back = SEEN + 40 * MIN_MS
    n = decide(state(last_seen_ms=back, no_data_for_ms=SEEN), back + 31 * MIN_MS, POLICY)
    assert n is not None
    assert n.kind == "NO_DATA"
    assert n.silent_since_ms == back


def test_unknown_last_seen_is_not_judged_and_device_clock_is_ignored() -> None:
    assert decide(state(last_seen_ms=None), SEEN + 1000 * MIN_MS, POLICY) is None
    # The device's own window time far in the past does not make a reporting device silent.
    assert decide(state(last_ts=0), SEEN + MIN_MS, POLICY) is None


def test_policy_rejects_non_positive_gap() -> None:
    with pytest.raises(ValueError, match="silence_after_ms"):
        SilencePolicy(silence_after_ms=0)


def test_messages_and_attributes() -> None:
    n = decide(state(), SEEN + 95 * MIN_MS, POLICY)
    assert n is not None
    assert subject(n) == "[rotorwatch] NO DATA from pump-01 for 1 h 35 min"
    text = message(n)
    assert "received nothing new from pump-01 at plant-a for 1 h 35 min" in text
    assert "Last data received: 2025-11-23 12:13 UTC" in text
    assert len(short_message(n)) <= SMS_MAX_CHARS
    assert message_attributes(n) == {"severity": NO_DATA, "device_id": "pump-01", "site": "plant-a"}
    # Every severity the watchdog sends is one the topic's subscriptions know about.
    assert NO_DATA in resources.ALERT_SEVERITIES
    assert "DATA_RESUMED" in resources.EMAIL_SEVERITIES
    assert "DATA_RESUMED" not in resources.SMS_SEVERITIES
    assert NO_DATA not in resources.SMS_SEVERITIES  # a silent device is not a page


def test_state_item_round_trip_keeps_silence_fields() -> None:
    s = state(no_data_for_ms=SEEN - 1)
    assert DeviceState.from_item(s.to_item()) == s


def test_windows_that_arrive_but_cannot_be_applied_point_at_the_device_clock() -> None:
    now = SEEN + 45 * MIN_MS
    # Windows kept arriving (received 2 min ago) but none applied for 45 min: a clock jump.
    n = decide(state(last_received_ms=now - 2 * MIN_MS), now, POLICY)
    assert n is not None
    assert n.kind == "NO_DATA"
    assert n.clock_suspect
    assert n.severity == NO_DATA  # same e-mail channel: somebody looks at the device
    assert "clock" in subject(n)
    assert "clock jumped" in message(n)
    assert "clock" in short_message(n)
    assert len(short_message(n)) <= SMS_MAX_CHARS
    # Nothing received either: a silent device, not a clock.
    quiet = decide(state(last_received_ms=SEEN), now, POLICY)
    assert quiet is not None
    assert not quiet.clock_suspect
    assert "NO DATA from pump-01 for 45 min" in subject(quiet)
