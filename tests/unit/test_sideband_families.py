"""One family's sidebands are not another family's evidence (the class of issue 23's coincidences).

A defect's impacts are as strong as the load on it, and the load zone is fixed in space: an
inner-race defect is carried through it once per shaft turn, a ball once per cage turn. The
impacts are amplitude-modulated, and the envelope spectrum carries sidebands at the carrier
+- 1, 2, 3 x the modulation rate (the load window's harmonics). On real geometries those
sidebands fall on other families' lines: on a 6205 BSF lies 2.5 % from BPFI - 3x, BPFO 1.8 %
from 2 x BSF - 3 x FTF and 2 x BSF 0.3x from BPFI - 1x. Pure, single defects synthesised on five
bearings at three speeds, through the real feature pass: the defect's own family stands above
the warning ratio and every other family below it (a race's sideband is not a ball, nor a
ball's an outer race).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from rotorwatch.diagnosis.assets import parse_asset
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.features import defect_lines as dl
from rotorwatch.diagnosis.scoring import ENV_FAULTS, ENV_NAMING_MARGIN, ENV_WARNING_RATIO
from tests.signals import telemetry_of

FS = 12_000.0
N = 4096
#: (rolling elements, element diameter mm, pitch diameter mm, contact angle deg).
GEOMETRIES: dict[str, tuple[int, float, float, float]] = {
    "6205": (9, 7.94, 39.04, 0.0),  # SKF 6205-2RS JEM, the CWRU rig's drive end
    "ZA-2115": (16, 8.41, 71.5, 15.17),  # Rexnord ZA-2115, the IMS rig
    "femto": (13, 3.5, 25.6, 0.0),  # the FEMTO / PRONOSTIA bearing
    "6203": (8, 6.75, 28.5, 0.0),  # a small deep-groove ball bearing
    "spherical-22": (22, 9.0, 80.0, 10.0),  # a spherical roller bearing, 22 rollers a row
}
RPMS = (1480.0, 1797.0, 2950.0)
RESONANCE_HZ = 3500.0
DAMPING_PER_S = 1500.0
NOISE_G = 0.02


def _asset(geometry: tuple[int, float, float, float], rpm: float) -> Any:
    n, d, pitch, angle = geometry
    bearing = {
        "n_balls": n,
        "ball_diameter_mm": d,
        "pitch_diameter_mm": pitch,
        "contact_angle_deg": angle,
    }
    return parse_asset(
        {
            "device_id": "dev-1",
            "machine_group": 2,
            "foundation": "rigid",
            "rated_rpm": rpm,
            "bearing": bearing,
        }
    )


def _load_zone(angle: npt.NDArray[np.float64] | float) -> Any:
    """The load on an element at ``angle`` from the load's direction: a Stribeck zone half a turn
    wide (ball contacts, load ~ cos^1.5 over +-90 deg, none beyond)."""
    return np.maximum(np.cos(angle), 0.0) ** 1.5


def _impacts(
    rate_hz: float, *, modulation_hz: float | None, jitter: float, seed: int
) -> npt.NDArray[np.float64]:
    """Resonance rings at ``rate_hz`` (each interval off by ``jitter``, relative: slip and skid),
    each as strong as the load on the defect as it passes through the load zone at
    ``modulation_hz`` (none: a defect that stays in the zone), plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / FS
    x = NOISE_G * rng.standard_normal(N)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    intervals = (1.0 + jitter * rng.standard_normal(int(t[-1] * rate_hz * 1.5) + 2)) / rate_hz
    for t0 in np.concatenate([[0.0], np.cumsum(intervals)]):
        if t0 >= t[-1]:
            break
        gain = 1.0 if modulation_hz is None else _load_zone(2 * np.pi * modulation_hz * t0 + phase)
        m = t >= t0
        d = t[m] - t0
        x[m] += gain * np.exp(-DAMPING_PER_S * d) * np.sin(2 * np.pi * RESONANCE_HZ * d)
    return x


def _fault(kind: str, asset: Any, rpm: float, seed: int) -> npt.NDArray[np.float64]:
    f = asset.bearing.defect_frequencies_hz(rpm)
    if kind == "bearing_inner":  # the defect turns with the shaft through the load zone
        return _impacts(f["bpfi"], modulation_hz=rpm / 60.0, jitter=0.01, seed=seed)
    if kind == "bearing_outer":  # the defect sits in the load zone
        return _impacts(f["bpfo"], modulation_hz=None, jitter=0.01, seed=seed)
    # A ball strikes both races once per spin, skids, and the cage carries it through the zone.
    return _impacts(2 * f["bsf"], modulation_hz=f["ftf"], jitter=0.02, seed=seed)


#: Where the rule cannot decide, measured and kept visible (strict: a change that fixes one
#: says so). An inner race on a 6205 and a 6203 below 1800 rpm: on one of the three windows the
#: balls' 2 x BSF window (as wide as their 4 % slip) reads BPFI - 1x, 0.82 of BPFI for this load
#: zone, above BPFI's own line; the balls are then the strongest family, whose lines nothing
#: explains away. A ball on the FEMTO bearing: 2 x BSF lies 2.9 % below BPFI, the carriers
#: themselves coincide (a main line against a main line, not a sideband; BPFI's fundamental is
#: always read).
UNDECIDED = {
    ("bearing_inner", "6205", 1480.0): "2 x BSF reads BPFI - 1x above BPFI",
    ("bearing_inner", "6205", 1797.0): "2 x BSF reads BPFI - 1x above BPFI",
    ("bearing_inner", "6203", 1480.0): "2 x BSF reads BPFI - 1x above BPFI",
    ("bearing_inner", "6203", 1797.0): "2 x BSF reads BPFI - 1x above BPFI",
    ("bearing_ball", "femto", 1480.0): "2 x BSF 2.9 % from BPFI: carriers coincide",
    ("bearing_ball", "femto", 1797.0): "2 x BSF 2.9 % from BPFI: carriers coincide",
    ("bearing_ball", "femto", 2950.0): "2 x BSF 2.9 % from BPFI: carriers coincide",
}


@pytest.mark.parametrize(
    ("kind", "geometry", "rpm"),
    [
        pytest.param(
            kind,
            geometry,
            rpm,
            marks=[pytest.mark.xfail(strict=True, reason=UNDECIDED[(kind, geometry, rpm)])]
            if (kind, geometry, rpm) in UNDECIDED
            else [],
            id=f"{kind}-{geometry}-{rpm:g}",
        )
        for kind in ("bearing_inner", "bearing_outer", "bearing_ball")
        for geometry in GEOMETRIES
        for rpm in RPMS
    ],
)
def test_a_pure_defect_raises_no_other_family(kind: str, geometry: str, rpm: float) -> None:
    asset = _asset(GEOMETRIES[geometry], rpm)
    messages = [
        telemetry_of(_fault(kind, asset, rpm, seed), rpm=rpm, fs_hz=FS) for seed in range(3)
    ]
    for seed, rec in enumerate(compute_features(messages, {"dev-1": asset})):
        scores = {name: rec[name] or 0.0 for name, _fault in ENV_FAULTS}  # None: not read
        own = max(scores[name] for name, fault in ENV_FAULTS if fault == kind)
        assert own >= ENV_WARNING_RATIO, (seed, scores)
        for name, fault in ENV_FAULTS:
            if fault != kind:
                assert scores[name] < ENV_WARNING_RATIO, (seed, name, scores)


def test_the_height_margin_is_the_naming_margin() -> None:
    # Two heights the scoring cannot tell apart to name a family are not told apart here.
    assert dl.SIDEBAND_HEIGHT_MARGIN == ENV_NAMING_MARGIN


def test_each_sideband_has_its_mirror() -> None:
    # carrier + k x rate and carrier - k x rate, for every carrier and order.
    for i, j in enumerate(dl._SIDE_MIRROR):
        assert dl._SIDE_COLUMN[i] == dl._SIDE_COLUMN[j]
        assert dl._SIDE_ORDER[i] == -dl._SIDE_ORDER[j]
