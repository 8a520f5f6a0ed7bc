"""Real bearing recordings (../shared/data/real) as a device would send them.

Each recording becomes one device with no history: its windows are cut as a real sensor
would (4096 samples at 12 kHz, 8192 at 20 kHz, hop half a window), encoded as telemetry v1
messages (int16 + scale, as firmware sends), and its bearing geometry and shaft speed go in the
asset registry and the ``rpm`` field. Nothing here knows a label beyond reporting it: the
pipeline sees only what a device and its asset record would give it.

Sources, channels, speeds and geometry: the folder's README.md.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import io as sio
from scipy import signal

from rotorwatch.contract.telemetry import N_SAMPLES_MAX, encode, encode_samples
from rotorwatch.diagnosis.assets import Asset, Bearing

ROOT: Final = Path(__file__).resolve().parents[1]
#: Where the recordings live unless RW_REAL_DATA says otherwise (the shared folder beside the repo).
DEFAULT_DIR: Final = ROOT.parent / "shared" / "data" / "real"

#: Drive-end bearing of the CWRU rig: SKF 6205-2RS JEM (README: 9 balls, 7.94 / 39.04 mm, 0 deg).
CWRU_BEARING: Final = Bearing(
    n_balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04, contact_angle_deg=0.0
)
CWRU_FS_HZ: Final = 12_000.0
#: Rexnord ZA-2115 of the IMS rig (16 rollers per row, 8.41 / 71.5 mm, 15.17 deg), 2000 rpm.
IMS_BEARING: Final = Bearing(
    n_balls=16, ball_diameter_mm=8.41, pitch_diameter_mm=71.5, contact_angle_deg=15.17
)
IMS_FS_HZ: Final = 20_000.0
IMS_RPM: Final = 2000.0
#: FEMTO / PRONOSTIA bearings (README: 13 rolling elements, 3.5 / 25.6 mm, 0 deg), 25.6 kHz.
FEMTO_BEARING: Final = Bearing(
    n_balls=13, ball_diameter_mm=3.5, pitch_diameter_mm=25.6, contact_angle_deg=0.0
)
FEMTO_FS_HZ: Final = 25_600.0
#: Shaft speed of each FEMTO operating condition (the file name's first digit), rev/min.
FEMTO_RPM: Final = {"1": 1800.0, "2": 1650.0, "3": 1500.0}
#: The first hour of every FEMTO run is taken as healthy (each run lasts 1.4-7.8 h to a 20 g
#: failure; nothing was seeded, so a bearing starts new).
FEMTO_HEALTHY_S: Final = 3600.0

#: The speed a user would type into the asset registry's ``rated_rpm`` for each rig when its
#: sensors send no ``rpm`` (the no-tachometer runs): a nameplate, never the measured speed.
#: CWRU: its 2 hp 4-pole 60 Hz induction motor's class of full-load speed, 1750 (measured 1721-1797
#: with the load). IMS: the 2000 rpm set speed written down 3 % high. FEMTO: each condition's
#: set speed written down about 3 % low.
NAMEPLATE_RPM: Final[dict[tuple[str, float], float]] = {
    ("CWRU", math.nan): 1750.0,
    ("IMS", IMS_RPM): 2060.0,
    ("FEMTO", 1800.0): 1750.0,
    ("FEMTO", 1650.0): 1600.0,
    ("FEMTO", 1500.0): 1450.0,
}

#: File-name prefix of a CWRU record -> the fault it carries.
_CWRU_LABELS: Final = {"B": "bearing_ball", "IR": "bearing_inner", "OR": "bearing_outer"}
_CWRU_NAME: Final = re.compile(r"^(B|IR|OR)(\d{3})(?:@\d+)?_(\d)_(\d+)\.mat$")

#: A real device sends about a third of a second of signal per window: the smallest power of two
#: covering WINDOW_MIN_S (4096 samples at 12 kHz, 8192 at 20 and 25.6 kHz, 16384 at 48 kHz),
#: at most what the contract allows.
WINDOW_MIN_S: Final = 0.3


def window_samples(fs_hz: float) -> int:
    """Samples per window a device sampling at ``fs_hz`` would send."""
    return min(1 << math.ceil(math.log2(WINDOW_MIN_S * fs_hz)), N_SAMPLES_MAX)


@dataclass(frozen=True)
class Recording:
    """One real recording: acceleration in g at ``fs_hz``, its machine and its label."""

    name: str
    rig: str
    label: str  # a rotorwatch.diagnosis.predictions.FAULTS name ("normal" for healthy)
    detail: str  # defect size / load / channel, for the table
    fs_hz: float
    rpm: float
    bearing: Bearing
    signal_g: npt.NDArray[np.float64]
    #: Separate snapshots (S, n) in g where the rig recorded those instead of one signal (FEMTO:
    #: 0.1 s every 10 s): each is one window as the device sent it.
    snapshots_g: npt.NDArray[np.float64] | None = None

    @property
    def device_id(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]", "-", f"real-{self.name}")

    @property
    def nameplate_rpm(self) -> float:
        """The rig's nameplate speed (:data:`NAMEPLATE_RPM`), not this recording's measured one."""
        if self.rig == "CWRU":  # one motor class at every load
            return NAMEPLATE_RPM[("CWRU", math.nan)]
        return NAMEPLATE_RPM[(self.rig, self.rpm)]

    def asset(self, *, nameplate: bool = False) -> Asset:
        # Small motors (ISO 10816-3 group 2 is the nearest class), rigidly mounted. The rated
        # speed is the measured one unless ``nameplate`` (a device with no tachometer).
        return Asset(
            device_id=self.device_id,
            machine_group=2,
            foundation="rigid",
            rated_rpm=self.nameplate_rpm if nameplate else self.rpm,
            bearing=self.bearing,
        )


class MissingDataError(RuntimeError):
    """The shared recordings folder is absent."""


def data_dir() -> Path:
    return Path(os.environ.get("RW_REAL_DATA", DEFAULT_DIR))


def load(root: Path | None = None) -> list[Recording]:
    """Every recording in ``root`` (CWRU .mat files and IMS snapshots, one per channel)."""
    root = root or data_dir()
    if not (root / "cwru").is_dir() and not (root / "ims").is_dir():
        raise MissingDataError(f"no real recordings at {root} (expected cwru/ and ims/)")
    out: list[Recording] = []
    for path in sorted((root / "cwru").glob("*.mat")):
        m = _CWRU_NAME.match(path.name)
        if m is None:
            continue
        kind, size, load_hp, number = m.groups()
        mat = sio.loadmat(path)
        de = next(k for k in mat if k.endswith("_DE_time"))
        rpm_key = next(k for k in mat if k.endswith("RPM"))
        out.append(
            Recording(
                name=path.stem,
                rig="CWRU",
                label=_CWRU_LABELS[kind],
                detail=f"0.{size} in, {load_hp} hp, record {number}",
                fs_hz=CWRU_FS_HZ,
                rpm=float(np.asarray(mat[rpm_key]).ravel()[0]),
                bearing=CWRU_BEARING,
                signal_g=np.asarray(mat[de], dtype=np.float64).ravel(),
            )
        )
    for path in sorted((root / "ims").glob("*.txt")):
        data = np.loadtxt(path)
        snapshot = path.stem.split("_", 1)[-1]
        for ch in range(data.shape[1]):
            out.append(
                Recording(
                    name=f"ims-{snapshot}-b{ch + 1}",
                    rig="IMS",
                    label="normal",
                    detail=f"bearing {ch + 1}, snapshot {snapshot}",
                    fs_hz=IMS_FS_HZ,
                    rpm=IMS_RPM,
                    bearing=IMS_BEARING,
                    signal_g=data[:, ch].astype(np.float64),
                )
            )
    for path in sorted((root / "femto").glob("Bearing*.npz")):
        data = np.load(path)
        first = data["t_s"] < FEMTO_HEALTHY_S
        condition = path.stem.removeprefix("Bearing").split("_")[0]
        # Horizontal accelerometer, milli-g to g.
        snaps = data["acc_mg"][first, :, 0].astype(np.float64) / 1000.0
        out.append(
            Recording(
                name=f"femto-{path.stem}",
                rig="FEMTO",
                label="normal",
                detail=f"condition {condition}, first hour, horizontal",
                fs_hz=FEMTO_FS_HZ,
                rpm=FEMTO_RPM[condition],
                bearing=FEMTO_BEARING,
                signal_g=snaps.ravel(),
                snapshots_g=snaps,
            )
        )
    return out


def resampled(rec: Recording, fs_hz: float) -> Recording:
    """The recording as a sensor sampling at ``fs_hz`` would have seen it (polyphase, anti-aliased)."""
    if fs_hz == rec.fs_hz:
        return rec
    from fractions import Fraction

    ratio = Fraction(fs_hz / rec.fs_hz).limit_denominator(1000)
    if rec.snapshots_g is not None:
        snaps = signal.resample_poly(rec.snapshots_g, ratio.numerator, ratio.denominator, axis=1)
        return replace(rec, fs_hz=fs_hz, signal_g=snaps.ravel(), snapshots_g=snaps)
    x = signal.resample_poly(rec.signal_g, ratio.numerator, ratio.denominator)
    return replace(rec, fs_hz=fs_hz, signal_g=np.asarray(x))


def windows(rec: Recording, n: int | None = None, *, limit: int | None = None) -> list[np.ndarray]:
    """Windows of ``n`` samples (default: what a device sends at this rate), hop n / 2; a
    snapshot recording's own snapshots (cut to ``n`` where shorter windows are asked for)."""
    if rec.snapshots_g is not None:
        size = min(n or rec.snapshots_g.shape[1], rec.snapshots_g.shape[1])
        snaps = list(rec.snapshots_g[:, :size])
        return snaps[:limit] if limit is not None else snaps
    n = n or window_samples(rec.fs_hz)
    hop = n // 2
    starts = range(0, rec.signal_g.size - n + 1, hop)
    out = [rec.signal_g[s : s + n] for s in starts]
    return out[:limit] if limit is not None else out


def messages(
    rec: Recording,
    n: int | None = None,
    *,
    limit: int | None = None,
    t0_ms: int = 1_767_225_600_000,
    rpm: bool = True,
) -> Iterator[bytes]:
    """Telemetry v1 messages for the recording's windows (int16 + scale, as firmware sends);
    without ``rpm`` as a sensor with no tachometer sends them."""
    n = n or window_samples(rec.fs_hz)
    # A window every half window, or every 10 s for a snapshot recording (FEMTO).
    period_ms = 10_000 if rec.snapshots_g is not None else (n // 2) / rec.fs_hz * 1000
    for seq, w in enumerate(windows(rec, n, limit=limit)):
        yield encode(
            device_id=rec.device_id,
            ts=t0_ms + int(seq * period_ms),
            seq=seq,
            rpm=rec.rpm if rpm else None,
            vibration=encode_samples(w, fs_hz=rec.fs_hz, unit="g", encoding="int16le+base64"),
        )
