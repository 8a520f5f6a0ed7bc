"""Vibration feature engine: telemetry windows in, one physically meaningful record out."""

from rotorwatch.diagnosis.features.engine import compute_features, window_features
from rotorwatch.diagnosis.features.iso import ZONES, iso_zone, zone_boundaries_mm_s
from rotorwatch.diagnosis.features.schema import FEATURE_FIELDS, FEATURE_NAMES, Field

__all__ = [
    "FEATURE_FIELDS",
    "FEATURE_NAMES",
    "ZONES",
    "Field",
    "compute_features",
    "iso_zone",
    "window_features",
    "zone_boundaries_mm_s",
]
