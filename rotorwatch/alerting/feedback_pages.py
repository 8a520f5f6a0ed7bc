"""What technicians see of the feedback: the answer links in a message and the pages a link opens.

Plain HTML, no script, no external resources.
"""

from __future__ import annotations

import html
from typing import Final
from urllib.parse import quote

from rotorwatch.alerting.feedback import (
    ACTION_MAX_CHARS,
    MAX_CORRECTIONS,
    NOTE_MAX_CHARS,
    VERDICT_LABELS,
    VERDICTS,
    AlertRecord,
    Answer,
    Decision,
    fault_key,
)

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
