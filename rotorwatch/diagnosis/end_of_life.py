"""The end-of-life threshold a machine's remaining life counts down to: the asset's own, or by
default the ISO 10816-3 zone C/D boundary on velocity RMS.

Its own module, below both the asset registry (which validates it) and the feature engine
(which carries it in every feature record, so the scorer needs no registry read), because the
engine imports the registry: neither can own it without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

#: The default indicator: ISO 10816-3 judges a machine's condition by it.
DEFAULT_INDICATOR: Final = "velocity_rms_mm_s"
#: Feature-record fields a remaining life may count down on: levels that grow as a machine
#: wears (not ratios or shape statistics, which saturate or fall as damage spreads). Each is a
#: numeric field of rotorwatch.diagnosis.features.schema (rotorwatch.diagnosis.life checks it at import).
INDICATORS: Final[tuple[str, ...]] = (
    "velocity_rms_mm_s",
    "accel_rms_g",
    "accel_peak_g",
    "band_10_100hz_g",
    "band_100_1000hz_g",
    "band_1_5khz_g",
    "band_5_20khz_g",
    "order_1x_g",
    "order_2x_g",
    "env_bpfo",
    "env_bpfi",
    "env_bsf",
    "env_ftf",
)
#: Feature-record fields carrying a device's threshold (as rotorwatch.diagnosis.sensor_limits.LIMIT_FIELDS
#: carry its sensor limits).
FIELDS: Final[tuple[str, str]] = ("end_of_life_indicator", "end_of_life_limit")


@dataclass(frozen=True, slots=True)
class EndOfLife:
    """End of life when feature ``indicator`` reaches ``limit`` (in the indicator's unit)."""

    indicator: str
    limit: float

    def to_dict(self) -> dict[str, Any]:
        return {"indicator": self.indicator, "limit": self.limit}

    def fields(self) -> dict[str, Any]:
        """The feature-record fields (:data:`FIELDS`)."""
        return dict(zip(FIELDS, (self.indicator, self.limit), strict=True))
