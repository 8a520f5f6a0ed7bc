"""Machine vibration physics: one vectorised synthesis of a batch of acceleration windows.

A machine is a shaft turning at ``rpm`` on rolling-element bearings, mounted on a structure with
one dominant resonance, seen by a single-axis accelerometer (in g). Each window is the sum of:

* **running vibration** (healthy): residual imbalance at 1x, small 2x/3x, twice line frequency
  from the motor, and a low-frequency broadband floor (flow, bearings running smoothly);
* **faults**, scaled by a severity 0..1:

  - imbalance: a 1x tone phase-locked to the residual imbalance;
  - misalignment: a strong 2x with 1x and 3x (an axially mounted sensor sees more 2x);
  - mechanical looseness: many harmonics *and half orders* of shaft speed whose waveform is
    truncated on one side (a foot lifting, a bearing rattling in its housing);
  - bearing defects: a train of impacts at BPFO / BPFI / 2 x BSF (from the asset's geometry,
    with 0.5-1.5 % slip and per-impact jitter) that ring the structural resonance; inner-race
    impacts are amplitude-modulated at 1x as the defect passes through the load zone, ball
    impacts at FTF as the cage carries the ball round. Late in life the defect tones, a raised
    broadband floor and 1x also show in the velocity spectrum (ISO severity rises);

* **noise**: white sensor noise and random excitation of the resonance.

Fault velocity is calibrated against the ISO 10816-3 zone table of the asset: at severity 0 the
machine sits in zone A, at severity 1 its velocity RMS is ``kappa`` times the C/D boundary, so a
degrading machine walks A -> B -> C -> D. Bearing impacts grow with ``severity ** 0.75`` (the
envelope sees a defect early) while their velocity grows with ``severity ** 1.5`` (late).

Units: frequencies in Hz, velocity RMS in mm/s, acceleration in g, time in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from rotorwatch.contract.telemetry import STANDARD_GRAVITY_M_S2
from rotorwatch.diagnosis.assets import Asset
from rotorwatch.diagnosis.features.iso import zone_boundaries_mm_s
from rotorwatch.diagnosis.predictions import FAULT_CAUSES as FAULTS

F64 = npt.NDArray[np.float64]
C128 = npt.NDArray[np.complex128]

DEFAULT_FS_HZ: Final = 8192.0
DEFAULT_N_SAMPLES: Final = 4096
#: Accelerometer full scale (a +-16 g MEMS part): larger peaks clip, as on a real sensor.
SENSOR_RANGE_G: Final = 16.0
VELOCITY_BAND_HZ: Final = (10.0, 1000.0)
#: Samples simulated before each window so the resonance rings in from earlier impacts.
_PAD: Final = 512
_MM_PER_G_S: Final = STANDARD_GRAVITY_M_S2 * 1000.0  # 1 g for 1 s = 9806.65 mm/s

KINDS: Final[tuple[str, ...]] = ("pump", "fan", "compressor", "motor")
SENSOR_AXES: Final[tuple[str, ...]] = ("radial", "axial")
BEARING_FAULTS: Final[tuple[str, ...]] = ("bearing_outer", "bearing_inner", "bearing_ball")

#: Share of the healthy velocity power (mean square) per component.
_BASELINE_SHARES: Final = {"1x": 0.55, "2x": 0.15, "3x": 0.05, "line": 0.05, "floor": 0.20}
#: Share of fault velocity power per component.
_MISALIGNMENT_SHARES: Final = {
    "radial": {1: 0.25, 2: 0.60, 3: 0.10, 4: 0.05},
    "axial": {1: 0.15, 2: 0.70, 3: 0.10, 4: 0.05},
}
_BEARING_VELOCITY_SHARES: Final = {"tones": 0.5, "floor": 0.3, "1x": 0.2}
#: Relative velocity of the defect line's harmonics (late bearing faults).
_BEARING_TONE_HARMONICS: Final = (1.0, 0.6, 0.4)


@dataclass(frozen=True, slots=True)
class MachinePhysics:
    """Everything about a machine the signal depends on, besides its asset record.

    Attributes
    ----------
    kind : one of :data:`KINDS` (sets the pressure a machine produces).
    resonance_hz : the structural resonance bearing impacts ring; keep it in the feature engine's
        envelope band [0.2 fs, 0.45 fs) (2-3.5 kHz at 8192 Hz).
    damping_ratio : of that resonance (0.02-0.08 for bolted steel structures).
    noise_g : white sensor and background noise RMS, g.
    resonance_noise_g : RMS of the resonance rung by random forces (flow, friction), g.
    baseline_fraction : healthy velocity RMS as a fraction of the ISO A/B boundary (< 1: zone A).
    kappa : velocity at severity 1 as a multiple of the C/D boundary (> 1: zone D).
    impact_g : peak of one bearing impact at severity 1, g.
    slip : bearing slip, the fraction by which impacts come later than the kinematic rate.
    jitter : standard deviation of each impact interval, relative.
    variable_speed : a VFD drive: speed follows load (60-100 % of rated) instead of motor slip.
    sensor_axis : "radial" or "axial" mounting.
    line_hz : mains frequency (50 or 60 Hz): the motor adds a tone at twice it.
    imbalance_phase_rad : phase of fault imbalance against the residual imbalance.
    ambient_c, temp_rise_c : ambient temperature and the rise at full load, degC.
    pressure_bar : discharge pressure at rated speed and load (0 for a machine without one).
    """

    kind: str = "pump"
    resonance_hz: float = 2600.0
    damping_ratio: float = 0.04
    noise_g: float = 0.01
    resonance_noise_g: float = 0.02
    baseline_fraction: float = 0.5
    kappa: float = 1.5
    impact_g: float = 1.5
    slip: float = 0.01
    jitter: float = 0.005
    variable_speed: bool = False
    sensor_axis: str = "radial"
    line_hz: float = 50.0
    imbalance_phase_rad: float = 0.3
    ambient_c: float = 22.0
    temp_rise_c: float = 30.0
    pressure_bar: float = 4.0

    def validate(self) -> None:
        """Raise ValueError for parameters no real machine has."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.sensor_axis not in SENSOR_AXES:
            raise ValueError(f"sensor_axis must be one of {SENSOR_AXES}, got {self.sensor_axis!r}")
        checks = {
            "resonance_hz": 200.0 <= self.resonance_hz <= 20000.0,
            "damping_ratio": 0.005 <= self.damping_ratio <= 0.3,
            "noise_g": 0.0 <= self.noise_g <= 1.0,
            "resonance_noise_g": 0.0 <= self.resonance_noise_g <= 1.0,
            "baseline_fraction": 0.05 <= self.baseline_fraction < 1.0,
            "kappa": 1.0 < self.kappa <= 4.0,
            "impact_g": 0.0 <= self.impact_g <= SENSOR_RANGE_G,
            "slip": 0.0 <= self.slip <= 0.02,
            "jitter": 0.0 <= self.jitter <= 0.05,
            "line_hz": self.line_hz in (50.0, 60.0),
            "temp_rise_c": 0.0 <= self.temp_rise_c <= 100.0,
            "pressure_bar": 0.0 <= self.pressure_bar <= 100.0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"machine physics out of range: {', '.join(bad)}")


def severity_curve(x: F64, growth: float = 3.0) -> F64:
    """Degradation severity 0..1 at life fraction ``x`` (0 at onset, 1 at end of life).

    An exponential P-F curve: slow at first, accelerating towards failure,
    ``(exp(g x) - 1) / (exp(g) - 1)``; ``x`` outside [0, 1] is clipped.
    """
    xc = np.clip(x, 0.0, 1.0)
    if growth <= 1e-9:
        return xc
    return np.asarray(np.expm1(growth * xc) / np.expm1(growth), dtype=np.float64)


def tone_peak_g(velocity_rms_mm_s: F64 | float, f_hz: F64 | float) -> F64:
    """Acceleration peak (g) of a sine at ``f_hz`` whose velocity RMS is ``velocity_rms_mm_s``."""
    v = np.asarray(velocity_rms_mm_s, dtype=np.float64)
    return np.asarray(v * np.sqrt(2.0) * 2.0 * np.pi * np.asarray(f_hz) / _MM_PER_G_S)


def velocity_rms_mm_s(x_g: F64, fs_hz: float) -> F64:
    """Velocity RMS 10-1000 Hz (mm/s) of windows ``x_g`` (B, N) in g, integrated in frequency.

    The same definition as the feature engine (Hann window, one-sided Parseval), used here to
    scale fault components whose spectrum is not known in closed form.
    """
    n = x_g.shape[-1]
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    spec = np.fft.rfft((x_g - x_g.mean(axis=-1, keepdims=True)) * w, axis=-1)
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    band = (f >= VELOCITY_BAND_HZ[0]) & (f <= VELOCITY_BAND_HZ[1])
    ms = 2.0 * np.abs(spec[..., band]) ** 2 / (n * np.sum(w * w))
    gain = (_MM_PER_G_S / (2.0 * np.pi * f[band])) ** 2
    return np.asarray(np.sqrt(np.sum(ms * gain, axis=-1)))


def _cos_cycles(cycles: F64) -> F64:
    """cos(2 pi cycles) for a large array: whole cycles dropped in float64, the rest in float32.

    float32 cos is ten times faster and its 1e-7 relative error is far below the int16 sensor.
    """
    frac = (cycles - np.floor(cycles)).astype(np.float32)
    frac *= np.float32(2.0 * np.pi)
    return np.cos(frac, out=frac)


def _resonance_response(
    resonance_hz: float, damping_ratio: float, fs_hz: float, length: int
) -> F64:
    """Impulse response of the structure (peak normalised to 1), for an FFT convolution."""
    t = np.arange(length) / fs_hz
    wn = 2.0 * np.pi * resonance_hz
    wd = wn * np.sqrt(1.0 - damping_ratio**2)
    h = np.exp(-damping_ratio * wn * t) * np.sin(wd * t)
    return np.asarray(h / np.max(np.abs(h)))


def _band_noise(rng: np.random.Generator, b: int, length: int, fs_hz: float, v_rms: F64) -> C128:
    """Spectrum (B, K) of Gaussian noise in 10-1000 Hz with velocity RMS ``v_rms`` (B,), mm/s.

    The acceleration spectrum is flat with frequency, so the velocity floor falls as 1/f like
    the "haystack" of a rough-running machine.
    """
    f = np.fft.rfftfreq(length, 1.0 / fs_hz)
    band = (f >= VELOCITY_BAND_HZ[0]) & (f <= VELOCITY_BAND_HZ[1])
    k = int(band.sum())
    spec = np.zeros((b, f.size), dtype=np.complex128)
    spec[:, band] = rng.standard_normal((b, k)) + 1j * rng.standard_normal((b, k))
    # One-sided Parseval: mean square of bin k is 2|X_k|^2 / L^2; weight by (1/(2 pi f))^2.
    gain = (_MM_PER_G_S / (2.0 * np.pi * f[band])) ** 2
    v_now = np.sqrt(np.sum(2.0 * np.abs(spec[:, band]) ** 2 * gain, axis=1)) / length
    spec *= (v_rms / np.maximum(v_now, 1e-30))[:, None]
    return spec


def _impact_train(
    rng: np.random.Generator,
    fault: str,
    rate_hz: F64,
    shaft_hz: F64,
    ftf_hz: F64,
    amplitude_g: F64,
    jitter: float,
    fs_hz: float,
    length: int,
) -> F64:
    """Impulse trains (B, length): one impulse of height ``amplitude_g`` per impact.

    ``rate_hz`` is the impact rate; time 0 is the first sample of the padded window.
    """
    b = rate_hz.size
    duration_s = length / fs_hz
    k_max = int(np.ceil(duration_s * float(rate_hz.max()) * (1.0 + 5.0 * jitter))) + 2
    period = 1.0 / rate_hz
    intervals = period[:, None] * (1.0 + jitter * rng.standard_normal((b, k_max)))
    t0 = rng.uniform(0.0, 1.0, b) * period
    times = t0[:, None] + np.cumsum(intervals, axis=1) - intervals[:, :1]
    amp = amplitude_g[:, None] * (1.0 + 0.1 * rng.standard_normal((b, k_max)))
    if fault == "bearing_inner":
        # The defect turns with the shaft and is struck hardest in the load zone.
        phase = rng.uniform(0.0, 2.0 * np.pi, b)[:, None]
        amp *= 0.55 + 0.45 * np.cos(2.0 * np.pi * shaft_hz[:, None] * times + phase)
    elif fault == "bearing_ball":
        # A spall on a ball hits both races each spin (2 x BSF), unequally, and is carried
        # into and out of the load zone by the cage (FTF).
        amp *= np.where(np.arange(k_max) % 2 == 0, 1.0, 0.45)[None, :]
        phase = rng.uniform(0.0, 2.0 * np.pi, b)[:, None]
        amp *= 0.6 + 0.4 * np.cos(2.0 * np.pi * ftf_hz[:, None] * times + phase)
    idx = np.rint(times * fs_hz).astype(np.int64)
    ok = idx < length
    flat = (np.arange(b)[:, None] * length + idx)[ok]
    train = np.bincount(flat, weights=amp[ok], minlength=b * length)
    return np.asarray(train.reshape(b, length), dtype=np.float64)


def synthesize(
    asset: Asset,
    physics: MachinePhysics,
    *,
    rpm: F64,
    fault: str,
    severity: F64,
    rng: np.random.Generator,
    fs_hz: float = DEFAULT_FS_HZ,
    n_samples: int = DEFAULT_N_SAMPLES,
) -> F64:
    """Acceleration windows (B, n_samples) in g for one machine.

    Parameters
    ----------
    asset : the machine's registry record (ISO group/foundation, rated speed, bearing geometry).
    physics : its :class:`MachinePhysics`.
    rpm : shaft speed of each window, rev/min, shape (B,).
    fault : one of :data:`rotorwatch.diagnosis.predictions.FAULTS` ("normal" = no fault).
    severity : fault severity 0..1 of each window, shape (B,) (ignored for "normal").
    rng : random generator (the caller owns seeding, so fleets are reproducible).
    fs_hz, n_samples : sample rate (Hz) and window length.
    """
    rpm = np.asarray(rpm, dtype=np.float64)
    severity = np.clip(np.asarray(severity, dtype=np.float64), 0.0, 1.0)
    if rpm.ndim != 1 or severity.shape != rpm.shape:
        raise ValueError("rpm and severity must be one-dimensional and of equal length")
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {FAULTS}, got {fault!r}")
    if fault in BEARING_FAULTS and asset.bearing is None:
        raise ValueError(f"{asset.device_id}: a {fault} fault needs the asset's bearing geometry")
    if physics.resonance_hz >= 0.5 * fs_hz:
        raise ValueError(
            f"{asset.device_id}: resonance {physics.resonance_hz:g} Hz is above Nyquist at "
            f"fs {fs_hz:g} Hz; raise fs_hz"
        )
    if fault == "normal":
        severity = np.zeros_like(severity)
    b = rpm.size
    length = n_samples + _PAD
    t = np.arange(n_samples) / fs_hz  # tones need only the window itself
    shaft_hz = rpm / 60.0
    speed = rpm / asset.rated_rpm
    ab, _bc, cd = zone_boundaries_mm_s(asset.machine_group, asset.foundation)
    v0 = physics.baseline_fraction * ab * speed**1.5 * (1.0 + 0.05 * rng.standard_normal(b))
    v_fault_max = np.sqrt((physics.kappa * cd) ** 2 - (physics.baseline_fraction * ab) ** 2)
    # Shaft angle in revolutions (a window starts at a random angle).
    revs = rng.uniform(0.0, 1.0, b)[:, None] + shaft_hz[:, None] * t[None, :]

    x = np.zeros((b, n_samples))

    def add_tone(v_rms: F64, f_hz: F64, phase: F64) -> None:
        a = tone_peak_g(v_rms, f_hz)
        x[...] += a[:, None] * _cos_cycles(
            f_hz[:, None] * t[None, :] + phase[:, None] / (2.0 * np.pi)
        )

    def add_order(v_rms: F64, order: float, phase: float | F64) -> None:
        a = tone_peak_g(v_rms, order * shaft_hz)
        x[...] += a[:, None] * _cos_cycles(
            order * revs + np.asarray(phase).reshape(-1, 1) / (2.0 * np.pi)
        )

    # Running vibration of a healthy machine.
    s = _BASELINE_SHARES
    add_order(v0 * np.sqrt(s["1x"]), 1.0, 0.0)
    add_order(v0 * np.sqrt(s["2x"]), 2.0, 0.7)
    add_order(v0 * np.sqrt(s["3x"]), 3.0, 2.1)
    add_tone(
        v0 * np.sqrt(s["line"]), np.full(b, 2.0 * physics.line_hz), rng.uniform(0, 2 * np.pi, b)
    )
    floor_v2 = (v0 * v0) * s["floor"]

    # Faults.
    train = np.zeros((b, length))  # bearing impacts (none unless a bearing fault)
    sev_lin = severity * v_fault_max * speed**1.5
    if fault == "imbalance":
        add_order(sev_lin, 1.0, physics.imbalance_phase_rad)
    elif fault == "misalignment":
        for order, share in _MISALIGNMENT_SHARES[physics.sensor_axis].items():
            add_order(sev_lin * np.sqrt(share), float(order), 0.4 * order)
    elif fault == "looseness":
        x += _looseness(revs, sev_lin * np.sqrt(0.9), shaft_hz, fs_hz, rng)
        floor_v2 = floor_v2 + 0.1 * sev_lin**2
    elif fault in BEARING_FAULTS:
        assert asset.bearing is not None
        orders = asset.bearing.defect_orders()
        v_late = severity**1.5 * v_fault_max * speed**1.5
        key = {"bearing_outer": "bpfo", "bearing_inner": "bpfi", "bearing_ball": "bsf"}[fault]
        f_def = orders[key] * shaft_hz * (1.0 - physics.slip)
        ftf = orders["ftf"] * shaft_hz * (1.0 - physics.slip)
        weights = np.asarray(_BEARING_TONE_HARMONICS)
        tones = v_late * np.sqrt(_BEARING_VELOCITY_SHARES["tones"] / np.sum(weights**2))
        for harmonic, wgt in enumerate(weights, start=1):
            ph = rng.uniform(0, 2 * np.pi, b)
            if fault == "bearing_outer":
                add_tone(tones * wgt, harmonic * f_def, ph)
            else:  # sidebands at the modulating frequency
                fm = shaft_hz if fault == "bearing_inner" else ftf
                add_tone(tones * wgt * np.sqrt(0.6), harmonic * f_def, ph)
                add_tone(tones * wgt * np.sqrt(0.2), harmonic * f_def - fm, ph + 0.5)
                add_tone(tones * wgt * np.sqrt(0.2), harmonic * f_def + fm, ph - 0.5)
        add_order(
            v_late * np.sqrt(_BEARING_VELOCITY_SHARES["1x"]), 1.0, physics.imbalance_phase_rad
        )
        floor_v2 = floor_v2 + _BEARING_VELOCITY_SHARES["floor"] * v_late**2
        rate = 2.0 * f_def if fault == "bearing_ball" else f_def
        train = _impact_train(
            rng,
            fault,
            rate,
            shaft_hz,
            ftf,
            physics.impact_g * severity**0.75,
            physics.jitter,
            fs_hz,
            length,
        )

    # Structure: impacts and random forces ring the resonance (one FFT convolution), plus the
    # low-frequency broadband floor.
    h = _resonance_response(physics.resonance_hz, physics.damping_ratio, fs_hz, length)
    h_rms = float(np.sqrt(np.sum(h * h)))
    force = train + rng.standard_normal((b, length)) * (physics.resonance_noise_g / h_rms)
    spec = np.fft.rfft(force, axis=1) * np.fft.rfft(h)[None, :]
    spec += _band_noise(rng, b, length, fs_hz, np.sqrt(floor_v2))
    x += np.fft.irfft(spec, n=length, axis=1)[:, _PAD:]
    x += physics.noise_g * rng.standard_normal(x.shape)
    return np.asarray(np.clip(x, -SENSOR_RANGE_G, SENSOR_RANGE_G))


def _looseness(revs: F64, v_rms: F64, shaft_hz: F64, fs_hz: float, rng: np.random.Generator) -> F64:
    """Mechanical looseness: half and whole orders up to 10x, truncated on one side.

    The waveform repeats every two revolutions (the part rattles on alternate turns), so the
    spectrum holds 0.5x, 1x, 1.5x, ... Clipping the positive half stands for a foot or a bearing
    cap hitting its stop. The component is scaled to velocity RMS ``v_rms`` numerically.
    """
    b, length = revs.shape
    w = np.zeros((b, length))
    half_orders = np.arange(1, 21) * 0.5
    phases = rng.uniform(0.0, 1.0, half_orders.size)
    for k, order in enumerate(half_orders):
        amp = order**-0.6 * (1.0 if order == int(order) else 0.55)
        w += amp * _cos_cycles(order * revs + phases[k])
    limit = 0.45 * np.max(np.abs(w), axis=1, keepdims=True)
    w = np.minimum(w, limit)
    w -= w.mean(axis=1, keepdims=True)
    v_now = velocity_rms_mm_s(w, fs_hz)
    return np.asarray(w * (v_rms / np.maximum(v_now, 1e-30))[:, None])
