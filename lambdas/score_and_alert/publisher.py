"""Alerts out to SNS, as technicians receive them: the long form for e-mail, one SMS segment, the
attributes subscription filter policies match, and the answer links when feedback is deployed."""

from __future__ import annotations

from typing import Any

from lambdas.common.feedback import AlertLinks
from lambdas.common.sns import publish as sns_publish
from rotorwatch.alerting.alert_messages import (
    SMS_MAX_CHARS,
    message,
    message_attributes,
    short_message,
    subject,
)
from rotorwatch.alerting.alerts import Alert
from rotorwatch.lake.query import AthenaTarget


class AlertPublisher:
    """SNS: long form for e-mail, one SMS segment for SMS, attributes for filter policies.

    With ``links`` (feedback configured), a WARNING/ALARM carries answer links, and a mute set
    by a "no fault found" answer keeps it from being sent (``publish`` returns None).
    """

    def __init__(
        self,
        sns: Any,
        topic_arn: str,
        athena: AthenaTarget | None,
        links: AlertLinks | None = None,
    ) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self._athena = athena
        self._links = links

    def publish(self, alert: Alert) -> str | None:
        text, sms = message(alert, athena=self._athena), short_message(alert)
        if self._links is not None and alert.kind == "ALERT":
            prepared = self._links.prepare(
                alert_id=alert.alert_id,
                device_id=alert.device_id,
                site=alert.site,
                severity=alert.severity,
                fault=alert.sensor_cause or alert.fault,  # what the alert named
                ts=alert.ts,
                text=text,
                sms=sms,
                sms_max_chars=SMS_MAX_CHARS,
            )
            if prepared is None:
                return None
            text, sms = prepared
        return sns_publish(
            self._sns,
            self._topic_arn,
            subject=subject(alert),
            text=text,
            sms=sms,
            attributes=message_attributes(alert),
        )
