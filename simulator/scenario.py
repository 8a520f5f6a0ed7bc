"""Fleet scenarios: which machines exist, how each is built, and which fault it develops when.

A scenario is one small JSON file that doubles as the asset registry (its ``assets`` list is in
the :mod:`rotorwatch.diagnosis.assets` format, so ``rotorwatch features --assets scenario.json`` works)::

    {
      "name": "small", "site": "plant-a", "description": "...",
      "assets":   [{"device_id": "pump-01", "machine_group": 2, "foundation": "rigid",
                    "rated_rpm": 1775, "bearing": {...}, "site": "plant-a"}],
      "machines": [{"device_id": "pump-01", "kind": "pump", "resonance_hz": 2650, ...}],
      "faults":   [{"device_id": "pump-01", "fault": "bearing_outer",
                    "onset_h": 4.0, "life_h": 16.0, "growth": 3.0}],
      "loads":    [{"device_id": "pump-01", "base": 0.8, "daily_amplitude": 0.1,
                    "peak_hour": 14}]
    }

``machines`` entries hold :class:`simulator.physics.MachinePhysics` fields; any field (or the
whole entry) left out is drawn deterministically from the device id, so hand-written files stay
short. A fault starts ``onset_h`` hours after the start of a simulation and reaches severity 1
``life_h`` hours later (see :func:`simulator.physics.severity_curve`); a device has at most one.
Besides the vibration faults a scenario may schedule ``lubrication_loss`` (the bearing heats up,
its vibration changes late) and ``impeller_wear`` (a pump's discharge pressure falls); see
:data:`rotorwatch.diagnosis.predictions.SENSOR_FAULTS`. An asset may carry ``limits`` (sensor limits,
:mod:`rotorwatch.diagnosis.assets`). A device may have a ``sensor_failures`` entry: its accelerometer
dies while the machine runs on (:mod:`simulator.sensor_failure`).
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from rotorwatch.diagnosis.assets import Asset, AssetError, parse_asset
from rotorwatch.diagnosis.predictions import FAULT_CAUSES as FAULTS
from rotorwatch.diagnosis.predictions import SENSOR_FAULTS
from simulator.physics import BEARING_FAULTS, MachinePhysics
from simulator.sensor_failure import SensorFailure

#: Every fault a scenario may schedule: the vibration faults and those that show first in
#: temperature or pressure (see simulator.fleet.SENSOR_FAULT_VIBRATION).
SCHEDULABLE_FAULTS: Final[tuple[str, ...]] = (*FAULTS[1:], *SENSOR_FAULTS)
#: Sensor faults that need a pressure to degrade.
_NEEDS_PRESSURE: Final = ("impeller_wear",)
#: Sensor faults whose late vibration is a bearing defect (they need a bearing geometry).
_NEEDS_BEARING: Final = ("lubrication_loss",)

SCENARIO_DIR: Final = Path(__file__).parent / "scenarios"

#: Rated speeds of 2- to 8-pole induction motors on 50 Hz and 60 Hz mains (rev/min, line Hz).
MOTOR_SPEEDS: Final[tuple[tuple[float, float], ...]] = (
    (885.0, 60.0),
    (985.0, 50.0),
    (1185.0, 60.0),
    (1470.0, 50.0),
    (1775.0, 60.0),
    (2955.0, 50.0),
    (3560.0, 60.0),
)

#: Bearing geometries of common deep-groove, cylindrical-roller and angular-contact bearings
#: (n, ball diameter mm, pitch diameter mm, contact angle deg).
BEARING_CATALOG: Final[tuple[tuple[int, float, float, float], ...]] = (
    (9, 7.94, 39.04, 0.0),  # 6205
    (9, 9.53, 46.0, 0.0),  # 6206
    (8, 15.08, 65.0, 0.0),  # 6308
    (8, 17.46, 80.0, 0.0),  # 6310
    (13, 11.0, 70.0, 0.0),  # NU 212 (rollers)
    (13, 14.29, 65.5, 40.0),  # 7308 BEP
    (10, 12.7, 72.0, 0.0),  # 6212
    (12, 9.0, 60.0, 15.0),  # 7010 C
)


def bearing_record(geometry: tuple[int, float, float, float]) -> dict[str, float]:
    """A catalogue entry as the asset registry's ``bearing`` record."""
    n, d, pitch, angle = geometry
    return {
        "n_balls": n,
        "ball_diameter_mm": d,
        "pitch_diameter_mm": pitch,
        "contact_angle_deg": angle,
    }


PRESSURE_BAR_BY_KIND: Final = {
    "pump": (2.0, 8.0),
    "compressor": (6.0, 10.0),
    "fan": (0.01, 0.05),
    "motor": (0.0, 0.0),
}


class ScenarioError(ValueError):
    """A scenario file that cannot be simulated."""


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """One fault: which, when it starts (hours after the start) and how long it takes to fail."""

    fault: str
    onset_h: float
    life_h: float
    growth: float = 3.0


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """Machine load 0..1: a daily cycle plus slow random variation."""

    base: float = 0.8
    daily_amplitude: float = 0.1
    peak_hour: float = 14.0
    wander: float = 0.03


@dataclass(frozen=True, slots=True)
class Machine:
    """A simulated device: its registry record, its physics, load and fault schedule."""

    asset: Asset
    physics: MachinePhysics
    load: LoadProfile
    fault: FaultSchedule | None = None
    #: When its accelerometer fails (simulator.sensor_failure); the machine itself is unchanged.
    sensor_failure: SensorFailure | None = None

    @property
    def device_id(self) -> str:
        return self.asset.device_id


@dataclass(frozen=True, slots=True)
class Scenario:
    """A fleet of machines at one or more sites."""

    name: str
    site: str
    machines: tuple[Machine, ...]
    description: str = ""

    def site_of(self, machine: Machine) -> str:
        return machine.asset.site or self.site

    @property
    def assets(self) -> dict[str, Asset]:
        return {m.device_id: m.asset for m in self.machines}

    def to_dict(self) -> dict[str, Any]:
        """The scenario as written to a file (every physics field explicit)."""
        return {
            "name": self.name,
            "site": self.site,
            "description": self.description,
            "assets": [m.asset.to_dict() for m in self.machines],
            "machines": [
                {"device_id": m.device_id, **dataclasses.asdict(m.physics)} for m in self.machines
            ],
            "loads": [
                {"device_id": m.device_id, **dataclasses.asdict(m.load)} for m in self.machines
            ],
            "faults": [
                {"device_id": m.device_id, **dataclasses.asdict(m.fault)}
                for m in self.machines
                if m.fault
            ],
        }


def _device_rng(device_id: str, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(device_id.encode("utf-8")), salt])


def default_physics(asset: Asset, rng: np.random.Generator | None = None) -> MachinePhysics:
    """Plausible, varied physics for a machine (drawn from ``rng``, else from its device id)."""
    r = rng if rng is not None else _device_rng(asset.device_id)
    kind = str(r.choice(["pump", "pump", "fan", "compressor", "motor"]))
    p_lo, p_hi = PRESSURE_BAR_BY_KIND[kind]
    line_hz = min(MOTOR_SPEEDS, key=lambda s: abs(s[0] - asset.rated_rpm))[1]
    return MachinePhysics(
        kind=kind,
        resonance_hz=round(float(r.uniform(2000.0, 3400.0)), 1),
        damping_ratio=round(float(r.uniform(0.02, 0.07)), 4),
        noise_g=round(float(r.uniform(0.005, 0.03)), 4),
        resonance_noise_g=round(float(r.uniform(0.01, 0.04)), 4),
        baseline_fraction=round(float(r.uniform(0.3, 0.75)), 3),
        kappa=round(float(r.uniform(1.4, 1.8)), 3),
        impact_g=round(float(r.uniform(0.8, 2.5)), 3),
        slip=round(float(r.uniform(0.005, 0.015)), 4),
        jitter=round(float(r.uniform(0.003, 0.01)), 4),
        variable_speed=bool(r.random() < 0.25),
        sensor_axis="axial" if r.random() < 0.25 else "radial",
        line_hz=line_hz,
        imbalance_phase_rad=round(float(r.uniform(-1.0, 1.0)), 3),
        ambient_c=round(float(r.uniform(15.0, 30.0)), 1),
        temp_rise_c=round(float(r.uniform(15.0, 40.0)), 1),
        pressure_bar=round(float(r.uniform(p_lo, p_hi)), 3),
    )


def kind_pressure_bar(kind: str, device_id: str) -> float:
    """A discharge pressure for a machine of ``kind`` (drawn from its device id)."""
    if kind not in PRESSURE_BAR_BY_KIND:
        raise ValueError(f"kind must be one of {tuple(PRESSURE_BAR_BY_KIND)}, got {kind!r}")
    p_lo, p_hi = PRESSURE_BAR_BY_KIND[kind]
    return round(float(_device_rng(device_id, salt=1).uniform(p_lo, p_hi)), 3)


def _fields(cls: type, obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(obj) - names - {"device_id"}
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {sorted(unknown)}")
    return {k: v for k, v in obj.items() if k in names}


def _by_device(data: Mapping[str, Any], key: str, known: set[str]) -> dict[str, Mapping[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise ScenarioError(f"'{key}' must be a list")
    out: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("device_id"), str):
            raise ScenarioError(f"every '{key}' entry must be an object with a device_id")
        dev = entry["device_id"]
        if dev not in known:
            raise ScenarioError(f"'{key}' names {dev}, which is not in 'assets'")
        if dev in out:
            raise ScenarioError(f"'{key}' lists {dev} twice (at most one entry per device)")
        out[dev] = entry
    return out


def parse_scenario(data: Any) -> Scenario:
    """Validate a scenario document (the parsed JSON)."""
    if not isinstance(data, Mapping):
        raise ScenarioError("a scenario must be a JSON object")
    name, site = data.get("name"), data.get("site")
    if not isinstance(name, str) or not isinstance(site, str) or not name or not site:
        raise ScenarioError("a scenario needs a 'name' and a default 'site' (strings)")
    records = data.get("assets")
    if not isinstance(records, list) or not records:
        raise ScenarioError("a scenario needs a non-empty 'assets' list")
    try:
        assets = [parse_asset(r) for r in records]
    except AssetError as exc:
        raise ScenarioError(f"bad asset record: {exc}") from None
    ids = [a.device_id for a in assets]
    if len(set(ids)) != len(ids):
        raise ScenarioError("a device is listed twice in 'assets'")
    known = set(ids)
    physics = _by_device(data, "machines", known)
    loads = _by_device(data, "loads", known)
    faults = _by_device(data, "faults", known)
    sensor_failures = _by_device(data, "sensor_failures", known)
    machines = []
    for asset in assets:
        dev = asset.device_id
        try:
            base = default_physics(asset)
            given = _fields(MachinePhysics, physics.get(dev, {}), f"machine {dev}")
            if "kind" in given and "pressure_bar" not in given:
                # The drawn pressure belongs to the drawn kind: a fan given by name once kept
                # a pump's 0.025 bar... and a pump none. Draw it for the kind given.
                given["pressure_bar"] = kind_pressure_bar(str(given["kind"]), dev)
            ph = dataclasses.replace(base, **given)
            ph.validate()
            load = LoadProfile(**_fields(LoadProfile, loads.get(dev, {}), f"load {dev}"))
            fault = None
            if dev in faults:
                fault = FaultSchedule(**_fields(FaultSchedule, faults[dev], f"fault {dev}"))
            failure = None
            if dev in sensor_failures:
                failure = SensorFailure(
                    **_fields(SensorFailure, sensor_failures[dev], f"sensor failure {dev}")
                )
                failure.validate()
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{dev}: {exc}") from None
        if fault is not None:
            if fault.fault not in SCHEDULABLE_FAULTS:
                raise ScenarioError(
                    f"{dev}: fault must be one of {SCHEDULABLE_FAULTS}, got {fault.fault!r}"
                )
            if fault.onset_h < 0 or fault.life_h <= 0:
                raise ScenarioError(f"{dev}: onset_h must be >= 0 and life_h > 0")
            needs_bearing = (*BEARING_FAULTS, *_NEEDS_BEARING)
            if fault.fault in needs_bearing and asset.bearing is None:
                raise ScenarioError(f"{dev}: a {fault.fault} fault needs a bearing geometry")
            if fault.fault in _NEEDS_PRESSURE and ph.pressure_bar <= 0.0:
                raise ScenarioError(f"{dev}: a {fault.fault} fault needs a machine with pressure")
        if not 0.0 < load.base <= 1.0 or load.daily_amplitude < 0 or load.wander < 0:
            raise ScenarioError(f"{dev}: load base must be in (0, 1], amplitudes >= 0")
        machines.append(
            Machine(asset=asset, physics=ph, load=load, fault=fault, sensor_failure=failure)
        )
    description = data.get("description", "")
    return Scenario(name=name, site=site, machines=tuple(machines), description=str(description))


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file; a bare name (``"small"``) means a bundled scenario."""
    p = Path(path)
    if not p.exists() and p.suffix == "" and (SCENARIO_DIR / f"{p.name}.json").exists():
        p = SCENARIO_DIR / f"{p.name}.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from None
    return parse_scenario(data)


def random_fleet(
    n_machines: int,
    *,
    seed: int,
    name: str,
    site: str = "plant-a",
    n_healthy: int | None = None,
    horizon_h: float = 24.0,
    prefix: str = "m",
) -> Scenario:
    """A varied fleet: every fault class equally often, onsets and lives spread over the horizon.

    ``n_healthy`` machines (default a quarter) never develop a fault. Faults start within the
    first half of ``horizon_h`` and most reach the end of their life before it ends.
    """
    rng = np.random.default_rng(seed)
    healthy = n_machines // 4 if n_healthy is None else n_healthy
    fault_names = [f for f in FAULTS if f != "normal"]
    labels = ["normal"] * healthy + [
        fault_names[i % len(fault_names)] for i in range(n_machines - healthy)
    ]
    labels = [str(x) for x in rng.permutation(labels)]
    machines = []
    for i, label in enumerate(labels):
        rpm, _line = MOTOR_SPEEDS[int(rng.integers(len(MOTOR_SPEEDS)))]
        geometry = BEARING_CATALOG[int(rng.integers(len(BEARING_CATALOG)))]
        asset = parse_asset(
            {
                "device_id": f"{prefix}{i + 1:02d}",
                "machine_group": int(rng.choice([1, 2])),
                "foundation": str(rng.choice(["rigid", "flexible"])),
                "rated_rpm": rpm,
                "bearing": bearing_record(geometry),
                "site": site,
            }
        )
        physics = default_physics(asset, rng)
        load = LoadProfile(
            base=round(float(rng.uniform(0.55, 0.95)), 3),
            daily_amplitude=round(float(rng.uniform(0.0, 0.2)), 3),
            peak_hour=round(float(rng.uniform(8.0, 20.0)), 1),
            wander=round(float(rng.uniform(0.01, 0.05)), 3),
        )
        fault = None
        if label != "normal":
            onset = float(rng.uniform(0.05, 0.5)) * horizon_h
            life = float(rng.uniform(0.35, 0.5)) * horizon_h
            fault = FaultSchedule(
                label, round(onset, 2), round(life, 2), round(float(rng.uniform(2.0, 4.0)), 2)
            )
        machines.append(Machine(asset=asset, physics=physics, load=load, fault=fault))
    return Scenario(name=name, site=site, machines=tuple(machines), description="")


def write_scenario(scenario: Scenario, path: str | Path) -> None:
    """Write a scenario file (the inverse of :func:`load_scenario`)."""
    Path(path).write_text(json.dumps(scenario.to_dict(), indent=1) + "\n", encoding="utf-8")
