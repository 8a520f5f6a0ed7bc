"""Lambda handler (EventBridge schedule): NO_DATA alerts for devices that stopped reporting.

Parsing and wiring only; the decision is rotorwatch.alerting.silence, the persistence lambdas.watchdog.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import observability
from lambdas.watchdog.service import Deps, Settings, SilenceStore, run
from rotorwatch.deployment.resources import (
    ALERTS_SENT_METRIC,
    METRICS_NAMESPACE,
    SILENT_DEVICES_METRIC,
)

logger, tracer, metrics = observability("watchdog")

SETTINGS = Settings.from_env(os.environ)
DEPS = Deps(
    settings=SETTINGS,
    store=SilenceStore(client("dynamodb"), SETTINGS.state_table),
    sns=client("sns"),
)


class PublishFailed(RuntimeError):
    """Some notices could not be published; their claims were released for the next run."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = run(DEPS)
    metrics.add_metric("DevicesWatched", MetricUnit.Count, outcome.devices)
    metrics.add_metric(SILENT_DEVICES_METRIC, MetricUnit.Count, outcome.silent)
    metrics.add_metric("WatchdogLostRaces", MetricUnit.Count, outcome.lost_races)
    metrics.add_metric(ALERTS_SENT_METRIC, MetricUnit.Count, len(outcome.sent))
    by_severity: dict[str, int] = {}
    for n in outcome.sent:
        by_severity[n.severity] = by_severity.get(n.severity, 0) + 1
        logger.info(
            "silence notice sent",
            extra={"alert_id": n.notice_id, "severity": n.severity, "gap_ms": n.gap_ms},
        )
    for severity, count in by_severity.items():
        with single_metric(
            name=ALERTS_SENT_METRIC, unit=MetricUnit.Count, value=count, namespace=METRICS_NAMESPACE
        ) as metric:
            metric.add_dimension(name="severity", value=severity)
    summary = {
        "devices": outcome.devices,
        "silent": outcome.silent,
        "sent": len(outcome.sent),
        "lost_races": outcome.lost_races,
        "failed": len(outcome.failed),
    }
    if outcome.failed:
        # Fails the invocation (Errors metric, async retry); the claims were released.
        logger.error("silence notices not published", extra={"devices": outcome.failed[:20]})
        raise PublishFailed(f"{len(outcome.failed)} silence notices not published; retried")
    return summary
