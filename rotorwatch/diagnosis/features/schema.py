"""The feature record: one row per telemetry window. The single home of its names and units.

The Glue table, the Firehose Parquet conversion, the model's input and the tests all read
:data:`FEATURE_FIELDS`. Types are Glue/Athena (Hive) type names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str  # Glue / Athena column type
    unit: str
    doc: str
    nullable: bool = True


#: Acceleration RMS bands, (name, low Hz, high Hz). A band whose low edge is at or above the
#: Nyquist frequency is null; one that straddles it is computed up to Nyquist.
BANDS_HZ: Final[tuple[tuple[str, float, float], ...]] = (
    ("band_10_100hz_g", 10.0, 100.0),  # shaft orders: imbalance, misalignment, looseness
    ("band_100_1000hz_g", 100.0, 1000.0),  # higher orders, bearing defect tones, vane pass
    ("band_1_5khz_g", 1000.0, 5000.0),  # structural resonances excited by bearing impacts
    ("band_5_20khz_g", 5000.0, 20000.0),  # early bearing / lubrication distress
)

#: Shaft orders reported as peak amplitudes (name, order).
ORDERS: Final[tuple[tuple[str, float], ...]] = (
    ("order_0_5x_g", 0.5),
    ("order_1x_g", 1.0),
    ("order_2x_g", 2.0),
    ("order_3x_g", 3.0),
)

#: Bearing defects with envelope indicators (name, defect key in Bearing.defect_orders()).
DEFECTS: Final[tuple[tuple[str, str], ...]] = (
    ("env_bpfo", "bpfo"),
    ("env_bpfi", "bpfi"),
    ("env_bsf", "bsf"),
    ("env_ftf", "ftf"),
)

#: Where a window's shaft speed came from (``rpm_source``): the message's ``rpm`` field; estimated
#: from the window's own vibration (no tachometer); or none (no rpm and no confident estimate:
#: nothing that needs the speed is diagnosed).
RPM_SOURCES: Final[tuple[str, ...]] = ("message", "estimated", "none")

#: Version of the feature record. A new version only adds nullable columns at the end, so a
#: reader of an older one (the served model, saved queries, Parquet readers: all read by name)
#: reads a newer record unchanged. 2: rpm_used, rpm_source, rpm_confidence, unresolved,
#: vibration_sensor, end_of_life_indicator, end_of_life_limit.
FEATURE_SCHEMA_VERSION: Final = 2

#: What a window's frequency resolution cannot separate (``unresolved``): ``shaft_rate``, lines
#: one shaft rate apart share a Hann main lobe (fewer than RESOLVE_MIN_BINS bins apart: no
#: shaft orders, no bearing lines, so no shaft-fault or bearing call rests on them).
UNRESOLVED: Final[tuple[str, ...]] = ("shaft_rate",)

#: Fields added by schema version 2 (the shaft speed the window was read at, and what the
#: window could not resolve at it).
SCHEMA_2_FIELDS: Final[tuple[Field, ...]] = (
    Field(
        "rpm_used",
        "double",
        "rev/min",
        "shaft speed the orders and bearing lines were read at (message or estimated)",
    ),
    Field("rpm_source", "string", "", f"where rpm_used came from: {', '.join(RPM_SOURCES)}"),
    Field("rpm_confidence", "double", "", "0-1 confidence of an estimated speed (null otherwise)"),
    Field(
        "unresolved",
        "string",
        "",
        f"what the window's resolution cannot separate at rpm_used: {', '.join(UNRESOLVED)}",
    ),
)

FEATURE_FIELDS: Final[tuple[Field, ...]] = (
    Field("device_id", "string", "", "thing name", nullable=False),
    Field("site", "string", "", "site from the topic (rw/<site>/<device>/telemetry)"),
    Field("ts", "bigint", "ms", "window start, epoch milliseconds UTC", nullable=False),
    Field("seq", "bigint", "", "per-device message counter", nullable=False),
    Field(
        "received_at",
        "bigint",
        "ms",
        "when the cloud received the message (its arrival in Kinesis), epoch ms",
    ),
    Field("rpm", "double", "rev/min", "shaft speed reported by the device"),
    Field("temperature_c", "double", "degC", "temperature"),
    Field("pressure_bar", "double", "bar", "pressure"),
    # The asset's sensor limits (registry ``limits``), null where it gives none: the scorer
    # judges temperature and pressure against them (rotorwatch.diagnosis.sensors) without a registry read.
    Field("temperature_warning_c", "double", "degC", "asset's bearing temperature warning limit"),
    Field("temperature_alarm_c", "double", "degC", "asset's bearing temperature alarm limit"),
    Field("pressure_min_bar", "double", "bar", "asset's normal operating pressure, minimum"),
    Field("pressure_max_bar", "double", "bar", "asset's normal operating pressure, maximum"),
    Field("fs_hz", "double", "Hz", "sample rate"),
    Field("n_samples", "int", "", "samples in the window"),
    Field("accel_rms_g", "double", "g", "acceleration RMS, DC removed, full band"),
    Field("accel_peak_g", "double", "g", "largest absolute acceleration, DC removed"),
    Field("crest_factor", "double", "", "peak / RMS"),
    Field("kurtosis", "double", "", "Pearson kurtosis (3.0 for a Gaussian)"),
    Field("skewness", "double", "", "skewness"),
    Field(
        "velocity_rms_mm_s", "double", "mm/s", "velocity RMS 10-1000 Hz, integrated in frequency"
    ),
    Field("iso_zone", "string", "", "ISO 10816-3 zone A-D for the asset's group and foundation"),
    Field("dominant_freq_hz", "double", "Hz", "frequency of the largest spectral peak above 2 Hz"),
    *(
        Field(name, "double", "g", f"acceleration RMS {lo:g}-{hi:g} Hz")
        for name, lo, hi in BANDS_HZ
    ),
    *(Field(name, "double", "g", f"peak amplitude at {o:g}x shaft speed") for name, o in ORDERS),
    *(
        Field(name, "double", "", f"envelope-spectrum peak at {key.upper()} and harmonics / median")
        for name, key in DEFECTS
    ),
    *SCHEMA_2_FIELDS,
    # Also new in version 2 (rotorwatch.diagnosis.features.sensor_health; rotorwatch.diagnosis.end_of_life).
    Field(
        "vibration_sensor",
        "string",
        "",
        "vibration sensor problem: sensor_flat_line, sensor_saturated or sensor_clipped; "
        "null when the sensor looks alive",
    ),
    # The asset's end-of-life threshold (registry ``end_of_life``, by default ISO zone D on
    # velocity RMS), null without an asset record: what the remaining life counts down to.
    Field("end_of_life_indicator", "string", "", "feature field the end-of-life limit is on"),
    Field("end_of_life_limit", "double", "", "asset's end-of-life limit, in its indicator's unit"),
)

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURE_FIELDS)

#: Columns the message itself carries, first in every record.
MESSAGE_FIELDS: Final[tuple[str, ...]] = FEATURE_NAMES[
    : FEATURE_NAMES.index("temperature_warning_c")
]

#: Columns that describe the vibration window (null when a message carries no window).
VIBRATION_FEATURES: Final[tuple[str, ...]] = FEATURE_NAMES[
    FEATURE_NAMES.index("fs_hz") : FEATURE_NAMES.index(SCHEMA_2_FIELDS[0].name)
]


def number(record: Mapping[str, Any], name: str) -> float | None:
    """A numeric field of a record as a float; None where it is missing, not a number (JSON
    true/false included) or not finite: a value that could not be computed stays missing."""
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
