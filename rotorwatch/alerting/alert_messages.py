"""The messages technicians receive about an alert: e-mail subject and text, SMS, attributes.

The wording of what :func:`rotorwatch.alerting.alerts.step` decided: what is wrong, how bad, since
when, the model's confidence, the remaining life and the saved query to look closer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from rotorwatch.alerting.alerts import Alert
from rotorwatch.diagnosis.life import interval_sms, interval_text
from rotorwatch.diagnosis.model.calibration import MAX_SHOWN_CONFIDENCE
from rotorwatch.diagnosis.predictions import NORMAL_FAULT
from rotorwatch.lake.query import AthenaTarget, command_line, format_time

#: SNS message attribute names.
ATTR_SEVERITY: Final = "severity"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_SITE: Final = "site"
#: Saved query a technician runs to look closer (rotorwatch/lake/queries/<name>.sql), and how far
#: before the episode's start it looks (the baseline).
TREND_QUERY_NAME: Final = "machine_trend"
TREND_BASELINE_MS: Final = 86_400_000
#: SMS segments are 160 GSM characters; one segment per alert.
SMS_MAX_CHARS: Final = 160


def utc_text(ms: int) -> str:
    """Epoch ms as people read it in a notification: ``2026-11-23 06:40 UTC``."""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine_text(device_id: str, site: str | None) -> str:
    """``pump-01 at plant-a`` (or the device id alone)."""
    return f"{device_id} at {site}" if site else device_id


def notification_attributes(severity: str, device_id: str, site: str | None) -> dict[str, str]:
    """SNS message attributes (string values) that subscriptions filter on, for every kind of
    notification (health alerts and the device-silent ones share one filter policy)."""
    attrs = {ATTR_SEVERITY: severity, ATTR_DEVICE_ID: device_id}
    if site:
        attrs[ATTR_SITE] = site
    return attrs


def trend_query(alert: Alert) -> dict[str, Any]:
    """The saved query to look closer, with its parameter values for this machine, by name.

    ``since`` starts a day before the episode began, so the baseline is in the picture. The
    names are the query file's own parameters: :func:`rotorwatch.lake.query.command_line` checks
    them against its header, and a test runs the pointer exactly as :func:`message` words it.
    """
    return {
        "name": TREND_QUERY_NAME,
        "parameters": {
            "device_id": alert.device_id,
            "since": format_time(alert.since_ms - TREND_BASELINE_MS),
        },
    }


def subject(alert: Alert) -> str:
    """E-mail subject (SNS allows 100 ASCII characters)."""
    if alert.kind == "RECOVERY":
        text = f"[rotorwatch] RECOVERED {alert.device_id}: healthy again"
    else:
        text = f"[rotorwatch] {alert.state} {alert.device_id}: {_what(alert)}"
    return text.encode("ascii", "replace").decode("ascii")[:100]


def _what(alert: Alert) -> str:
    """What is wrong in a few words: a sensor out of bounds first (it is a measured fact; the
    vibration diagnosis of a machine the sensors raised may be a weak guess, and the e-mail
    body gives it with its confidence), else the probable fault, else what raised a vibration
    alert that names none (:func:`_unnamed`)."""
    unnamed = _unnamed(alert)
    return alert.sensor_cause or (unnamed[0] if unnamed else None) or alert.fault or "unknown fault"


def _unnamed(alert: Alert) -> tuple[str, str] | None:
    """Why a vibration alert names no fault, short (subject, SMS) and whole ("Probable fault"
    line); None where it names one, or where the sensors raised it (its vibration is normal,
    and "Probable fault: normal" says so). A WARNING or ALARM whose fault reads "normal" is
    raised by the ISO zone (zone C or D with no fault's signature in the window) or by the
    device's own baseline (the window is far from what it learned as healthy, in zone B);
    "WARNING pump-7: normal" would tell a technician nothing, or the opposite."""
    if alert.kind == "RECOVERY" or alert.sensor_cause or alert.fault != NORMAL_FAULT:
        return None
    if alert.iso_zone in ("C", "D"):
        return (
            "no fault named",
            f"none named: the velocity is in ISO 10816-3 zone {alert.iso_zone}, and the window "
            "shows no fault's signature",
        )
    return (
        "off its baseline",
        "none named: the vibration is unlike this machine's own baseline (what it learned as "
        "healthy), and the window shows no fault's signature",
    )


def fault_text(alert: Alert) -> str:
    """The "Probable fault" line's value, without the confidence."""
    unnamed = _unnamed(alert)
    return unnamed[1] if unnamed else alert.fault or "unknown"


def confidence_text(confidence: float | None) -> str:
    """`` (right 96% of the time on held-out simulated machines)``; empty without a figure.

    The figure is the model's calibrated confidence (:mod:`rotorwatch.diagnosis.model.calibration`),
    rounded down and never above its cap: a state stored by an older model, whose figure was a
    raw softmax, reads no higher than a calibrated one could.
    """
    if confidence is None:
        return ""
    pct = int(min(confidence, MAX_SHOWN_CONFIDENCE) * 100.0 + 1e-9)
    return f" (right {pct}% of the time on held-out simulated machines)"


def message(alert: Alert, *, athena: AthenaTarget | None = None) -> str:
    """The full message for e-mail: what, how bad, since when, trend, where to look (on
    ``athena``, the sending stage's workgroup, database and region; else a local lake)."""
    query = trend_query(alert)
    velocity = (
        f"{alert.velocity_rms_mm_s:.2f} mm/s" if alert.velocity_rms_mm_s is not None else "n/a"
    )
    # A figure for "normal" would be the classifier's doubt about a vibration the state already
    # calls healthy (an alert the sensors raised), and the rules' figure (degraded) is a
    # heuristic nobody measured: no figure for either.
    measured = alert.fault not in (None, "normal") and not alert.degraded
    confidence = confidence_text(alert.fault_confidence) if measured else ""
    if alert.kind == "RECOVERY":
        head = f"RECOVERED: {machine_text(alert.device_id, alert.site)} is HEALTHY again (was {alert.previous_state})."
    else:
        head = f"{alert.state}: {machine_text(alert.device_id, alert.site)} (was {alert.previous_state})."
    lines = [
        head,
        f"Probable fault: {fault_text(alert)}{confidence}",
        *_sensor_lines(alert),
        f"ISO 10816-3 zone: {alert.iso_zone or 'unknown (no asset record)'}, velocity RMS {velocity}",
        f"{'Problem began' if alert.kind == 'RECOVERY' else 'Since'}: {utc_text(alert.since_ms)}",
        f"Latest window: {utc_text(alert.ts)} (seq {alert.seq})",
        f"Trend: {alert.trend}",
        *_life_lines(alert),
    ]
    if alert.degraded:
        lines.append("Note: the model was unavailable; the ISO and envelope rules decided.")
    values: dict[str, str] = query["parameters"]
    params = ", ".join(f"{k}='{v}'" for k, v in values.items())
    where = (
        f" in workgroup {athena.workgroup} (database {athena.database})"
        + (f", region {athena.region}" if athena.region else "")
        if athena
        else ""
    )
    lines.append(f"Look closer: Athena saved query '{query['name']}'{where} with {params}")
    lines.append("  or run: " + command_line(query["name"], values, athena=athena))
    lines.append(f"Alert id: {alert.alert_id}")
    return "\n".join(lines)


def remaining_life_text(alert: Alert) -> str | None:
    """``at this rate, zone D in about 12 days (8-20 days)``; None for a recovery."""
    if alert.kind == "RECOVERY":
        return None
    limit = alert.remaining_life_limit or "the end-of-life limit"
    low, high = alert.remaining_life_low_s, alert.remaining_life_high_s
    if alert.remaining_life_s is None or low is None or high is None:
        # Either no steady rise is visible, or the episode is too young for its clock to say
        # (rotorwatch.diagnosis.life.clock_too_short): one wording true of both.
        return f"no estimate yet: too little of the degradation seen to say when it reaches {limit}"
    if alert.remaining_life_s <= 0.0:
        return f"{limit} reached"
    return f"at this rate, {limit} in {interval_text(alert.remaining_life_s, low, high)}"


def _life_sms(alert: Alert) -> str:
    """`` zone D ~7min (4-95),`` for the SMS when there is an estimate (else nothing: the
    e-mail says why there is none)."""
    low, high = alert.remaining_life_low_s, alert.remaining_life_high_s
    if alert.remaining_life_s is None or low is None or high is None:
        return ""
    limit = alert.remaining_life_limit or "end of life"
    if alert.remaining_life_s <= 0.0:
        return f" {limit} reached,"
    return f" {limit} {interval_sms(alert.remaining_life_s, low, high)},"


def _life_lines(alert: Alert) -> list[str]:
    text = remaining_life_text(alert)
    return [] if text is None else [f"Remaining life: {text}"]


def _sensor_lines(alert: Alert) -> list[str]:
    if not alert.sensor_cause:
        return []
    since = f", since {utc_text(alert.sensor_since_ms)}" if alert.sensor_since_ms else ""
    return [f"Sensor: {alert.sensor_reason or alert.sensor_cause} ({alert.sensor_cause}){since}"]


def short_message(alert: Alert) -> str:
    """One SMS segment (at most :data:`SMS_MAX_CHARS` characters)."""
    where = f"@{alert.site}" if alert.site else ""
    if alert.kind == "RECOVERY":
        text = f"RW RECOVERED {alert.device_id}{where} healthy since {utc_text(alert.ts)[11:]}"
    else:
        velocity = (
            f" {alert.velocity_rms_mm_s:.1f}mm/s" if alert.velocity_rms_mm_s is not None else ""
        )
        text = (
            f"RW {alert.state} {alert.device_id}{where}: {_what(alert)}, "
            f"ISO {alert.iso_zone or '?'}{velocity},{_life_sms(alert)} "
            f"since {utc_text(alert.since_ms)[5:]}"
        )
        if alert.sensor_reason:
            # The reading and its limit matter more than the tail of a long site name.
            text = f"{text}; {alert.sensor_reason}"
    return text[:SMS_MAX_CHARS]


def message_attributes(alert: Alert) -> dict[str, str]:
    """SNS message attributes (string values) that subscriptions filter on."""
    return notification_attributes(alert.severity, alert.device_id, alert.site)
