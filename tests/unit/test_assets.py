"""Asset registry records and bearing defect frequencies."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from rotorwatch.diagnosis.assets import AssetError, Bearing, load_assets, parse_asset
from rotorwatch.diagnosis.end_of_life import FIELDS as END_OF_LIFE_FIELDS
from rotorwatch.diagnosis.end_of_life import EndOfLife
from rotorwatch.diagnosis.features.end_of_life import end_of_life_fields, end_of_life_of

RECORD = {
    "device_id": "pump-01",
    "machine_group": 2,
    "foundation": "flexible",
    "rated_rpm": 1780,
    "bearing": {
        "n_balls": 9,
        "ball_diameter_mm": 7.94,
        "pitch_diameter_mm": 39.04,
        "contact_angle_deg": 0,
    },
}


def test_defect_frequencies_match_the_textbook_formulas() -> None:
    b = Bearing(n_balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04, contact_angle_deg=0.0)
    f = b.defect_frequencies_hz(1800.0)
    fr, r = 30.0, 7.94 / 39.04
    assert f["ftf"] == pytest.approx(fr / 2 * (1 - r))
    assert f["bpfo"] == pytest.approx(9 * fr / 2 * (1 - r))
    assert f["bpfi"] == pytest.approx(9 * fr / 2 * (1 + r))
    assert f["bsf"] == pytest.approx(39.04 / (2 * 7.94) * fr * (1 - r**2))
    # Known identities: BPFO + BPFI = n fr, BPFO = n FTF.
    assert f["bpfo"] + f["bpfi"] == pytest.approx(9 * fr)
    assert f["bpfo"] == pytest.approx(9 * f["ftf"])
    # Published values for a 6205 at 1800 rpm: BPFO 3.59x, BPFI 5.41x.
    assert f["bpfo"] / fr == pytest.approx(3.585, abs=0.01)
    assert f["bpfi"] / fr == pytest.approx(5.415, abs=0.01)


def test_contact_angle_lowers_the_ratio() -> None:
    flat = Bearing(12, 10.0, 50.0, 0.0).defect_orders()
    angled = Bearing(12, 10.0, 50.0, 40.0).defect_orders()
    assert angled["bpfo"] > flat["bpfo"]
    assert angled["bpfi"] < flat["bpfi"]


def test_parse_accepts_dynamodb_decimals_and_round_trips() -> None:
    rec = {**RECORD, "rated_rpm": Decimal("1780"), "machine_group": Decimal(2)}
    asset = parse_asset(rec)
    assert asset.rated_rpm == 1780.0
    assert asset.machine_group == 2
    assert parse_asset(asset.to_dict()) == asset


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"device_id": "a/b"}, "bad_device_id"),
        ({"machine_group": 3}, "out_of_range"),
        ({"machine_group": True}, "wrong_type"),
        ({"foundation": "soft"}, "out_of_range"),
        ({"rated_rpm": -5}, "out_of_range"),
        ({"rated_rpm": "fast"}, "wrong_type"),
        (
            {"bearing": {"n_balls": 9, "ball_diameter_mm": 50, "pitch_diameter_mm": 40}},
            "out_of_range",
        ),
        (
            {"bearing": {"n_balls": 2.5, "ball_diameter_mm": 5, "pitch_diameter_mm": 40}},
            "out_of_range",
        ),
        ({"bearing": "6205"}, "wrong_type"),
        ({"end_of_life": {"indicator": "accel_peak", "limit": 20}}, "out_of_range"),
        ({"end_of_life": {"indicator": "iso_zone", "limit": 20}}, "out_of_range"),  # a string
        ({"end_of_life": {"indicator": "accel_peak_g", "limit": 0}}, "out_of_range"),
        ({"end_of_life": {"indicator": "accel_peak_g"}}, "missing_field"),
        ({"end_of_life": {"limit": 20}}, "missing_field"),
        ({"end_of_life": {"indicator": "accel_peak_g", "limit": 20, "unit": "g"}}, "unknown_field"),
        ({"end_of_life": 20}, "wrong_type"),
    ],
)
def test_invalid_records(change: dict[str, object], reason: str) -> None:
    with pytest.raises(AssetError) as info:
        parse_asset({**RECORD, **change})
    assert info.value.reason == reason


def test_end_of_life_defaults_to_iso_zone_d_and_travels_in_the_feature_record() -> None:
    default = parse_asset(RECORD)  # group 2 on a flexible foundation: C/D at 7.1 mm/s
    assert end_of_life_of(default) == EndOfLife("velocity_rms_mm_s", 7.1)
    own = parse_asset({**RECORD, "end_of_life": {"indicator": "accel_peak_g", "limit": 20}})
    assert end_of_life_fields(own) == {
        "end_of_life_indicator": "accel_peak_g",
        "end_of_life_limit": 20.0,
    }
    assert parse_asset(own.to_dict()) == own
    # No asset record, no limit known: no remaining life is estimated for it.
    assert end_of_life_fields(None) == dict.fromkeys(END_OF_LIFE_FIELDS)


def test_load_file_list_and_wrapped(tmp_path: Path) -> None:
    listed = tmp_path / "a.json"
    listed.write_text(json.dumps([RECORD, {**RECORD, "device_id": "fan-2", "bearing": None}]))
    wrapped = tmp_path / "b.json"
    wrapped.write_text(json.dumps({"assets": [RECORD]}))
    reg = load_assets(listed)
    assert set(reg) == {"pump-01", "fan-2"}
    assert reg["fan-2"].bearing is None
    assert load_assets(wrapped)["pump-01"].foundation == "flexible"
    dup = tmp_path / "c.json"
    dup.write_text(json.dumps([RECORD, RECORD]))
    with pytest.raises(AssetError, match="twice"):
        load_assets(dup)
    with pytest.raises(AssetError) as info:
        load_assets(tmp_path / "missing.json")
    assert info.value.reason == "unreadable"
