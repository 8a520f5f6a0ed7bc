"""Asset registry: the machine facts that do not travel in every message.

On AWS the records live in the DynamoDB ``assets`` table (``rotorwatch provision`` writes them);
locally they come from a JSON file holding a list of records (or ``{"assets": [...]}``)::

    {"device_id": "pump-01", "machine_group": 2, "foundation": "rigid", "rated_rpm": 1780,
     "bearing": {"n_balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04,
                 "contact_angle_deg": 0},
     "limits": {"temperature_warning_c": 85, "temperature_alarm_c": 105,
                "pressure_min_bar": 3.2, "pressure_max_bar": 5.5}}

``machine_group`` and ``foundation`` select the ISO 10816-3 zone table: group 1 is large
machines (rated power above 300 kW), group 2 medium machines (15 kW to 300 kW).

``rpm_range`` (optional, ``[min, max]`` rev/min) is the speed range of a variable-speed drive:
a device that sends no ``rpm`` has its shaft speed estimated from its vibration within it (for a
fixed-speed machine the search spans the nameplate ``rated_rpm``: see
:mod:`rotorwatch.diagnosis.features.speed`).

``end_of_life`` (optional) is the limit the remaining-life estimate counts down to:
``{"indicator": "<feature-record field>", "limit": <number > 0 in its unit>}`` (the fields a
remaining life may count down on: :data:`rotorwatch.diagnosis.end_of_life.INDICATORS`), for
example ``{"indicator": "accel_peak_g", "limit": 20}``. Without it, the ISO 10816-3 zone C/D
boundary on velocity RMS for the machine's group and foundation (:mod:`rotorwatch.diagnosis.life`).

``limits`` (optional, every key optional) are the machine's own sensor limits: bearing
temperature warning / alarm (degC) and its normal operating pressure range (bar). Temperature
limits the asset leaves out come from common practice (:data:`rotorwatch.diagnosis.sensors.DEFAULT_LIMITS`);
pressure has no default (see :mod:`rotorwatch.diagnosis.sensors`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

from rotorwatch.contract.telemetry import DEVICE_ID_PATTERN
from rotorwatch.diagnosis.end_of_life import INDICATORS, EndOfLife
from rotorwatch.diagnosis.sensor_limits import LIMIT_FIELDS, SensorLimits

Foundation = Literal["rigid", "flexible"]
FOUNDATIONS: Final[tuple[str, ...]] = ("rigid", "flexible")
MACHINE_GROUPS: Final[tuple[int, ...]] = (1, 2)
_DEVICE_ID_RE: Final = re.compile(DEVICE_ID_PATTERN)


class AssetError(ValueError):
    """An asset record that cannot be used; ``reason`` is a stable code like the decoder's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Bearing:
    """Rolling-element bearing geometry (millimetres, degrees)."""

    n_balls: int
    ball_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float = 0.0

    def defect_orders(self) -> dict[str, float]:
        """Defect frequencies as multiples of shaft speed (orders): FTF, BPFO, BPFI, BSF.

        With fr the shaft frequency, d/D the ball-to-pitch ratio and phi the contact angle:
        FTF = fr/2 (1 - d/D cos phi); BPFO = n fr/2 (1 - d/D cos phi);
        BPFI = n fr/2 (1 + d/D cos phi); BSF = D/(2d) fr (1 - (d/D cos phi)^2).
        """
        r = (
            self.ball_diameter_mm
            / self.pitch_diameter_mm
            * math.cos(math.radians(self.contact_angle_deg))
        )
        n = self.n_balls
        return {
            "ftf": 0.5 * (1.0 - r),
            "bpfo": 0.5 * n * (1.0 - r),
            "bpfi": 0.5 * n * (1.0 + r),
            "bsf": self.pitch_diameter_mm / (2.0 * self.ball_diameter_mm) * (1.0 - r * r),
        }

    def defect_frequencies_hz(self, rpm: float) -> dict[str, float]:
        """Defect frequencies in Hz at shaft speed ``rpm`` (rev/min)."""
        fr_hz = rpm / 60.0
        return {k: v * fr_hz for k, v in self.defect_orders().items()}


@dataclass(frozen=True, slots=True)
class Asset:
    """One monitored machine."""

    device_id: str
    machine_group: int
    foundation: Foundation
    rated_rpm: float
    bearing: Bearing | None = None
    site: str | None = None
    name: str | None = None
    limits: SensorLimits | None = None
    #: (min, max) shaft speed of a variable-speed drive, rev/min; None: fixed speed near rated_rpm.
    rpm_range: tuple[float, float] | None = None
    #: None: the ISO zone C/D boundary on velocity RMS (rotorwatch.diagnosis.features.end_of_life).
    end_of_life: EndOfLife | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as stored (JSON file, DynamoDB item); None fields are left out."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.limits is not None:
            out["limits"] = {k: v for k, v in self.limits.fields().items() if v is not None}
        if self.rpm_range is not None:
            out["rpm_range"] = list(self.rpm_range)
        if self.end_of_life is not None:
            out["end_of_life"] = self.end_of_life.to_dict()
        return out


def limit_fields(asset: Asset | None) -> dict[str, float | None]:
    """The feature-record limit fields (:data:`rotorwatch.diagnosis.sensors.LIMIT_FIELDS`) of a device:
    the asset's limits, None for every one it (or a missing asset record) does not give."""
    if asset is None or asset.limits is None:
        return dict.fromkeys(LIMIT_FIELDS)
    return asset.limits.fields()


def _num(obj: Mapping[str, Any], key: str, where: str, *, positive: bool = True) -> float:
    value = obj.get(key)
    if value is None:
        raise AssetError("missing_field", f"{where}: missing '{key}'")
    # DynamoDB returns Decimal; JSON returns int/float. bool is not a number here.
    if isinstance(value, bool):
        raise AssetError("wrong_type", f"{where}: '{key}' must be a number")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise AssetError(
            "wrong_type", f"{where}: '{key}' must be a number, got {value!r:.40}"
        ) from None
    if not math.isfinite(result) or (positive and result <= 0):
        raise AssetError(
            "out_of_range", f"{where}: '{key}' must be a finite number > 0, got {value!r:.40}"
        )
    return result


def parse_bearing(obj: Any, where: str = "bearing") -> Bearing:
    """Validate a bearing geometry record."""
    if not isinstance(obj, Mapping):
        raise AssetError("wrong_type", f"{where}: must be an object")
    n_balls = _num(obj, "n_balls", where)
    if n_balls != int(n_balls) or n_balls < 3:
        raise AssetError("out_of_range", f"{where}: 'n_balls' must be an integer >= 3")
    d = _num(obj, "ball_diameter_mm", where)
    pitch = _num(obj, "pitch_diameter_mm", where)
    if d >= pitch:
        raise AssetError(
            "out_of_range", f"{where}: ball diameter must be smaller than pitch diameter"
        )
    angle = (
        _num(obj, "contact_angle_deg", where, positive=False) if "contact_angle_deg" in obj else 0.0
    )
    if not 0.0 <= angle < 90.0:
        raise AssetError("out_of_range", f"{where}: 'contact_angle_deg' must be in [0, 90)")
    return Bearing(int(n_balls), d, pitch, angle)


def parse_limits(obj: Any, where: str = "limits") -> SensorLimits:
    """Validate a sensor-limits record (every key optional, at least one given)."""
    if not isinstance(obj, Mapping):
        raise AssetError("wrong_type", f"{where}: must be an object")
    unknown = sorted(set(obj) - set(LIMIT_FIELDS))
    if unknown:
        # A misspelt limit would otherwise silently leave the machine on the defaults.
        raise AssetError(
            "unknown_field", f"{where}: unknown key(s) {unknown}; known: {list(LIMIT_FIELDS)}"
        )
    values = {k: _num(obj, k, where, positive=False) for k in LIMIT_FIELDS if k in obj}
    if not values:
        raise AssetError("missing_field", f"{where}: give at least one of {list(LIMIT_FIELDS)}")
    limits = SensorLimits(**values)
    try:
        limits.check()
    except ValueError as exc:
        raise AssetError("out_of_range", f"{where}: {exc}") from None
    return limits


#: Largest max / min of an ``rpm_range``: the comb that finds the speed tells a shaft from its
#: second order by its half-orders, which a range wider than a few octaves would let it confuse
#: with slower machines' harmonics (a 10:1 drive is rare; 3:1 covers the usual pump and fan VFD).
RPM_RANGE_MAX_RATIO: Final = 10.0


def parse_rpm_range(obj: Any, where: str = "rpm_range") -> tuple[float, float]:
    """Validate a variable-speed drive's ``[min, max]`` shaft speed (rev/min)."""
    if not isinstance(obj, list | tuple) or len(obj) != 2:
        raise AssetError("wrong_type", f"{where}: must be [min_rpm, max_rpm]")
    lo = _num({"min": obj[0]}, "min", where)
    hi = _num({"max": obj[1]}, "max", where)
    if hi <= lo or hi / lo > RPM_RANGE_MAX_RATIO:
        raise AssetError(
            "out_of_range",
            f"{where}: need min < max <= {RPM_RANGE_MAX_RATIO:g} x min, got [{lo:g}, {hi:g}]",
        )
    return lo, hi


def parse_end_of_life(obj: Any, where: str = "end_of_life") -> EndOfLife:
    """Validate an end-of-life record: an indicator remaining life can count down on
    (:data:`rotorwatch.diagnosis.end_of_life.INDICATORS`) and a limit > 0 in its unit."""
    if not isinstance(obj, Mapping):
        raise AssetError("wrong_type", f"{where}: must be an object")
    unknown = sorted(set(obj) - {"indicator", "limit"})
    if unknown:
        raise AssetError(
            "unknown_field", f"{where}: unknown key(s) {unknown}; known: indicator, limit"
        )
    indicator = obj.get("indicator")
    if indicator is None:
        raise AssetError("missing_field", f"{where}: missing 'indicator'")
    if indicator not in INDICATORS:
        raise AssetError(
            "out_of_range",
            f"{where}: 'indicator' must be one of {', '.join(INDICATORS)}; got {indicator!r:.60}",
        )
    return EndOfLife(str(indicator), _num(obj, "limit", where))


def parse_asset(obj: Any) -> Asset:
    """Validate one asset record (from JSON or a DynamoDB item)."""
    if not isinstance(obj, Mapping):
        raise AssetError("not_object", "asset record must be an object")
    device_id = obj.get("device_id")
    if not isinstance(device_id, str) or not _DEVICE_ID_RE.fullmatch(device_id):
        raise AssetError(
            "bad_device_id",
            f"asset 'device_id' must match {DEVICE_ID_PATTERN}, got {device_id!r:.140}",
        )
    where = f"asset {device_id}"
    group = _num(obj, "machine_group", where)
    if group not in MACHINE_GROUPS:
        raise AssetError("out_of_range", f"{where}: 'machine_group' must be 1 or 2, got {group:g}")
    foundation = obj.get("foundation")
    if foundation not in FOUNDATIONS:
        raise AssetError(
            "out_of_range",
            f"{where}: 'foundation' must be one of {FOUNDATIONS}, got {foundation!r:.40}",
        )
    bearing = obj.get("bearing")
    limits = obj.get("limits")
    rpm_range = obj.get("rpm_range")
    site = obj.get("site")
    name = obj.get("name")
    end_of_life = obj.get("end_of_life")
    return Asset(
        device_id=device_id,
        machine_group=int(group),
        foundation=foundation,
        rated_rpm=_num(obj, "rated_rpm", where),
        bearing=None if bearing is None else parse_bearing(bearing, f"{where} bearing"),
        site=site if isinstance(site, str) else None,
        name=name if isinstance(name, str) else None,
        limits=None if limits is None else parse_limits(limits, f"{where} limits"),
        rpm_range=None if rpm_range is None else parse_rpm_range(rpm_range, f"{where} rpm_range"),
        end_of_life=(
            None if end_of_life is None else parse_end_of_life(end_of_life, f"{where} end_of_life")
        ),
    )


def parse_assets(records: Iterable[Any]) -> dict[str, Asset]:
    """Validate many records into a registry keyed by device id; duplicates are an error."""
    registry: dict[str, Asset] = {}
    for record in records:
        asset = parse_asset(record)
        if asset.device_id in registry:
            raise AssetError("duplicate", f"asset {asset.device_id} is listed twice")
        registry[asset.device_id] = asset
    return registry


def load_assets(path: str | Path) -> dict[str, Asset]:
    """Load a local asset registry file: a JSON list of records or ``{"assets": [...]}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssetError("unreadable", f"cannot read asset file {path}: {exc}") from None
    if isinstance(data, Mapping):
        data = data.get("assets")
    if not isinstance(data, list):
        raise AssetError(
            "not_object", f"{path}: expected a list of asset records or {{'assets': [...]}}"
        )
    return parse_assets(data)
