"""Run a fleet scenario: telemetry messages in time order (contract v1 JSON, or v2 binary for
the devices asked to, each on its contract's topic), plus the ground truth behind them.

Every device publishes one window every ``interval_s`` seconds; devices are staggered evenly
across the interval so a fleet does not publish in bursts. For each device the generator keeps
its own random stream (seeded from ``seed`` and the device id, so adding a machine does not
change the others), its message counter, load and temperature.

Ground truth (one JSON line per emitted window)::

    {"device_id": "m03", "site": "plant-a", "ts": 1767225600000, "seq": 12,
     "fault": "bearing_outer", "onset_ms": 1767240000000, "severity": 0.031}

``fault`` is "normal" before the onset (and for healthy machines, whose ``onset_ms`` is null);
``severity`` is 0..1 (1 = end of life). A device whose accelerometer fails
(:mod:`simulator.sensor_failure`) also has ``sensor_problem``: null while the sensor works,
else the problem the pipeline should name (``sensor_clipped``, ``sensor_saturated``,
``sensor_flat_line``).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.contract.iot_rule import basic_ingest_topic, rule_names, telemetry_topic
from rotorwatch.contract.telemetry import encode, encode_samples
from rotorwatch.contract.telemetry_v2 import encode_v2
from simulator.physics import DEFAULT_FS_HZ, DEFAULT_N_SAMPLES, severity_curve, synthesize
from simulator.scenario import Machine, Scenario, load_scenario
from simulator.sensor_failure import apply as sensor_failure_apply

__all__ = [
    "SimulatedWindow",
    "generate",
    "generate_windows",
    "ground_truth",
    "load_scenario",
    "write_ground_truth",
]

F64 = npt.NDArray[np.float64]
_MS_PER_H: Final = 3_600_000.0
_MS_PER_DAY: Final = 86_400_000.0
#: Windows synthesised per device in one vectorised pass (bounded memory, same output).
CHUNK_WINDOWS: Final = 32
#: Thermal time constant of a machine casing, seconds.
THERMAL_TAU_S: Final = 1200.0
#: Temperature rise at severity 1, degC, by fault (bearings run hot, imbalance barely warms).
FAULT_HEAT_C: Final = {
    "normal": 0.0,
    "imbalance": 2.0,
    "misalignment": 8.0,
    "looseness": 3.0,
    "bearing_outer": 12.0,
    "bearing_inner": 15.0,
    "bearing_ball": 10.0,
    # Dry running heats a bearing far more than any defect does: by end of life (seizure) it
    # runs about 80 degC over its normal temperature.
    "lubrication_loss": 80.0,
    "impeller_wear": 1.0,
}
#: Efficiency lost at severity 1 (discharge pressure falls) and pressure pulsation, by fault.
#: A worn impeller (eroded vanes, opened wear-ring clearances) loses head: 45 % at end of life.
FAULT_PRESSURE_LOSS: Final = {
    "imbalance": 0.03,
    "misalignment": 0.04,
    "looseness": 0.06,
    "impeller_wear": 0.45,
}
#: Faults the vibration physics does not model itself (rotorwatch.diagnosis.predictions.SENSOR_FAULTS):
#: (vibration fault they show as, life fraction where it starts, its severity at end of life).
#: Lubrication loss: metal contact and surface distress only late, after the heat; a worn
#: impeller wears unevenly and unbalances the rotor a little.
SENSOR_FAULT_VIBRATION: Final = {
    "lubrication_loss": ("bearing_outer", 0.7, 1.0),
    "impeller_wear": ("imbalance", 0.0, 0.1),
}
FAULT_PULSATION: Final = {"misalignment": 0.02, "looseness": 0.05}


@dataclass(frozen=True, slots=True)
class SimulatedWindow:
    """One emitted message and what was true when it was measured."""

    device_id: str
    site: str
    topic: str
    payload: bytes
    truth: dict[str, Any]


@dataclass
class _DeviceState:
    index: int
    machine: Machine
    site: str
    topic: str
    offset_ms: int
    rng: np.random.Generator
    seq: int
    contract: int = 1
    temperature_c: float = math.nan
    wander: float = 0.0


def _fault_state(machine: Machine, start_ms: int, ts: F64) -> tuple[str, int | None, F64]:
    """Label per window ("normal" before onset), onset (epoch ms) and severity (B,)."""
    f = machine.fault
    if f is None:
        return "normal", None, np.zeros_like(ts)
    onset_ms = int(start_ms + round(f.onset_h * _MS_PER_H))
    x = (ts - onset_ms) / (f.life_h * _MS_PER_H)
    sev = np.where(x >= 0, severity_curve(x, f.growth), 0.0)
    return f.fault, onset_ms, sev


def _window_times(start_ms: int, offset_ms: int, interval_ms: int, k0: int, k1: int) -> F64:
    return start_ms + offset_ms + interval_ms * np.arange(k0, k1, dtype=np.float64)


def _truth_rows(
    st: _DeviceState, start_ms: int, ts: F64, seqs: range
) -> tuple[list[dict[str, Any]], F64, str]:
    label, onset_ms, sev = _fault_state(st.machine, start_ms, ts)
    rows = []
    for t, s, seq in zip(ts.tolist(), sev.tolist(), seqs, strict=True):
        rows.append(
            {
                "device_id": st.machine.device_id,
                "site": st.site,
                "ts": int(t),
                "seq": seq,
                "fault": label if onset_ms is not None and t >= onset_ms else "normal",
                "onset_ms": onset_ms,
                "severity": round(s, 6),
            }
        )
    return rows, sev, label


def _states(
    scenario: Scenario,
    *,
    seed: int,
    interval_ms: int,
    seq_start: int,
    basic_ingest_rule: str | None,
    contract: int | Mapping[str, int] = 1,
) -> list[_DeviceState]:
    n = len(scenario.machines)
    out = []
    for i, m in enumerate(scenario.machines):
        site = scenario.site_of(m)
        c = contract if isinstance(contract, int) else contract.get(m.device_id, 1)
        topic = (
            basic_ingest_topic(rule_names(basic_ingest_rule)[c], site, m.device_id, c)
            if basic_ingest_rule
            else telemetry_topic(site, m.device_id, c)
        )
        rng = np.random.default_rng([seed, zlib.crc32(m.device_id.encode("utf-8"))])
        out.append(_DeviceState(i, m, site, topic, (i * interval_ms) // n, rng, seq_start, c))
    return out


def _loads(st: _DeviceState, ts: F64) -> F64:
    """Load 0..1 per window: daily cycle plus a slow AR(1) wander (state carried across chunks)."""
    p = st.machine.load
    hour = (ts % _MS_PER_DAY) / _MS_PER_H
    cycle = p.daily_amplitude * np.cos(2.0 * np.pi * (hour - p.peak_hour) / 24.0)
    wander = np.empty_like(ts)
    w = st.wander
    steps = st.rng.standard_normal(ts.size)
    for j in range(ts.size):
        w = 0.9 * w + p.wander * steps[j]
        wander[j] = w
    st.wander = w
    return np.asarray(np.clip(p.base + cycle + wander, 0.2, 1.0))


def _speeds(st: _DeviceState, load: F64) -> F64:
    ph, rated = st.machine.physics, st.machine.asset.rated_rpm
    # A VFD sets speed by load; a direct-on-line induction motor slows by its slip as load
    # rises (rated speed at full load).
    rpm = rated * (0.6 + 0.4 * load) if ph.variable_speed else rated * (1.0 + 0.015 * (1.0 - load))
    return np.asarray(rpm * (1.0 + 0.001 * st.rng.standard_normal(load.size)))


def _temperatures(
    st: _DeviceState, ts: F64, load: F64, label: str, sev: F64, interval_s: float
) -> F64:
    ph = st.machine.physics
    hour = (ts % _MS_PER_DAY) / _MS_PER_H
    ambient = ph.ambient_c + 3.0 * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
    target = ambient + ph.temp_rise_c * load**1.5 + FAULT_HEAT_C[label] * sev
    alpha = 1.0 - math.exp(-interval_s / THERMAL_TAU_S)
    out = np.empty_like(ts)
    temp = st.temperature_c if math.isfinite(st.temperature_c) else float(target[0])
    for j in range(ts.size):
        temp += alpha * (float(target[j]) - temp)
        out[j] = temp
    st.temperature_c = temp
    return np.asarray(out + 0.1 * st.rng.standard_normal(ts.size))


def _pressures(st: _DeviceState, rpm: F64, load: F64, label: str, sev: F64) -> F64 | None:
    ph = st.machine.physics
    if ph.pressure_bar <= 0.0:
        return None
    speed = rpm / st.machine.asset.rated_rpm
    p = (
        ph.pressure_bar
        * speed**2
        * (0.85 + 0.15 * load)
        * (1.0 - FAULT_PRESSURE_LOSS.get(label, 0.0) * sev)
    )
    pulsation = 0.005 + FAULT_PULSATION.get(label, 0.0) * sev
    return np.asarray(p * (1.0 + pulsation * st.rng.standard_normal(rpm.size)))


def generate_windows(
    scenario: Scenario,
    *,
    start_ms: int,
    duration_s: float | None,
    interval_s: float,
    seed: int,
    fs_hz: float = DEFAULT_FS_HZ,
    n_samples: int = DEFAULT_N_SAMPLES,
    seq_start: int = 0,
    basic_ingest_rule: str | None = None,
    contract: int | Mapping[str, int] = 1,
) -> Iterator[SimulatedWindow]:
    """Messages of the whole fleet in timestamp order, each with its ground-truth row.

    Parameters
    ----------
    scenario : the fleet (see :func:`load_scenario`).
    start_ms : epoch milliseconds of the first window (fault onsets count from here).
    duration_s : simulated time in seconds; None runs for ever (a live feed).
    interval_s : seconds between two windows of one device.
    seed : the same seed and arguments give byte-identical messages.
    fs_hz, n_samples : sample rate and window length (defaults 8192 Hz, 4096 samples).
    seq_start : first ``seq`` of every device (resume a feed without reusing counters).
    basic_ingest_rule : publish to ``$aws/rules/<rule>/rw/...`` (IoT Basic Ingest) instead;
        the v1 rule's name (each contract's topic goes behind its own rule).
    contract : telemetry contract of every device (1 JSON, 2 binary), or per device id (1 for a
        device not named): each publishes its contract's payload to its contract's topic.
    """
    if interval_s <= 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s}")
    if duration_s is not None and duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    interval_ms = round(interval_s * 1000.0)
    if interval_ms < 1:
        raise ValueError("interval_s must be at least 1 ms")
    states = _states(
        scenario,
        seed=seed,
        interval_ms=interval_ms,
        seq_start=seq_start,
        basic_ingest_rule=basic_ingest_rule,
        contract=contract,
    )
    n_windows = None if duration_s is None else math.ceil(duration_s * 1000.0 / interval_ms)
    k0 = 0
    while n_windows is None or k0 < n_windows:
        k1 = k0 + CHUNK_WINDOWS if n_windows is None else min(k0 + CHUNK_WINDOWS, n_windows)
        per_device: list[list[SimulatedWindow]] = []
        for st in states:
            per_device.append(
                list(_device_chunk(st, start_ms, interval_ms, k0, k1, fs_hz, n_samples))
            )
        for j in range(k1 - k0):
            for windows in per_device:
                yield windows[j]
        k0 = k1


def _vibration_fault(label: str, sev: F64) -> tuple[str, F64]:
    """The vibration physics' fault and severity for a ground-truth fault (a sensor fault shows
    as a late or weak vibration fault, see :data:`SENSOR_FAULT_VIBRATION`)."""
    if label not in SENSOR_FAULT_VIBRATION:
        return label, sev
    fault, start, top = SENSOR_FAULT_VIBRATION[label]
    return fault, np.asarray(top * np.clip((sev - start) / (1.0 - start), 0.0, 1.0))


def _device_chunk(
    st: _DeviceState,
    start_ms: int,
    interval_ms: int,
    k0: int,
    k1: int,
    fs_hz: float,
    n_samples: int,
) -> Iterator[SimulatedWindow]:
    m = st.machine
    ts = _window_times(start_ms, st.offset_ms, interval_ms, k0, k1)
    seqs = range(st.seq, st.seq + (k1 - k0))
    st.seq += k1 - k0
    rows, sev, label = _truth_rows(st, start_ms, ts, seqs)
    load = _loads(st, ts)
    rpm = _speeds(st, load)
    vib_fault, vib_sev = _vibration_fault(label, sev)
    x = synthesize(
        m.asset,
        m.physics,
        rpm=rpm,
        fault=vib_fault,
        severity=vib_sev,
        rng=st.rng,
        fs_hz=fs_hz,
        n_samples=n_samples,
    )
    temp = _temperatures(st, ts, load, label, sev, interval_ms / 1000.0)
    pressure = _pressures(st, rpm, load, label, sev)
    scales: list[float | None] = [None] * len(rows)
    if m.sensor_failure is not None:
        # The machine vibrates as synthesised; its failing sensor reports something else.
        problems = m.sensor_failure.problems(start_ms, ts)
        x, scales = sensor_failure_apply(x, problems)
        for row, problem in zip(rows, problems, strict=True):
            row["sensor_problem"] = problem
    for j, row in enumerate(rows):
        scalars = {
            "ts": row["ts"],
            "seq": row["seq"],
            "rpm": round(float(rpm[j]), 1),
            "temperature_c": round(float(temp[j]), 2),
            "pressure_bar": None if pressure is None else round(float(pressure[j]), 3),
        }
        if st.contract == 2:
            payload = encode_v2(samples=x[j], fs_hz=fs_hz, scale=scales[j], **scalars)
        else:
            window = encode_samples(x[j], fs_hz=fs_hz, scale=scales[j])
            payload = encode(device_id=m.device_id, vibration=window, **scalars)
        yield SimulatedWindow(m.device_id, st.site, st.topic, payload, row)


def generate(
    scenario: Scenario,
    *,
    start_ms: int,
    duration_s: float | None,
    interval_s: float,
    seed: int,
    fs_hz: float = DEFAULT_FS_HZ,
    n_samples: int = DEFAULT_N_SAMPLES,
    seq_start: int = 0,
    basic_ingest_rule: str | None = None,
    truth: IO[str] | Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(topic, telemetry v1 payload) for the fleet in timestamp order (contract v1 only; per-device
    contracts: :func:`generate_windows`).

    ``truth``: a text stream that receives one ground-truth JSON line per message, or a callable
    that receives the row, called just before the message is yielded.
    """
    sink: Callable[[dict[str, Any]], None] | None
    if truth is None:
        sink = None
    elif callable(truth):
        sink = truth
    else:
        stream = truth

        def sink(row: dict[str, Any]) -> None:
            stream.write(json.dumps(row, separators=(",", ":")) + "\n")

    for w in generate_windows(
        scenario,
        start_ms=start_ms,
        duration_s=duration_s,
        interval_s=interval_s,
        seed=seed,
        fs_hz=fs_hz,
        n_samples=n_samples,
        seq_start=seq_start,
        basic_ingest_rule=basic_ingest_rule,
    ):
        if sink is not None:
            sink(w.truth)
        yield w.topic, w.payload


def ground_truth(
    scenario: Scenario, *, start_ms: int, duration_s: float, interval_s: float, seq_start: int = 0
) -> Iterator[dict[str, Any]]:
    """The ground-truth rows :func:`generate` would emit, without synthesising any signal."""
    interval_ms = round(interval_s * 1000.0)
    states = _states(
        scenario, seed=0, interval_ms=interval_ms, seq_start=seq_start, basic_ingest_rule=None
    )
    n_windows = math.ceil(duration_s * 1000.0 / interval_ms)
    per_device = []
    for st in states:
        ts = _window_times(start_ms, st.offset_ms, interval_ms, 0, n_windows)
        rows, _sev, _label = _truth_rows(st, start_ms, ts, range(seq_start, seq_start + n_windows))
        per_device.append(rows)
    for j in range(n_windows):
        for rows in per_device:
            yield rows[j]


def write_ground_truth(rows: Iterator[dict[str, Any]], stream: IO[str]) -> int:
    """Write ground-truth rows as JSON lines; returns how many were written."""
    count = 0
    for row in rows:
        stream.write(json.dumps(row, separators=(",", ":")) + "\n")
        count += 1
    return count
