"""The model's inputs: physically meaningful, scale-free quantities derived from feature records.

Nothing here identifies a machine (no device id, site, time or absolute speed): the same fault
must look the same on a 900 rpm fan and a 3600 rpm compressor. Vibration severity enters as the
ISO 10816-3 zone (the record's zone is computed against the asset's own group and foundation)
and as log velocity; the fault signature enters as ratios:

* shaft orders as *velocity* ratios to 1x (0.5x: looseness, 2x: misalignment, 3x: looseness) and
  the share of the total velocity RMS carried by 1x (imbalance);
* bearing envelope indicators (peak/median at BPFO, BPFI, BSF, FTF; log): a bearing defect is
  recognised by its defect frequency, which the simulator cannot fake;
* impulsiveness: kurtosis and crest factor (log);
* where the energy sits: log band-RMS ratios (high bands rise with bearing impacts).

Missing values (no rpm, no bearing geometry, a band above Nyquist) are NaN; the classifier
routes them, the anomaly distance ignores them.

This module must run on Python 3.10 (the SageMaker scikit-learn 1.4-2 image).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.features.schema import FEATURE_NAMES
from rotorwatch.diagnosis.sensors import SENSOR_FIELDS

F64 = npt.NDArray[np.float64]

#: Model input names, in column order.
MODEL_FEATURES: Final[tuple[str, ...]] = (
    "iso_zone_index",
    "log_velocity_rms_mm_s",
    "log_v_half_over_1x",
    "log_v_2x_over_1x",
    "log_v_3x_over_1x",
    "log_v_1x_share",
    "log_env_bpfo",
    "log_env_bpfi",
    "log_env_bsf",
    "log_env_ftf",
    "log_kurtosis",
    "log_crest_factor",
    "log_band_100_1000_over_10_100",
    "log_band_1_5k_over_10_100",
    "log_band_1_5k_over_accel_rms",
)

#: Feature-record fields the classifier and anomaly score read (rotorwatch.diagnosis.features.schema).
MODEL_INPUT_FIELDS: Final[tuple[str, ...]] = (
    "iso_zone",
    "velocity_rms_mm_s",
    "order_0_5x_g",
    "order_1x_g",
    "order_2x_g",
    "order_3x_g",
    "rpm",
    "rpm_used",
    "env_bpfo",
    "env_bpfi",
    "env_bsf",
    "env_ftf",
    "kurtosis",
    "crest_factor",
    "accel_rms_g",
    "band_10_100hz_g",
    "band_100_1000hz_g",
    "band_1_5khz_g",
)
#: Feature-record fields the endpoint reads (what score_and_alert sends): the model's inputs
#: and those of the temperature/pressure rules Model.score applies (rotorwatch.diagnosis.sensors).
INPUT_FIELDS: Final[tuple[str, ...]] = (*MODEL_INPUT_FIELDS, *SENSOR_FIELDS)
assert set(INPUT_FIELDS) <= set(FEATURE_NAMES)

_ZONE_INDEX: Final = {"A": 0.0, "B": 1.0, "C": 2.0, "D": 3.0}
#: Standard gravity (m/s^2) in mm/s^2: acceleration peak in g -> velocity RMS in mm/s.
_G_MM_S2: Final = 9806.65
#: Floor for ratios so a zero amplitude gives a finite log (below any real sensor's noise).
_TINY: Final = 1e-9


def _column(records: Sequence[Mapping[str, Any]], name: str) -> F64:
    values = [rec.get(name) for rec in records]
    if all(type(v) is float or v is None for v in values):
        # Fast path (the usual case): numpy turns None into NaN.
        out = np.array(values, dtype=np.float64)
        out[~np.isfinite(out)] = np.nan
        return out
    out = np.full(len(records), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[i] = float(v)
    return out


def _log_ratio(num: F64, den: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.maximum(num, _TINY) / np.maximum(den, _TINY))
    return np.asarray(np.where(np.isnan(num) | np.isnan(den), np.nan, r))


def _log(x: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log(np.maximum(x, _TINY)))


def feature_matrix(records: Sequence[Mapping[str, Any]]) -> F64:
    """Model inputs (n_records, len(MODEL_FEATURES)) from feature records (NaN where unknown)."""
    n = len(records)
    col = {name: _column(records, name) for name in MODEL_INPUT_FIELDS if name != "iso_zone"}
    zone = np.array([_ZONE_INDEX.get(str(r.get("iso_zone")), np.nan) for r in records])
    # The speed the orders were read at (message or estimated, feature schema 2); a record
    # written before schema 2 has only the message's rpm.
    shaft_hz = np.where(np.isfinite(col["rpm_used"]), col["rpm_used"], col["rpm"]) / 60.0
    a1 = col["order_1x_g"]
    # Velocity amplitude of an order is acceleration / (2 pi f): ratios of velocity need only
    # acceleration / order.
    v_half = col["order_0_5x_g"] / 0.5
    v2 = col["order_2x_g"] / 2.0
    v3 = col["order_3x_g"] / 3.0
    with np.errstate(divide="ignore", invalid="ignore"):
        v1_rms_mm_s = a1 * _G_MM_S2 / (2.0 * np.pi * shaft_hz) / math.sqrt(2.0)
    x = np.column_stack(
        [
            zone,
            _log(col["velocity_rms_mm_s"]),
            _log_ratio(v_half, a1),
            _log_ratio(v2, a1),
            _log_ratio(v3, a1),
            _log_ratio(v1_rms_mm_s, col["velocity_rms_mm_s"]),
            _log(col["env_bpfo"]),
            _log(col["env_bpfi"]),
            _log(col["env_bsf"]),
            _log(col["env_ftf"]),
            _log(col["kurtosis"]),
            _log(col["crest_factor"]),
            _log_ratio(col["band_100_1000hz_g"], col["band_10_100hz_g"]),
            _log_ratio(col["band_1_5khz_g"], col["band_10_100hz_g"]),
            _log_ratio(col["band_1_5khz_g"], col["accel_rms_g"]),
        ]
    ).reshape(n, len(MODEL_FEATURES))
    return np.asarray(x, dtype=np.float64)
