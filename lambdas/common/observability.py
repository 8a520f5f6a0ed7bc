"""The one place that creates Powertools Logger, Tracer and Metrics for a function."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

from rotorwatch.resources import METRICS_NAMESPACE


def observability(service: str) -> tuple[Logger, Tracer, Metrics]:
    """Logger (JSON, correlation id), Tracer (X-Ray) and Metrics (EMF) for ``service``."""
    return (
        Logger(service=service),
        Tracer(service=service),
        Metrics(namespace=METRICS_NAMESPACE, service=service),
    )
