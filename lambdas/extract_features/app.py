"""Lambda handler: Kinesis telemetry batch -> features stream. Parsing and wiring only.

Settings are validated and clients created at cold start, so a misconfigured function fails on
its first event with a message naming the variable, and warm invocations reuse connections and
the asset cache.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.batch import failed_tail, partial_response, source_records
from lambdas.common.observability import observability
from lambdas.extract_features.service import AssetCache, Deps, Settings, process
from rotorwatch.deployment.resources import (
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
    QUARANTINE_REASON_DIMENSION,
    QUARANTINED_BY_REASON_METRIC,
    QUARANTINED_RECORDS_METRIC,
)

logger, tracer, metrics = observability("extract_features")

SETTINGS = Settings.from_env(os.environ)
DEPS = Deps(
    settings=SETTINGS,
    s3=client("s3"),
    kinesis=client("kinesis"),
    firehose=client("firehose"),
    assets=AssetCache(client("dynamodb"), SETTINGS.assets_table, SETTINGS.assets_cache_ttl_s),
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = source_records(event)
    if records:
        # The batch's first event id (shard + sequence number) ties every log line to it.
        logger.set_correlation_id(records[0].event_id)
    lookup_failures = DEPS.assets.lookup_failures
    invalid_assets = DEPS.assets.invalid_records
    outcome = process(records, DEPS)

    metrics.add_metric("RecordsReceived", MetricUnit.Count, outcome.received)
    metrics.add_metric("FeaturesPut", MetricUnit.Count, outcome.features_put)
    metrics.add_metric("RawLinesPut", MetricUnit.Count, outcome.raw_put)
    metrics.add_metric("RawObjectBytes", MetricUnit.Bytes, outcome.raw_object_bytes)
    metrics.add_metric("DuplicateRecords", MetricUnit.Count, outcome.duplicates)
    metrics.add_metric(
        QUARANTINED_RECORDS_METRIC, MetricUnit.Count, sum(outcome.quarantined.values())
    )
    metrics.add_metric("PutRecordsRetried", MetricUnit.Count, outcome.put_retried)
    metrics.add_metric(
        "AssetLookupFailures", MetricUnit.Count, DEPS.assets.lookup_failures - lookup_failures
    )
    metrics.add_metric(
        "InvalidAssetRecords", MetricUnit.Count, DEPS.assets.invalid_records - invalid_assets
    )
    for phase, seconds in outcome.timings_s.items():
        metrics.add_metric(f"{phase.capitalize()}Time", MetricUnit.Milliseconds, seconds * 1000.0)
    for reason, count in outcome.quarantined.items():
        logger.warning("quarantined invalid telemetry", extra={"reason": reason, "count": count})
        # Per-reason series: a firmware bug shows up as one reason climbing; device_mismatch
        # (a device speaking for another) has an alarm of its own.
        with single_metric(
            name=QUARANTINED_BY_REASON_METRIC,
            unit=MetricUnit.Count,
            value=count,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"service": POWERTOOLS_SERVICE},
        ) as metric:
            metric.add_dimension(name=QUARANTINE_REASON_DIMENSION, value=reason)
    tail = failed_tail(records, outcome.failed_positions)
    metrics.add_metric("RecordsRetried", MetricUnit.Count, len(tail))
    if tail:
        logger.warning(
            "batch incomplete; Lambda retries from the earliest failed record",
            extra={"earliest": tail[0], "retried": len(tail)},
        )
    return partial_response(event, tail, context)
