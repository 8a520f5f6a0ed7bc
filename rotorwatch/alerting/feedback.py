"""The technician's answer to an alert: signed links, verdicts, what an answer changes, labels.

An alert is no longer one-way. Every WARNING/ALARM carries links (e-mail: one per verdict; SMS:
one short link to a page offering them) that let whoever received it say what they found.

**Links** are capabilities: ``<base>/f/<token>`` where the token (format version 1) is

    1.<ref>.<expires>.<mac>

* ``ref``: :func:`alert_ref`, 16 base32 characters of SHA-256 over the alert id (80 bits): short
  enough for an SMS, and the feedback table maps it back to the alert;
* ``expires``: epoch seconds, base 36;
* ``mac``: HMAC-SHA256 over the version, ref and expiry, with a secret key, truncated to 128 bits
  (22 base64url characters), compared in constant time (:func:`hmac.compare_digest`).

So a link names one alert and nothing else: no login, and nothing else is reachable with it.
The verdict is NOT in the signed part: the link authorises answering *this* alert; which answer
is the technician's choice (query parameter or form field). Verification accepts a list of keys
(the current one and the one before the last rotation), so rotating the key does not break links
already in people's inboxes.

**Answers** (:class:`Answer`): ``confirmed`` (the named fault is real), ``other_fault`` (something
is wrong, but not that), ``no_fault_found``, ``repaired`` (repaired or replaced). The first answer
wins; a later one changes the record only when it says it is a correction, at most
:data:`MAX_CORRECTIONS` times per alert (:func:`decide`); every attempt, taken or not, is
audited with its time and channel (counted in the alert's item, kept in its history, logged).

**Effects** (:func:`effects`): ``repaired`` restarts the device's baseline (the machine's healthy
behaviour after maintenance is a new normal) and closes the alert; ``no_fault_found`` mutes that
fault for that device (:class:`Mute`) for a configurable time, up to the severity the technician
judged, and is counted; ``confirmed`` and ``other_fault`` are labels only.

Pure: no AWS, no clock. Adapters pass keys, times and records in.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

from rotorwatch.diagnosis.predictions import STATES
from rotorwatch.diagnosis.scoring import state_rank
from rotorwatch.lake import layout as lake

#: Token format version (the first field of every token). A new format gets a new number;
#: verification refuses versions it does not know.
TOKEN_VERSION: Final = "1"
#: Bytes of the truncated HMAC-SHA256 in a token (128 bits: forging one takes ~2^128 guesses,
#: and the endpoint is throttled).
MAC_BYTES: Final = 16
#: Characters of the alert reference (base32 of SHA-256 over the alert id: 80 bits).
REF_CHARS: Final = 16
#: Minimum key length (bytes): a 256-bit random key, as the HMAC-SHA256 block allows.
MIN_KEY_BYTES: Final = 32
#: Domain separation: a MAC over a feedback token cannot be one over anything else.
_MAC_CONTEXT: Final = b"rotorwatch-feedback"

#: Concurrent executions the feedback function reserves where the stage reserves any (its API
#: stage is throttled to 5 requests/s), and its key rotation (one step at a time).
FEEDBACK_RESERVED_CONCURRENCY: Final = 5
KEY_ROTATION_RESERVED_CONCURRENCY: Final = 1
#: How long a link works (seconds): two weeks covers a technician's rounds and a holiday.
DEFAULT_LINK_TTL_S: Final = 14 * 86_400
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


class LinkError(ValueError):
    """A token that does not authorise anything. ``reason`` is for logs, never for the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AnswerError(ValueError):
    """An answer that is not valid (unknown verdict, text too long)."""


def alert_ref(alert_id: str) -> str:
    """The short, stable reference of an alert id that links carry (lowercase base32)."""
    digest = hashlib.sha256(alert_id.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:REF_CHARS].lower()


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _mac(key: bytes, ref: str, expires: str) -> str:
    msg = b"\n".join((_MAC_CONTEXT, TOKEN_VERSION.encode(), ref.encode(), expires.encode()))
    tag = hmac.new(key, msg, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(tag).decode("ascii").rstrip("=")


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a feedback key must have at least {MIN_KEY_BYTES} bytes")


def sign(key: bytes, alert_id: str, expires_s: int) -> str:
    """A token that lets its holder answer the alert ``alert_id`` until ``expires_s`` (epoch s)."""
    _check_key(key)
    if expires_s < 0:
        raise ValueError("expires_s must be >= 0")
    ref, expires = alert_ref(alert_id), _b36(expires_s)
    return ".".join((TOKEN_VERSION, ref, expires, _mac(key, ref, expires)))


def verify(token: str, keys: Sequence[bytes], now_s: int) -> str:
    """The alert reference a token authorises, or :class:`LinkError`.

    Every key is tried (current, previous) and each comparison is constant-time; the expiry is
    checked only after the MAC, so an expired-but-forged token says "signature", not "expired".
    """
    if not keys:
        raise LinkError("no_key")
    parts = token.split(".")
    if len(parts) != 4:
        raise LinkError("malformed")
    version, ref, expires, mac = parts
    if version != TOKEN_VERSION:
        raise LinkError("version")
    if (
        len(ref) != REF_CHARS
        or not ref.isascii()
        or not ref.isalnum()
        or not expires.isascii()
        or not expires.isalnum()
        or len(expires) > 12
    ):
        raise LinkError("malformed")
    good = False
    for key in keys:
        _check_key(key)
        # No early exit: the time taken does not tell which key (if any) matched.
        good |= hmac.compare_digest(
            _mac(key, ref, expires).encode(), mac.encode("ascii", "replace")
        )
    if not good:
        raise LinkError("signature")
    if int(expires, 36) < now_s:
        raise LinkError("expired")
    return ref


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


# ------------------------------------------------------------------------------------------
# Links in messages


#: Path of the feedback route below the API's base URL (the CDK route and the handler share it).
LINK_PATH: Final = "f"
#: Query parameter that pre-selects a verdict on the confirmation page.
VERDICT_PARAM: Final = "v"


def link(base_url: str, token: str, verdict: str | None = None) -> str:
    """The URL of a token (optionally pre-selecting a verdict)."""
    url = f"{base_url.rstrip('/')}/{LINK_PATH}/{token}"
    if verdict is not None:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        url += f"?{VERDICT_PARAM}={quote(verdict)}"
    return url


def verdict_label(verdict: str, fault: str | None) -> str:
    return VERDICT_LABELS[verdict].format(fault=fault or "the named fault")


def email_block(base_url: str, token: str, fault: str | None) -> str:
    """The lines appended to a WARNING/ALARM e-mail: one link per verdict."""
    lines = ["", "What did you find? (one tap; the page asks you to confirm)"]
    lines += [f"  {verdict_label(v, fault)}: {link(base_url, token, v)}" for v in VERDICTS]
    return "\n".join(lines)


def sms_with_link(text: str, url: str, max_chars: int) -> str:
    """An SMS that ends with ``url``: the text is cut, never the link."""
    room = max_chars - len(url) - 1
    if room < 10:
        return text[:max_chars]  # a link that leaves no room for the alert: alert wins
    return f"{text[:room].rstrip()} {url}"


# ------------------------------------------------------------------------------------------
# The confirmation page (plain HTML, no script, no external resources)


def page(title: str, body_html: str) -> str:
    """A minimal, self-contained page (``body_html`` must already be escaped)."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em}"
        "button{font-size:1.1em;margin:.3em 0;padding:.5em;width:100%}"
        "input,textarea{width:100%;font-size:1em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )


def describe_alert_html(alert: AlertRecord) -> str:
    where = f" at {alert.site}" if alert.site else ""
    return (
        f"<p><b>{html.escape(alert.severity)}</b>: {html.escape(alert.device_id)}"
        f"{html.escape(where)}, probable fault <b>{html.escape(fault_key(alert.fault))}</b>"
        f"<br><small>alert {html.escape(alert.alert_id)}</small></p>"
    )


def form_page(
    alert: AlertRecord,
    action_url: str,
    current: Answer | None,
    chosen: str | None,
    channel: str = "email",
    corrections: int = 0,
) -> str:
    """The page a link opens: what the alert was, and buttons that POST the answer.

    A GET never records anything: mail scanners and link previews open every link in an e-mail,
    and would otherwise answer for the technician.
    """
    parts = [describe_alert_html(alert)]
    correction = current is not None
    if current is not None:
        then = (
            "Sending another answer here corrects it."
            if corrections < MAX_CORRECTIONS
            else f"It was corrected {corrections} times, the most one alert takes: another "
            "answer here changes nothing."
        )
        parts.append(
            f"<p>Already answered: <b>{html.escape(verdict_label(current.verdict, alert.fault))}"
            f"</b> ({html.escape(current.channel)}). {html.escape(then)}</p>"
        )
    verdicts = (chosen,) if chosen in VERDICTS else VERDICTS
    buttons = "".join(
        f'<button name=verdict value="{html.escape(v)}">'
        f"{html.escape(verdict_label(v, alert.fault))}</button>"
        for v in verdicts
        if v is not None
    )
    hidden = f'<input type=hidden name=channel value="{html.escape(channel)}">'
    if correction:
        hidden += '<input type=hidden name=correction value="1">'
    parts.append(
        f'<form method=post action="{html.escape(action_url)}">{hidden}'
        f'<label>Fault found (if another)<input name=fault_found maxlength="{ACTION_MAX_CHARS}">'
        f'</label><label>Action taken<input name=action maxlength="{ACTION_MAX_CHARS}"></label>'
        f'<label>Note<textarea name=note maxlength="{NOTE_MAX_CHARS}"></textarea></label>'
        f"{buttons}</form>"
    )
    return page("rotorwatch: what did you find?", "".join(parts))


DECISION_TEXT: Final[dict[str, str]] = {
    "accepted": "Thank you: your answer is recorded.",
    "corrected": "Thank you: the answer is corrected.",
    "duplicate": "This answer was already recorded; nothing changed.",
    "already_answered": (
        "Someone answered this alert first; nothing changed. Open the link again to correct it."
    ),
    "correction_limit": (
        f"This alert's answer was corrected {MAX_CORRECTIONS} times already, the most one alert "
        "takes; nothing changed. Your attempt is kept in the alert's audit log: ask whoever "
        "runs rotorwatch to settle it."
    ),
}


def result_page(alert: AlertRecord, decision: Decision, verdict: str) -> str:
    return page(
        "rotorwatch: answer received",
        describe_alert_html(alert)
        + f"<p>{html.escape(DECISION_TEXT[decision])}</p>"
        + f"<p>Your answer: <b>{html.escape(verdict_label(verdict, alert.fault))}</b></p>",
    )


#: What a refused link sees: one message for every reason (no oracle for guessing tokens).
REFUSED_PAGE: Final = page(
    "rotorwatch: link not valid",
    "<p>This link is not valid or has expired. Answer with "
    "<code>rotorwatch feedback ALERT_ID --verdict ...</code>, or ask for a new alert.</p>",
)


# ------------------------------------------------------------------------------------------
# Labels in the lake (rotorwatch.lake.layout.FEEDBACK_TABLE)

ROW_ALERT: Final = "alert"
ROW_ANSWER: Final = "answer"


def alert_row(alert: AlertRecord) -> dict[str, Any]:
    """The lake row of an alert that could be answered (so unanswered alerts count)."""
    return {
        "record_version": RECORD_VERSION,
        "kind": ROW_ALERT,
        "alert_id": alert.alert_id,
        "device_id": alert.device_id,
        "site": alert.site,
        "severity": alert.severity,
        "fault_claimed": alert.fault,
        "alert_ts": alert.ts,
        "recorded_ms": alert.created_ms,
        "verdict": None,
        "fault_found": None,
        "action": None,
        "channel": None,
        "correction": None,
    }


def answer_row(alert: AlertRecord, answer: Answer) -> dict[str, Any]:
    """The lake row of an answer the record took (accepted or corrected)."""
    row = alert_row(alert)
    row.update(
        kind=ROW_ANSWER,
        recorded_ms=answer.answered_ms,
        verdict=answer.verdict,
        fault_found=answer.fault_found,
        action=answer.action,
        channel=answer.channel,
        correction=answer.correction,
    )
    return row


def lake_object(row: Mapping[str, Any]) -> tuple[str, bytes]:
    """(S3 key, gzip'd JSON line) of one lake row. The key is a hash of the row, so writing
    the same row twice (a retried publish, a replayed answer) overwrites, never duplicates."""
    line = json.dumps(row, separators=(",", ":"), sort_keys=True).encode("utf-8") + b"\n"
    name = f"{row['kind']}-{hashlib.sha256(line).hexdigest()[:24]}.json.gz"
    key = lake.object_key(lake.FEEDBACK_TABLE, int(row["recorded_ms"]), name)
    return key, gzip.compress(line, mtime=0)


# ------------------------------------------------------------------------------------------
# Labelled windows for training (rotorwatch train ... --labels, the SageMaker labels channel)

#: Windows before an alert that its answer labels (ms): the windows that raised it.
DEFAULT_LABEL_WINDOW_MS: Final = 3_600_000


def answer_label(row: Mapping[str, Any], faults: Sequence[str]) -> str | None:
    """The training label an answer row gives the windows that raised its alert, or None.

    ``confirmed`` / ``repaired``: the claimed fault; ``other_fault``: what was found;
    ``no_fault_found``: ``normal``. None when the fault is not a class the model learns (a
    sensor cause, free text): a label outside the classes would teach nothing true.
    """
    verdict = row.get("verdict")
    if verdict == NO_FAULT_FOUND:
        return "normal"
    fault = row.get("fault_found") if verdict == OTHER_FAULT else row.get("fault_claimed")
    return fault if fault in faults else None


#: What :func:`labelled_windows` counts (its ``audit`` argument's keys).
LABEL_AUDIT_KEYS: Final = (
    "answers",  # answer rows read
    "answers_superseded",  # earlier answers a correction replaced (the last correction wins)
    "answers_not_a_class",  # answers whose fault the model does not learn (a sensor cause)
    "windows_contradictory",  # windows two alerts' answers label differently (left out)
    "windows",  # windows labelled
)


def _row_order(row: Mapping[str, Any]) -> tuple[int, str]:
    # The later answer wins; the same millisecond is settled by content, never by file order.
    return int(row["recorded_ms"]), json.dumps(row, sort_keys=True, default=str)


def labelled_windows(
    feedback_rows: Sequence[Mapping[str, Any]],
    feature_records: Sequence[Mapping[str, Any]],
    faults: Sequence[str],
    *,
    window_ms: int = DEFAULT_LABEL_WINDOW_MS,
    audit: dict[str, int] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(feature records, label rows) for the windows technicians' answers label.

    The answer that stands per alert is its latest answer row (a correction replaces the first;
    the lake keeps both rows, and the feedback table the whole history). Each labels its
    device's windows in ``(alert_ts - window_ms, alert_ts]``. A window two alerts' answers label
    differently is left out (ambiguous). Label rows carry the alert and the time of the answer
    that stands (``alert_id``, ``recorded_ms``: rotorwatch.diagnosis.model.technician_labels settles any
    later duplicate by them). Output is sorted by (device, ts, seq), so the same lake gives the
    same files, and the same model. ``audit`` (if given) receives :data:`LABEL_AUDIT_KEYS`.
    """
    counts = dict.fromkeys(LABEL_AUDIT_KEYS, 0)
    latest: dict[str, Mapping[str, Any]] = {}
    for row in feedback_rows:
        if row.get("kind") != ROW_ANSWER:
            continue
        counts["answers"] += 1
        seen = latest.get(str(row["alert_id"]))
        if seen is None or _row_order(row) > _row_order(seen):
            latest[str(row["alert_id"])] = row
    counts["answers_superseded"] = counts["answers"] - len(latest)
    spans: dict[str, list[tuple[int, int, str, Mapping[str, Any]]]] = {}
    for row in latest.values():
        label = answer_label(row, faults)
        if label is None:
            counts["answers_not_a_class"] += 1
            continue
        end = int(row["alert_ts"])
        spans.setdefault(str(row["device_id"]), []).append((end - window_ms, end, label, row))
    chosen: dict[tuple[str, int, int], tuple[Mapping[str, Any], list[tuple[str, Any]]]] = {}
    for rec in feature_records:
        device, ts, seq = (
            str(rec.get("device_id")),
            int(rec.get("ts") or 0),
            int(rec.get("seq") or 0),
        )
        hits = [
            (label, row) for start, end, label, row in spans.get(device, ()) if start < ts <= end
        ]
        if hits:
            chosen[(device, ts, seq)] = (rec, hits)
    records, truth = [], []
    for key in sorted(chosen):
        rec, hits = chosen[key]
        if len({label for label, _row in hits}) != 1:
            counts["windows_contradictory"] += 1
            continue
        label, row = max(hits, key=lambda h: _row_order(h[1]))
        records.append(dict(rec))
        truth.append(
            {
                "device_id": key[0],
                "ts": key[1],
                "seq": key[2],
                "fault": label,
                "alert_id": str(row["alert_id"]),
                "recorded_ms": int(row["recorded_ms"]),
            }
        )
    counts["windows"] = len(truth)
    if audit is not None:
        audit.update(counts)
    return records, truth
