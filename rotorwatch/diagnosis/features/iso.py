"""ISO 10816-3 vibration severity zones (velocity RMS, 10-1000 Hz, machines above 600 rpm).

Zone A: newly commissioned; B: unrestricted long-term operation; C: restricted operation, plan a
repair; D: severe enough to cause damage. ISO 20816-3:2022 keeps these velocity boundaries.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

ZONES: Final[tuple[str, ...]] = ("A", "B", "C", "D")

#: Zone boundaries A/B, B/C, C/D in mm/s RMS, by (machine group, foundation).
#: Group 1: large machines, rated power above 300 kW; group 2: 15 kW to 300 kW.
ZONE_BOUNDARIES_MM_S: Final[dict[tuple[int, str], tuple[float, float, float]]] = {
    (1, "rigid"): (2.3, 4.5, 7.1),
    (1, "flexible"): (3.5, 7.1, 11.0),
    (2, "rigid"): (1.4, 2.8, 4.5),
    (2, "flexible"): (2.3, 4.5, 7.1),
}


def zone_boundaries_mm_s(machine_group: int, foundation: str) -> tuple[float, float, float]:
    """A/B, B/C, C/D boundaries in mm/s for a machine group (1 or 2) and foundation."""
    try:
        return ZONE_BOUNDARIES_MM_S[(machine_group, foundation)]
    except KeyError:
        raise ValueError(
            f"no ISO 10816-3 zone table for group {machine_group!r} on a {foundation!r} foundation"
        ) from None


def iso_zone(velocity_rms_mm_s: float, machine_group: int, foundation: str) -> str:
    """The zone letter for one velocity RMS value (a value on a boundary is in the upper zone)."""
    bounds = zone_boundaries_mm_s(machine_group, foundation)
    return ZONES[sum(velocity_rms_mm_s >= b for b in bounds)]


def zone_index(
    velocity_rms_mm_s: npt.NDArray[np.floating], boundaries_mm_s: npt.NDArray[np.floating]
) -> npt.NDArray[np.intp]:
    """Vectorised zone index (0=A .. 3=D); ``boundaries_mm_s`` has shape (n, 3)."""
    counts: npt.NDArray[np.intp] = np.sum(velocity_rms_mm_s[:, None] >= boundaries_mm_s, axis=1)
    return counts
