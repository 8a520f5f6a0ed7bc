"""The demo report on a machine that overheats: the alert counts as named right when it names
the sensor cause, and its temperature trend is plotted against the limits it was judged by."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from local_cloud import report as rp
from local_cloud import report_plots as rp_plots
from local_cloud import report_scoring as rp_scoring
from local_cloud.cloud import ReceivedAlert
from rotorwatch.alerting.alert_messages import message, subject
from rotorwatch.alerting.alerts import DeviceState, step
from rotorwatch.diagnosis.scoring import combine

pytest.importorskip("matplotlib")

T0 = 1_767_225_600_000
STEP = 600_000


def _rows(n: int = 30) -> list[dict]:
    # Healthy vibration (zone A), temperature climbing 3 degC per window from 60 degC.
    return [
        {
            "device_id": "m25",
            "ts": T0 + i * STEP,
            "seq": i,
            "iso_zone": "A",
            "velocity_rms_mm_s": 0.8,
            "temperature_c": 60.0 + 3.0 * i,
            "temperature_warning_c": None,
            "temperature_alarm_c": None,
        }
        for i in range(n)
    ]


def _received(rows: list[dict]) -> list[ReceivedAlert]:
    st, out = DeviceState(device_id="m25"), []
    for r in rows:
        st, alert = step(st, combine(None, r))
        if alert is not None:
            out.append(
                ReceivedAlert(
                    alert.alert_id, "m25", alert.severity, subject(alert), message(alert), r["ts"]
                )
            )
    return out


def test_a_sensor_fault_is_named_right_by_its_cause() -> None:
    alerts = _received(_rows())
    assert [a.severity for a in alerts] == ["WARNING", "ALARM"]
    truth = rp_scoring.FaultTruth("m25", "lubrication_loss", T0, T0 + 40 * STEP, 0.9)
    m = rp_scoring.score([truth], alerts).machines[0]
    assert (m.alerted_cause, m.alerted_fault) == ("overheating", "normal")
    assert m.caught
    assert m.named_right
    assert rp_scoring.score_rows(rp_scoring.Detection([m]))[0][7] == "overheating, normal"
    # Called by the wrong cause (or only by a vibration fault), it is not named right.
    wrong = rp_scoring.FaultTruth("m25", "impeller_wear", T0, T0 + 40 * STEP, 0.9)
    assert not rp_scoring.score([wrong], alerts).machines[0].named_right


def test_temperature_trend_plot(tmp_path: Path) -> None:
    rows = _rows()
    path = rp_plots.plot_temperature_trend(
        rows, "m25", _received(rows), None, tmp_path / "temperature_trend.png"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000  # a drawn figure, not an empty canvas


def test_a_page_that_drops_the_sensor_cause_is_not_named_right() -> None:
    """m25's first alert said temperature_rise, and a page saying only bearing_outer would
    send the technician to the wrong job: both must name the sensor cause."""
    alerts = _received(_rows())
    warning, alarm = alerts
    without_cause = "\n".join(x for x in alarm.body.splitlines() if not x.startswith("Sensor:"))
    paged_wrong = [
        warning,
        dataclasses.replace(alarm, body=without_cause.replace("normal", "bearing_outer")),
    ]
    truth = rp_scoring.FaultTruth("m25", "lubrication_loss", T0, T0 + 40 * STEP, 0.9)
    assert rp_scoring.score([truth], alerts).machines[0].named_right
    m = rp_scoring.score([truth], paged_wrong).machines[0]
    assert m.caught
    assert m.alerted_cause == "overheating"
    assert not m.named_right


def test_a_fault_that_begins_after_the_run_is_not_scored() -> None:
    """A short run scored "caught 4 of 20" with 12 of the 20 not begun."""
    alerts = _received(_rows())
    began = rp_scoring.FaultTruth("m25", "lubrication_loss", T0, T0 + 40 * STEP, 0.9)
    later = rp_scoring.FaultTruth(
        "m30", rp_scoring.NOT_STARTED, T0 + 99 * STEP, T0 + 140 * STEP, 0.0
    )
    summary = rp_scoring.score([began, later], alerts).summary()
    assert summary["faulty_machines"] == 1
    assert summary["faults_not_started"] == 1
    assert summary["caught"] == 1
    assert summary["healthy_machines"] == 0


def test_the_console_keeps_the_subjects_rotorwatch_prefix() -> None:
    """rich read "[rotorwatch]" as a style tag and printed subjects without it."""
    from rich.console import Console

    from local_cloud.demo import alerts_table

    table, rows = alerts_table(_received(_rows()))
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()
    assert rows[0][3].startswith("[rotorwatch] ")
    assert text.count("[rotorwatch] ") == len(rows) == 2


def test_an_epoch_ms_column_beside_its_utc_rendering_is_not_shown() -> None:
    """alert_history's changed_at_ms showed a formatted date under a name saying ms."""
    columns = ("device_id", "changed_at_ms", "changed_at_utc", "elapsed_ms")
    assert rp.shown_columns(columns) == [0, 2, 3]
    html = rp.table_html(columns, [("m1", 1_767_225_600_000, "2026-01-01 00:00 UTC", 5)])
    assert "changed_at_ms" not in html
    assert "elapsed_ms" in html


def test_a_saved_query_section_says_what_it_ran_with() -> None:
    """The machine_trend section did not say which machine; alert_history listed 91 point-state
    changes beside 40 alerts sent without saying which is which."""
    from local_cloud import demo
    from local_cloud.athena import Result

    class Run:
        alerts = _received(_rows())

    trend = demo._query_html("machine_trend", Result(["d"], [("x",)]), Run(), "m07")  # type: ignore[arg-type]
    assert "device_id=m07" in trend
    history = demo._query_html("alert_history", Result(["d"], []), Run(), None)  # type: ignore[arg-type]
    assert "in the last 30 days" in history
    assert ":days" not in history
    assert "the 2 alerts sent" in history


def test_the_report_says_what_fault_confidence_is() -> None:
    """It read 100 % almost everywhere, as if the diagnosis were certain."""
    from local_cloud import demo
    from local_cloud.athena import Result

    class Run:
        alerts: tuple[ReceivedAlert, ...] = ()

    page = demo._query_html("fleet_health_now", Result(["fault_confidence"], [(1.0,)]), Run(), None)  # type: ignore[arg-type]
    assert "at most 0.99; on simulated machines held out of training" in page
    assert "not for real ones" in page
