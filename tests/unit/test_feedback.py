"""rotorwatch.alerting.feedback and its siblings: signed links, answer rules, effects, lake rows."""

from __future__ import annotations

import gzip
import json

import pytest

from rotorwatch.alerting import feedback as fb
from rotorwatch.alerting import feedback_lake as fb_lake
from rotorwatch.alerting import feedback_links as fb_links
from rotorwatch.alerting import feedback_pages as fb_pages
from rotorwatch.lake import layout as lake

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW_S = 1_790_000_000
ALERT_A = "pump-01:1790000000000:7:ALARM"
ALERT_B = "pump-02:1790000000000:7:ALARM"


def _alert(alert_id: str = ALERT_A, severity: str = "WARNING") -> fb.AlertRecord:
    return fb.AlertRecord(
        alert_id=alert_id,
        device_id=alert_id.split(":")[0],
        site="plant-a",
        severity=severity,
        fault="bearing_outer",
        ts=1_790_000_000_000,
        created_ms=1_790_000_001_000,
    )


def _answer(verdict: str, *, ms: int = 1_790_000_100_000, correction: bool = False) -> fb.Answer:
    return fb.Answer(verdict=verdict, channel="email", answered_ms=ms, correction=correction)


def test_a_token_authorises_exactly_its_own_alert() -> None:
    token_a = fb_links.sign(KEY, ALERT_A, NOW_S + 60)
    token_b = fb_links.sign(KEY, ALERT_B, NOW_S + 60)
    assert fb_links.verify(token_a, [KEY], NOW_S) == fb_links.alert_ref(ALERT_A)
    assert fb_links.verify(token_b, [KEY], NOW_S) == fb_links.alert_ref(ALERT_B)
    assert fb_links.alert_ref(ALERT_A) != fb_links.alert_ref(ALERT_B)
    # Swapping the alert reference of a valid token into another breaks its MAC.
    _, ref_b, _, _ = token_b.split(".")
    v, _, exp, mac = token_a.split(".")
    with pytest.raises(fb_links.LinkError) as err:
        fb_links.verify(".".join((v, ref_b, exp, mac)), [KEY], NOW_S)
    assert err.value.reason == "signature"


def test_expired_token_is_refused_and_extending_it_breaks_the_mac() -> None:
    token = fb_links.sign(KEY, ALERT_A, NOW_S - 1)
    with pytest.raises(fb_links.LinkError) as err:
        fb_links.verify(token, [KEY], NOW_S)
    assert err.value.reason == "expired"
    v, ref, _, mac = token.split(".")
    with pytest.raises(fb_links.LinkError) as err:
        fb_links.verify(".".join((v, ref, "zzzzzz", mac)), [KEY], NOW_S)
    assert err.value.reason == "signature"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), "signature"),
        (lambda t: "2" + t[1:], "version"),
        (lambda t: t + ".x", "malformed"),
        (lambda t: t.replace(".", "", 1), "malformed"),
        (lambda t: "", "malformed"),
        (
            lambda t: t.split(".")[0] + ".<script>aaaaaaaaaa." + ".".join(t.split(".")[2:]),
            "malformed",
        ),
    ],
)
def test_tampered_tokens_are_refused(tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    token = fb_links.sign(KEY, ALERT_A, NOW_S + 60)
    with pytest.raises(fb_links.LinkError) as err:
        fb_links.verify(tamper(token), [KEY], NOW_S)
    assert err.value.reason == reason


def test_a_token_signed_with_another_key_is_refused_and_rotation_keeps_old_links() -> None:
    old = fb_links.sign(OTHER_KEY, ALERT_A, NOW_S + 60)
    with pytest.raises(fb_links.LinkError):
        fb_links.verify(old, [KEY], NOW_S)
    # After a rotation the previous key still verifies links already sent.
    assert fb_links.verify(old, [KEY, OTHER_KEY], NOW_S) == fb_links.alert_ref(ALERT_A)


def test_short_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        fb_links.sign(b"short", ALERT_A, NOW_S)


def test_first_answer_wins_unless_a_correction() -> None:
    first = _answer(fb.CONFIRMED)
    assert fb.decide(None, first) == "accepted"
    assert fb.decide(first, _answer(fb.CONFIRMED, ms=2)) == "duplicate"
    assert fb.decide(first, _answer(fb.NO_FAULT_FOUND)) == "already_answered"
    correction = _answer(fb.NO_FAULT_FOUND, correction=True)
    assert fb.decide(first, correction) == "corrected"
    # The same correction replayed changes nothing.
    assert fb.decide(correction, correction) == "duplicate"


def test_corrections_are_capped_per_alert() -> None:
    first = _answer(fb.CONFIRMED)
    flip = _answer(fb.NO_FAULT_FOUND, correction=True)
    for taken in range(fb.MAX_CORRECTIONS):
        assert fb.decide(first, flip, taken) == "corrected"
    assert fb.decide(first, flip, fb.MAX_CORRECTIONS) == "correction_limit"
    # Past the cap a replay is still a duplicate and a plain answer still loses to the first:
    # the cap refuses only what would have changed the record.
    assert fb.decide(first, _answer(fb.CONFIRMED, ms=3), fb.MAX_CORRECTIONS) == "duplicate"
    assert fb.decide(first, _answer(fb.NO_FAULT_FOUND), fb.MAX_CORRECTIONS) == "already_answered"
    assert fb.decide(None, flip, fb.MAX_CORRECTIONS) == "accepted"
    assert "audit" in fb_pages.DECISION_TEXT["correction_limit"]
    with pytest.raises(ValueError, match="corrections"):
        fb.decide(first, flip, -1)


def test_answers_are_validated() -> None:
    with pytest.raises(fb.AnswerError, match="verdict must be one of"):
        _answer("maybe")
    with pytest.raises(fb.AnswerError, match="longer than"):
        fb.Answer(fb.CONFIRMED, "cli", 1, note="x" * (fb.NOTE_MAX_CHARS + 1))


def test_repaired_restarts_the_baseline_and_closes() -> None:
    e = fb.effects(_alert(), _answer(fb.REPAIRED), None)
    assert e.restart_baseline
    assert e.close_alert
    assert e.mute is None


def test_no_fault_found_mutes_that_fault_up_to_the_judged_severity() -> None:
    answer = _answer(fb.NO_FAULT_FOUND)
    e = fb.effects(_alert(severity="WARNING"), answer, None, mute_ms=3_600_000)
    assert e.mute is not None
    assert not e.restart_baseline
    mute = e.mute
    t = answer.answered_ms + 1
    assert mute.silences("WARNING", "bearing_outer", t)
    assert not mute.silences("ALARM", "bearing_outer", t)  # a rise above what was judged
    assert not mute.silences("WARNING", "imbalance", t)  # another fault
    assert not mute.silences("WARNING", "bearing_outer", answer.answered_ms + 3_600_000)
    assert not mute.silences("RECOVERY", "bearing_outer", t)
    alarm_mute = fb.effects(_alert(severity="ALARM"), answer, None).mute
    assert alarm_mute is not None
    assert alarm_mute.silences("ALARM", "bearing_outer", t)


def test_a_correction_away_from_no_fault_found_lifts_the_mute() -> None:
    e = fb.effects(_alert(), _answer(fb.CONFIRMED, correction=True), _answer(fb.NO_FAULT_FOUND))
    assert e.lift_mute
    assert e.mute is None
    assert not fb.effects(_alert(), _answer(fb.CONFIRMED), None).lift_mute


def test_sms_keeps_the_whole_link() -> None:
    url = fb_pages.link(
        "https://abc.execute-api.eu-west-1.amazonaws.com/", fb_links.sign(KEY, ALERT_A, NOW_S)
    )
    sms = fb_pages.sms_with_link("RW ALARM " + "x" * 200, url, 160)
    assert len(sms) <= 160
    assert sms.endswith(" " + url)


def test_email_block_offers_every_verdict_for_the_same_token() -> None:
    token = fb_links.sign(KEY, ALERT_A, NOW_S + 60)
    block = fb_pages.email_block("https://h/", token, "bearing_outer")
    assert "Confirmed: bearing_outer" in block
    for v in fb.VERDICTS:
        assert f"https://h/f/{token}?v={v}" in block


def test_pages_escape_what_devices_and_technicians_wrote() -> None:
    alert = fb.AlertRecord("<b>x</b>:1:1:ALARM", "<b>x</b>", "<i>s</i>", "ALARM", "<s>", 1, 1)
    html_page = fb_pages.form_page(alert, "/f/t", None, None)
    assert "<b>x</b>" not in html_page
    assert "&lt;b&gt;x&lt;/b&gt;" in html_page
    assert "<form method=post" in html_page  # a GET only shows the form


def test_lake_rows_land_in_the_feedback_table_deterministically() -> None:
    alert = _alert()
    key, body = fb_lake.lake_object(fb_lake.answer_row(alert, _answer(fb.CONFIRMED)))
    assert key.startswith(lake.FEEDBACK_PREFIX + "year=2026/month=09/day=21/")
    assert fb_lake.lake_object(fb_lake.answer_row(alert, _answer(fb.CONFIRMED)))[0] == key
    row = json.loads(gzip.decompress(body))
    assert set(row) == set(lake.table(lake.FEEDBACK_TABLE).column_names)
    assert row["verdict"] == fb.CONFIRMED
    assert row["fault_claimed"] == "bearing_outer"


def test_records_round_trip_and_refuse_unknown_versions() -> None:
    alert = _alert()
    assert fb.AlertRecord.from_item(alert.to_item()) == alert
    with pytest.raises(ValueError, match="version"):
        fb.AlertRecord.from_item({**alert.to_item(), "record_version": 99})
    answer = fb.Answer(fb.OTHER_FAULT, "sms", 5, fault_found="looseness", action="tightened")
    assert fb.Answer.from_item(answer.to_item()) == answer


def test_answers_label_the_windows_that_raised_their_alert() -> None:
    from rotorwatch.diagnosis.predictions import FAULTS

    hour = 3_600_000
    a1 = fb.AlertRecord("p1:10:1:ALARM", "p1", "s", "ALARM", "bearing_outer", 10 * hour, 1)
    a2 = fb.AlertRecord("p2:10:1:WARNING", "p2", "s", "WARNING", "imbalance", 10 * hour, 1)
    a3 = fb.AlertRecord("p3:10:1:WARNING", "p3", "s", "WARNING", "overheating", 10 * hour, 1)
    rows = [
        fb_lake.alert_row(a1),
        fb_lake.answer_row(a1, fb.Answer(fb.CONFIRMED, "email", 11 * hour)),
        fb_lake.answer_row(a2, fb.Answer(fb.CONFIRMED, "email", 11 * hour)),
        # corrected: the latest answer stands
        fb_lake.answer_row(a2, fb.Answer(fb.NO_FAULT_FOUND, "email", 12 * hour, correction=True)),
        fb_lake.answer_row(a3, fb.Answer(fb.CONFIRMED, "email", 11 * hour)),  # a sensor cause
    ]
    feats = [
        {"device_id": d, "ts": t * hour // 2, "seq": t, "x": 1.0}
        for d in ("p1", "p2", "p3", "p4")
        for t in range(17, 22)  # 8.5 h .. 10.5 h
    ]
    records, truth = fb_lake.labelled_windows(rows, feats, FAULTS)
    assert [(t["device_id"], t["ts"], t["fault"]) for t in truth] == [
        ("p1", 9 * hour + hour // 2, "bearing_outer"),
        ("p1", 10 * hour, "bearing_outer"),
        ("p2", 9 * hour + hour // 2, "normal"),
        ("p2", 10 * hour, "normal"),
    ]
    assert [(r["device_id"], r["ts"]) for r in records] == [
        (t["device_id"], t["ts"]) for t in truth
    ]
    # Two answers labelling the same window differently leave it out.
    other = fb.AlertRecord("p1:10:2:WARNING", "p1", "s", "WARNING", "imbalance", 10 * hour, 1)
    both = [*rows, fb_lake.answer_row(other, fb.Answer(fb.CONFIRMED, "email", 11 * hour))]
    _, truth2 = fb_lake.labelled_windows(both, feats, FAULTS)
    assert all(t["device_id"] != "p1" for t in truth2)
