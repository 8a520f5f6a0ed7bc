"""The demo's technicians: they answer the alerts they received from the simulator's truth.

In the local cloud, score_and_alert runs with feedback configured
(local_cloud.feedback_setup): every WARNING/ALARM is registered in the feedback table, written
to the lake's ``feedback/`` rows and carries its links, exactly as deployed. After the run,
:func:`answer` plays the technicians:

* whether an alert is answered: an answer is due a delay drawn from :data:`DELAY_H` (hours of
  simulated time) after the alert; one due after the end of the run is not given (still
  unanswered), and :data:`NEVER_ANSWER` of the alerts are never answered at all;
* the verdict is the truth at the alert's window: no fault present (a healthy machine, or
  before the fault's onset) is ``no_fault_found``; a fault present and named right is
  ``confirmed`` on a WARNING and ``repaired`` on an ALARM (the technician acted); a fault present
  but named wrong is ``other_fault``, with the real fault as what was found.

A technician answers as from the phone: the link is read out of the received message, the page
opened (GET) and the verdict tapped (POST), through the feedback function loaded by its
deployed handler string, so answers have the deployed checks, effects and lake rows. They are
recorded when the function runs (after the run, on the wall clock), so their effects (a mute,
a baseline restart) do not change the run itself: the demo measures the alerting as it was, and
the answers measure it back. Draws are seeded by the run's seed and the alert id.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from local_cloud.cloud import ReceivedAlert
from local_cloud.lambda_runtime import LocalContext, load_handler
from local_cloud.pipeline import alert_key
from local_cloud.report_scoring import FaultTruth
from rotorwatch.alerting import feedback as fb
from rotorwatch.deployment.resources import FEEDBACK_HANDLER
from rotorwatch.diagnosis.predictions import SENSOR_FAULTS

#: Share of alerts nobody ever answers.
NEVER_ANSWER: Final = 0.15
#: Hours between an alert and its answer (uniform).
DELAY_H: Final = (0.25, 6.0)
HOUR_MS: Final = 3_600_000


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
    status: int | None = None  # the feedback function's HTTP status for the answer


#: The links in an alert e-mail (rotorwatch.alerting.feedback_pages.email_block): the claimed fault and token.
_CONFIRM_LINK = re.compile(r"Confirmed: (\S+): \S*/f/([0-9A-Za-z._-]+)\?v=confirmed")


def _request(method: str, token: str, form: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``/f/<token>``."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} /f/{{token}}",
        "rawPath": f"/f/{token}",
        "requestContext": {"http": {"method": method, "path": f"/f/{token}"}},
        "pathParameters": {"token": token},
        "queryStringParameters": None,
        "isBase64Encoded": False,
    }
    if form is not None:
        event["body"] = urlencode(form)
    return event


def answer(
    alerts: Sequence[ReceivedAlert],
    truth: Sequence[FaultTruth],
    *,
    end_ms: int,
    seed: int | None,
) -> list[Answered]:
    """Answer the WARNING/ALARM alerts as the simulated technicians would: open the link in
    the message (GET), then tap the verdict (POST), through the feedback function loaded by its
    deployed handler string (the local cloud's environment names its table and key)."""
    handler = load_handler(FEEDBACK_HANDLER)
    by_device = {t.device_id: t for t in truth}
    out = []
    for alert in alerts:
        key = alert_key(alert.alert_id)
        link = _CONFIRM_LINK.search(alert.body)
        if alert.severity not in ("WARNING", "ALARM") or key is None or link is None:
            continue  # a recovery asks nothing; an alert without links cannot be answered
        claimed, token = link.group(1), link.group(2)
        rng = random.Random(f"{seed}:{alert.alert_id}")
        due_ms = key[1] + int(rng.uniform(*DELAY_H) * HOUR_MS)
        if rng.random() < NEVER_ANSWER or due_ms > end_ms:
            out.append(Answered(alert.alert_id, None))
            continue
        verdict, fault_found = truth_verdict(claimed, by_device.get(key[0]), key[1], alert.severity)
        form = {"verdict": verdict, "channel": "sms" if alert.severity == "ALARM" else "email"}
        if fault_found:
            form["fault_found"] = fault_found
        if verdict == fb.REPAIRED:
            form["action"] = f"repaired {claimed}"
        context = LocalContext(function_name="feedback")
        handler(_request("GET", token), context)  # the page first, as a phone opens it
        got = handler(_request("POST", token, form), context)
        out.append(Answered(alert.alert_id, verdict, int(got["statusCode"])))
    return out
