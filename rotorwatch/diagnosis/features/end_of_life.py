"""A device's end-of-life threshold as its feature records carry it (rotorwatch.diagnosis.end_of_life):
the asset's own, else the ISO 10816-3 zone C/D boundary for its group and foundation."""

from __future__ import annotations

from typing import Any

from rotorwatch.diagnosis.assets import Asset
from rotorwatch.diagnosis.end_of_life import DEFAULT_INDICATOR, FIELDS, EndOfLife
from rotorwatch.diagnosis.features.iso import zone_boundaries_mm_s


def end_of_life_of(asset: Asset | None) -> EndOfLife | None:
    """The asset's threshold, else ISO zone D on velocity RMS; None without an asset record
    (no limit is known, so no remaining life is estimated)."""
    if asset is None:
        return None
    if asset.end_of_life is not None:
        return asset.end_of_life
    zone_d_mm_s = zone_boundaries_mm_s(asset.machine_group, asset.foundation)[2]
    return EndOfLife(DEFAULT_INDICATOR, zone_d_mm_s)


def end_of_life_fields(asset: Asset | None) -> dict[str, Any]:
    """The feature-record fields of a device's threshold (null without an asset record)."""
    eol = end_of_life_of(asset)
    return dict.fromkeys(FIELDS) if eol is None else eol.fields()
