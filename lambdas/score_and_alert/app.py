"""Lambda handler: Kinesis features batch -> predictions Firehose, device state, SNS alerts.

Parsing and wiring only; settings validated and clients created at cold start.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.batch import failed_tail, partial_response, source_records
from lambdas.common.feedback import links_from_env
from lambdas.common.observability import observability
from lambdas.score_and_alert.publisher import AlertPublisher
from lambdas.score_and_alert.service import Deps, Settings, process
from lambdas.score_and_alert.store import StateStore
from rotorwatch.deployment.resources import (
    ALERTS_MUTED_METRIC,
    ALERTS_SENT_METRIC,
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
    SEVERITY_ATTRIBUTE,
)

logger, tracer, metrics = observability("score_and_alert")

SETTINGS = Settings.from_env(os.environ)
DEPS = Deps(
    settings=SETTINGS,
    # A serverless endpoint can take seconds to wake: a longer read timeout, few attempts; if it
    # is still not there, the rules take over rather than holding the shard.
    sagemaker=client("sagemaker-runtime", max_attempts=3, read_timeout_s=10.0),
    firehose=client("firehose"),
    store=StateStore(client("dynamodb"), SETTINGS.state_table),
    publisher=AlertPublisher(
        client("sns"),
        SETTINGS.alerts_topic_arn,
        SETTINGS.athena,
        links=links_from_env(os.environ),
    ),
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = source_records(event)
    if records:
        logger.set_correlation_id(records[0].event_id)
    outcome = process(records, DEPS)

    metrics.add_metric("FeatureRecordsReceived", MetricUnit.Count, outcome.received)
    metrics.add_metric("InvalidFeatureRecords", MetricUnit.Count, outcome.invalid)
    metrics.add_metric("Predictions", MetricUnit.Count, outcome.scored)
    metrics.add_metric("PredictionsPut", MetricUnit.Count, outcome.predictions_put)
    metrics.add_metric(
        "DegradedPredictions", MetricUnit.Count, outcome.scored if outcome.degraded else 0
    )
    metrics.add_metric("LateWindows", MetricUnit.Count, outcome.late_windows)
    # Windows stamped far in the future (device clock): in the lake, kept out of the state.
    metrics.add_metric("FutureWindows", MetricUnit.Count, outcome.future_windows)
    metrics.add_metric("StateConflicts", MetricUnit.Count, outcome.state_conflicts)
    # Dead, saturated or clipped accelerometers (rotorwatch.diagnosis.features.sensor_health).
    metrics.add_metric("SensorProblemWindows", MetricUnit.Count, outcome.sensor_problems)
    # Per-device baselines (rotorwatch.diagnosis.baseline): learning progress and what they changed.
    metrics.add_metric("BaselineWindowsLearned", MetricUnit.Count, outcome.baseline_learned)
    metrics.add_metric("BaselinesCompleted", MetricUnit.Count, outcome.baselines_completed)
    metrics.add_metric("BaselineWarnings", MetricUnit.Count, outcome.baseline_warnings)
    metrics.add_metric(ALERTS_SENT_METRIC, MetricUnit.Count, len(outcome.alerts))
    metrics.add_metric(ALERTS_MUTED_METRIC, MetricUnit.Count, len(outcome.muted))
    # Per severity too: the dashboard's "Alerts sent by severity" searches this series.
    for severity, count in sorted(Counter(a.severity for a in outcome.alerts).items()):
        with single_metric(
            name=ALERTS_SENT_METRIC,
            unit=MetricUnit.Count,
            value=count,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": POWERTOOLS_SERVICE},
        ) as metric:
            metric.add_dimension(name=SEVERITY_ATTRIBUTE, value=severity)
    for phase, seconds in outcome.timings_s.items():
        metrics.add_metric(f"{phase.capitalize()}Time", MetricUnit.Milliseconds, seconds * 1000.0)
    if outcome.invalid:
        logger.error(
            "feature records that are not valid JSON objects were skipped",
            extra={"count": outcome.invalid},
        )
    if outcome.degraded and outcome.degraded_reason != "no_endpoint":
        logger.warning(
            "model unavailable; rules scored the batch", extra={"reason": outcome.degraded_reason}
        )
    for alert in outcome.alerts:
        logger.info("alert sent", extra={"alert_id": alert.alert_id, "severity": alert.severity})
    tail = failed_tail(records, outcome.failed_positions)
    metrics.add_metric("RecordsRetried", MetricUnit.Count, len(tail))
    if tail:
        logger.warning(
            "batch incomplete; Lambda retries from the earliest failed record",
            extra={"earliest": tail[0], "retried": len(tail)},
        )
    return partial_response(event, tail, context)
