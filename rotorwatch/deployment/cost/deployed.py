"""What a stage deploys, as the cost model's inputs: so ``rotorwatch cost --stage`` prices the
batching, stream mode, memory, buffering, lake tiering and Glue schedule that the CDK app
deploys from the same :mod:`rotorwatch.deployment.stage` settings."""

from __future__ import annotations

from typing import Any

from rotorwatch.deployment.cost.estimate import estimate
from rotorwatch.deployment.cost.fleet import Architecture, Assumptions, Fleet
from rotorwatch.deployment.cost.prices import load_prices
from rotorwatch.deployment.cost.quotas import QuotaCheck, check
from rotorwatch.deployment.stage import StageConfig
from rotorwatch.lake import layout as lake

#: The deployed functions' architecture (cdk_app/constructs/function.py; a test checks) and the
#: DPUs one Glue G.1X worker bills (cdk_app/stacks/analytics.py deploys G.1X workers).
DEPLOYED_ARCHITECTURE: Architecture = "arm64"
DPU_PER_G1X_WORKER = 1.0


def deployed_settings(cfg: StageConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fleet fields and Assumptions fields a stage deploys (what the bill depends on), from a
    :class:`~rotorwatch.deployment.stage.StageConfig`: batch sizes and windows, stream mode, Lambda and
    endpoint memory, Firehose buffering, lake tiering, the Glue schedule and workers."""
    ef, sa = cfg.extract_features, cfg.score_and_alert
    fleet = {
        "batch_size": ef.batch_size,
        "batch_window_s": float(ef.window_s),
        "score_batch_size": sa.batch_size,
        "score_batch_window_s": float(sa.window_s),
        "kinesis_mode": cfg.telemetry_stream.mode,
        # The lake is versioned: an expired raw object stays as a noncurrent version for
        # RAW_NONCURRENT_EXPIRE_DAYS more (cdk_app/stacks/storage.py), billed until then.
        "raw_expire_days": None
        if cfg.lake.raw_expire_days is None
        else cfg.lake.raw_expire_days + lake.RAW_NONCURRENT_EXPIRE_DAYS,
        "raw_keep": cfg.lake.raw_keep_enabled,
        "raw_keep_minutes": cfg.lake.raw_keep_minutes,
        "raw_keep_per_hour": cfg.lake.raw_keep_per_hour,
    }
    assumptions = {
        "extract_memory_mb": cfg.function.memory_mb,
        "score_memory_mb": cfg.function.memory_mb,
        "lambda_architecture": DEPLOYED_ARCHITECTURE,
        "parallelization_factor": ef.parallelization,
        "sagemaker_memory_mb": cfg.endpoint.memory_mb,
        "firehose_buffer_mb": cfg.firehose.parquet_buffer_mib,
        "firehose_buffer_s": cfg.firehose.buffer_interval_s,
        "s3_ia_after_days": cfg.lake.raw_ia_after_days,
        "s3_glacier_after_days": cfg.lake.raw_glacier_after_days,
        "glue_runs_per_day": 24.0 / cfg.glue.schedule_hours,
        "glue_dpu": cfg.glue.workers * DPU_PER_G1X_WORKER,
        "raw_keep_dpu": cfg.lake.raw_keep_workers * DPU_PER_G1X_WORKER,
    }
    return fleet, assumptions


def stage_quota_checks(cfg: StageConfig, prices_region: str = "us-east-1") -> list[QuotaCheck]:
    """The stage's stated fleet (``fleet.devices`` / ``fleet.interval_s``) on what the stage
    deploys (its shards, batching, memory), against every documented quota in the stage's
    Region (the smallest values when it names none). Empty when the stage states no fleet."""
    if cfg.fleet_devices is None or cfg.fleet_interval_s is None:
        return []
    fleet_fields, assumption_fields = deployed_settings(cfg)
    shards: dict[str, Any] = {}
    if cfg.telemetry_stream.mode == "provisioned":
        shards = {
            "telemetry_shards": cfg.telemetry_stream.shards,
            "features_shards": cfg.features_stream.shards,
        }
    fleet = Fleet(
        devices=cfg.fleet_devices,
        interval_s=cfg.fleet_interval_s,
        windows_per_device_batch=max(1, int(cfg.score_and_alert.window_s // cfg.fleet_interval_s)),
        **fleet_fields,
        **shards,
    )
    report = estimate(fleet, load_prices(prices_region, None), Assumptions(**assumption_fields))
    return check(
        report,
        cfg.region,
        endpoint_max_concurrency=cfg.endpoint.max_concurrency,
        score_window_s=float(cfg.score_and_alert.window_s),
        deployed_shards=(cfg.telemetry_stream.shards, cfg.features_stream.shards)
        if shards
        else None,
    )
