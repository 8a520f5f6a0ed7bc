"""A dying accelerometer: the sensor fails, the machine under it does not.

A scenario may give a device a ``sensor_failures`` entry (``simulator.scenario``)::

    {"device_id": "m19", "onset_h": 5.0, "clipped_h": 1.5, "saturated_h": 1.5}

From ``onset_h`` hours after the start its accelerometer comes loose and dies, in the order a
loose stud-mounted sensor fails in the field: first its signal is **clipped** (a cracked mount
or a failing charge amplifier limits the swing: flat tops at the window's extremes), then it
**saturates** (the loose sensor rattles against its mount: impacts drive the converter past its
full scale), then it reads a **flat line** (the cable or the sensor has opened: zero volts).
Each phase is one of :data:`rotorwatch.diagnosis.features.sensor_health.SENSOR_PROBLEMS`, the names the
pipeline gives them, so the demo can score what the pipeline said against what was done.

The machine's own vibration (its fault, if it has one) is synthesised as before; only what
the sensor reports of it changes. Pure numpy on the chunk's (windows, samples) array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.features.sensor_health import CLIPPED, FLAT_LINE, SATURATED

F64 = npt.NDArray[np.float64]
_MS_PER_H: Final = 3_600_000.0
#: A clipped window keeps this fraction of its peak: with the machine's broadband vibration the
#: plateaus then hold about a fifth of the samples, well past the detector's 5 %.
CLIP_FRACTION_OF_PEAK: Final = 0.25
#: A saturating sensor's peak, in multiples of the converter's full scale: the int16 samples
#: of its impacts pile up at -32768 and 32767.
SATURATION_OVERDRIVE: Final = 3.0
_INT16_FULL_SCALE: Final = 32767.0


@dataclass(frozen=True, slots=True)
class SensorFailure:
    """When a device's accelerometer starts failing and how long each phase lasts (hours)."""

    onset_h: float
    clipped_h: float = 1.5
    saturated_h: float = 1.5

    def validate(self) -> None:
        if self.onset_h < 0 or self.clipped_h < 0 or self.saturated_h < 0:
            raise ValueError("sensor failure onset_h, clipped_h and saturated_h must be >= 0")

    def problems(self, start_ms: int, ts: npt.ArrayLike) -> list[str | None]:
        """The sensor's problem at each window start ``ts`` (epoch ms): None while it works."""
        h = (np.asarray(ts, dtype=np.float64) - start_ms) / _MS_PER_H - self.onset_h
        out: list[str | None] = []
        for x in h.tolist():
            if x < 0:
                out.append(None)
            elif x < self.clipped_h:
                out.append(CLIPPED)
            elif x < self.clipped_h + self.saturated_h:
                out.append(SATURATED)
            else:
                out.append(FLAT_LINE)
        return out


def apply(x: F64, problems: list[str | None]) -> tuple[F64, list[float | None]]:
    """What the failing sensor reports of the machine's vibration ``x`` (windows, samples, g),
    and the int16 scale each window must be encoded with (None: the device's auto-ranging).

    A saturated window gets a fixed scale below its peak: the converter's range is fixed, and
    auto-ranging would hide exactly what saturation is."""
    if x.ndim != 2 or len(problems) != x.shape[0]:
        raise ValueError("x must be (windows, samples) with one problem per window")
    out = x.copy()
    scales: list[float | None] = [None] * len(problems)
    for j, problem in enumerate(problems):
        peak = float(np.max(np.abs(out[j]))) if out.shape[1] else 0.0
        if problem == CLIPPED:
            level = CLIP_FRACTION_OF_PEAK * peak
            out[j] = np.clip(out[j], -level, level)
        elif problem == SATURATED and peak > 0:
            scales[j] = peak / (SATURATION_OVERDRIVE * _INT16_FULL_SCALE)
        elif problem == FLAT_LINE:
            out[j] = 0.0
    return out, scales
