"""feedback: a technician's answer to an alert, from a signed link (HTTP API) or the CLI.

GET ``/f/<token>`` shows the alert and buttons; only a POST records an answer. Mail scanners
and link previews open every link in an e-mail: if a GET recorded, they would answer for the
technician (and always with the first link in the message).

Order of work for an answer: verify the token (rotorwatch.alerting.feedback_links.verify; every refusal looks
the same to the caller), read the alert and its current answer, decide (first answer wins
unless a correction), store it on the condition that the answer read is still the one stored
(a concurrent answer makes us read and decide again), then apply the effects (restart the
baseline, close, mute), then write the lake row. Effects come after the record so that an
answer that lost a race never restarts a baseline. If an effect fails after the record, the
request fails (HTTP 500, logged with the alert id) with the answer kept: answering again is a
duplicate and does not retry the effect; the runbook says how to apply it by hand.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from lambdas.common.feedback import (
    FeedbackStore,
    KeyRing,
    LakeWriter,
    positive_int,
    restart_baseline,
)
from lambdas.common.settings import required
from rotorwatch.alerting import feedback as fb
from rotorwatch.alerting import feedback_lake as fb_lake
from rotorwatch.alerting import feedback_links as fb_links
from rotorwatch.alerting import feedback_pages as fb_pages
from rotorwatch.deployment.resources import EnvKey

#: Answer attempts per request before giving up (concurrent answers to the same alert).
ANSWER_ATTEMPTS = 3
#: A form body larger than this is refused unread (the form's fields are capped far below).
MAX_BODY_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Settings:
    feedback_table: str
    state_table: str
    secret_arn: str
    lake_bucket: str
    mute_ms: int = fb.DEFAULT_MUTE_MS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            feedback_table=required(env, EnvKey.FEEDBACK_TABLE),
            state_table=required(env, EnvKey.STATE_TABLE),
            secret_arn=required(env, EnvKey.FEEDBACK_SECRET_ARN),
            lake_bucket=required(env, EnvKey.LAKE_BUCKET),
            mute_ms=positive_int(env, EnvKey.FEEDBACK_MUTE_S, fb.DEFAULT_MUTE_MS // 1000) * 1000,
        )


@dataclass
class Recorder:
    """What recording an answer touches (the HTTP API and the CLI share it)."""

    store: FeedbackStore
    lake: LakeWriter
    dynamodb: Any  # the state table (baseline restarts)
    state_table: str
    mute_ms: int = fb.DEFAULT_MUTE_MS


@dataclass
class Deps:
    settings: Settings
    recorder: Recorder
    keys: KeyRing
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))


@dataclass(frozen=True, slots=True)
class Result:
    """What an answer did."""

    alert: fb.AlertRecord
    decision: fb.Decision
    answer: fb.Answer
    effects: fb.Effects


class UnknownAlertError(LookupError):
    """No alert with that reference (or id) is registered for feedback."""


def apply(deps: Recorder, ref: str, answer: fb.Answer) -> Result:
    """Record ``answer`` for the alert ``ref`` and apply what it changes."""
    for _ in range(ANSWER_ATTEMPTS):
        found = deps.store.read(ref)
        if found is None:
            raise UnknownAlertError(ref)
        alert, current, corrections = found
        decision = fb.decide(current, answer, corrections)
        if not deps.store.record(alert, answer, current, decision):
            continue  # another answer landed between our read and write: decide again
        if decision not in ("accepted", "corrected"):
            return Result(alert, decision, answer, fb.Effects())
        effects = fb.effects(alert, answer, current, mute_ms=deps.mute_ms)
        if effects.restart_baseline:
            restart_baseline(deps.dynamodb, deps.state_table, alert.device_id)
        if effects.close_alert:
            deps.store.close(alert, answer.answered_ms)
        if effects.lift_mute:
            deps.store.lift(alert.device_id, fb.fault_key(alert.fault), alert.alert_id)
        if effects.mute is not None:
            deps.store.mute(effects.mute)
        deps.lake.put(fb_lake.answer_row(alert, answer))
        return Result(alert, decision, answer, effects)
    raise RuntimeError(f"alert {ref} kept changing under {ANSWER_ATTEMPTS} attempts")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: str
    #: Why a link was refused (logs and metrics only; the page never says).
    refused: str | None = None
    decision: str | None = None
    #: The audit record of an answer (also kept in the alert item's history): for the log.
    audit: dict[str, Any] | None = None


def _form(body: str | None, base64_encoded: bool) -> dict[str, str]:
    if not body:
        return {}
    raw = base64.b64decode(body) if base64_encoded else body.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise fb.AnswerError("form too large")
    parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=False)
    return {k: v[0] for k, v in parsed.items() if v}


def handle(
    deps: Deps,
    *,
    method: str,
    token: str,
    query: Mapping[str, str],
    body: str | None,
    base64_encoded: bool,
) -> Response:
    """One HTTP request to ``/f/<token>``: the page (GET) or the answer (POST)."""
    now_ms = deps.clock_ms()
    try:
        ref = fb_links.verify(token, deps.keys.keys(), now_ms // 1000)
    except fb_links.LinkError as exc:
        return Response(403, fb_pages.REFUSED_PAGE, refused=exc.reason)
    found = deps.recorder.store.read(ref)
    if found is None:
        return Response(403, fb_pages.REFUSED_PAGE, refused="unknown_alert")
    alert, current, corrections = found
    if method == "GET":
        chosen = query.get(fb_pages.VERDICT_PARAM)
        # E-mail links pre-select a verdict; the SMS link does not.
        channel = "email" if chosen else "sms"
        page = fb_pages.form_page(alert, token, current, chosen, channel, corrections)
        return Response(200, page)
    if method != "POST":
        return Response(405, fb_pages.page("rotorwatch", "<p>Method not allowed.</p>"))
    try:
        form = _form(body, base64_encoded)
        channel = form.get("channel", "email")
        answer = fb.Answer(
            verdict=form.get("verdict", ""),
            channel=channel if channel in ("email", "sms") else "email",
            answered_ms=now_ms,
            fault_found=fb.clean_text(form.get("fault_found")),
            action=fb.clean_text(form.get("action")),
            note=fb.clean_text(form.get("note")),
            correction=form.get("correction") == "1",
        )
    except fb.AnswerError as exc:
        text = html.escape(str(exc))
        return Response(400, fb_pages.page("rotorwatch: answer not valid", f"<p>{text}</p>"))
    result = apply(deps.recorder, ref, answer)
    audit = {"alert_id": result.alert.alert_id, "decision": result.decision, **answer.to_item()}
    audit.pop("note", None)  # free text stays in the table, out of the logs
    return Response(
        200,
        fb_pages.result_page(result.alert, result.decision, answer.verdict),
        decision=result.decision,
        audit=audit,
    )
