"""Temperature and pressure judged on their own (rotorwatch.diagnosis.sensors) and wired into every scorer:
the endpoint's Model.score, the rules fallback and combine (what score_and_alert writes)."""

from __future__ import annotations

import dataclasses
import json
import math
import tarfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rotorwatch.alerting.alert_messages import SMS_MAX_CHARS, short_message, subject, utc_text
from rotorwatch.alerting.alert_messages import message as alert_message
from rotorwatch.alerting.alerts import DeviceState, step
from rotorwatch.contract.telemetry import decode
from rotorwatch.diagnosis.assets import AssetError, limit_fields, parse_asset
from rotorwatch.diagnosis.features import FEATURE_NAMES, compute_features
from rotorwatch.diagnosis.model import MODEL_FILE, Model
from rotorwatch.diagnosis.model.features import INPUT_FIELDS
from rotorwatch.diagnosis.predictions import PREDICTION_NAMES, SENSOR_CAUSES
from rotorwatch.diagnosis.scoring import (
    combine,
    decode_response,
    encode_request,
    encode_response,
    rules_row,
)
from rotorwatch.diagnosis.sensors import (
    DEFAULT_TEMPERATURE_ALARM_C,
    DEFAULT_TEMPERATURE_WARNING_C,
    LIMIT_FIELDS,
    SENSOR_FIELDS,
    SensorHistory,
    SensorLimits,
    apply_history,
    judge,
    limits_of,
)
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


# -- against the device's own history ---------------------------------------------------------

H0 = 1_763_900_000_000
TEN_MIN = 600_000


def _rec(i: int, temperature_c: float | None, pressure_bar: float | None = None, **kw: Any) -> dict:
    return {
        "device_id": "pump-01",
        "ts": H0 + i * TEN_MIN,
        "seq": i,
        "temperature_c": temperature_c,
        "pressure_bar": pressure_bar,
        "rpm": kw.pop("rpm", 1780.0),
        **kw,
    }


def _fold(
    recs: list[dict], target: int = 6, state: str = "HEALTHY"
) -> tuple[list[dict], SensorHistory]:
    h: SensorHistory | None = None
    out = []
    for r in recs:
        p, h = apply_history({"state": state, "sensor_cause": None}, r, h, learning_windows=target)
        out.append(p)
    assert h is not None
    return out, h


def test_history_learns_healthy_windows_then_warns_on_a_rise_above_its_own_normal() -> None:
    learning = [_rec(i, 40.0 + (i % 2)) for i in range(6)]  # normal: 40.5 degC
    _, h = _fold(learning)
    assert h.learned
    assert h.temperature.mean == pytest.approx(40.5)
    # Hours later (no recent samples, so no rate): 68 degC is 27.5 over its normal, inside;
    # 69 degC is 28.5 over: temperature_rise.
    (p,), _ = _fold_from(h, [_rec(100, 68.0)])
    assert (p["state"], p.get("sensor_cause")) == ("HEALTHY", None)
    (p,), _ = _fold_from(h, [_rec(200, 69.0)])
    assert (p["state"], p["sensor_cause"]) == ("WARNING", "temperature_rise")
    assert p["sensor_reason"] == (
        "temperature 69.0 degC is 28.5 degC above its own normal 40.5 degC (limit +28 degC)"
    )
    # The absolute limit is the stronger statement on an equal state; ALARM beats WARNING.
    (p,), _ = _fold_from(h, [_rec(300, 95.0)])
    assert (p["state"], p["sensor_cause"]) == ("WARNING", "overheating")
    (p,), _ = _fold_from(h, [_rec(400, 125.0)])
    assert (p["state"], p["sensor_cause"]) == ("ALARM", "overheating")


def _fold_from(h: SensorHistory, recs: list[dict]) -> tuple[list[dict], SensorHistory]:
    out = []
    for r in recs:
        p, h = apply_history({"state": "HEALTHY"}, r, h, learning_windows=h.target)
        out.append(p)
    return out, h


def test_history_learns_only_healthy_windows_and_stops_when_learned() -> None:
    _, h = _fold([_rec(i, 90.0) for i in range(6)], state="WARNING")
    assert (h.count, h.learned) == (0, False)  # a flagged window is not the device's normal
    _, h = _fold([_rec(i, 40.0) for i in range(10)])
    assert (h.count, h.temperature.n, h.temperature.mean) == (6, 6, 40.0)
    # Missing readings are neither learned nor judged, and never raise.
    p, h2 = apply_history({"state": "HEALTHY"}, _rec(20, None), h, learning_windows=6)
    assert (p["state"], h2.temperature) == ("HEALTHY", h.temperature)
    # Judging a replayed window does not change the history.
    p, h3 = apply_history(
        {"state": "HEALTHY"}, _rec(21, 80.0), h, learning_windows=6, learn_window=False
    )
    assert p["sensor_cause"] == "temperature_rise"
    assert h3 == h


def test_fast_heating_above_its_normal_warns_on_the_rate() -> None:
    _, h = _fold([_rec(i, 40.0) for i in range(6)])
    # 12 degC/h (2 degC per 10 min) from 48 degC, hours after learning: 15 degC over its normal
    # from the 5th window (56 degC), a rate once the samples span 45 min (the 6th).
    recs = [_rec(20 + i, 48.0 + 2.0 * i) for i in range(8)]
    out, h = _fold_from(h, recs)
    causes = [p.get("sensor_cause") for p in out]
    assert causes == [None] * 5 + ["temperature_rate"] * 3  # 58..62 degC: under the +28 rise
    assert out[-1]["sensor_reason"].startswith("temperature rising 12.0 degC/h (limit 10 degC/h)")
    # The same rate below its normal (warming up after a start) says nothing.
    _, h = _fold([_rec(i, 60.0) for i in range(6)])
    out, _ = _fold_from(h, [_rec(20 + i, 30.0 + 2.0 * i) for i in range(8)])
    assert {p.get("sensor_cause") for p in out} == {None}


def test_pressure_drift_is_judged_at_the_same_speed() -> None:
    _, h = _fold([_rec(i, 40.0, 4.0, rpm=1500.0) for i in range(6)])
    # A variable-speed pump at 80 % speed: head falls to 64 %, by the affinity law: no drift.
    (p,), _ = _fold_from(h, [_rec(100, 40.0, 4.0 * 0.64, rpm=1200.0)])
    assert p.get("sensor_cause") is None
    (p,), _ = _fold_from(h, [_rec(101, 40.0, 3.3, rpm=1500.0)])
    assert (p["state"], p["sensor_cause"]) == ("WARNING", "pressure_drift")
    assert p["sensor_reason"] == (
        "pressure 3.30 bar is 18% below its own normal 4.00 bar at this speed (limit 15%)"
    )
    (p,), _ = _fold_from(h, [_rec(102, 40.0, 3.3, rpm=None)])  # no speed: no drift rule
    assert p.get("sensor_cause") is None


def test_history_is_small_and_survives_the_state_item() -> None:
    recs = [_rec(i, 40.0 + 0.1 * i, 4.0) for i in range(200)]
    _, h = _fold(recs, target=144)
    assert len(h.recent) <= 8
    assert len(json.dumps(h.to_dict())) < 400
    st = DeviceState(device_id="pump-01", sensor_history=h)
    item = json.loads(json.dumps(st.to_item()), parse_float=Decimal)  # DynamoDB numbers
    assert DeviceState.from_item(item).sensor_history == h
    assert DeviceState.from_item({**item, "sensor_history": {"bad": 1}}).sensor_history is None
