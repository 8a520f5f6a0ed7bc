"""The cost levers: the same fleet priced with and without each design choice (:func:`comparisons`),
so ``rotorwatch cost`` and docs/cost.md can say what each one saves."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rotorwatch.deployment.cost.estimate import estimate
from rotorwatch.deployment.cost.fleet import Assumptions, Fleet
from rotorwatch.deployment.cost.prices import PriceTable


@dataclass(frozen=True, slots=True)
class Comparison:
    """The same fleet priced two ways: ``saving_usd`` = baseline − alternative (monthly)."""

    title: str
    baseline: str
    alternative: str
    baseline_usd: float
    alternative_usd: float

    @property
    def saving_usd(self) -> float:
        return self.baseline_usd - self.alternative_usd


def comparisons(
    fleet: Fleet, prices: PriceTable, assumptions: Assumptions | None = None
) -> list[Comparison]:
    """Each lever against its baseline, the rest of the fleet unchanged: Basic Ingest vs broker
    messaging; one SageMaker call per batch vs per record; aggregated Firehose predictions; state
    writes per device per batch; raw waveform expiry; Kinesis modes."""

    def total(variant: Fleet) -> float:
        return estimate(variant, prices, assumptions).total_usd

    return [
        Comparison(
            "IoT ingest",
            "broker messaging",
            "Basic Ingest",
            total(replace(fleet, basic_ingest=False)),
            total(replace(fleet, basic_ingest=True)),
        ),
        Comparison(
            "SageMaker calls",
            "one call per record",
            "one call per batch",
            total(replace(fleet, sagemaker_per_batch=False)),
            total(replace(fleet, sagemaker_per_batch=True)),
        ),
        Comparison(
            "Firehose predictions",
            "one record per window",
            "newline-delimited records per batch",
            total(replace(fleet, aggregate_predictions=False)),
            total(replace(fleet, aggregate_predictions=True)),
        ),
        Comparison(
            "State writes",
            "one window per device per batch",
            f"{fleet.windows_per_device_batch} windows per device per batch",
            total(replace(fleet, windows_per_device_batch=1)),
            total(fleet),
        ),
        Comparison(
            "Raw waveforms",
            f"kept {fleet.retention_days} days",
            f"kept {fleet.raw_expire_days or fleet.retention_days} days"
            + (
                f", then {fleet.raw_keep_per_hour}/device-hour + "
                f"±{fleet.raw_keep_minutes} min of state changes"
                if fleet.raw_keep
                else ""
            ),
            total(replace(fleet, raw_expire_days=None, raw_keep=False)),
            total(fleet),
        ),
        Comparison(
            "Kinesis capacity",
            "on-demand",
            "provisioned (shards sized by the model)",
            total(replace(fleet, kinesis_mode="on-demand")),
            total(replace(fleet, kinesis_mode="provisioned")),
        ),
        # The raw path (issue 25): Firehose Direct PUT is over its quota at the stated fleet
        # (rotorwatch.deployment.cost.quotas); a Kinesis source bills each window in 5 KB steps.
        Comparison(
            "Raw path",
            "Firehose Direct PUT, aggregated lines",
            "one gzip'd S3 object per batch",
            total(replace(fleet, raw_path="direct_put")),
            total(replace(fleet, raw_path="s3_object")),
        ),
        Comparison(
            "Raw path",
            "Kinesis-sourced Firehose",
            "one gzip'd S3 object per batch",
            total(replace(fleet, raw_path="kinesis_source")),
            total(replace(fleet, raw_path="s3_object")),
        ),
        Comparison(
            "Features path",
            "Firehose Direct PUT, aggregated lines",
            "Kinesis-sourced Firehose",
            total(replace(fleet, features_path="direct_put")),
            total(replace(fleet, features_path="kinesis_source")),
        ),
    ]
