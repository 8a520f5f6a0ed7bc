"""Feedback persistence shared by score_and_alert (registers alerts, mutes) and the feedback
function (answers): the signing key in Secrets Manager, the feedback table, the lake rows.

The feedback table holds, under one string key (resources.FEEDBACK_TABLE_PARTITION_KEY):

* ``alert#<ref>``: the alert record (rotorwatch.alerting.feedback.AlertRecord), its current answer
  (``answer``, a map), ``closed_ms`` and ``history`` (the audit log: every attempt with its
  time, channel, verdict and what was decided, capped at HISTORY_MAX entries), ``attempts``
  (every attempt, past the cap too) and ``corrections`` (taken, at most
  rotorwatch.alerting.feedback.MAX_CORRECTIONS);
* ``mute#<device>#<fault>``: a mute (rotorwatch.alerting.feedback.Mute), ``nff_count`` (how often "no
  fault found" was answered for it) and ``muted_alerts`` (alerts it kept from being sent).

Every item carries ``expires_at`` (DynamoDB TTL): an alert item outlives its links, a mute item
its mute.

Nothing here writes the device state item except :func:`restart_baseline`, which touches only
the baseline attributes (one UpdateExpression), exactly as ``rotorwatch baseline reset`` does,
so score_and_alert's conditional write sees the restart and folds again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.aws import client
from lambdas.common.dynamo import from_attributes, to_attributes
from lambdas.common.settings import SettingsError, optional, required
from rotorwatch.alerting import feedback as fb
from rotorwatch.alerting import feedback_lake as fb_lake
from rotorwatch.alerting import feedback_links as fb_links
from rotorwatch.alerting import feedback_pages as fb_pages
from rotorwatch.alerting.alerts import BASELINE_ATTRIBUTE, BASELINE_RESETS_ATTRIBUTE
from rotorwatch.deployment.resources import (
    FEEDBACK_TABLE_PARTITION_KEY,
    FEEDBACK_TTL_ATTRIBUTE,
    STATE_TABLE_PARTITION_KEY,
    EnvKey,
)

_LOG = logging.getLogger(__name__)

#: Audit entries kept per alert: a valid link replayed in a loop cannot grow the item towards
#: DynamoDB's 400 KB limit (beyond it attempts are still logged, not stored).
HISTORY_MAX = 50
#: Attributes of an alert item: answers attempted (every one, taken or not) and corrections
#: taken (capped at rotorwatch.alerting.feedback.MAX_CORRECTIONS).
ATTEMPTS_ATTRIBUTE = "attempts"
CORRECTIONS_ATTRIBUTE = "corrections"
#: Seconds the signing key is cached in a warm function (a rotation reaches it within this).
KEY_CACHE_S = 300
#: Days an alert item outlives its links (answers via the CLI still find it).
ALERT_KEEP_AFTER_LINK_S = 30 * 86_400


class SigningKeyError(RuntimeError):
    """The signing key could not be read or is not usable."""


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class KeyRing:
    """The link-signing keys in Secrets Manager: AWSCURRENT signs; AWSCURRENT and AWSPREVIOUS
    verify (a rotation does not break links already sent). The secret string is hex."""

    def __init__(
        self,
        secretsmanager: Any,
        secret_arn: str,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sm = secretsmanager
        self._arn = secret_arn
        self._clock = clock_s
        self._cached: tuple[float, list[bytes]] | None = None

    def _read(self, stage: str) -> bytes | None:
        try:
            value = self._sm.get_secret_value(SecretId=self._arn, VersionStage=stage)
        except ClientError as exc:
            if stage != "AWSCURRENT" and exc.response.get("Error", {}).get("Code") in (
                "ResourceNotFoundException",
                "InvalidRequestException",
            ):
                return None  # no previous version yet (never rotated)
            raise
        try:
            key = bytes.fromhex(str(value["SecretString"]).strip())
        except (KeyError, ValueError):
            raise SigningKeyError(f"secret {stage} is not a hex string") from None
        if len(key) < fb_links.MIN_KEY_BYTES:
            raise SigningKeyError(f"secret {stage} has fewer than {fb_links.MIN_KEY_BYTES} bytes")
        return key

    def keys(self) -> list[bytes]:
        """[current, previous (if any)]."""
        now = self._clock()
        if self._cached is None or now - self._cached[0] >= KEY_CACHE_S:
            current = self._read("AWSCURRENT")
            assert current is not None
            previous = self._read("AWSPREVIOUS")
            keys = [current] + ([previous] if previous and previous != current else [])
            self._cached = (now, keys)
        return self._cached[1]

    def signing_key(self) -> bytes:
        return self.keys()[0]


def _alert_pk(ref: str) -> dict[str, Any]:
    return {FEEDBACK_TABLE_PARTITION_KEY: {"S": f"alert#{ref}"}}


def _mute_pk(device_id: str, fault: str) -> dict[str, Any]:
    return {FEEDBACK_TABLE_PARTITION_KEY: {"S": f"mute#{device_id}#{fault}"}}


class FeedbackStore:
    """The feedback DynamoDB table."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    # ---- alerts ---------------------------------------------------------------------------

    def register(self, alert: fb.AlertRecord, expires_at_s: int) -> bool:
        """Store an alert that may be answered. False if it was already there (a re-sent
        outbox): its answer, if any, is left alone."""
        item = to_attributes(
            {
                **alert.to_item(),
                FEEDBACK_TABLE_PARTITION_KEY: f"alert#{alert.ref}",
                FEEDBACK_TTL_ATTRIBUTE: expires_at_s + ALERT_KEEP_AFTER_LINK_S,
            }
        )
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": FEEDBACK_TABLE_PARTITION_KEY},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def alert(self, ref: str) -> tuple[fb.AlertRecord, fb.Answer | None] | None:
        """The alert a reference names and its current answer, or None."""
        found = self.read(ref)
        return None if found is None else (found[0], found[1])

    def read(self, ref: str) -> tuple[fb.AlertRecord, fb.Answer | None, int] | None:
        """The alert a reference names, its current answer and the corrections it took."""
        got = self._db.get_item(TableName=self._table, Key=_alert_pk(ref), ConsistentRead=True)
        if "Item" not in got:
            return None
        item = from_attributes(got["Item"])
        answer = item.get("answer")
        return (
            fb.AlertRecord.from_item(item),
            fb.Answer.from_item(answer) if isinstance(answer, dict) else None,
            int(item.get(CORRECTIONS_ATTRIBUTE, 0)),
        )

    def record(
        self,
        alert: fb.AlertRecord,
        answer: fb.Answer,
        current: fb.Answer | None,
        decision: fb.Decision,
    ) -> bool:
        """Store ``answer`` as the alert's answer (accepted, corrected) if the stored answer is
        still ``current`` (and, for a correction, the alert has taken fewer than
        :data:`rotorwatch.alerting.feedback.MAX_CORRECTIONS`), and audit the attempt either way. False:
        another answer got there first (re-read and decide again).

        The audit: every attempt adds one to ``attempts``; the history keeps every taken answer
        and the first :data:`HISTORY_MAX` entries overall (so a replay loop cannot grow the item
        towards DynamoDB's 400 KB); the function's log has every attempt in full."""
        entry = {**answer.to_item(), "decision": decision}
        values: dict[str, Any] = {
            ":h": {"L": [{"M": to_attributes(entry)}]},
            ":empty": {"L": []},
            ":one": {"N": "1"},
        }
        names = {"#h": "history", "#n": ATTEMPTS_ATTRIBUTE}
        audit = "#h = list_append(if_not_exists(#h, :empty), :h)"
        count = "ADD #n :one"
        room = "(attribute_not_exists(#h) OR size(#h) < :max)"
        if decision in ("accepted", "corrected"):
            names["#a"] = "answer"
            values[":a"] = {"M": to_attributes(answer.to_item())}
            sets = f"SET #a = :a, {audit}"
            if current is None:
                condition = "attribute_not_exists(#a)"
            else:
                condition = "#a.answered_ms = :prev AND #a.verdict = :prev_v"
                values[":prev"] = {"N": str(current.answered_ms)}
                values[":prev_v"] = {"S": current.verdict}
            if decision == "corrected":
                # The cap holds under concurrent corrections: the count is checked where it
                # is incremented.
                names["#c"] = CORRECTIONS_ATTRIBUTE
                values[":maxc"] = {"N": str(fb.MAX_CORRECTIONS)}
                condition += " AND (attribute_not_exists(#c) OR #c < :maxc)"
                count += ", #c :one"
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=_alert_pk(alert.ref),
                    UpdateExpression=f"{sets} {count}",
                    ConditionExpression=f"attribute_exists(alert_id) AND {condition}",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if _conditional_failed(exc):
                    return False
                raise
            return True
        # Not taken: counted always, kept in the history while there is room.
        values[":max"] = {"N": str(HISTORY_MAX)}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_alert_pk(alert.ref),
                UpdateExpression=f"SET {audit} {count}",
                ConditionExpression=f"attribute_exists(alert_id) AND {room}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            self._db.update_item(
                TableName=self._table,
                Key=_alert_pk(alert.ref),
                UpdateExpression=count,
                ConditionExpression="attribute_exists(alert_id)",
                ExpressionAttributeNames={"#n": ATTEMPTS_ATTRIBUTE},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return True

    def close(self, alert: fb.AlertRecord, now_ms: int) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_alert_pk(alert.ref),
            UpdateExpression="SET closed_ms = if_not_exists(closed_ms, :t)",
            ExpressionAttributeValues={":t": {"N": str(now_ms)}},
        )

    def history(self, ref: str) -> list[dict[str, Any]]:
        got = self._db.get_item(TableName=self._table, Key=_alert_pk(ref), ConsistentRead=True)
        return list(from_attributes(got.get("Item", {})).get("history", []))

    # ---- mutes ----------------------------------------------------------------------------

    def mute(self, mute: fb.Mute) -> None:
        """Set (or extend) a mute and count the "no fault found" behind it."""
        attrs = to_attributes(mute.to_item())
        sets = ", ".join(f"#{k} = :{k}" for k in attrs)
        self._db.update_item(
            TableName=self._table,
            Key=_mute_pk(mute.device_id, mute.fault),
            UpdateExpression=f"SET {sets}, #ttl = :ttl ADD nff_count :one",
            ExpressionAttributeNames={
                **{f"#{k}": k for k in attrs},
                "#ttl": FEEDBACK_TTL_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                **{f":{k}": v for k, v in attrs.items()},
                ":ttl": {"N": str(mute.until_ms // 1000 + 1)},
                ":one": {"N": "1"},
            },
        )

    def lift(self, device_id: str, fault: str, alert_id: str) -> None:
        """Lift the mute ``alert_id`` set (a later "no fault found" owns it otherwise)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_mute_pk(device_id, fault),
                UpdateExpression="SET until_ms = :zero",
                ConditionExpression="alert_id = :a",
                ExpressionAttributeValues={":a": {"S": alert_id}, ":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def active_mute(self, device_id: str, fault: str | None) -> fb.Mute | None:
        got = self._db.get_item(TableName=self._table, Key=_mute_pk(device_id, fb.fault_key(fault)))
        if "Item" not in got:
            return None
        return fb.Mute.from_item(from_attributes(got["Item"]))

    def count_muted(self, mute: fb.Mute) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=_mute_pk(mute.device_id, mute.fault),
            UpdateExpression="ADD muted_alerts :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    def mute_counts(self, device_id: str, fault: str) -> tuple[int, int]:
        """(no-fault-found answers, alerts muted) of a device's fault."""
        got = self._db.get_item(TableName=self._table, Key=_mute_pk(device_id, fault))
        item = from_attributes(got.get("Item", {}))
        return int(item.get("nff_count", 0)), int(item.get("muted_alerts", 0))


class LakeWriter:
    """Feedback rows into the lake (rotorwatch.lake.layout.FEEDBACK_TABLE), one small object each."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, row: dict[str, Any]) -> str:
        key, body = fb_lake.lake_object(row)
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
        )
        return key


def restart_baseline(dynamodb: Any, state_table: str, device_id: str) -> bool:
    """Forget the device's baseline and count the restart (the same update as ``rotorwatch
    baseline reset``). False if the device has no state item."""
    try:
        dynamodb.update_item(
            TableName=state_table,
            Key={STATE_TABLE_PARTITION_KEY: {"S": device_id}},
            UpdateExpression="REMOVE #b SET #r = if_not_exists(#r, :zero) + :one",
            ConditionExpression="attribute_exists(#k)",
            ExpressionAttributeNames={
                "#b": BASELINE_ATTRIBUTE,
                "#r": BASELINE_RESETS_ATTRIBUTE,
                "#k": STATE_TABLE_PARTITION_KEY,
            },
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
        )
    except ClientError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


class AlertLinks:
    """score_and_alert's side of feedback: before an alert is published, check the mutes,
    register it (table and lake) and give its e-mail and SMS their answer links.

    Only WARNING/ALARM rises get links (a recovery notice asks nothing); a recovery is never
    muted (whoever was told of a problem learns it is over).
    """

    def __init__(
        self,
        store: FeedbackStore,
        keys: KeyRing,
        lake: LakeWriter,
        base_url: str,
        *,
        link_ttl_s: int = fb_links.DEFAULT_LINK_TTL_S,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._store = store
        self._keys = keys
        self._lake = lake
        self._base_url = base_url
        self._ttl_s = link_ttl_s
        self._clock_ms = clock_ms
        #: Alerts sent without links because feedback could not be reached.
        self.failures = 0

    def prepare(
        self,
        *,
        alert_id: str,
        device_id: str,
        site: str | None,
        severity: str,
        fault: str | None,
        ts: int,
        text: str,
        sms: str,
        sms_max_chars: int,
    ) -> tuple[str, str] | None:
        """(e-mail text, SMS) with links, or None when a mute silences the alert.

        Fails open: if the feedback table, the key or the lake cannot be reached, the alert goes
        out as it is, without links and unmuted (a missed alert costs more than an extra one),
        and the failure is logged and counted (``failures``).
        """
        now_ms = self._clock_ms()
        try:
            mute = self._store.active_mute(device_id, fault)
            if mute is not None and mute.silences(severity, fault, now_ms):
                self._store.count_muted(mute)
                return None
            record = fb.AlertRecord(alert_id, device_id, site, severity, fault, ts, now_ms)
            expires_s = now_ms // 1000 + self._ttl_s
            token = fb_links.sign(self._keys.signing_key(), alert_id, expires_s)
            self._store.register(record, expires_s)
            # Every time, not only when new: a retry after a failed put still writes the row
            # (alert_outcomes counts alert ids, so a repeated row counts once).
            self._lake.put(fb_lake.alert_row(record))
        except (BotoCoreError, ClientError, SigningKeyError, ValueError) as exc:
            self.failures += 1
            _LOG.warning("alert sent without answer links: %s: %s", type(exc).__name__, exc)
            return text, sms
        text = text + "\n" + fb_pages.email_block(self._base_url, token, fault)
        sms = fb_pages.sms_with_link(sms, fb_pages.link(self._base_url, token), sms_max_chars)
        return text, sms


def links_from_env(env: Mapping[str, str]) -> AlertLinks | None:
    """score_and_alert's AlertLinks when feedback is configured (all four variables set), else
    None: alerts go out as before, without links. Half a configuration fails the cold start."""
    keys = (
        EnvKey.FEEDBACK_TABLE,
        EnvKey.FEEDBACK_SECRET_ARN,
        EnvKey.FEEDBACK_BASE_URL,
        EnvKey.LAKE_BUCKET,
    )
    present = [k for k in keys if optional(env, k)]
    if not present:
        return None
    if len(present) != len(keys):
        missing = ", ".join(k for k in keys if k not in present)
        raise SettingsError(f"feedback is half configured: {missing} missing")
    return AlertLinks(
        FeedbackStore(client("dynamodb"), required(env, EnvKey.FEEDBACK_TABLE)),
        KeyRing(client("secretsmanager"), required(env, EnvKey.FEEDBACK_SECRET_ARN)),
        LakeWriter(client("s3"), required(env, EnvKey.LAKE_BUCKET)),
        required(env, EnvKey.FEEDBACK_BASE_URL),
        link_ttl_s=positive_int(env, EnvKey.FEEDBACK_LINK_TTL_S, fb_links.DEFAULT_LINK_TTL_S),
    )


def positive_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"environment variable {key} must be an integer >= 1, got {raw!r}")
    return int(raw)
