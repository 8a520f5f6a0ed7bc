"""Lambda handler (API Gateway HTTP API, payload 2.0): a technician's answer to an alert.

Parsing and wiring only; the rules are rotorwatch.alerting.feedback, the persistence lambdas.feedback.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.feedback import FeedbackStore, KeyRing, LakeWriter
from lambdas.common.observability import observability
from lambdas.feedback.service import Deps, Recorder, Settings, handle
from rotorwatch.deployment.resources import (
    FEEDBACK_ANSWERS_METRIC,
    FEEDBACK_REFUSED_METRIC,
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
)

logger, tracer, metrics = observability("feedback")

SETTINGS = Settings.from_env(os.environ)
_DYNAMODB = client("dynamodb")
DEPS = Deps(
    settings=SETTINGS,
    recorder=Recorder(
        store=FeedbackStore(_DYNAMODB, SETTINGS.feedback_table),
        lake=LakeWriter(client("s3"), SETTINGS.lake_bucket),
        dynamodb=_DYNAMODB,
        state_table=SETTINGS.state_table,
        mute_ms=SETTINGS.mute_ms,
    ),
    keys=KeyRing(client("secretsmanager"), SETTINGS.secret_arn),
)

#: The page must not leak its URL (the token) to anything it links to, run no script, load
#: nothing, and not be framed or cached.
HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    http = event.get("requestContext", {}).get("http", {})
    token = (event.get("pathParameters") or {}).get("token", "")
    response = handle(
        DEPS,
        method=str(http.get("method", "GET")).upper(),
        token=token,
        query=event.get("queryStringParameters") or {},
        body=event.get("body"),
        base64_encoded=bool(event.get("isBase64Encoded")),
    )
    if response.refused is not None:
        # Never the token itself in logs: it is a capability until it expires.
        logger.warning("feedback link refused", extra={"reason": response.refused})
        metrics.add_metric(FEEDBACK_REFUSED_METRIC, MetricUnit.Count, 1)
    if response.decision is not None:
        logger.info("feedback answer", extra=response.audit or {})
        with single_metric(
            name=FEEDBACK_ANSWERS_METRIC,
            unit=MetricUnit.Count,
            value=1,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": POWERTOOLS_SERVICE},
        ) as metric:
            metric.add_dimension(name="decision", value=response.decision)
    return {"statusCode": response.status, "headers": HEADERS, "body": response.body}
