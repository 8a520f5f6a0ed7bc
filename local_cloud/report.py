"""The demo report: detection scored against ground truth, fleet tables, plots, one HTML page.

Plots are PNG (matplotlib, Agg backend): the spectrum and envelope spectrum of a faulty machine
with its bearing defect frequencies marked, its velocity trend over the ISO 10816-3 zone bands,
the temperature trend of a machine that overheats against its limits, and the fleet's
sustained health over time as the technicians' alerts describe it.
"""

from __future__ import annotations

import gzip
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from local_cloud.cloud import ReceivedAlert
from local_cloud.pipeline import alert_key
from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import Telemetry, decode
from rotorwatch.diagnosis.assets import Asset
from rotorwatch.diagnosis.features.envelope import envelope_spectrum
from rotorwatch.diagnosis.features.iso import zone_boundaries_mm_s
from rotorwatch.diagnosis.features.sensor_health import SENSOR_PROBLEMS
from rotorwatch.diagnosis.predictions import SENSOR_FAULTS, STATES
from rotorwatch.diagnosis.sensors import limits_of
from rotorwatch.lake import layout as lake

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


# -- data from the lake -------------------------------------------------------------------


def _raw_lines(lake_dir: Path, device_id: str) -> Iterable[str]:
    """A device's raw lines from telemetry_raw (gzip'd JSON, as Firehose writes it)."""
    for path in sorted((lake_dir / lake.RAW_PREFIX).rglob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield from (line for line in fh if f'"device_id":"{device_id}"' in line)


def _without_nulls(value: Any) -> Any:
    # Parquet gives every column, absent ones as null; the raw line had no such key.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _kept_lines(lake_dir: Path, device_id: str) -> Iterable[str]:
    """A device's windows from telemetry_raw_kept (Parquet, written by the raw_keep job: what
    outlives raw expiry), as raw lines again."""
    root = lake_dir / lake.RAW_KEPT_PREFIX
    if not root.is_dir():
        return
    import pyarrow.parquet as pq

    for path in sorted(root.rglob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            if row.get("device_id") == device_id:
                yield json.dumps(_without_nulls(row))


def raw_window(lake_dir: Path, device_id: str, ts: int | None = None) -> Telemetry | None:
    """A device's raw telemetry window from the lake (``ts`` or its latest): from the raw
    table, or, once raw expiry has removed it, from the windows the raw_keep job kept."""
    best: tuple[int, str] | None = None
    for source in (_raw_lines, _kept_lines):
        for line in source(lake_dir, device_id):
            rec = json.loads(line)
            if rec.get("device_id") != device_id or not isinstance(rec.get("ts"), int):
                continue
            if ts is not None and rec["ts"] == ts:
                best = (rec["ts"], line)
                break
            if ts is None and (best is None or rec["ts"] > best[0]):
                best = (rec["ts"], line)
        if ts is not None and best is not None:
            break
    if best is None:
        return None
    try:
        return decode(best[1])
    except TelemetryError:
        return None


# -- plots --------------------------------------------------------------------------------


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Rolling-element bearings slip: impacts come up to ~2 % slower than the kinematic defect
#: frequency (the simulator models 0.5-1.5 %), so a defect's peak sits just below its line.
BEARING_SLIP_MAX = 0.02


def _time_axis(ax: Any) -> None:
    """Dates with the year, in UTC, and an axis label that says so."""
    import matplotlib.dates as mdates

    formatter = mdates.DateFormatter("%Y-%m-%d\n%H:%M", tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel("time (UTC)")


def defect_peak_hz(f_hz: np.ndarray, amp: np.ndarray, kinematic_hz: float) -> float | None:
    """The envelope peak within the slip band below a kinematic defect frequency, if any."""
    band = (f_hz >= kinematic_hz * (1.0 - BEARING_SLIP_MAX - 0.005)) & (
        f_hz <= kinematic_hz * 1.005
    )
    if not band.any():
        return None
    i = int(np.argmax(np.where(band, amp, -np.inf)))
    return float(f_hz[i])


def spectra(
    samples_g: np.ndarray, fs_hz: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """Amplitude spectrum (g, Hann window), and the envelope spectrum the bearing indicators
    read (pre-whitened, in the band the engine chose for this window, over its median); returns
    (f, amp, f_env, env_ratio, band_hz)."""
    x = np.asarray(samples_g, dtype=np.float64)
    n = x.size
    w = np.hanning(n)
    spec = np.fft.rfft((x - x.mean()) * w)
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    amp = 2.0 * np.abs(spec) / w.sum()
    f_env, env_ratio, band_hz = envelope_spectrum(x, fs_hz)
    return f, amp, f_env, env_ratio, band_hz


def plot_spectra(msg: Telemetry, asset: Asset, fault: str, path: Path) -> Path:
    plt = _plt()
    if msg.vibration is None or msg.rpm is None or asset.bearing is None:
        raise ValueError(f"{msg.device_id}: no vibration, rpm or bearing to plot")
    fs = msg.vibration.fs_hz
    f, amp, fe, env, band_hz = spectra(msg.vibration.samples_g(), fs)
    defects = asset.bearing.defect_frequencies_hz(msg.rpm)
    shaft = msg.rpm / 60.0
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7.5))
    ax1.semilogy(f, np.maximum(amp, 1e-7), lw=0.6, color="#1f4e79")
    ax1.axvspan(
        *band_hz,
        color="#ffd27f",
        alpha=0.3,
        label="envelope band (most impulsive of the candidates)",
    )
    for k in (1, 2, 3):
        ax1.axvline(
            k * shaft,
            color="grey",
            ls=":",
            lw=0.8,
            label=f"shaft orders 1x/2x/3x ({shaft:.1f} Hz)" if k == 1 else None,
        )
    ax1.set(
        xlabel="frequency (Hz)",
        ylabel="acceleration (g)",
        title=f"{msg.device_id}: spectrum ({fault}), {msg.rpm:.0f} rpm, "
        f"{datetime.fromtimestamp(msg.ts / 1000, UTC):%Y-%m-%d %H:%M} UTC",
    )
    ax1.legend(loc="upper right", fontsize=8)
    f_max = min(fs / 8, 6 * max(defects.values()))
    sel = (fe > 0) & (fe <= f_max)
    ax2.plot(fe[sel], env[sel], lw=0.8, color="#1f4e79")
    colours = {"ftf": "#7f7f7f", "bpfo": "#d62728", "bpfi": "#2ca02c", "bsf": "#9467bd"}
    own = {"bearing_outer": "bpfo", "bearing_inner": "bpfi", "bearing_ball": "bsf"}.get(fault)
    for name, fd in defects.items():
        # The faulty defect's line goes where its peak is (within the slip band below the
        # kinematic frequency), and says both; the others sit at their kinematic frequency.
        peak = defect_peak_hz(fe, env, fd) if name == own else None
        line_hz = peak if peak is not None else fd
        label = (
            f"{name.upper()} peak {peak:.1f} Hz (kinematic {fd:.1f} Hz, slip {1 - peak / fd:.1%})"
            if peak is not None
            else f"{name.upper()} {fd:.1f} Hz"
        )
        for h in (1, 2, 3):
            if h * line_hz <= f_max:
                ax2.axvline(
                    h * line_hz,
                    color=colours.get(name, "k"),
                    ls="-" if h == 1 else "--",
                    lw=1.0 if h == 1 else 0.6,
                    alpha=0.8,
                    label=label if h == 1 else None,
                )
    ax2.axvline(shaft, color="grey", ls=":", lw=0.8, label=f"shaft 1x {shaft:.1f} Hz")
    ax2.set(
        xlabel="frequency (Hz)",
        ylabel="line / median (pre-whitened)",
        # Two lines: one line of this was wider than the figure and was cut off.
        title="envelope spectrum: defect frequencies marked (dashed: 2x, 3x)\nbearings slip, so "
        f"peaks sit up to {BEARING_SLIP_MAX:.0%} below the kinematic frequency "
        f"(resolution {fe[1] - fe[0]:.1f} Hz)",
    )
    ax2.title.set_fontsize(9)
    ax2.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _mark_onset_and_alerts(
    ax: Any, truth: FaultTruth | None, alerts: Sequence[ReceivedAlert]
) -> None:
    """The fault's onset (dashed) and every alert (by severity) on a trend plot, one legend
    entry each kind."""
    if truth is not None and truth.onset_ms is not None:
        ax.axvline(
            datetime.fromtimestamp(truth.onset_ms / 1000, UTC),
            color="k",
            ls="--",
            lw=1,
            label=f"fault onset ({truth.fault})",
        )
    colours = {WARNING: "#ff7f0e", ALARM: "#d62728", "RECOVERY": "#2ca02c"}
    for a in alerts:
        k = alert_key(a.alert_id)
        if k is not None:
            ax.axvline(
                datetime.fromtimestamp(k[1] / 1000, UTC),
                color=colours.get(a.severity, "k"),
                lw=1.5,
                alpha=0.8,
                label=f"{a.severity} alert",
            )
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), loc="upper left", fontsize=8)


def plot_velocity_trend(
    rows: Sequence[Mapping[str, Any]],
    asset: Asset,
    alerts: Sequence[ReceivedAlert],
    truth: FaultTruth | None,
    path: Path,
) -> Path:
    plt = _plt()
    ts = [datetime.fromtimestamp(r["ts"] / 1000, UTC) for r in rows]
    v = [r["velocity_rms_mm_s"] for r in rows]
    ab, bc, cd = zone_boundaries_mm_s(asset.machine_group, asset.foundation)
    top = max([cd * 1.3, *(x for x in v if x is not None)]) * 1.05
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for lo, hi, name, colour in (
        (0, ab, "A", "#2ca02c"),
        (ab, bc, "B", "#bcbd22"),
        (bc, cd, "C", "#ff7f0e"),
        (cd, top, "D", "#d62728"),
    ):
        ax.axhspan(lo, hi, color=colour, alpha=0.15)
        ax.text(
            ts[0] if ts else 0, (lo + min(hi, top)) / 2, f" zone {name}", va="center", fontsize=8
        )
    ax.plot(ts, v, marker=".", ms=3, lw=1, color="#1f4e79", label="velocity RMS 10-1000 Hz")
    _mark_onset_and_alerts(ax, truth, alerts)
    _plot_remaining_life(ax, rows)
    ax.set(
        ylim=(0, top),
        ylabel="mm/s",
        title=f"{asset.device_id}: velocity trend and remaining life, "
        f"ISO 10816-3 group {asset.machine_group} {asset.foundation}",
    )
    _time_axis(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_remaining_life(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """The remaining-life estimate (hours, right axis) with its interval, where there was one."""
    pts = [
        (
            datetime.fromtimestamp(r["ts"] / 1000, UTC),
            r["remaining_life_s"] / 3600,
            r["remaining_life_low_s"] / 3600,
            r["remaining_life_high_s"] / 3600,
        )
        for r in rows
        if r.get("remaining_life_s") is not None
    ]
    if not pts:
        return
    right = ax.twinx()
    t = [p[0] for p in pts]
    right.fill_between(
        t,
        [p[2] for p in pts],
        [p[3] for p in pts],
        color="#7f7f7f",
        alpha=0.25,
        lw=0,
        label="remaining life interval",
    )
    right.plot(
        t,
        [p[1] for p in pts],
        color="#000000",
        lw=1.2,
        ls="--",
        label="remaining life at this rate",
    )
    right.set_ylabel("remaining life, h")
    right.set_ylim(bottom=0)
    right.legend(loc="upper center", fontsize=8)


def plot_temperature_trend(
    rows: Sequence[Mapping[str, Any]],
    device_id: str,
    alerts: Sequence[ReceivedAlert],
    truth: FaultTruth | None,
    path: Path,
) -> Path:
    """Temperature of one machine over the run against the limits it was judged by (the
    feature records' own limits, defaults where the asset gives none), with its alerts."""
    plt = _plt()
    pts = [(r["ts"], r["temperature_c"]) for r in rows if r.get("temperature_c") is not None]
    ts = [datetime.fromtimestamp(t / 1000, UTC) for t, _ in pts]
    temp = [c for _, c in pts]
    limits = limits_of(rows[-1] if rows else {})
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(ts, temp, marker=".", ms=3, lw=1, color="#1f4e79", label="temperature")
    for value, name, colour in (
        (limits.temperature_warning_c, "warning limit", "#ff7f0e"),
        (limits.temperature_alarm_c, "alarm limit", "#d62728"),
    ):
        if value is not None:
            ax.axhline(value, color=colour, ls=":", lw=1.5, label=f"{name} {value:g} degC")
    _mark_onset_and_alerts(ax, truth, alerts)
    ax.set(ylabel="degC", title=f"{device_id}: temperature trend")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fleet_states(
    devices: Sequence[str], alerts: Sequence[ReceivedAlert], times_ms: Sequence[int]
) -> dict[str, list[int]]:
    """Machines in each sustained state at each time, as the alerts tell it."""
    changes: dict[str, list[tuple[int, str]]] = {d: [] for d in devices}
    for a in alerts:
        k = alert_key(a.alert_id)
        if k is not None and k[0] in changes:
            changes[k[0]].append((k[1], HEALTHY if a.severity == "RECOVERY" else a.severity))
    counts = {s: [0] * len(times_ms) for s in STATES}
    for _d, ch in changes.items():
        ch.sort()
        for i, t in enumerate(times_ms):
            state = HEALTHY
            for ts, s in ch:
                if ts <= t:
                    state = s
            counts[state][i] += 1
    return counts


def plot_fleet_health(
    devices: Sequence[str], alerts: Sequence[ReceivedAlert], start_ms: int, end_ms: int, path: Path
) -> Path:
    plt = _plt()
    times = list(range(start_ms, end_ms + 1, max(60_000, (end_ms - start_ms) // 300)))
    counts = fleet_states(devices, alerts, times)
    x = [datetime.fromtimestamp(t / 1000, UTC) for t in times]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.stackplot(
        x,
        counts[HEALTHY],
        counts[WARNING],
        counts[ALARM],
        labels=["HEALTHY", "WARNING", "ALARM"],
        colors=["#2ca02c", "#ff7f0e", "#d62728"],
        alpha=0.8,
    )
    ax.set(
        ylabel="machines",
        ylim=(0, len(devices)),
        title="fleet health over time (sustained state, from the alerts technicians received)",
    )
    ax.legend(loc="upper left")
    _time_axis(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- HTML ---------------------------------------------------------------------------------


def shown_columns(columns: Sequence[str]) -> list[int]:
    """Indexes of the columns a report table shows: an epoch-ms column beside its own UTC
    rendering (``changed_at_ms`` and ``changed_at_utc``) is left out; shown, it read as a date
    under a name that says milliseconds."""
    names = [str(c) for c in columns]
    return [
        i
        for i, c in enumerate(names)
        if not (c.endswith("_ms") and f"{c.removesuffix('_ms')}_utc" in names)
    ]


def _table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    from rotorwatch.lake.display import cell

    keep = shown_columns(columns)
    head = "".join(f"<th>{html.escape(str(columns[i]))}</th>" for i in keep)
    body = "".join(
        "<tr>" + "".join(_td(cell(str(columns[i]), r[i])) for i in keep) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: Cells up to this many characters never wrap (numbers, zones, times); longer text (machine
#: lists, alert subjects) wraps anywhere, so wide tables fit a narrow window.
_NOWRAP_CHARS = 16


def _td(text: str) -> str:
    cls = " class='w'" if len(text) > _NOWRAP_CHARS else ""
    return f"<td{cls}>{html.escape(text)}</td>"


def image_html(path: Path, alt: str) -> str:
    """A PNG embedded as a data URI, so report.html is one file that can be mailed around."""
    import base64

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<p><img src='data:image/png;base64,{data}' alt='{html.escape(alt)}'></p>"


@dataclass
class Section:
    title: str
    html: str


def write_html(path: Path, title: str, sections: Sequence[Section]) -> Path:
    # Readable from 800 px up without sideways scrolling: tables shrink their font and wrap
    # long cells (machine lists, alert subjects) instead of widening the page.
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;"
        "color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:12px;max-width:100%}"
        "td,th{border:1px solid #ccc;padding:2px 4px;text-align:left;white-space:nowrap}"
        "td.w{white-space:normal;overflow-wrap:anywhere}"
        "th{background:#eee;white-space:normal;overflow-wrap:anywhere}.summary td{font-size:14px;white-space:normal}"
        "pre{background:#f6f6f6;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}"
        "img{max-width:100%;height:auto}"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>{s.html}")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def escape(text: str) -> str:
    return html.escape(text)


def table_html(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    return _table(columns, rows)


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


def dump_json(path: Path, data: Mapping[str, Any]) -> Path:
    def default(o: Any) -> Any:
        if hasattr(o, "__dataclass_fields__"):
            return asdict(o)
        if isinstance(o, float | np.floating) and not np.isfinite(o):
            return None
        return str(o)

    path.write_text(json.dumps(data, indent=1, default=default), encoding="utf-8")
    return path
