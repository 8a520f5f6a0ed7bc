"""Outbox entries (the alerts score_and_alert commits before it publishes them) carry a format,
and readers of every format read each other's entries, in both directions.

The older readers are frozen here as their releases run them (copied from the released code,
not imported: the point is what already-deployed code does with what this release writes).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

import pytest

from rotorwatch.alerting.alerts import ALERT_FORMAT, ALERT_FORMAT_FIELD, Alert
from rotorwatch.alerting.state_item import read_state

#: 0.1.0's Alert fields, none with a default (git show 2fdb943:rotorwatch/alerting/alerts.py).
FIELDS_0_1: tuple[str, ...] = (
    "kind",
    "device_id",
    "site",
    "state",
    "previous_state",
    "ts",
    "seq",
    "since_ms",
    "fault",
    "fault_confidence",
    "iso_zone",
    "velocity_rms_mm_s",
    "trend",
    "degraded",
)


def read_format_1(text: str) -> dict[str, Any]:
    """The tolerant reader of format 1 (the first with it: keeps the fields it knows, ignores
    the rest), over the fields of that release's Alert: what a rollback to it runs."""
    known = {f.name for f in fields(Alert)} - {ALERT_FORMAT_FIELD}
    entry = json.loads(text)
    missing = [f for f in FIELDS_0_1 if f not in entry]
    if missing:
        raise TypeError(f"missing {missing}")
    return {k: v for k, v in entry.items() if k in known}


def _alert(**kw: Any) -> Alert:
    base: dict[str, Any] = {
        "kind": "RISE",
        "device_id": "pump-01",
        "site": "plant-a",
        "state": "ALARM",
        "previous_state": "HEALTHY",
        "ts": 1_763_900_000_000,
        "seq": 7,
        "since_ms": 1_763_899_000_000,
        "fault": "outer_race",
        "fault_confidence": 0.81,
        "iso_zone": "C",
        "velocity_rms_mm_s": 5.2,
        "trend": "rising",
        "degraded": False,
        "sensor_cause": "temperature",
        "sensor_reason": "hot",
        "sensor_since_ms": 1_763_899_500_000,
        "remaining_life_s": 86_400.0,
        "remaining_life_low_s": 43_200.0,
        "remaining_life_high_s": 172_800.0,
        "remaining_life_limit": "ISO zone D",
    }
    return Alert(**{**base, **kw})


def test_every_entry_the_writer_queues_names_its_format() -> None:
    entry = json.loads(_alert().to_json())
    assert entry[ALERT_FORMAT_FIELD] == ALERT_FORMAT == 2


def test_this_release_reads_the_entries_older_releases_queued() -> None:
    alert = _alert()
    # 0.1.0 wrote its 14 fields; the format-1 entries after it added the sensor and life ones.
    as_0_1 = json.dumps({k: v for k, v in asdict(alert).items() if k in FIELDS_0_1})
    as_format_1 = json.dumps(asdict(alert))
    got_0_1 = Alert.from_json(as_0_1)
    assert asdict(got_0_1) == {
        **asdict(alert),
        **{f.name: f.default for f in fields(Alert) if f.name not in FIELDS_0_1},
    }
    assert Alert.from_json(as_format_1) == alert


def test_an_older_reader_reads_what_this_release_queues() -> None:
    """Rollback: the format-1 reader (a release before the field) gets every field it knows,
    unchanged, from a format-2 entry."""
    alert = _alert()
    got = read_format_1(alert.to_json())
    assert got == asdict(alert)


def test_this_release_reads_what_a_newer_release_queues() -> None:
    """A newer format adds fields (with defaults, the rule ALERT_FORMAT states): read, the new
    ones ignored, so a rollback to this release sends the alert."""
    alert = _alert()
    newer = {**json.loads(alert.to_json()), ALERT_FORMAT_FIELD: ALERT_FORMAT + 1}
    newer |= {"runbook_url": "https://example.org/rb", "crew": {"on_call": "B"}}
    assert Alert.from_json(json.dumps(newer)) == alert


@pytest.mark.parametrize("fmt", [0, -1, "2", True, None, 1.5])
def test_an_entry_of_no_format_number_is_dropped_not_retried(fmt: Any) -> None:
    """A format that is not a positive integer is not an outbox entry of any release: the
    state reader drops it (retrying could never succeed) and keeps the readable ones."""
    good = _alert().to_json()
    bad = json.dumps({**json.loads(good), ALERT_FORMAT_FIELD: fmt})
    with pytest.raises(ValueError, match="not a format number"):
        Alert.from_json(bad)
    stored = read_state({"device_id": "pump-01", "pending_alert": json.dumps([bad, good])})
    assert stored.healed == ("pending_alert",)
    assert stored.state.pending_alert == json.dumps([good])
