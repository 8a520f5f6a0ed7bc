"""The demo's technicians: they answer the alerts they received from the simulator's truth.

In the local cloud, score_and_alert runs with feedback configured (:func:`provision`): every
WARNING/ALARM is registered in the feedback table, written to the lake's ``feedback/`` rows and
carries its links, exactly as deployed. After the run, :func:`answer` plays the technicians:

* each alert is answered after a delay drawn from :data:`DELAY_H` (hours of simulated time);
  an answer that would come after the end of the run is not given (still unanswered), and
  :data:`NEVER_ANSWER` of the alerts are never answered at all (the inbox nobody reads);
* the verdict is the truth at the alert's window: no fault present (a healthy machine, or
  before the fault's onset) is ``no_fault_found``; a fault present and named right is
  ``confirmed`` on a WARNING and ``repaired`` on an ALARM (the technician acted); a fault present
  but named wrong is ``other_fault``, with the real fault as what was found.

Answers go through the feedback function's own recording code (lambdas.feedback.service.apply,
channel ``demo``), so they have the deployed effects and rows. They are given after the run, so
their effects (a mute, a baseline restart) do not change the run itself: the demo measures the
alerting as it was, and the answers measure it back. Draws are seeded by the run's seed and the
alert id: the same run answers the same way.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from local_cloud.cloud import ReceivedAlert
from local_cloud.pipeline import alert_key
from local_cloud.report import FaultTruth
from rotorwatch import feedback as fb
from rotorwatch import lake
from rotorwatch.predictions import SENSOR_FAULTS
from rotorwatch.resources import FEEDBACK_TABLE_PARTITION_KEY, EnvKey

FEEDBACK_TABLE: Final = "rotorwatch-local-feedback"
FEEDBACK_SECRET: Final = "rotorwatch-local-feedback-key"
#: Not served locally: the demo's technicians answer through the recording code, not HTTP.
FEEDBACK_BASE_URL: Final = "https://feedback.invalid/"
#: Share of alerts nobody ever answers.
NEVER_ANSWER: Final = 0.15
#: Hours between an alert and its answer (uniform).
DELAY_H: Final = (0.25, 6.0)
HOUR_MS: Final = 3_600_000


def provision(clients: Mapping[str, Any], session: Any, lake_bucket: str) -> dict[str, str]:
    """Create the feedback table and key in the local cloud; the env that turns links on."""
    clients["dynamodb"].create_table(
        TableName=FEEDBACK_TABLE,
        KeySchema=[{"AttributeName": FEEDBACK_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": FEEDBACK_TABLE_PARTITION_KEY, "AttributeType": "S"}
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    sm = session.client("secretsmanager")
    arn = sm.create_secret(Name=FEEDBACK_SECRET, SecretString=secrets.token_hex(fb.MIN_KEY_BYTES))[
        "ARN"
    ]
    return {
        EnvKey.FEEDBACK_TABLE: FEEDBACK_TABLE,
        EnvKey.FEEDBACK_SECRET_ARN: str(arn),
        EnvKey.FEEDBACK_BASE_URL: FEEDBACK_BASE_URL,
        EnvKey.LAKE_BUCKET: lake_bucket,
    }


def truth_verdict(
    claimed: str | None, truth: FaultTruth | None, ts: int, severity: str
) -> tuple[str, str | None]:
    """(verdict, fault found) a technician who knows the truth gives an alert at window ``ts``."""
    present = (
        truth is not None
        and truth.fault not in ("normal", "not yet")
        and truth.onset_ms is not None
        and ts >= truth.onset_ms
    )
    if not present or truth is None:
        return fb.NO_FAULT_FOUND, None
    right = (
        claimed in SENSOR_FAULTS[truth.fault]
        if truth.fault in SENSOR_FAULTS
        else claimed == truth.fault
    )
    if not right:
        return fb.OTHER_FAULT, truth.fault
    return (fb.REPAIRED if severity == "ALARM" else fb.CONFIRMED), None


@dataclass(frozen=True, slots=True)
class Answered:
    alert_id: str
    verdict: str | None  # None: not answered
    answered_ms: int | None


def answer(
    clients: Mapping[str, Any],
    state_table: str,
    lake_bucket: str,
    alerts: Sequence[ReceivedAlert],
    truth: Sequence[FaultTruth],
    *,
    end_ms: int,
    seed: int | None,
) -> list[Answered]:
    """Answer the WARNING/ALARM alerts as the simulated technicians would."""
    from lambdas.common.feedback import FeedbackStore, LakeWriter
    from lambdas.feedback.service import Recorder, apply

    recorder = Recorder(
        store=FeedbackStore(clients["dynamodb"], FEEDBACK_TABLE),
        lake=LakeWriter(clients["s3"], lake_bucket),
        dynamodb=clients["dynamodb"],
        state_table=state_table,
    )
    by_device = {t.device_id: t for t in truth}
    out = []
    for alert in alerts:
        key = alert_key(alert.alert_id)
        if alert.severity not in ("WARNING", "ALARM") or key is None:
            continue
        found = recorder.store.alert(fb.alert_ref(alert.alert_id))
        if found is None:
            continue  # not registered (muted, or sent without links)
        record, _ = found
        rng = random.Random(f"{seed}:{alert.alert_id}")
        answered_ms = key[1] + int(rng.uniform(*DELAY_H) * HOUR_MS)
        if rng.random() < NEVER_ANSWER or answered_ms > end_ms:
            out.append(Answered(alert.alert_id, None, None))
            continue
        verdict, fault_found = truth_verdict(
            record.fault, by_device.get(record.device_id), key[1], alert.severity
        )
        action = f"repaired {record.fault}" if verdict == fb.REPAIRED else None
        apply(
            recorder,
            record.ref,
            fb.Answer(verdict, "demo", answered_ms, fault_found=fault_found, action=action),
        )
        out.append(Answered(alert.alert_id, verdict, answered_ms))
    return out


def sync_lake(s3: Any, bucket: str, lake_dir: Path) -> int:
    """Copy the feedback rows the functions wrote to the local S3 into the lake folder (where
    the local Athena reads every table). Returns the number of objects."""
    n = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=lake.FEEDBACK_PREFIX):
        for obj in page.get("Contents", []):
            path = lake_dir / obj["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            n += 1
    return n
