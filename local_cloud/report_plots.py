"""The demo report's PNG plots (matplotlib, Agg backend).

The spectrum and envelope spectrum of a faulty machine with its bearing defect frequencies
marked, its velocity trend over the ISO 10816-3 zone bands, the temperature trend of a machine
that overheats against its limits, and the fleet's sustained health over time as the
technicians' alerts describe it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from local_cloud.cloud import ReceivedAlert
from local_cloud.pipeline import alert_key
from local_cloud.report_scoring import ALARM, HEALTHY, WARNING, FaultTruth
from rotorwatch.contract.telemetry import Telemetry
from rotorwatch.diagnosis.assets import Asset
from rotorwatch.diagnosis.features.envelope import envelope_spectrum
from rotorwatch.diagnosis.features.iso import zone_boundaries_mm_s
from rotorwatch.diagnosis.predictions import STATES
from rotorwatch.diagnosis.sensors import limits_of


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
