"""The one place that creates Powertools Logger, Tracer and Metrics for a function."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

from rotorwatch.deployment.resources import METRICS_NAMESPACE, POWERTOOLS_SERVICE


def observability(service: str) -> tuple[Logger, Tracer, Metrics]:
    """Logger (JSON, correlation id) and Tracer (X-Ray) for ``service``; Metrics (EMF).

    Metrics carry the one dimension service=POWERTOOLS_SERVICE for every function: that is
    what the operations stack's dashboard and alarms select on (a per-function service
    dimension would leave them watching a series nobody writes).
    """
    return (
        Logger(service=service),
        Tracer(service=service),
        Metrics(namespace=METRICS_NAMESPACE, service=POWERTOOLS_SERVICE),
    )
