"""The demo's scoring of a failing accelerometer: an alert that names the sensor problem after
the sensor began failing is a notice to fix the sensor, counted as shown; any other alert on
that healthy machine is still a false alarm, and a sensor problem it never named is not shown."""

from __future__ import annotations

from local_cloud import report_scoring as rp_scoring
from local_cloud.cloud import ReceivedAlert
from rotorwatch.diagnosis.features.sensor_health import ADVICE, CLIPPED, FLAT_LINE

H = 3_600_000
T0 = 1_767_225_600_000


def _truth_rows(device: str, sensor_from_h: float | None) -> list[dict]:
    rows = []
    for k in range(24):
        ts = T0 + k * H
        row = {"device_id": device, "ts": ts, "seq": k, "fault": "normal", "onset_ms": None}
        if sensor_from_h is not None:
            row["sensor_problem"] = CLIPPED if k >= sensor_from_h else None
        rows.append(row)
    return rows


def _alert(device: str, at_h: float, severity: str, sensor: str | None) -> ReceivedAlert:
    ts = T0 + int(at_h * H)
    line = f"\nSensor: {ADVICE[sensor]} ({sensor})" if sensor else ""
    return ReceivedAlert(
        alert_id=f"{device}:{ts}:{int(at_h)}:{severity}",
        device_id=device,
        severity=severity,
        subject=None,
        body=f"{device} is {severity}{line}",
        sent_ms=ts + 1000,
    )


def test_a_sensor_notice_after_the_failure_counts_as_shown_not_as_a_false_alarm() -> None:
    truth = rp_scoring.truth_from_rows(
        _truth_rows("m19", 6) + _truth_rows("m05", None) + _truth_rows("m08", 6), {}
    )
    alerts = [
        _alert("m19", 7, "WARNING", CLIPPED),  # the notice: right machine, after the failure
        _alert("m19", 3, "WARNING", FLAT_LINE),  # before its sensor failed: a false alarm
        _alert("m05", 8, "WARNING", None),  # a healthy machine with a good sensor: false alarm
        # m08's sensor failed too, but its only alert named no sensor problem: not shown.
        _alert("m08", 9, "WARNING", None),
    ]
    det = rp_scoring.score(truth, alerts)
    by = {m.device_id: m for m in det.machines}
    assert (by["m19"].sensor_notices, by["m19"].sensor_said, by["m19"].false_alarms) == (
        1,
        CLIPPED,
        1,
    )
    assert by["m19"].sensor_shown
    assert not by["m08"].sensor_shown
    assert by["m08"].false_alarms == 1
    s = det.summary()
    assert (s["sensor_failures"], s["sensor_failures_shown"], s["false_alarms"]) == (2, 1, 3)
    assert s["caught"] == 0  # a sensor notice is no fault caught
    assert (
        CLIPPED in rp_scoring.score_rows(det)[[m.device_id for m in det.machines].index("m19")][7]
    )
