"""The demo's detection scored against the simulator's ground truth: what each machine really
had, which faults the alerts caught, how early, what they named, the false alarms, and the
score table's rows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from local_cloud.cloud import ReceivedAlert
from local_cloud.pipeline import alert_key
from rotorwatch.diagnosis.features.sensor_health import SENSOR_PROBLEMS
from rotorwatch.diagnosis.predictions import SENSOR_FAULTS, STATES

HEALTHY, WARNING, ALARM = STATES
_FAULT_RE = re.compile(r"Probable fault: (\w+)")
#: The truth of a machine whose fault is scheduled but begins after the run ends: healthy for
#: the whole run, so neither a fault to catch nor a fault it missed.
NOT_STARTED = "not yet"
_SENSOR_RE = re.compile(r"^Sensor: .*\((\w+)\)(?:, since [^\n]*)?$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FaultTruth:
    """What the simulator really did to one machine."""

    device_id: str
    fault: str  # "normal" for a healthy machine
    onset_ms: int | None
    failure_ms: int | None  # end of life (severity 1)
    max_severity: float  # reached within the run, 0-1
    #: When its accelerometer started failing (simulator.sensor_failure), if it did.
    sensor_onset_ms: int | None = None


@dataclass(frozen=True, slots=True)
class MachineScore:
    device_id: str
    fault: str
    onset_ms: int | None
    failure_ms: int | None
    max_severity: float
    first_alert_ms: int | None  # window ts of the first WARNING/ALARM after onset
    first_alert_severity: str | None
    alerted_fault: str | None  # what the alert said was wrong
    first_alarm_ms: int | None
    detection_delay_h: float | None  # onset -> first alert
    lead_time_h: float | None  # first alert -> end of life
    false_alarms: int  # alerts with no fault present (healthy machine, or before onset)
    alerted_cause: str | None = None  # the temperature/pressure cause the alert named
    #: The first ALARM's (the page's) sensor cause, and whether there was one.
    alarm_cause: str | None = None
    #: When its accelerometer started failing, the alerts after it that named a vibration
    #: sensor problem (a sensor to fix: neither a fault caught nor a false alarm), and the
    #: problem the first of them named.
    sensor_onset_ms: int | None = None
    sensor_notices: int = 0
    sensor_said: str | None = None

    @property
    def sensor_shown(self) -> bool:
        """Its failing sensor was reported as a sensor problem."""
        return self.sensor_onset_ms is not None and self.sensor_notices > 0

    @property
    def faulty(self) -> bool:
        """A fault was present during the run (its onset fell inside it)."""
        return self.fault not in ("normal", NOT_STARTED)

    @property
    def caught(self) -> bool:
        return self.faulty and self.first_alert_ms is not None

    @property
    def named_right(self) -> bool:
        """The alert named the fault, or for a temperature/pressure fault, its sensor cause."""
        if self.fault in SENSOR_FAULTS:
            # Both the first alert and the page must name the sensor cause: a page that called
            # a lubrication loss a bearing defect sends the technician to the wrong job.
            causes = SENSOR_FAULTS[self.fault]
            page_ok = self.first_alarm_ms is None or self.alarm_cause in causes
            return self.alerted_cause in causes and page_ok
        return self.alerted_fault == self.fault


@dataclass(frozen=True, slots=True)
class Detection:
    machines: list[MachineScore]

    @property
    def faulty(self) -> list[MachineScore]:
        """Machines with a fault present during the run (not those whose onset comes later)."""
        return [m for m in self.machines if m.faulty]

    @property
    def not_started(self) -> list[MachineScore]:
        return [m for m in self.machines if m.fault == NOT_STARTED]

    @property
    def caught(self) -> list[MachineScore]:
        return [m for m in self.faulty if m.caught]

    @property
    def false_alarms(self) -> int:
        return sum(m.false_alarms for m in self.machines)

    def summary(self) -> dict[str, Any]:
        leads = [m.lead_time_h for m in self.caught if m.lead_time_h is not None]
        delays = [m.detection_delay_h for m in self.caught if m.detection_delay_h is not None]
        right = [m for m in self.caught if m.named_right]
        return {
            "faulty_machines": len(self.faulty),
            "faults_not_started": len(self.not_started),
            "caught": len(self.caught),
            "fault_named_correctly": len(right),
            "healthy_machines": len(self.machines) - len(self.faulty) - len(self.not_started),
            "false_alarms": self.false_alarms,
            "sensor_failures": sum(m.sensor_onset_ms is not None for m in self.machines),
            "sensor_failures_shown": sum(m.sensor_shown for m in self.machines),
            "median_lead_time_h": float(np.median(leads)) if leads else None,
            "median_detection_delay_h": float(np.median(delays)) if delays else None,
        }


def truth_from_rows(
    rows: Iterable[Mapping[str, Any]], life_h: Mapping[str, float]
) -> list[FaultTruth]:
    """Per-machine truth from the simulator's ground-truth rows (``life_h``: fault life by device)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = seen.setdefault(
            r["device_id"],
            {"fault": "normal", "onset_ms": r.get("onset_ms"), "sev": 0.0, "sensor_ms": None},
        )
        if r.get("sensor_problem") and d["sensor_ms"] is None:
            d["sensor_ms"] = int(r["ts"])
        if r.get("fault", "normal") != "normal":
            d["fault"] = r["fault"]
        d["sev"] = max(d["sev"], float(r.get("severity") or 0.0))
    out = []
    for device_id, d in sorted(seen.items()):
        onset = d["onset_ms"]
        fault = d["fault"]
        if onset is not None and fault == "normal" and device_id in life_h:
            fault = NOT_STARTED  # onset after the end of the run
        failure = (
            None
            if onset is None or device_id not in life_h
            else int(onset + life_h[device_id] * 3.6e6)
        )
        out.append(FaultTruth(device_id, fault, onset, failure, d["sev"], d["sensor_ms"]))
    return out


def score(truth: Sequence[FaultTruth], alerts: Sequence[ReceivedAlert]) -> Detection:
    """Which faults were caught and how early; alerts without a fault present are false alarms."""
    by_device: dict[str, list[tuple[int, ReceivedAlert]]] = {}
    for a in alerts:
        k = alert_key(a.alert_id)
        if k is not None:
            by_device.setdefault(k[0], []).append((k[1], a))
    machines = []
    for t in truth:
        rises = sorted(
            ((ts, a) for ts, a in by_device.get(t.device_id, []) if a.severity != "RECOVERY"),
            key=lambda x: x[0],
        )
        # After its sensor began failing, an alert naming a vibration sensor problem is the
        # notice the technician acts on (fix the sensor): neither a catch nor a false alarm.
        notices = [
            (ts, said)
            for ts, a in rises
            if t.sensor_onset_ms is not None
            and ts >= t.sensor_onset_ms
            and (said := _sensor_problem(a.body)) is not None
        ]
        rises = [(ts, a) for ts, a in rises if ts not in {n for n, _ in notices}]
        faulty = t.fault not in ("normal", NOT_STARTED) and t.onset_ms is not None
        onset = t.onset_ms if faulty and t.onset_ms is not None else None
        after = [(ts, a) for ts, a in rises if onset is not None and ts >= onset]
        false = len(rises) - len(after)
        first = after[0] if after else None
        alarm_alert = next(((ts, a) for ts, a in after if a.severity == ALARM), None)
        alarm = alarm_alert[0] if alarm_alert else None
        alarm_cause = _SENSOR_RE.search(alarm_alert[1].body) if alarm_alert else None
        fault_text = _FAULT_RE.search(first[1].body) if first else None
        cause_text = _SENSOR_RE.search(first[1].body) if first else None
        machines.append(
            MachineScore(
                device_id=t.device_id,
                fault=t.fault if faulty else ("normal" if t.fault == "normal" else t.fault),
                onset_ms=t.onset_ms,
                failure_ms=t.failure_ms,
                max_severity=t.max_severity,
                first_alert_ms=first[0] if first else None,
                first_alert_severity=first[1].severity if first else None,
                alerted_fault=fault_text.group(1) if fault_text else None,
                first_alarm_ms=alarm,
                detection_delay_h=(first[0] - onset) / 3.6e6 if first and onset else None,
                lead_time_h=(t.failure_ms - first[0]) / 3.6e6 if first and t.failure_ms else None,
                false_alarms=false,
                alerted_cause=cause_text.group(1) if cause_text else None,
                alarm_cause=alarm_cause.group(1) if alarm_cause else None,
                sensor_onset_ms=t.sensor_onset_ms,
                sensor_notices=len(notices),
                sensor_said=notices[0][1] if notices else None,
            )
        )
    return Detection(machines)


def _sensor_problem(body: str) -> str | None:
    """The vibration sensor problem an alert's "Sensor:" line names, if it names one."""
    m = _SENSOR_RE.search(body)
    return m.group(1) if m and m.group(1) in SENSOR_PROBLEMS else None


def score_rows(detection: Detection) -> list[list[Any]]:
    def t(ms: int | None) -> str:
        return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%m-%d %H:%M")

    def h(x: float | None) -> str:
        return "" if x is None else f"{x:.1f}"

    return [
        [
            m.device_id,
            m.fault,
            t(m.onset_ms),
            f"{m.max_severity:.2f}",
            "yes" if m.caught else ("no" if m.faulty else "-"),
            m.first_alert_severity or "",
            t(m.first_alert_ms),
            ", ".join(x for x in (m.alerted_cause, m.alerted_fault, m.sensor_said) if x),
            h(m.detection_delay_h),
            h(m.lead_time_h),
            m.false_alarms,
        ]
        for m in detection.machines
    ]


SCORE_COLUMNS = (
    "machine",
    "true fault",
    "onset",
    "max severity (0-1)",
    "caught",
    "first alert",
    "alert window",
    "alert says",
    "delay h",
    "lead h",
    "false alarms",
)
