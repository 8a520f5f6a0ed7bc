"""Per-machine sensor limits: the record the asset registry holds and the feature record carries.

A leaf module (no rotorwatch imports): the asset registry, the feature engine (through the
registry) and the sensor rules (:mod:`rotorwatch.diagnosis.sensors`, which holds the defaults and the
judgement) all import it, so none of them imports another to learn the names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

#: Feature-record fields that carry the asset's limits (None where the asset gives none); the
#: names are :class:`SensorLimits`' fields. Declared in rotorwatch.diagnosis.features.schema.
LIMIT_FIELDS: Final[tuple[str, ...]] = (
    "temperature_warning_c",
    "temperature_alarm_c",
    "pressure_min_bar",
    "pressure_max_bar",
)


@dataclass(frozen=True, slots=True)
class SensorLimits:
    """Per-machine limits (degC, bar); None = not given by the asset."""

    temperature_warning_c: float | None = None
    temperature_alarm_c: float | None = None
    pressure_min_bar: float | None = None
    pressure_max_bar: float | None = None

    def check(self) -> None:
        """Raise ValueError when the limits contradict each other (warning above alarm, min
        above max) or are not finite."""
        for name in LIMIT_FIELDS:
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"'{name}' must be a finite number, got {v!r}")
        w, a = self.temperature_warning_c, self.temperature_alarm_c
        if w is not None and a is not None and w > a:
            raise ValueError(f"temperature warning {w:g} degC is above the alarm limit {a:g} degC")
        lo, hi = self.pressure_min_bar, self.pressure_max_bar
        if lo is not None and lo < 0:
            raise ValueError(f"'pressure_min_bar' must be >= 0, got {lo:g}")
        if lo is not None and hi is not None and lo >= hi:
            raise ValueError(f"pressure range {lo:g}..{hi:g} bar is empty (min must be < max)")

    def fields(self) -> dict[str, float | None]:
        """The feature-record fields (:data:`LIMIT_FIELDS`) for these limits."""
        return {name: getattr(self, name) for name in LIMIT_FIELDS}
