"""The model core: inputs, tree export, anomaly distance, metrics (no simulator needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from rotorwatch.diagnosis.features import FEATURE_NAMES
from rotorwatch.diagnosis.model.evaluate import macro_f1, roc_auc
from rotorwatch.diagnosis.model.features import MODEL_FEATURES, feature_matrix
from rotorwatch.diagnosis.model.forest import Forest, export_hist_gradient_boosting, predict_proba
from rotorwatch.diagnosis.model.model import AnomalyModel


def _record(**overrides: object) -> dict[str, object]:
    rec: dict[str, object] = dict.fromkeys(FEATURE_NAMES)
    rec.update(
        device_id="d1",
        ts=0,
        seq=0,
        rpm=1800.0,
        iso_zone="B",
        velocity_rms_mm_s=2.0,
        order_0_5x_g=0.001,
        order_1x_g=0.1,
        order_2x_g=0.05,
        order_3x_g=0.03,
        env_bpfo=2.0,
        env_bpfi=1.8,
        env_bsf=1.7,
        env_ftf=1.6,
        kurtosis=3.0,
        crest_factor=3.5,
        accel_rms_g=0.2,
        band_10_100hz_g=0.1,
        band_100_1000hz_g=0.05,
        band_1_5khz_g=0.02,
    )
    rec.update(overrides)
    return rec


def test_inputs_are_physical_ratios_not_identities() -> None:
    assert not any(k in name for name in MODEL_FEATURES for k in ("device", "site", "ts", "seq"))
    x = feature_matrix([_record()])[0]
    col = dict(zip(MODEL_FEATURES, x, strict=True))
    assert col["iso_zone_index"] == 1.0
    # Velocity ratio of 2x to 1x: (0.05 / 2) / 0.1 = 0.25 (acceleration / order).
    assert col["log_v_2x_over_1x"] == pytest.approx(math.log(0.25))
    assert col["log_v_half_over_1x"] == pytest.approx(math.log(0.002 / 0.1))
    assert col["log_env_bpfo"] == pytest.approx(math.log(2.0))
    # 1x velocity RMS: 0.1 g peak at 30 Hz -> 0.1 * 9806.65 / (2 pi 30) / sqrt 2 = 3.679 mm/s.
    v1 = 0.1 * 9806.65 / (2 * math.pi * 30.0) / math.sqrt(2.0)
    assert col["log_v_1x_share"] == pytest.approx(math.log(v1 / 2.0))


def test_the_same_fault_signature_on_a_bigger_machine_gives_the_same_ratios() -> None:
    small = feature_matrix([_record()])[0]
    big = feature_matrix(
        [
            _record(
                **{
                    k: 3.0 * v
                    for k, v in _record().items()
                    if k.startswith(("order_", "band_", "accel_rms")) and isinstance(v, float)
                }
            )
        ]
    )[0]
    ratio_cols = [i for i, n in enumerate(MODEL_FEATURES) if "_over_" in n]
    assert_allclose(big[ratio_cols], small[ratio_cols], rtol=0, atol=1e-12)


def test_missing_values_are_nan_never_an_error() -> None:
    x = feature_matrix([_record(rpm=None, order_1x_g=None, iso_zone=None, env_bpfo=float("nan"))])
    col = dict(zip(MODEL_FEATURES, x[0], strict=True))
    assert math.isnan(col["iso_zone_index"])
    assert math.isnan(col["log_v_2x_over_1x"])
    assert math.isnan(col["log_env_bpfo"])
    assert not math.isnan(col["log_kurtosis"])
    # Mixed types take the slow path and still agree.
    mixed = feature_matrix([_record(kurtosis=3), _record(kurtosis=True)])
    assert mixed[0, MODEL_FEATURES.index("log_kurtosis")] == pytest.approx(math.log(3.0))
    assert math.isnan(mixed[1, MODEL_FEATURES.index("log_kurtosis")])


def test_exported_trees_predict_what_scikit_learn_predicts() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 6))
    x[::9, 1] = np.nan  # missing values must follow the trained direction
    y = (x[:, 0] > 0).astype(int) + (np.nan_to_num(x[:, 1]) > 0.5) + 2 * (x[:, 2] > 0.8)
    with threadpool_limits(limits=1):  # OpenMP spin-waits on a busy 2-core machine
        clf = HistGradientBoostingClassifier(max_iter=15, max_depth=4, random_state=0).fit(x, y)
    forest = Forest.from_dict(export_hist_gradient_boosting(clf).to_dict())
    test = rng.normal(size=(400, 6))
    test[::4, 1] = np.nan
    test[::7, 2] = np.nan  # NaN where training had none
    assert_allclose(predict_proba(forest, test), clf.predict_proba(test), rtol=0, atol=1e-12)


def test_anomaly_score_is_half_at_the_healthy_edge_and_rises_with_distance() -> None:
    rng = np.random.default_rng(1)
    healthy = rng.normal(size=(4000, 5))
    model = AnomalyModel.fit(healthy)
    assert_allclose(model.center, 0.0, atol=0.06)
    assert_allclose(model.scale, 1.0, atol=0.06)
    scores = model.score(healthy)
    assert np.mean(scores > 0.5) == pytest.approx(1.0 - 0.995, abs=1e-3)
    far = np.zeros((3, 5))
    far[:, 2] = [0.0, 6.0, 20.0]
    s = model.score(far)
    assert s[0] < 0.3 < 0.5 < s[1] < s[2] < 1.0
    assert model.score(np.full((1, 5), np.nan))[0] == 0.0  # nothing known: nothing abnormal


def test_metrics_agree_with_scikit_learn() -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    rng = np.random.default_rng(2)
    score = np.round(rng.random(300), 2)  # ties
    positive = rng.random(300) < 0.3
    assert roc_auc(score, positive) == pytest.approx(roc_auc_score(positive, score), abs=1e-12)
    truth = rng.choice(["a", "b", "c"], 200).tolist()
    pred = rng.choice(["a", "b", "c"], 200).tolist()
    assert macro_f1(truth, pred, ["a", "b", "c"]) == pytest.approx(
        f1_score(truth, pred, average="macro")
    )
