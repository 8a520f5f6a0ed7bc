"""Temperature and pressure judged on their own (rotorwatch.sensors) and wired into every scorer:
the endpoint's Model.score, the rules fallback and combine (what score_and_alert writes)."""

from __future__ import annotations

import dataclasses
import json
import math
import tarfile
from pathlib import Path
from typing import Any

import pytest

from rotorwatch.alerts import (
    SMS_MAX_CHARS,
    DeviceState,
    short_message,
    step,
    subject,
    utc_text,
)
from rotorwatch.alerts import message as alert_message
from rotorwatch.assets import AssetError, limit_fields, parse_asset
from rotorwatch.features import FEATURE_NAMES, compute_features
from rotorwatch.model import MODEL_FILE, Model
from rotorwatch.model.features import INPUT_FIELDS
from rotorwatch.predictions import PREDICTION_NAMES, SENSOR_CAUSES
from rotorwatch.scoring import combine, decode_response, encode_request, encode_response, rules_row
from rotorwatch.sensors import (
    DEFAULT_TEMPERATURE_ALARM_C,
    DEFAULT_TEMPERATURE_WARNING_C,
    LIMIT_FIELDS,
    SENSOR_FIELDS,
    SensorLimits,
    judge,
    limits_of,
)
from rotorwatch.telemetry import decode
from tests.signals import ASSET_RECORD, asset, message

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "sagemaker" / "bootstrap" / "model.tar.gz"


@pytest.fixture(scope="module")
def model() -> Model:
    with tarfile.open(BOOTSTRAP) as tar:
        member = tar.extractfile(MODEL_FILE)
        assert member is not None
        return Model.from_json(member.read())


def _windows(temperature_c: float | None, n: int = 6, **asset_extra: Any) -> list[dict[str, Any]]:
    """``n`` feature records of a machine vibrating like new (zone A, no bearing lines) at a
    given temperature, as the pipeline computes them (decoder, feature engine, asset)."""
    a = parse_asset({**ASSET_RECORD, **asset_extra})
    msgs = [
        dataclasses.replace(
            decode(message(ts=1_763_900_000_000 + i * 600_000, seq=i, v1x_mm_s=0.8)),
            temperature_c=temperature_c,
        )
        for i in range(n)
    ]
    return compute_features(msgs, {a.device_id: a})


def _sustained(model: Model | None, records: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """Sustained state after the windows, and the alerts, through the k-of-n state machine."""
    rows = [None] * len(records) if model is None else model.score(records)
    st, alerts = DeviceState(device_id=records[0]["device_id"]), []
    for rec, row in zip(records, rows, strict=True):
        st, alert = step(st, combine(row, rec))
        if alert is not None:
            alerts.append(alert)
    return st.state, alerts


@pytest.mark.parametrize("path", ["endpoint", "rules"])
def test_healthy_vibration_at_110_c_warns_and_at_40_c_is_healthy(model: Model, path: str) -> None:
    hot, cool = _windows(110.0), _windows(40.0)
    scorer = model if path == "endpoint" else None
    # Same vibration: the windows differ only in temperature.
    assert [r["velocity_rms_mm_s"] for r in hot] == [r["velocity_rms_mm_s"] for r in cool]
    assert {r["iso_zone"] for r in hot} == {"A"}
    state, alerts = _sustained(scorer, hot)
    assert state in ("WARNING", "ALARM")
    assert [a.kind for a in alerts][:1] == ["ALERT"]
    p = combine(None if scorer is None else model.score(hot[:1])[0], hot[0])
    assert p["sensor_cause"] == "overheating"
    assert p["sensor_reason"] == (
        f"temperature 110.0 degC >= warning limit {DEFAULT_TEMPERATURE_WARNING_C:g} degC"
    )
    state, alerts = _sustained(scorer, cool)
    assert (state, alerts) == ("HEALTHY", [])
    assert (
        combine(None if scorer is None else model.score(cool[:1])[0], cool[0])["sensor_cause"]
        is None
    )


def test_one_hot_reading_does_not_page(model: Model) -> None:
    """k-of-n applies unchanged: one ALARM point warns, a single WARNING point does nothing."""
    recs = _windows(40.0, n=5)
    recs[2] = {**recs[2], "temperature_c": 130.0}  # one spike over the alarm limit
    _state, alerts = _sustained(model, recs)
    assert [a.state for a in alerts] == ["WARNING"]  # never ALARM from one point
    recs = _windows(40.0, n=5)
    recs[2] = {**recs[2], "temperature_c": 100.0}
    assert _sustained(model, recs) == ("HEALTHY", [])


def test_asset_limits_travel_in_the_feature_record_and_are_used(model: Model) -> None:
    limits = {"temperature_warning_c": 60, "temperature_alarm_c": 70}
    recs = _windows(65.0, limits=limits)
    assert [recs[0][k] for k in LIMIT_FIELDS] == [60.0, 70.0, None, None]
    assert tuple(recs[0]) == FEATURE_NAMES  # still the schema's record, in order
    assert model.score(recs[:1])[0]["state"] == "WARNING"
    # The same 65 degC on a machine without limits is within the defaults.
    assert model.score(_windows(65.0)[:1])[0]["state"] == "HEALTHY"


@pytest.mark.parametrize(
    ("temperature_c", "pressure_bar", "state", "cause"),
    [
        (50.0, None, "HEALTHY", None),
        (DEFAULT_TEMPERATURE_WARNING_C, None, "WARNING", "overheating"),  # at the limit
        (DEFAULT_TEMPERATURE_ALARM_C + 0.1, None, "ALARM", "overheating"),
        (50.0, 4.0, "HEALTHY", None),
        (50.0, 2.9, "WARNING", "pressure_low"),
        (50.0, 2.3, "ALARM", "pressure_low"),  # below 0.8 x 3.0 bar
        (50.0, 6.5, "WARNING", "pressure_high"),
        (50.0, 7.3, "ALARM", "pressure_high"),  # above 1.2 x 6.0 bar
        (95.0, 2.3, "ALARM", "pressure_low"),  # the worse verdict wins
        (95.0, 2.9, "WARNING", "overheating"),  # equals: temperature first
    ],
)
def test_judge(
    temperature_c: float, pressure_bar: float | None, state: str, cause: str | None
) -> None:
    rec = {
        "temperature_c": temperature_c,
        "pressure_bar": pressure_bar,
        "pressure_min_bar": 3.0,
        "pressure_max_bar": 6.0,
    }
    v = judge(rec)
    assert (v.state, v.cause) == (state, cause)
    assert (v.reason is None) == (cause is None)
    if cause is not None:
        assert v.cause in SENSOR_CAUSES
        sensor = "temperature" if cause == "overheating" else "pressure"
        assert str(v.reason).startswith(sensor)


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, "hot", True, [1]])
def test_missing_or_garbage_readings_judge_nothing_and_never_raise(bad: Any) -> None:
    rec = {"temperature_c": bad, "pressure_bar": bad, "pressure_min_bar": 3.0}
    v = judge(rec)
    assert (v.state, v.cause, v.reason) == ("HEALTHY", None, None)


def test_no_pressure_rule_without_the_assets_range() -> None:
    # A fan's 0.02 bar and a pump's 0.02 bar mean different things: no default range.
    assert judge({"temperature_c": 40.0, "pressure_bar": 0.02}).state == "HEALTHY"
    assert judge({"temperature_c": 40.0, "pressure_bar": 500.0}).state == "HEALTHY"


def test_half_given_temperature_limits_are_completed_consistently() -> None:
    assert limits_of({"temperature_alarm_c": 80.0}) == SensorLimits(80.0, 80.0)
    assert limits_of({"temperature_warning_c": 130.0}) == SensorLimits(130.0, 130.0)
    assert limits_of({}) == SensorLimits(DEFAULT_TEMPERATURE_WARNING_C, DEFAULT_TEMPERATURE_ALARM_C)
    assert judge({"temperature_c": 85.0, "temperature_alarm_c": 80.0}).state == "ALARM"


def test_asset_limits_parse_round_trip_and_refuse_contradictions() -> None:
    rec = {**ASSET_RECORD, "limits": {"temperature_warning_c": 80, "pressure_min_bar": 2.5}}
    a = parse_asset(rec)
    assert a.limits == SensorLimits(80.0, None, 2.5, None)
    assert parse_asset(a.to_dict()) == a
    assert a.to_dict()["limits"] == {"temperature_warning_c": 80.0, "pressure_min_bar": 2.5}
    assert "limits" not in asset().to_dict()
    assert limit_fields(None) == dict.fromkeys(LIMIT_FIELDS)
    for limits, match in [
        ({"temperature_warning_c": 90, "temperature_alarm_c": 80}, "above the alarm"),
        ({"pressure_min_bar": 5, "pressure_max_bar": 4}, "empty"),
        ({"temperature_warnin_c": 90}, "unknown key"),
        ({}, "at least one"),
        ({"pressure_min_bar": "low"}, "must be a number"),
        ([], "must be an object"),
    ]:
        with pytest.raises(AssetError, match=match):
            parse_asset({**ASSET_RECORD, "limits": limits})


def test_the_endpoint_request_carries_what_the_sensor_rules_read(model: Model) -> None:
    assert set(SENSOR_FIELDS) <= set(INPUT_FIELDS)
    recs = _windows(110.0, limits={"pressure_min_bar": 3.0})
    body = encode_request(recs, INPUT_FIELDS)
    sent = json.loads(body)
    # What the endpoint decides from the trimmed request is what it decides from the record.
    assert model.score(sent) == model.score(recs)
    rows = decode_response(encode_response(model.score(sent)), len(recs))
    # 2.1 bar is over 20 % below the 3.0 bar minimum: ALARM, worse than 110 degC's WARNING.
    assert {(r["state"], r["sensor_cause"]) for r in rows} == {("ALARM", "pressure_low")}


def test_an_endpoint_without_sensor_rules_still_gets_them_applied() -> None:
    """combine applies the verdict too: an older endpoint's row (no sensor_cause) cannot hide
    an overheating machine."""
    old = {
        "anomaly_score": 0.1,
        "fault": "normal",
        "fault_confidence": 0.9,
        "state": "HEALTHY",
        "model_version": "old",
    }
    row = decode_response(json.dumps([old]).encode(), 1)[0]
    assert row["sensor_cause"] is None
    rec = _windows(125.0, n=1)[0]
    p = combine(row, rec)
    assert (p["state"], p["sensor_cause"]) == ("ALARM", "overheating")
    assert list(p) == list(PREDICTION_NAMES)
    assert rules_row(rec)["state"] == "ALARM"


def test_the_alert_names_the_sensor_value_limit_and_since_when(model: Model) -> None:
    """E-mail and SMS say which sensor, its value, its limit and since when; a reading that
    dips back under the limit for one window does not restart "since"."""
    temps = [40.0, 40.0, 95.0, 92.0, 97.0, 99.0, 101.0]
    recs = [{**r, "temperature_c": t} for r, t in zip(_windows(40.0, n=7), temps, strict=True)]
    rows = model.score(recs)
    st, alerts = DeviceState(device_id="pump-01"), []
    for rec, row in zip(recs, rows, strict=True):
        st, alert = step(st, combine(row, rec))
        alerts += [alert] if alert is not None else []
    assert [a.state for a in alerts] == ["WARNING"]
    first_hot = recs[2]["ts"]
    assert st.sensor_since_ms == first_hot  # 92 degC at window 3 did not reset it
    assert st.sensor_reason == "temperature 101.0 degC >= warning limit 93 degC"
    alert = alerts[0]
    assert subject(alert) == "[rotorwatch] WARNING pump-01: overheating"
    text = alert_message(alert)
    assert (
        "Sensor: temperature 97.0 degC >= warning limit 93 degC (overheating), "
        f"since {utc_text(first_hot)}"
    ) in text
    sms = short_message(alert)
    assert len(sms) <= SMS_MAX_CHARS
    assert sms.startswith("RW WARNING pump-01: overheating, ISO A")
    assert sms.endswith("; temperature 97.0 degC >= warning limit 93 degC")
    # The state item keeps the episode (DynamoDB round trip) and forgets it once healthy.
    assert DeviceState.from_item(st.to_item()) == st
    cool = _windows(40.0, n=20)
    for i, rec in enumerate(cool):
        rec.update(ts=recs[-1]["ts"] + (i + 1) * 600_000, seq=100 + i)
        st, _ = step(st, combine(None, rec))
    assert (st.state, st.sensor_cause, st.sensor_since_ms) == ("HEALTHY", None, None)
