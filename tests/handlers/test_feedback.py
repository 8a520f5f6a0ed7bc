"""Feedback end to end on moto: score_and_alert sends links, the feedback function answers.

The security properties of issue 28 are asserted here against the deployed handler strings:
a link acts only on its own alert, expired and tampered links are refused and change nothing,
and replaying a link (GET or POST) changes nothing.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from lambdas.common.dynamo import from_attributes
from lambdas.common.feedback import AlertLinks, FeedbackStore, KeyRing, LakeWriter
from rotorwatch.alerting import feedback as fb
from rotorwatch.alerting import feedback_links as fb_links
from rotorwatch.deployment.resources import (
    FEEDBACK_HANDLER,
    FEEDBACK_TABLE_PARTITION_KEY,
    SCORE_AND_ALERT_HANDLER,
    STATE_TABLE_PARTITION_KEY,
    EnvKey,
)
from tests.handlers.conftest import BUCKET, REGION, STATE_TABLE, Aws, FakeContext
from tests.handlers.conftest import load_handler_module as load
from tests.handlers.test_score_and_alert import features_event, zones

FEEDBACK_TABLE = "rw-feedback-test"
BASE_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/"
LINK = re.compile(r"/f/([0-9A-Za-z._-]+)\?v=confirmed")


@pytest.fixture
def secret_arn(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    aws.dynamodb.create_table(
        TableName=FEEDBACK_TABLE,
        KeySchema=[{"AttributeName": FEEDBACK_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": FEEDBACK_TABLE_PARTITION_KEY, "AttributeType": "S"}
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    sm = boto3.client("secretsmanager", region_name=REGION)
    arn = str(sm.create_secret(Name="rw-feedback-key", SecretString=secrets.token_hex(32))["ARN"])
    for key, value in (
        (EnvKey.FEEDBACK_TABLE, FEEDBACK_TABLE),
        (EnvKey.FEEDBACK_SECRET_ARN, arn),
        (EnvKey.FEEDBACK_BASE_URL, BASE_URL),
        (EnvKey.LAKE_BUCKET, BUCKET),
        (EnvKey.FEEDBACK_MUTE_S, "86400"),
    ):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(EnvKey.ENDPOINT_NAME)  # the rules score: no endpoint needed
    return arn


@pytest.fixture
def scorer(secret_arn: str) -> ModuleType:
    return load(SCORE_AND_ALERT_HANDLER)


@pytest.fixture
def answers(secret_arn: str) -> ModuleType:
    return load(FEEDBACK_HANDLER)


def http(
    module: ModuleType, method: str, token: str, form: dict[str, str] | None = None, **query: str
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) request to /f/<token>, as API Gateway sends it."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} /f/{{token}}",
        "rawPath": f"/f/{token}",
        "requestContext": {"http": {"method": method, "path": f"/f/{token}"}},
        "pathParameters": {"token": token},
        "queryStringParameters": query or None,
        "isBase64Encoded": False,
    }
    if form is not None:
        event["body"] = urlencode(form)
    response: dict[str, Any] = module.handler(event, FakeContext())
    return response


def alert_tokens(aws: Aws, scorer: ModuleType, device: str = "pump-01") -> dict[str, str]:
    """Run a machine into WARNING then ALARM; the token of each alert, by severity."""
    event = features_event(zones(0, "AADDDD"), device=device)
    assert scorer.handler(event, FakeContext()) == {"batchItemFailures": []}
    out = {}
    for a in aws.alerts():
        match = LINK.search(a["body"])
        assert match, a["body"]
        out[a["attributes"]["severity"]] = match.group(1)
    return out


def table_items(aws: Aws) -> list[dict[str, Any]]:
    items = aws.dynamodb.scan(TableName=FEEDBACK_TABLE, ConsistentRead=True)["Items"]
    return sorted(
        (from_attributes(i) for i in items), key=lambda i: i[FEEDBACK_TABLE_PARTITION_KEY]
    )


def answer_state(aws: Aws) -> list[tuple[Any, ...]]:
    """What an answer can change: answers, closes, mutes (history excluded: it audits)."""
    return [
        (i["pk"], i.get("answer"), i.get("closed_ms"), i.get("until_ms"), i.get("nff_count"))
        for i in table_items(aws)
    ]


def device_state(aws: Aws, device: str = "pump-01") -> dict[str, Any]:
    item = aws.dynamodb.get_item(
        TableName=STATE_TABLE, Key={STATE_TABLE_PARTITION_KEY: {"S": device}}
    )["Item"]
    return from_attributes(item)


def test_alerts_carry_links_and_are_registered(aws: Aws, scorer: ModuleType) -> None:
    tokens = alert_tokens(aws, scorer)
    assert set(tokens) == {"WARNING", "ALARM"}
    assert tokens["WARNING"] != tokens["ALARM"]
    pks = [i[FEEDBACK_TABLE_PARTITION_KEY] for i in table_items(aws)]
    assert len(pks) == 2
    assert all(pk.startswith("alert#") for pk in pks)
    rows = [
        json.loads(gzip.decompress(body))
        for body in aws.objects("feedback/").values()  # the lake's alert rows
    ]
    assert sorted(r["severity"] for r in rows) == ["ALARM", "WARNING"]
    assert {r["kind"] for r in rows} == {"alert"}


def test_the_sms_carries_a_short_link_within_one_segment(aws: Aws, secret_arn: str) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    links = AlertLinks(
        FeedbackStore(aws.dynamodb, FEEDBACK_TABLE),
        KeyRing(sm, secret_arn),
        LakeWriter(aws.s3, BUCKET),
        BASE_URL,
    )
    prepared = links.prepare(
        alert_id="pump-01:1:1:ALARM",
        device_id="pump-01",
        site="a-rather-long-site-name-for-a-plant",
        severity="ALARM",
        fault="bearing_outer",
        ts=1,
        text="e-mail",
        sms="RW ALARM pump-01@a-rather-long-site-name-for-a-plant: bearing_outer, ISO D 9.1mm/s, "
        "since 11-23 06:40 UTC; temperature 95.0 C above limit 90.0 C",
        sms_max_chars=160,
    )
    assert prepared is not None
    _, sms = prepared
    assert len(sms) <= 160
    url = sms.rsplit(" ", 1)[1]
    assert url.startswith(BASE_URL + "f/1.")
    assert sms.startswith("RW ALARM pump-01")


def test_get_shows_the_form_and_records_nothing(
    aws: Aws, scorer: ModuleType, answers: ModuleType
) -> None:
    token = alert_tokens(aws, scorer)["ALARM"]
    before = answer_state(aws)
    for _ in range(3):  # a mail scanner, a preview, the technician
        page = http(answers, "GET", token, v="no_fault_found")
        assert page["statusCode"] == 200
        assert "<form method=post" in page["body"]
        assert page["headers"]["referrer-policy"] == "no-referrer"
    assert answer_state(aws) == before


def test_a_link_for_one_alert_cannot_act_on_another(
    aws: Aws, scorer: ModuleType, answers: ModuleType
) -> None:
    mine = alert_tokens(aws, scorer, "pump-01")["ALARM"]
    theirs = alert_tokens(aws, scorer, "pump-02")["ALARM"]
    before = answer_state(aws)
    # Graft the other alert's reference onto my token (keeping my expiry and MAC).
    v, _, exp, mac = mine.split(".")
    grafted = ".".join((v, theirs.split(".")[1], exp, mac))
    for token in (grafted, mine.replace(mine.split(".")[1], theirs.split(".")[1])):
        got = http(answers, "POST", token, {"verdict": "repaired"})
        assert got["statusCode"] == 403
    assert answer_state(aws) == before
    assert device_state(aws, "pump-02").get("baseline_resets", 0) == 0
    # My own link answers my own alert only.
    ref = mine.split(".")[1]
    assert http(answers, "POST", mine, {"verdict": "confirmed"})["statusCode"] == 200
    answered = [i["alert_id"] for i in table_items(aws) if i.get("answer")]
    assert answered == [next(i["alert_id"] for i in table_items(aws) if i["pk"].endswith(ref))]
    assert answered[0].startswith("pump-01:")
    assert answered[0].endswith(":ALARM")


def test_expired_and_tampered_links_are_refused_and_change_nothing(
    aws: Aws, scorer: ModuleType, answers: ModuleType, secret_arn: str
) -> None:
    token = alert_tokens(aws, scorer)["ALARM"]
    ref = token.split(".")[1]
    key = KeyRing(boto3.client("secretsmanager", region_name=REGION), secret_arn).signing_key()
    alert_id = next(i["alert_id"] for i in table_items(aws) if i["pk"] == f"alert#{ref}")
    expired = fb_links.sign(key, alert_id, 1_000)  # valid MAC, expired in 1970
    flipped = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    extended = ".".join((*token.split(".")[:2], "zzzzzzz", token.split(".")[3]))
    forged = fb_links.sign(bytes(32), alert_id, 4_000_000_000)  # a key that is not ours
    before = answer_state(aws)
    for bad in (expired, flipped, extended, forged, "1.x.y.z", ""):
        for method in ("GET", "POST"):
            got = http(answers, method, bad, {"verdict": "repaired"} if method == "POST" else None)
            assert got["statusCode"] == 403, bad
            assert "not valid or has expired" in got["body"]
    assert answer_state(aws) == before
    assert device_state(aws).get("baseline_resets", 0) == 0


def test_replaying_an_answer_changes_nothing(
    aws: Aws, scorer: ModuleType, answers: ModuleType
) -> None:
    token = alert_tokens(aws, scorer)["ALARM"]
    first = http(answers, "POST", token, {"verdict": "repaired", "action": "new bearing"})
    assert first["statusCode"] == 200
    assert "recorded" in first["body"]
    after_first = answer_state(aws)
    resets = device_state(aws)["baseline_resets"]
    lake = aws.objects("feedback/")
    for form in (
        {"verdict": "repaired", "action": "new bearing"},  # the same POST again
        {"verdict": "no_fault_found"},  # a different answer, not a correction: first wins
        {"verdict": "repaired", "action": "new bearing", "correction": "1"},  # same "correction"
    ):
        again = http(answers, "POST", token, form)
        assert again["statusCode"] == 200
        assert "nothing changed" in again["body"]
    assert answer_state(aws) == after_first
    assert device_state(aws)["baseline_resets"] == resets
    assert aws.objects("feedback/") == lake
    # Every attempt is audited with its time and channel.
    (item,) = [i for i in table_items(aws) if i.get("answer")]
    assert [h["decision"] for h in item["history"]] == [
        "accepted",
        "duplicate",
        "already_answered",
        "duplicate",
    ]
    assert all(h["channel"] == "email" and h["answered_ms"] > 0 for h in item["history"])


def test_repaired_restarts_the_baseline_and_closes_the_alert(
    aws: Aws, scorer: ModuleType, answers: ModuleType
) -> None:
    token = alert_tokens(aws, scorer)["ALARM"]
    assert "baseline" in device_state(aws)
    http(answers, "POST", token, {"verdict": "repaired", "action": "replaced DE bearing"})
    state = device_state(aws)
    assert "baseline" not in state
    assert state["baseline_resets"] == 1
    (closed,) = [i for i in table_items(aws) if i.get("closed_ms")]
    assert closed["answer"]["action"] == "replaced DE bearing"
    # The next batch sees the restart (conditional write) and learns again.
    event = features_event(zones(6, "AA"))
    assert scorer.handler(event, FakeContext()) == {"batchItemFailures": []}
    assert device_state(aws)["baseline"]["count"] <= 2


def test_no_fault_found_mutes_that_fault_on_that_device_and_counts(
    aws: Aws, scorer: ModuleType, answers: ModuleType
) -> None:
    token = alert_tokens(aws, scorer)["ALARM"]
    http(answers, "POST", token, {"verdict": "no_fault_found", "channel": "sms"})
    (mute,) = [i for i in table_items(aws) if i["pk"].startswith("mute#")]
    assert mute["nff_count"] == 1
    assert mute["max_severity"] == "ALARM"
    # Recover, then the same fault again: the rise is muted, the recovery notice is not.
    scorer.handler(features_event(zones(6, "AAAAAA")), FakeContext())
    recovery = [a["attributes"]["severity"] for a in aws.alerts()]
    assert recovery == ["RECOVERY"]
    scorer.handler(features_event(zones(12, "DDDD")), FakeContext())
    assert aws.alerts() == []
    (mute,) = [i for i in table_items(aws) if i["pk"].startswith("mute#")]
    assert mute["muted_alerts"] == 2  # WARNING and ALARM kept back
    # Another device's same fault is not muted.
    assert set(alert_tokens(aws, scorer, "pump-02")) == {"WARNING", "ALARM"}


def test_a_correction_lifts_the_mute(aws: Aws, scorer: ModuleType, answers: ModuleType) -> None:
    token = alert_tokens(aws, scorer)["ALARM"]
    http(answers, "POST", token, {"verdict": "no_fault_found"})
    got = http(answers, "POST", token, {"verdict": "confirmed", "correction": "1"})
    assert "corrected" in got["body"]
    (mute,) = [i for i in table_items(aws) if i["pk"].startswith("mute#")]
    assert mute["until_ms"] == 0


def test_an_alert_takes_at_most_max_corrections_and_audits_every_attempt(
    aws: Aws, scorer: ModuleType, answers: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lambdas.common import feedback as store

    token = alert_tokens(aws, scorer)["ALARM"]
    http(answers, "POST", token, {"verdict": "confirmed"})
    verdicts = ["no_fault_found", "confirmed", "no_fault_found", "confirmed", "other_fault"]
    bodies = [
        http(answers, "POST", token, {"verdict": v, "correction": "1"})["body"] for v in verdicts
    ]
    taken = fb.MAX_CORRECTIONS
    assert all("corrected" in b for b in bodies[:taken])
    assert all("nothing changed" in b for b in bodies[taken:])
    (item,) = [i for i in table_items(aws) if i.get("answer")]
    # The record stands at the last correction taken; the lake has one row per taken answer,
    # so training labels follow it too.
    assert item["answer"]["verdict"] == verdicts[taken - 1]
    assert item["corrections"] == taken
    assert "the most one alert takes" in http(answers, "GET", token)["body"]
    answer_rows = [o for o in aws.objects("feedback/") if "/answer-" in o]
    assert len(answer_rows) == 1 + taken
    assert [h["decision"] for h in item["history"]] == ["accepted"] + ["corrected"] * taken + [
        "correction_limit"
    ] * (len(verdicts) - taken)
    assert item["attempts"] == 1 + len(verdicts)
    # Past the stored history's cap, attempts are still counted (and logged in full).
    monkeypatch.setattr(store, "HISTORY_MAX", len(item["history"]))
    http(answers, "POST", token, {"verdict": "repaired", "correction": "1"})
    (item,) = [i for i in table_items(aws) if i.get("answer")]
    assert len(item["history"]) == 1 + len(verdicts)
    assert item["attempts"] == 2 + len(verdicts)
    assert item["answer"]["verdict"] == verdicts[taken - 1]


def test_links_survive_a_key_rotation(
    aws: Aws, scorer: ModuleType, answers: ModuleType, secret_arn: str
) -> None:
    token = alert_tokens(aws, scorer)["ALARM"]
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.put_secret_value(SecretId=secret_arn, SecretString=secrets.token_hex(32))
    fresh = load(FEEDBACK_HANDLER)  # a cold start reads the rotated key
    assert http(fresh, "POST", token, {"verdict": "confirmed"})["statusCode"] == 200
    # A second rotation retires the key the link was signed with.
    sm.put_secret_value(SecretId=secret_arn, SecretString=secrets.token_hex(32))
    assert http(load(FEEDBACK_HANDLER), "GET", token)["statusCode"] == 403


def test_the_cli_answers_with_the_same_rules(aws: Aws, scorer: ModuleType) -> None:
    from typer.testing import CliRunner

    from cli import app

    alert_tokens(aws, scorer)
    alarm_id = next(i["alert_id"] for i in table_items(aws) if i["severity"] == "ALARM")
    tables = [
        "--feedback-table",
        FEEDBACK_TABLE,
        "--state-table",
        STATE_TABLE,
        "--lake-bucket",
        BUCKET,
        "--region",
        REGION,
    ]
    runner = CliRunner()
    ok = runner.invoke(
        app, ["feedback", alarm_id, "--verdict", "repaired", "--action", "new bearing", *tables]
    )
    assert ok.exit_code == 0, ok.output
    assert "recorded" in ok.output
    assert "baseline restarted" in ok.output
    (answered,) = [i for i in table_items(aws) if i.get("answer")]
    assert answered["answer"]["channel"] == "cli"
    again = runner.invoke(app, ["feedback", alarm_id, "--verdict", "confirmed", *tables])
    assert again.exit_code == 0
    assert "nothing changed" in again.output
    for args, says in (
        (["feedback", "pump-09:1:1:ALARM", "--verdict", "confirmed", *tables], "no alert"),
        (["feedback", alarm_id, "--verdict", "maybe", *tables], "verdict must be one of"),
    ):
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2
        assert says in bad.output
        assert "Traceback" not in bad.output
    # The correction cap holds for the CLI too: the one past it exits 1 and changes nothing.
    flips = ["confirmed", "no_fault_found"] * fb.MAX_CORRECTIONS
    codes = [
        runner.invoke(app, ["feedback", alarm_id, "--verdict", v, "--correction", *tables])
        for v in flips[: fb.MAX_CORRECTIONS + 1]
    ]
    assert [c.exit_code for c in codes] == [0] * fb.MAX_CORRECTIONS + [1]
    assert "corrected 3 times already" in codes[-1].output
    assert "Traceback" not in codes[-1].output
    (answered,) = [i for i in table_items(aws) if i.get("answer")]
    assert answered["answer"]["verdict"] == flips[fb.MAX_CORRECTIONS - 1]


def test_the_rotation_function_keeps_the_previous_key_for_links_in_flight(
    aws: Aws, scorer: ModuleType, answers: ModuleType, secret_arn: str
) -> None:
    from lambdas.feedback.rotation import rotate

    token = alert_tokens(aws, scorer)["ALARM"]
    sm = boto3.client("secretsmanager", region_name=REGION)
    old = sm.get_secret_value(SecretId=secret_arn)["SecretString"]
    version = "11111111-2222-3333-4444-555555555555"  # Secrets Manager's ClientRequestToken
    for step in ("createSecret", "createSecret", "setSecret", "testSecret", "finishSecret"):
        rotate(sm, secret_arn, version, step)  # createSecret twice: a retried step
    # Stages named explicitly, as KeyRing does (moto 5.2.5 keeps answering the stage-less call
    # with the first version after update_secret_version_stage; AWS answers AWSCURRENT).
    assert (
        sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSCURRENT")["SecretString"] != old
    )
    assert (
        sm.get_secret_value(SecretId=secret_arn, VersionStage="AWSPREVIOUS")["SecretString"] == old
    )
    assert http(load(FEEDBACK_HANDLER), "GET", token, v="confirmed")["statusCode"] == 200


def test_alerts_still_go_out_when_feedback_is_unreachable(
    aws: Aws, secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EnvKey.FEEDBACK_SECRET_ARN, secret_arn + "-gone")
    scorer = load(SCORE_AND_ALERT_HANDLER)
    event = features_event(zones(0, "AADDDD"))
    assert scorer.handler(event, FakeContext()) == {"batchItemFailures": []}
    sent = aws.alerts()
    assert [a["attributes"]["severity"] for a in sent] == ["WARNING", "ALARM"]
    assert all("What did you find?" not in a["body"] for a in sent)
    assert scorer.DEPS.publisher._links.failures == 2
