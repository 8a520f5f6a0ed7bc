"""Scoring contract and rules fallback, on features of analytic signals."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest

from rotorwatch.contract.telemetry import decode
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.predictions import PREDICTION_NAMES
from rotorwatch.diagnosis.scoring import (
    ENDPOINT_MAX_PAYLOAD_BYTES,
    ENV_ALARM_RATIO,
    ENV_WARNING_RATIO,
    MODEL_OUTPUT_FIELDS,
    RULES_MODEL_VERSION,
    ScoringError,
    combine,
    decode_request,
    decode_response,
    encode_request,
    encode_requests,
    encode_response,
    probable_fault,
    rules_row,
    rules_state,
)
from tests.signals import asset, message


def features(**kw: Any) -> dict[str, Any]:
    return compute_features([decode(message(**kw))], {"pump-01": asset()})[0]


@pytest.fixture(scope="module")
def cases() -> dict[str, dict[str, Any]]:
    return {
        "healthy": features(v1x_mm_s=1.0),
        "zone_b": features(v1x_mm_s=2.0),
        "zone_c": features(v1x_mm_s=3.5),
        "zone_d": features(v1x_mm_s=6.0),
        "misalignment": features(v1x_mm_s=2.0, h2=1.2),
        "looseness": features(v1x_mm_s=2.0, h2=0.6, h3=0.6, half=0.5),
        "bpfo": features(defect="bpfo"),
        "bpfi": features(defect="bpfi"),
        "bsf": features(defect="bsf"),
        "bpfo_small": features(defect="bpfo", defect_amp_g=0.05),
    }


@pytest.mark.parametrize(
    ("case", "state", "fault"),
    [
        ("healthy", "HEALTHY", "normal"),
        ("zone_b", "HEALTHY", "imbalance"),  # 1x alone, above zone A
        ("zone_c", "WARNING", "imbalance"),
        ("zone_d", "ALARM", "imbalance"),
        ("misalignment", "WARNING", "misalignment"),
        ("looseness", "WARNING", "looseness"),
        ("bpfo", "ALARM", "bearing_outer"),
        ("bpfi", "ALARM", "bearing_inner"),
        ("bsf", "ALARM", "bearing_ball"),
        ("bpfo_small", "WARNING", "bearing_outer"),  # early spall: a line, not yet dominant
    ],
)
def test_rules_on_analytic_signals(
    cases: dict[str, dict[str, Any]], case: str, state: str, fault: str
) -> None:
    f = cases[case]
    assert rules_state(f) == state
    name, confidence = probable_fault(f)
    assert name == fault
    assert 0.0 <= confidence <= 1.0


def test_envelope_thresholds_separate_healthy_from_defects(
    cases: dict[str, dict[str, Any]],
) -> None:
    healthy_max = max(cases["healthy"][k] for k in ("env_bpfo", "env_bpfi", "env_bsf", "env_ftf"))
    assert healthy_max < ENV_WARNING_RATIO / 2  # margin: noise does not warn
    assert cases["bpfo_small"]["env_bpfo"] > ENV_WARNING_RATIO
    assert cases["bpfo"]["env_bpfo"] > ENV_ALARM_RATIO


def test_rules_anomaly_score_orders_severity(cases: dict[str, dict[str, Any]]) -> None:
    scores = [
        rules_row(cases[c])["anomaly_score"] for c in ("healthy", "zone_b", "zone_c", "zone_d")
    ]
    assert scores == sorted(scores)
    assert scores[0] < 0.5 < scores[-1]


def test_missing_asset_gives_no_iso_opinion() -> None:
    f = compute_features([decode(message(v1x_mm_s=6.0))], {})[0]
    assert f["iso_zone"] is None
    assert rules_state(f) == "HEALTHY"
    assert probable_fault(f)[0] == "normal"


def test_combine_degraded_uses_rules_and_prediction_names(cases: dict[str, dict[str, Any]]) -> None:
    p = combine(None, cases["zone_d"], scored_at_ms=123)
    assert tuple(p) == PREDICTION_NAMES
    assert p["degraded"] is True
    assert p["model_version"] == RULES_MODEL_VERSION
    assert p["state"] == "ALARM"
    assert p["iso_zone"] == "D"
    assert p["velocity_rms_mm_s"] == pytest.approx(6.0, rel=0.05)
    assert p["scored_at"] == 123


@pytest.mark.parametrize(
    ("model_state", "case", "expected"),
    [
        ("HEALTHY", "zone_d", "ALARM"),  # ISO overrides a lenient model
        ("HEALTHY", "zone_c", "WARNING"),
        ("ALARM", "healthy", "ALARM"),  # the model may see what ISO cannot
        ("HEALTHY", "bpfo", "HEALTHY"),  # with a model, envelope judgement is the model's
    ],
)
def test_combine_state_is_worse_of_model_and_iso(
    cases: dict[str, dict[str, Any]], model_state: str, case: str, expected: str
) -> None:
    row = {
        "anomaly_score": 0.2,
        "fault": "normal",
        "fault_confidence": 0.7,
        "state": model_state,
        "model_version": "v3",
    }
    p = combine(row, cases[case])
    assert p["state"] == expected
    assert p["degraded"] is False
    assert p["model_version"] == "v3"


def test_request_round_trip_turns_nan_into_null(cases: dict[str, dict[str, Any]]) -> None:
    rows = [dict(cases["healthy"], kurtosis=math.nan)]
    body = encode_request(rows)
    back = decode_request(body)
    assert back[0]["kurtosis"] is None
    assert back[0]["velocity_rms_mm_s"] == pytest.approx(cases["healthy"]["velocity_rms_mm_s"])


def test_response_round_trip() -> None:
    rows = [
        {
            "anomaly_score": 0.9,
            "fault": "bearing_inner",
            "fault_confidence": 0.8,
            "state": "ALARM",
            "model_version": "v1",
            "extra": 1,
        }
    ]
    body = encode_response(rows)
    assert list(json.loads(body)[0]) == list(MODEL_OUTPUT_FIELDS)
    assert decode_response(body, 1)[0]["fault"] == "bearing_inner"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not JSON"),
        (b"[]", "1 rows, got 0"),
        (b'{"a": 1}', "JSON array"),
        (
            b'[{"anomaly_score": 2, "fault": "normal", "fault_confidence": 0.5, "state": "HEALTHY", "model_version": "v"}]',
            "anomaly_score",
        ),
        (
            b'[{"anomaly_score": 0.1, "fault": "rust", "fault_confidence": 0.5, "state": "HEALTHY", "model_version": "v"}]',
            "fault",
        ),
        (
            b'[{"anomaly_score": 0.1, "fault": "normal", "fault_confidence": 0.5, "state": "OK", "model_version": "v"}]',
            "state",
        ),
        (
            b'[{"anomaly_score": 0.1, "fault": "normal", "fault_confidence": 0.5, "state": "HEALTHY"}]',
            "model_version",
        ),
    ],
)
def test_bad_responses_are_typed_errors(body: bytes, match: str) -> None:
    with pytest.raises(ScoringError, match=match):
        decode_response(body, 1)


def test_endpoint_requests_split_at_the_payload_limit(cases: dict[str, dict[str, Any]]) -> None:
    batch = [dict(cases["bpfo"], seq=i) for i in range(50)]
    one = len(encode_request(batch[:1]))
    parts = encode_requests(batch, max_bytes=5 * one)
    assert len(parts) > 1
    assert parts[0][0] == 0
    assert parts[-1][1] == len(batch)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert all(len(body) <= 5 * one for _, _, body in parts)
    assert [r["seq"] for _, _, body in parts for r in decode_request(body)] == list(range(50))
    with pytest.raises(ScoringError, match="alone exceed"):
        encode_requests(batch, max_bytes=one // 2)


def test_the_largest_configurable_batch_fits_the_serverless_endpoint(
    cases: dict[str, dict[str, Any]],
) -> None:
    """rotorwatch/deployment/stage.py accepts Lambda batches of up to 10,000 records; a serverless endpoint
    refuses request or response bodies over 4 MB. Every body score_and_alert sends, and the
    answer to it, fits."""
    from rotorwatch.diagnosis.model.features import INPUT_FIELDS

    batch = [dict(cases["bsf"], seq=i) for i in range(10_000)]
    parts = encode_requests(batch, INPUT_FIELDS)
    # 4 MB as documented, in the smaller (decimal) reading: not 4 MiB.
    assert ENDPOINT_MAX_PAYLOAD_BYTES == 4_000_000
    assert all(len(body) <= 4_000_000 for _, _, body in parts)
    assert sum(end - start for start, end, _ in parts) == len(batch)
    start, end, _ = max(parts, key=lambda p: p[1] - p[0])
    answer = encode_response([rules_row(r) for r in batch[start:end]])
    assert len(answer) <= ENDPOINT_MAX_PAYLOAD_BYTES
