"""The technician's answer to an alert: verdicts, records, which answer stands, what it changes.

An alert is no longer one-way. Every WARNING/ALARM carries links (e-mail: one per verdict; SMS:
one short link to a page offering them; signed by :mod:`.feedback_links`, worded by
:mod:`.feedback_pages`) that let whoever received it say what they found.

**Answers** (:class:`Answer`): ``confirmed`` (the named fault is real), ``other_fault`` (something
is wrong, but not that), ``no_fault_found``, ``repaired`` (repaired or replaced). The first answer
wins; a later one changes the record only when it says it is a correction, at most
:data:`MAX_CORRECTIONS` times per alert (:func:`decide`); every attempt, taken or not, is
audited with its time and channel (counted in the alert's item, kept in its history, logged).

**Effects** (:func:`effects`): ``repaired`` restarts the device's baseline (the machine's healthy
behaviour after maintenance is a new normal) and closes the alert; ``no_fault_found`` mutes that
fault for that device (:class:`Mute`) for a configurable time, up to the severity the technician
judged, and is counted; ``confirmed`` and ``other_fault`` are labels only. What answers become in
the lake and as training labels: :mod:`.feedback_lake`.

Pure: no AWS, no clock. Adapters pass times and records in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from rotorwatch.alerting.feedback_links import alert_ref
from rotorwatch.diagnosis.predictions import STATES
from rotorwatch.diagnosis.scoring import state_rank

#: Concurrent executions the feedback function reserves where the stage reserves any (its API
#: stage is throttled to 5 requests/s), and its key rotation (one step at a time).
FEEDBACK_RESERVED_CONCURRENCY: Final = 5
KEY_ROTATION_RESERVED_CONCURRENCY: Final = 1
#: How long "no fault found" mutes that fault for that device (ms) unless configured.
DEFAULT_MUTE_MS: Final = 7 * 86_400_000

CONFIRMED: Final = "confirmed"
OTHER_FAULT: Final = "other_fault"
NO_FAULT_FOUND: Final = "no_fault_found"
REPAIRED: Final = "repaired"
#: Every verdict, in the order links and pages offer them.
VERDICTS: Final[tuple[str, ...]] = (CONFIRMED, OTHER_FAULT, NO_FAULT_FOUND, REPAIRED)
#: Verdicts that say the alert was right (a fault was there) and the one that says it was not;
#: precision = right / (right + wrong). ``repaired`` counts as right: someone found something
#: worth repairing.
RIGHT_VERDICTS: Final[tuple[str, ...]] = (CONFIRMED, OTHER_FAULT, REPAIRED)
WRONG_VERDICTS: Final[tuple[str, ...]] = (NO_FAULT_FOUND,)
VERDICT_LABELS: Final[dict[str, str]] = {
    CONFIRMED: "Confirmed: {fault}",
    OTHER_FAULT: "Another fault",
    NO_FAULT_FOUND: "No fault found",
    REPAIRED: "Repaired or replaced",
}

Channel = Literal["email", "sms", "cli", "demo"]
CHANNELS: Final[tuple[str, ...]] = ("email", "sms", "cli", "demo")

#: Free-text limits (characters): a phone form, not an essay; keeps items and rows small.
ACTION_MAX_CHARS: Final = 200
NOTE_MAX_CHARS: Final = 500

#: Version of the stored alert record, answer and mute items (DynamoDB) and lake rows.
RECORD_VERSION: Final = 1


class AnswerError(ValueError):
    """An answer that is not valid (unknown verdict, text too long)."""


def fault_key(fault: str | None) -> str:
    """What a mute is about: the alert's claimed fault (or sensor cause), 'unknown' if none."""
    return fault or "unknown"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """What the feedback endpoint knows of an alert it may be asked about (registered when the
    alert is published)."""

    alert_id: str
    device_id: str
    site: str | None
    severity: str
    fault: str | None  # the claimed fault (the sensor cause when a sensor raised the alert)
    ts: int  # the window that raised the alert (epoch ms)
    created_ms: int

    @property
    def ref(self) -> str:
        return alert_ref(self.alert_id)

    def to_item(self) -> dict[str, Any]:
        item = {
            "record_version": RECORD_VERSION,
            "alert_id": self.alert_id,
            "device_id": self.device_id,
            "site": self.site,
            "severity": self.severity,
            "fault": self.fault,
            "ts": self.ts,
            "created_ms": self.created_ms,
        }
        return {k: v for k, v in item.items() if v is not None}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AlertRecord:
        version = int(item.get("record_version", 0))
        if version != RECORD_VERSION:
            raise ValueError(f"alert record version {version} is not {RECORD_VERSION}")
        return cls(
            alert_id=str(item["alert_id"]),
            device_id=str(item["device_id"]),
            site=item.get("site"),
            severity=str(item["severity"]),
            fault=item.get("fault"),
            ts=int(item["ts"]),
            created_ms=int(item["created_ms"]),
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """One technician's answer to one alert."""

    verdict: str
    channel: str
    answered_ms: int
    fault_found: str | None = None  # with other_fault: what it was
    action: str | None = None  # what was done ("replaced drive-end bearing")
    note: str | None = None
    correction: bool = False  # replaces an earlier answer (otherwise the first answer wins)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise AnswerError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")
        if self.channel not in CHANNELS:
            raise AnswerError(f"channel must be one of {', '.join(CHANNELS)}")
        for name, limit in (
            ("fault_found", ACTION_MAX_CHARS),
            ("action", ACTION_MAX_CHARS),
            ("note", NOTE_MAX_CHARS),
        ):
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                raise AnswerError(f"{name} is longer than {limit} characters")

    def to_item(self) -> dict[str, Any]:
        item = {
            "verdict": self.verdict,
            "channel": self.channel,
            "answered_ms": self.answered_ms,
            "fault_found": self.fault_found,
            "action": self.action,
            "note": self.note,
            "correction": self.correction,
        }
        return {k: v for k, v in item.items() if v is not None}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Answer:
        return cls(
            verdict=str(item["verdict"]),
            channel=str(item["channel"]),
            answered_ms=int(item["answered_ms"]),
            fault_found=item.get("fault_found"),
            action=item.get("action"),
            note=item.get("note"),
            correction=bool(item.get("correction", False)),
        )


def clean_text(value: str | None) -> str | None:
    """Free text as stored: stripped, control characters dropped, empty -> None."""
    if value is None:
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text or None


Decision = Literal["accepted", "corrected", "duplicate", "already_answered", "correction_limit"]

#: Corrections one alert takes after its first answer. Each correction can act again (a
#: correction to ``repaired`` restarts the baseline, throwing away what it had learned; one
#: to or from ``no_fault_found`` sets or lifts a mute) and re-labels the alert's windows for
#: training, and a link works for 14 days for whoever holds it (a forwarded e-mail, a shared
#: phone). Three covers a wrong tap, the colleague who looked closer, and the workshop's
#: finding after the part came out; an alert argued about beyond that needs a conversation,
#: not a fourth flip. Attempts past the cap change nothing and are audited like any other.
MAX_CORRECTIONS: Final = 3


def decide(current: Answer | None, new: Answer, corrections: int = 0) -> Decision:
    """Whether ``new`` replaces ``current`` (the stored answer, None if there is none), given
    the ``corrections`` already taken for this alert.

    * no answer yet: ``accepted`` (a "correction" of nothing is a first answer);
    * the same verdict again, not a correction: ``duplicate`` (a replayed link, a double tap);
    * another verdict, not a correction: ``already_answered`` (the first answer wins);
    * a correction to another answer: ``corrected``, unless :data:`MAX_CORRECTIONS` were taken
      already: ``correction_limit``; a correction that says what the record already says is a
      ``duplicate`` (a replayed correction must not restart a baseline twice).
    """
    if corrections < 0:
        raise ValueError("corrections must be >= 0")
    if current is None:
        return "accepted"
    same = (new.verdict, new.fault_found, new.action) == (
        current.verdict,
        current.fault_found,
        current.action,
    )
    if new.correction and not same:
        return "corrected" if corrections < MAX_CORRECTIONS else "correction_limit"
    return "duplicate" if new.verdict == current.verdict else "already_answered"


@dataclass(frozen=True, slots=True)
class Mute:
    """No alerts of ``fault`` on ``device_id`` up to ``max_severity`` until ``until_ms``."""

    device_id: str
    fault: str
    until_ms: int
    max_severity: str  # WARNING or ALARM: what the technician looked at
    alert_id: str  # the alert whose "no fault found" set it

    def silences(self, severity: str, fault: str | None, now_ms: int) -> bool:
        """Whether an alert of ``severity`` about ``fault`` at ``now_ms`` is muted.

        A rise above what the technician judged (an ALARM after a WARNING was found harmless)
        still goes out, and so does every recovery notice."""
        if severity not in STATES or now_ms >= self.until_ms or fault_key(fault) != self.fault:
            return False
        return state_rank(severity) <= state_rank(self.max_severity)

    def to_item(self) -> dict[str, Any]:
        return {
            "record_version": RECORD_VERSION,
            "device_id": self.device_id,
            "fault": self.fault,
            "until_ms": self.until_ms,
            "max_severity": self.max_severity,
            "alert_id": self.alert_id,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Mute:
        return cls(
            device_id=str(item["device_id"]),
            fault=str(item["fault"]),
            until_ms=int(item["until_ms"]),
            max_severity=str(item["max_severity"]),
            alert_id=str(item["alert_id"]),
        )


@dataclass(frozen=True, slots=True)
class Effects:
    """What an accepted answer changes beyond its own record."""

    restart_baseline: bool = False
    close_alert: bool = False
    mute: Mute | None = None
    #: Lift the mute this alert set (a correction away from "no fault found").
    lift_mute: bool = False


def effects(
    alert: AlertRecord, answer: Answer, previous: Answer | None, *, mute_ms: int = DEFAULT_MUTE_MS
) -> Effects:
    """The effects of an answer :func:`decide` accepted or corrected.

    A correction cannot un-restart a baseline (what was learned is gone), but it can lift a mute
    the earlier "no fault found" set.
    """
    if mute_ms <= 0:
        raise ValueError("mute_ms must be > 0")
    lift = previous is not None and previous.verdict == NO_FAULT_FOUND
    if answer.verdict == REPAIRED:
        return Effects(restart_baseline=True, close_alert=True, lift_mute=lift)
    if answer.verdict == NO_FAULT_FOUND:
        mute = Mute(
            device_id=alert.device_id,
            fault=fault_key(alert.fault),
            until_ms=answer.answered_ms + mute_ms,
            max_severity=alert.severity if alert.severity in STATES else STATES[-1],
            alert_id=alert.alert_id,
        )
        return Effects(mute=mute)
    return Effects(lift_mute=lift)
