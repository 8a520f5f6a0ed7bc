"""The device-silent ("no data") alert: when a machine stops reporting, say so once.

A watchdog (a scheduled function) looks at every device's state every few minutes and asks
:func:`decide`:

* **NO_DATA**: nothing new from the device for at least ``silence_after_ms`` (default 30 min).
  Sent once per silence: the state remembers which ``last_seen_ms`` it was sent for
  (``no_data_for_ms``), so later runs during the same silence stay quiet.
* **data resumed** (severity DATA_RESUMED): the device reported again after a NO_DATA alert.

Silence is measured on the cloud's clock (``last_seen_ms``: when IoT Core received the newest
window that was applied), never on the device's own ``ts``: a device whose clock runs far ahead
must not look alive forever, and one whose clock runs behind must not look silent while it talks.
A device that only sends windows that cannot be applied (its clock jumped back or runs far ahead)
has given nothing usable, so it does count as silent: otherwise its health alerts would stop
without a sound. Its alert names the clock (``clock_suspect``) when windows still arrive
(``last_received_ms`` recent) while none apply.

Devices never seen have no state and are not watched (the asset registry says what should exist).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Final, Literal

from rotorwatch.alerting.alert_messages import (
    SMS_MAX_CHARS,
    machine_text,
    notification_attributes,
    utc_text,
)
from rotorwatch.alerting.alerts import DeviceState

#: Severity message attribute of the silence alert (SNS filter policies select on it).
NO_DATA: Final = "NO_DATA"
#: Severity of the notice that a silent device reports again (e-mail, like NO_DATA: nobody was
#: paged for the silence, so nobody is texted that it ended).
DATA_RESUMED: Final = "DATA_RESUMED"
#: Default gap after which a device that stopped reporting is called silent.
DEFAULT_SILENCE_AFTER_MS: Final = 30 * 60 * 1000

NoticeKind = Literal["NO_DATA", "DATA_RESUMED"]


@dataclass(frozen=True, slots=True)
class SilencePolicy:
    """When a device counts as silent (milliseconds)."""

    silence_after_ms: int = DEFAULT_SILENCE_AFTER_MS

    def __post_init__(self) -> None:
        if self.silence_after_ms <= 0:
            raise ValueError(f"silence_after_ms must be > 0, got {self.silence_after_ms}")


DEFAULT_SILENCE_POLICY: Final = SilencePolicy()


@dataclass(frozen=True, slots=True)
class SilenceNotice:
    """One notification about a device's reporting (not its health)."""

    kind: NoticeKind
    device_id: str
    site: str | None
    last_seen_ms: int  # newest data received from the device
    checked_ms: int  # when the watchdog looked
    silent_since_ms: int  # the last_seen_ms the silence began after
    last_ts: int  # the device's newest window (its own clock), -1 if none
    machine_state: str  # sustained health state when it went silent / now
    #: NO_DATA only: windows still arrive but none can be applied (the device clock jumped
    #: back, or runs far ahead): the device is not silent, its clock is wrong.
    clock_suspect: bool = False

    @property
    def severity(self) -> str:
        return NO_DATA if self.kind == "NO_DATA" else DATA_RESUMED

    @property
    def notice_id(self) -> str:
        """Stable identity: one silence yields one NO_DATA id and one resumed id."""
        return f"{self.device_id}:{self.silent_since_ms}:{self.kind}"

    @property
    def gap_ms(self) -> int:
        """How long the device was (or has been) silent."""
        end = self.checked_ms if self.kind == "NO_DATA" else self.last_seen_ms
        return max(0, end - self.silent_since_ms)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)


def decide(
    state: DeviceState, now_ms: int, policy: SilencePolicy = DEFAULT_SILENCE_POLICY
) -> SilenceNotice | None:
    """The notice (if any) a device's state calls for at ``now_ms`` (epoch ms, cloud clock)."""
    seen = state.last_seen_ms
    if seen is None:
        return None  # never applied a window since last_seen_ms was introduced: nothing to judge
    flagged = state.no_data_for_ms
    kind: NoticeKind
    if now_ms - seen >= policy.silence_after_ms:
        if flagged == seen:
            return None  # already told about this silence
        kind, since = "NO_DATA", seen
    elif flagged is not None and seen > flagged:
        kind, since = "DATA_RESUMED", flagged
    else:
        return None
    received = state.last_received_ms
    return SilenceNotice(
        kind=kind,
        device_id=state.device_id,
        site=state.site,
        last_seen_ms=seen,
        checked_ms=now_ms,
        silent_since_ms=since,
        last_ts=state.last_ts,
        machine_state=state.state,
        clock_suspect=kind == "NO_DATA"
        and received is not None
        and now_ms - received < policy.silence_after_ms,
    )


def _duration(ms: int) -> str:
    minutes = ms // 60_000
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def subject(n: SilenceNotice) -> str:
    """E-mail subject (SNS allows 100 ASCII characters)."""
    if n.kind == "NO_DATA" and n.clock_suspect:
        text = f"[rotorwatch] NO USABLE DATA from {n.device_id}: check its clock"
    elif n.kind == "NO_DATA":
        text = f"[rotorwatch] NO DATA from {n.device_id} for {_duration(n.gap_ms)}"
    else:
        text = f"[rotorwatch] DATA RESUMED from {n.device_id}"
    return text.encode("ascii", "replace").decode("ascii")[:100]


def message(n: SilenceNotice) -> str:
    """The full message for e-mail: which machine, since when, what to check."""
    if n.kind == "NO_DATA" and n.clock_suspect:
        lines = [
            f"NO USABLE DATA: {machine_text(n.device_id, n.site)} is still sending, but none of its windows for "
            f"{_duration(n.gap_ms)} could be applied: their timestamps are older than the last "
            "window applied, or far ahead of the cloud's clock. The device clock jumped.",
            f"Last window applied: received {utc_text(n.last_seen_ms)}, stamped {utc_text(n.last_ts)}",
            f"Machine state before: {n.machine_state}",
            "Check: the device's clock (NTP / RTC battery). Its windows still reach the lake; "
            "health alerts resume once its timestamps are right.",
            "This alert is sent once per episode; a notice follows when data is usable again.",
        ]
    elif n.kind == "NO_DATA":
        lines = [
            f"NO DATA: rotorwatch has received nothing new from {machine_text(n.device_id, n.site)} "
            f"for {_duration(n.gap_ms)}.",
            f"Last data received: {utc_text(n.last_seen_ms)}",
            f"Machine state when it went silent: {n.machine_state}",
            "Check: device power and network, its IoT Core connection (thing and certificate), "
            "and its clock (windows older than the last one applied count as nothing new).",
            "This alert is sent once per silence; a notice follows when data resumes.",
        ]
    else:
        lines = [
            f"DATA RESUMED: {machine_text(n.device_id, n.site)} is reporting again after {_duration(n.gap_ms)} "
            "without data.",
            f"Silent since: {utc_text(n.silent_since_ms)}",
            f"Data received again: {utc_text(n.last_seen_ms)}",
            f"Machine state now: {n.machine_state}",
        ]
    lines.append(f"Alert id: {n.notice_id}")
    return "\n".join(lines)


def short_message(n: SilenceNotice) -> str:
    """One SMS segment (at most :data:`~rotorwatch.alerting.alert_messages.SMS_MAX_CHARS` characters)."""
    where = f"@{n.site}" if n.site else ""
    if n.kind == "NO_DATA" and n.clock_suspect:
        text = f"RW NO USABLE DATA {n.device_id}{where}: device clock wrong"
    elif n.kind == "NO_DATA":
        text = f"RW NO DATA {n.device_id}{where} since {utc_text(n.last_seen_ms)[5:]}"
    else:
        text = f"RW DATA RESUMED {n.device_id}{where} at {utc_text(n.last_seen_ms)[5:]}"
    return text[:SMS_MAX_CHARS]


def message_attributes(n: SilenceNotice) -> dict[str, str]:
    """SNS message attributes (the same names as health alerts, so one filter policy fits)."""
    return notification_attributes(n.severity, n.device_id, n.site)
