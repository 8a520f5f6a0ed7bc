"""Names shared by the CDK app, the Lambda handlers, the Glue job and the local cloud.

Every name that crosses a boundary (an environment variable a handler reads, a stream the app
creates, the handler string Lambda imports) lives here once and is imported everywhere else.
"""

from __future__ import annotations

from typing import Final

APP_NAME: Final = "rotorwatch"

# Logical stream names (the CDK app derives physical names; the local cloud uses these as-is).
TELEMETRY_STREAM: Final = "telemetry"
FEATURES_STREAM: Final = "features"

# Handler strings, exactly as deployed: the local cloud imports handlers by these strings, the
# way the Lambda runtime does, so the core never imports an adapter.
EXTRACT_FEATURES_HANDLER: Final = "lambdas.extract_features.app.handler"
SCORE_AND_ALERT_HANDLER: Final = "lambdas.score_and_alert.app.handler"
#: Scheduled (EventBridge rate rule): NO_DATA alerts for devices that stopped reporting.
WATCHDOG_HANDLER: Final = "lambdas.watchdog.app.handler"
#: Behind the HTTP API: a technician's answer to an alert (rotorwatch.alerting.feedback).
FEEDBACK_HANDLER: Final = "lambdas.feedback.app.handler"
#: Secrets Manager rotation of the feedback link-signing key.
FEEDBACK_KEY_ROTATION_HANDLER: Final = "lambdas.feedback.rotation.handler"


class EnvKey:
    """Environment variable names the handlers read at cold start (set by the CDK app)."""

    STAGE: Final = "RW_STAGE"
    FEATURES_STREAM_NAME: Final = "RW_FEATURES_STREAM_NAME"
    QUARANTINE_BUCKET: Final = "RW_QUARANTINE_BUCKET"
    ASSETS_TABLE: Final = "RW_ASSETS_TABLE"
    STATE_TABLE: Final = "RW_STATE_TABLE"
    ALERTS_TOPIC_ARN: Final = "RW_ALERTS_TOPIC_ARN"
    ENDPOINT_NAME: Final = "RW_ENDPOINT_NAME"
    PREDICTIONS_DELIVERY_STREAM: Final = "RW_PREDICTIONS_DELIVERY_STREAM"
    ATHENA_WORKGROUP: Final = "RW_ATHENA_WORKGROUP"
    GLUE_DATABASE: Final = "RW_GLUE_DATABASE"
    #: Optional: seconds an asset record is trusted before it is read again (default 300).
    ASSETS_CACHE_TTL_S: Final = "RW_ASSETS_CACHE_TTL_S"
    #: Optional: seconds without new data before a device gets a NO_DATA alert (default 1800).
    SILENCE_AFTER_S: Final = "RW_SILENCE_AFTER_S"
    #: Optional: windows a device's baseline learns before it scores (rotorwatch.diagnosis.baseline).
    BASELINE_WINDOWS: Final = "RW_BASELINE_WINDOWS"
    #: Feedback (rotorwatch.alerting.feedback). score_and_alert sends answer links only when all of
    #: FEEDBACK_TABLE, FEEDBACK_SECRET_ARN, FEEDBACK_BASE_URL and LAKE_BUCKET are set.
    FEEDBACK_TABLE: Final = "RW_FEEDBACK_TABLE"
    #: Secrets Manager secret holding the link-signing key (hex; AWSCURRENT signs, AWSPREVIOUS
    #: still verifies after a rotation).
    FEEDBACK_SECRET_ARN: Final = "RW_FEEDBACK_SECRET_ARN"
    #: The HTTP API's base URL (https://.../); links are <base>/f/<token>.
    FEEDBACK_BASE_URL: Final = "RW_FEEDBACK_BASE_URL"
    #: Optional: seconds a link works (default rotorwatch.alerting.feedback_links.DEFAULT_LINK_TTL_S).
    FEEDBACK_LINK_TTL_S: Final = "RW_FEEDBACK_LINK_TTL_S"
    #: Optional: seconds "no fault found" mutes that fault on that device (default 7 days).
    FEEDBACK_MUTE_S: Final = "RW_FEEDBACK_MUTE_S"
    #: The lake bucket (feedback rows under rotorwatch.lake.layout.FEEDBACK_PREFIX).
    LAKE_BUCKET: Final = "RW_LAKE_BUCKET"


# Powertools conventions (one namespace for every custom metric the app emits).
METRICS_NAMESPACE: Final = "Rotorwatch"

# DynamoDB key attributes (the CDK tables and the handlers' reads/writes share them).
ASSETS_TABLE_PARTITION_KEY: Final = "device_id"
STATE_TABLE_PARTITION_KEY: Final = "device_id"
#: Feedback table: one string key; items are ``alert#<ref>`` (an alert, its answer and audit
#: history) and ``mute#<device>#<fault>`` (rotorwatch.alerting.feedback.Mute).
FEEDBACK_TABLE_PARTITION_KEY: Final = "pk"
#: Feedback items expire (DynamoDB TTL, epoch seconds) once no link can reach them.
FEEDBACK_TTL_ATTRIBUTE: Final = "expires_at"

#: Powertools service name for every function: it is the one dimension (service=rotorwatch)
#: of the custom metrics below, which is what the dashboard and alarms select on.
POWERTOOLS_SERVICE: Final = APP_NAME
#: Custom metric names (namespace METRICS_NAMESPACE).
QUARANTINED_RECORDS_METRIC: Final = "RecordsQuarantined"
#: The same count per reason code (dimensions service + QUARANTINE_REASON_DIMENSION).
QUARANTINED_BY_REASON_METRIC: Final = "RecordsQuarantinedByReason"
QUARANTINE_REASON_DIMENSION: Final = "reason"
ALERTS_SENT_METRIC: Final = "AlertsSent"
#: AlertsSent is also written per severity (dimensions service + severity) for the dashboard.
#: Watchdog: devices silent longer than the configured gap at its last run (a level, not a sum).
SILENT_DEVICES_METRIC: Final = "SilentDevices"
#: Alerts not sent because a "no fault found" answer muted that fault on that device.
ALERTS_MUTED_METRIC: Final = "AlertsMuted"
#: Feedback answers by decision (dimension "decision": accepted, corrected, duplicate, ...).
FEEDBACK_ANSWERS_METRIC: Final = "FeedbackAnswers"
#: Links refused (bad signature, expired, unknown alert): a rising count is someone guessing.
FEEDBACK_REFUSED_METRIC: Final = "FeedbackLinksRefused"

#: SNS message attribute on every alert, and its values. Subscriptions filter on it:
#: SMS gets ALARM and RECOVERY (= rotorwatch.alerting.alerts.PAGING_SEVERITIES: whoever was paged also
#: learns it is over; a test keeps the two equal). E-mail gets every state change, plus NO_DATA
#: and DATA_RESUMED (a device stopped / started reporting again, rotorwatch.alerting.silence: a
#: connectivity matter, not a page).
SEVERITY_ATTRIBUTE: Final = "severity"
ALERT_SEVERITIES: Final[tuple[str, ...]] = (
    "WARNING",
    "ALARM",
    "RECOVERY",
    "NO_DATA",
    "DATA_RESUMED",
)
SMS_SEVERITIES: Final[tuple[str, ...]] = ("ALARM", "RECOVERY")
EMAIL_SEVERITIES: Final[tuple[str, ...]] = ALERT_SEVERITIES
