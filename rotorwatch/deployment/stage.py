"""The stage settings: what one deployment (a stage) of rotorwatch is configured to do.

Batch sizes and windows, stream modes and shards, buffering, schedules, retention, memory,
alarm thresholds. One home, pure: the CDK app deploys these settings, the cost model prices
them (``rotorwatch cost --stage``) and the local demo batches as they say, so what is priced
and demonstrated is what is deployed, without the core importing the CDK app.

cdk.json holds ``"stage"`` (the default stage) and ``"rotorwatch:stages"``: a mapping from stage
name to overrides of :data:`DEFAULTS`. Select a stage with ``-c stage=prod``. Account and region
come from ``-c account=... -c region=...`` or the CLI's CDK_DEFAULT_ACCOUNT/REGION; when neither
is set the stacks are environment-agnostic. Nothing here ever calls AWS.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from rotorwatch.alerting.feedback import (
    FEEDBACK_RESERVED_CONCURRENCY,
    KEY_ROTATION_RESERVED_CONCURRENCY,
)
from rotorwatch.diagnosis.baseline import DEFAULT_LEARNING_WINDOWS
from rotorwatch.lake import layout as lake
from rotorwatch.lake import raw_keep

STAGES_KEY: Final = "rotorwatch:stages"
STAGE_KEY: Final = "stage"

#: Every setting with its default; a stage in cdk.json overrides any subset of it.
DEFAULTS: Final[dict[str, Any]] = {
    "alert_emails": [],
    "alert_phone_numbers": [],
    "ops_emails": [],
    "streams": {
        "telemetry": {"mode": "on-demand", "shards": 1, "retention_hours": 24},
        "features": {"mode": "on-demand", "shards": 1, "retention_hours": 24},
    },
    "firehose": {"buffer_interval_s": 300, "raw_buffer_mib": 64, "parquet_buffer_mib": 128},
    "lake": {
        "raw_ia_after_days": lake.RAW_IA_AFTER_DAYS,
        "raw_glacier_after_days": lake.RAW_GLACIER_AFTER_DAYS,
        "noncurrent_expire_days": 30,
        # Days raw waveforms are kept before the lifecycle deletes them (null: never). After
        # it an analyst can no longer replay a window; its features and prediction stay.
        "raw_expire_days": lake.RAW_EXPIRE_DAYS,
        # Before raw expires, a daily Glue job copies the windows near a predicted state change
        # (within raw_keep_minutes) and the first raw_keep_per_hour windows of each device-hour
        # to raw_kept/, which does not expire (rotorwatch/lake/raw_keep.py, docs/cost.md).
        "raw_keep_enabled": False,
        "raw_keep_minutes": raw_keep.DEFAULT_KEEP_MINUTES,
        "raw_keep_per_hour": raw_keep.DEFAULT_SAMPLES_PER_HOUR,
        # G.1X workers of the sampling job: it reads a whole day of raw (about 1 TB at 10,000
        # devices every 10 s); size it so a run ends well inside its 4 h timeout (docs/cost.md).
        "raw_keep_workers": 2,
    },
    "lambda": {"memory_mb": 1769, "timeout_s": 60, "log_retention_days": 30},
    # reserved_concurrency (functions): null = none. A reservation caps a runaway function and
    # guarantees it capacity, but Lambda keeps 100 of the account's concurrency unreserved, so
    # the account quota must be >= the stage's reservations + 100 (new accounts start at 10:
    # the deploy fails). The prod example reserves; dev does not.
    "extract_features": {
        "batch_size": 500,
        "window_s": 5,
        "retry_attempts": 3,
        "max_record_age_s": 3600,
        "parallelization": 1,
        "reserved_concurrency": None,
    },
    "score_and_alert": {
        "batch_size": 500,
        "window_s": 5,
        "retry_attempts": 3,
        "max_record_age_s": 3600,
        "parallelization": 1,
        "reserved_concurrency": None,
    },
    "endpoint": {"memory_mb": 2048, "max_concurrency": 5},
    "glue": {"schedule_hours": 6, "workers": 2},
    # Device-silent alert: NO_DATA after silence_after_s without new data, checked every
    # rate_minutes (so an alert comes between silence_after_s and silence_after_s + rate).
    "watchdog": {"silence_after_s": 1800, "rate_minutes": 5, "reserved_concurrency": None},
    # Per-device baseline (docs/baseline.md): healthy windows a device learns before its
    # anomaly score is measured against its own history (144 = a day at one window per 10 min).
    "baseline": {"learning_windows": DEFAULT_LEARNING_WINDOWS},
    "athena": {"bytes_scanned_cutoff_mib": 10240},
    # The fleet the stage is sized for (null: none stated). `rotorwatch synth` checks it against
    # the documented service quotas (rotorwatch.deployment.cost.quotas) and warns for each that binds.
    "fleet": {"devices": None, "interval_s": None},
    "alarms": {
        "iterator_age_ms": 60000,
        "lambda_errors": 1,
        "quarantined_records": 100,
        "firehose_freshness_s": 900,
        "endpoint_errors": 5,
        "iot_rule_errors": 1,
        # Month-to-date SMS spend (USD) that alarms: set it below the account's SNS SMS spend
        # limit (USD 1.00 in a new account), since texts beyond the limit are not sent.
        "sms_spend_usd": 0.8,
    },
    "tags": {},
}

#: Day counts CloudWatch Logs accepts as a retention.
LOG_RETENTION_DAYS: Final = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1827,
    3653,
)

#: Concurrency Lambda keeps unreserved in every account (a reservation that would leave less fails).
LAMBDA_UNRESERVED_MIN: Final = 100

_EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164, what SNS SMS requires
_STAGE_RE: Final = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


class ConfigError(ValueError):
    """The cdk.json context does not describe a valid stage."""


@dataclass(frozen=True, slots=True)
class StreamConfig:
    mode: Literal["on-demand", "provisioned"]
    shards: int
    retention_hours: int


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """Kinesis event source mapping settings for one function."""

    batch_size: int
    window_s: int
    retry_attempts: int
    max_record_age_s: int
    parallelization: int
    reserved_concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class FirehoseConfig:
    buffer_interval_s: int
    raw_buffer_mib: int
    parquet_buffer_mib: int


@dataclass(frozen=True, slots=True)
class LakeConfig:
    raw_ia_after_days: int
    raw_glacier_after_days: int
    noncurrent_expire_days: int
    raw_expire_days: int | None = None
    raw_keep_enabled: bool = False
    raw_keep_minutes: int = raw_keep.DEFAULT_KEEP_MINUTES
    raw_keep_per_hour: int = raw_keep.DEFAULT_SAMPLES_PER_HOUR
    raw_keep_workers: int = 2

    @property
    def keep_rule(self) -> raw_keep.KeepRule:
        return raw_keep.KeepRule(self.raw_keep_minutes, self.raw_keep_per_hour)


@dataclass(frozen=True, slots=True)
class LambdaConfig:
    memory_mb: int
    timeout_s: int
    log_retention_days: int


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    memory_mb: int
    max_concurrency: int


@dataclass(frozen=True, slots=True)
class GlueConfig:
    schedule_hours: int
    workers: int


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    silence_after_s: int
    rate_minutes: int
    reserved_concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    iterator_age_ms: int
    lambda_errors: int
    quarantined_records: int
    firehose_freshness_s: int
    endpoint_errors: int
    iot_rule_errors: int
    sms_spend_usd: float


@dataclass(frozen=True, slots=True)
class StageConfig:
    stage: str
    account: str | None
    region: str | None
    alert_emails: tuple[str, ...]
    alert_phone_numbers: tuple[str, ...]
    ops_emails: tuple[str, ...]
    telemetry_stream: StreamConfig
    features_stream: StreamConfig
    firehose: FirehoseConfig
    lake: LakeConfig
    function: LambdaConfig
    extract_features: BatchConfig
    score_and_alert: BatchConfig
    endpoint: EndpointConfig
    glue: GlueConfig
    watchdog: WatchdogConfig
    baseline_learning_windows: int
    athena_bytes_scanned_cutoff_mib: int
    alarms: AlarmConfig
    tags: Mapping[str, str]
    #: The fleet the stage is sized for: devices and seconds between a device's windows.
    fleet_devices: int | None = None
    fleet_interval_s: float | None = None

    @property
    def stack_prefix(self) -> str:
        """``Rotorwatch-<stage>``: stacks of two stages can live in one account."""
        return f"Rotorwatch-{self.stage}"

    @property
    def reserved_concurrency(self) -> int:
        """Lambda concurrency the stage's functions reserve (0: none)."""
        return sum(
            r or 0
            for r in (
                self.extract_features.reserved_concurrency,
                self.score_and_alert.reserved_concurrency,
                self.watchdog.reserved_concurrency,
                *self.feedback_reserved_concurrency,
            )
        )

    @property
    def feedback_reserved_concurrency(self) -> tuple[int | None, int | None]:
        """(feedback function, its key rotation): reserved only where the stage reserves for its
        other functions (dev deploys into new accounts whose quota of 10 allows none)."""
        reserves = any(
            r is not None
            for r in (
                self.extract_features.reserved_concurrency,
                self.score_and_alert.reserved_concurrency,
                self.watchdog.reserved_concurrency,
            )
        )
        if not reserves:
            return None, None
        return FEEDBACK_RESERVED_CONCURRENCY, KEY_ROTATION_RESERVED_CONCURRENCY

    @property
    def account_concurrency_needed(self) -> int:
        """The smallest Lambda concurrency quota the account must have for the deploy to succeed:
        Lambda refuses a reservation that leaves fewer than 100 unreserved."""
        return self.reserved_concurrency + LAMBDA_UNRESERVED_MIN if self.reserved_concurrency else 0


def _merge(base: dict[str, Any], over: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        where = f"{path}{key}"
        if key not in base:
            raise ConfigError(f"unknown setting {where!r} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict) and base[key] and key != "tags":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where} must be an object")
            out[key] = _merge(base[key], value, f"{where}.")
        else:
            out[key] = value
    return out


def _int(raw: Mapping[str, Any], key: str, where: str, lo: int, hi: int) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{where}.{key} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _optional_int(raw: Mapping[str, Any], key: str, where: str, lo: int, hi: int) -> int | None:
    return None if raw[key] is None else _int(raw, key, where, lo, hi)


def _bool(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def _float(raw: Mapping[str, Any], key: str, where: str, lo: float, hi: float) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value <= hi:
        raise ConfigError(f"{where}.{key} must be a number in ({lo:g}, {hi:g}], got {value!r}")
    return float(value)


#: Shards a new on-demand stream starts with (4 MiB/s of write capacity).
ON_DEMAND_INITIAL_SHARDS: Final = 4


def _reservation_fits(batch: BatchConfig, stream: StreamConfig, where: str) -> None:
    """A reservation below the stream's shards x parallelization throttles from the start."""
    if batch.reserved_concurrency is None:
        return
    shards = stream.shards if stream.mode == "provisioned" else ON_DEMAND_INITIAL_SHARDS
    needed = shards * batch.parallelization
    if batch.reserved_concurrency < needed:
        raise ConfigError(
            f"{where}.reserved_concurrency {batch.reserved_concurrency} is below the "
            f"{needed} concurrent batches its stream needs ({shards} shards x parallelization "
            f"{batch.parallelization})"
        )


def _raw_keep_fits(cfg: LakeConfig) -> None:
    """Sampling needs raw to expire (else there is nothing to save) and to live long enough
    for the daily job to read a finished day (rotorwatch.lake.raw_keep.MIN_RAW_EXPIRE_DAYS)."""
    if not cfg.raw_keep_enabled:
        return
    if cfg.raw_expire_days is None:
        raise ConfigError(
            "lake.raw_keep_enabled needs lake.raw_expire_days: raw that never expires "
            "needs no sampled copy"
        )
    if cfg.raw_expire_days < raw_keep.MIN_RAW_EXPIRE_DAYS:
        raise ConfigError(
            f"lake.raw_expire_days ({cfg.raw_expire_days}) must be >= "
            f"{raw_keep.MIN_RAW_EXPIRE_DAYS} with lake.raw_keep_enabled: the job samples day D "
            f"on D+{raw_keep.SAMPLE_DELAY_DAYS} (late arrivals) and keeps "
            f"{raw_keep.RERUN_MARGIN_DAYS} days to rerun a failed run before raw expires"
        )


def _log_days(value: Any) -> int:
    if value not in LOG_RETENTION_DAYS or isinstance(value, bool):
        raise ConfigError(f"lambda.log_retention_days must be one of {LOG_RETENTION_DAYS}")
    return int(value)


def _stream(raw: Mapping[str, Any], where: str) -> StreamConfig:
    mode = raw["mode"]
    if mode not in ("on-demand", "provisioned"):
        raise ConfigError(f"{where}.mode must be 'on-demand' or 'provisioned', got {mode!r}")
    # Kinesis accepts 24 h to 365 days of retention.
    return StreamConfig(
        mode=mode,
        shards=_int(raw, "shards", where, 1, 500),
        retention_hours=_int(raw, "retention_hours", where, 24, 8760),
    )


def _batch(raw: Mapping[str, Any], where: str) -> BatchConfig:
    # Limits are the Lambda Kinesis event source mapping's own.
    return BatchConfig(
        batch_size=_int(raw, "batch_size", where, 1, 10000),
        window_s=_int(raw, "window_s", where, 0, 300),
        retry_attempts=_int(raw, "retry_attempts", where, 0, 10000),
        max_record_age_s=_int(raw, "max_record_age_s", where, 60, 604800),
        parallelization=_int(raw, "parallelization", where, 1, 10),
        reserved_concurrency=_optional_int(raw, "reserved_concurrency", where, 1, 10000),
    )


def _strings(raw: Any, where: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ConfigError(f"{where} must be a list of strings")
    for s in raw:
        if not pattern.match(s):
            raise ConfigError(f"{where}: {s!r} is not {what}")
    return tuple(raw)


def parse_stage(
    stage: str,
    raw_stage: Mapping[str, Any],
    *,
    account: str | None = None,
    region: str | None = None,
) -> StageConfig:
    """Validate one stage's overrides on top of :data:`DEFAULTS`."""
    if not _STAGE_RE.match(stage):
        raise ConfigError(f"stage {stage!r} must match {_STAGE_RE.pattern}")
    raw = _merge(DEFAULTS, raw_stage)
    fh, lake, fn = raw["firehose"], raw["lake"], raw["lambda"]
    firehose = FirehoseConfig(
        buffer_interval_s=_int(fh, "buffer_interval_s", "firehose", 60, 900),
        raw_buffer_mib=_int(fh, "raw_buffer_mib", "firehose", 1, 128),
        # Firehose refuses Parquet conversion with a buffer below 64 MiB.
        parquet_buffer_mib=_int(fh, "parquet_buffer_mib", "firehose", 64, 128),
    )
    lake_cfg = LakeConfig(
        raw_ia_after_days=_int(lake, "raw_ia_after_days", "lake", 30, 3650),
        raw_glacier_after_days=_int(lake, "raw_glacier_after_days", "lake", 31, 3650),
        noncurrent_expire_days=_int(lake, "noncurrent_expire_days", "lake", 1, 3650),
        raw_expire_days=_optional_int(lake, "raw_expire_days", "lake", 1, 3650),
        raw_keep_enabled=_bool(lake, "raw_keep_enabled", "lake"),
        raw_keep_minutes=_int(lake, "raw_keep_minutes", "lake", 0, raw_keep.KEEP_MINUTES_MAX),
        raw_keep_per_hour=_int(lake, "raw_keep_per_hour", "lake", 1, raw_keep.SAMPLES_PER_HOUR_MAX),
        raw_keep_workers=_int(lake, "raw_keep_workers", "lake", 2, 299),
    )
    _raw_keep_fits(lake_cfg)
    # S3 requires objects to stay 30 days in Standard-IA before moving on to Glacier.
    if lake_cfg.raw_glacier_after_days < lake_cfg.raw_ia_after_days + 30:
        raise ConfigError("lake.raw_glacier_after_days must be >= raw_ia_after_days + 30")
    tags = raw["tags"]
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise ConfigError("tags must map strings to strings")
    ep, glue, alarms = raw["endpoint"], raw["glue"], raw["alarms"]
    if ep["memory_mb"] not in (1024, 2048, 3072, 4096, 5120, 6144):
        raise ConfigError("endpoint.memory_mb must be one of 1024..6144 in 1024 MB steps")
    telemetry_stream = _stream(raw["streams"]["telemetry"], "streams.telemetry")
    features_stream = _stream(raw["streams"]["features"], "streams.features")
    extract_features = _batch(raw["extract_features"], "extract_features")
    score_and_alert = _batch(raw["score_and_alert"], "score_and_alert")
    _reservation_fits(extract_features, telemetry_stream, "extract_features")
    _reservation_fits(score_and_alert, features_stream, "score_and_alert")
    return StageConfig(
        stage=stage,
        account=account,
        region=region,
        alert_emails=_strings(raw["alert_emails"], "alert_emails", _EMAIL_RE, "an e-mail address"),
        alert_phone_numbers=_strings(
            raw["alert_phone_numbers"], "alert_phone_numbers", _PHONE_RE, "an E.164 number"
        ),
        ops_emails=_strings(raw["ops_emails"], "ops_emails", _EMAIL_RE, "an e-mail address"),
        telemetry_stream=telemetry_stream,
        features_stream=features_stream,
        firehose=firehose,
        lake=lake_cfg,
        function=LambdaConfig(
            memory_mb=_int(fn, "memory_mb", "lambda", 128, 10240),
            timeout_s=_int(fn, "timeout_s", "lambda", 3, 900),
            log_retention_days=_log_days(fn["log_retention_days"]),
        ),
        extract_features=extract_features,
        score_and_alert=score_and_alert,
        endpoint=EndpointConfig(
            memory_mb=ep["memory_mb"],
            max_concurrency=_int(ep, "max_concurrency", "endpoint", 1, 200),
        ),
        glue=GlueConfig(
            schedule_hours=_int(glue, "schedule_hours", "glue", 1, 24),
            workers=_int(glue, "workers", "glue", 2, 100),
        ),
        watchdog=WatchdogConfig(
            silence_after_s=_int(raw["watchdog"], "silence_after_s", "watchdog", 60, 7 * 86400),
            rate_minutes=_int(raw["watchdog"], "rate_minutes", "watchdog", 1, 1440),
            reserved_concurrency=_optional_int(
                raw["watchdog"], "reserved_concurrency", "watchdog", 1, 10000
            ),
        ),
        # At least one window; at most about a year of windows every 10 minutes.
        baseline_learning_windows=_int(raw["baseline"], "learning_windows", "baseline", 1, 52_560),
        athena_bytes_scanned_cutoff_mib=_int(
            raw["athena"], "bytes_scanned_cutoff_mib", "athena", 10, 10_000_000
        ),
        alarms=AlarmConfig(
            iterator_age_ms=_int(alarms, "iterator_age_ms", "alarms", 1000, 604_800_000),
            lambda_errors=_int(alarms, "lambda_errors", "alarms", 1, 1_000_000),
            quarantined_records=_int(alarms, "quarantined_records", "alarms", 1, 1_000_000_000),
            firehose_freshness_s=_int(alarms, "firehose_freshness_s", "alarms", 60, 86400),
            endpoint_errors=_int(alarms, "endpoint_errors", "alarms", 1, 1_000_000),
            iot_rule_errors=_int(alarms, "iot_rule_errors", "alarms", 1, 1_000_000),
            sms_spend_usd=_float(alarms, "sms_spend_usd", "alarms", 0.0, 1_000_000.0),
        ),
        tags=dict(tags),
        fleet_devices=_optional_int(raw["fleet"], "devices", "fleet", 1, 10_000_000),
        fleet_interval_s=None
        if raw["fleet"]["interval_s"] is None
        else _float(raw["fleet"], "interval_s", "fleet", 0.0, 86_400.0),
    )


def from_context(context: Mapping[str, Any], env: Mapping[str, str] | None = None) -> StageConfig:
    """Build the selected stage's config from CDK context (and, for account/region, ``env``).

    ``env`` is the process environment the CDK CLI fills with CDK_DEFAULT_ACCOUNT/REGION; it is
    passed in (not read here) so tests stay deterministic.
    """
    env = env or {}
    stage = context.get(STAGE_KEY)
    if not isinstance(stage, str):
        raise ConfigError("context 'stage' is missing: set it in cdk.json or pass -c stage=NAME")
    stages = context.get(STAGES_KEY, {})
    if isinstance(stages, str):  # `-c` values arrive as strings
        raise ConfigError(f"context {STAGES_KEY!r} must be an object")
    if stage not in stages:
        raise ConfigError(
            f"stage {stage!r} is not defined in {STAGES_KEY} (have: {sorted(stages)})"
        )
    account = context.get("account") or env.get("CDK_DEFAULT_ACCOUNT") or None
    region = context.get("region") or env.get("CDK_DEFAULT_REGION") or None
    return parse_stage(stage, stages[stage], account=account, region=region)


def shard_steps(current: int, target: int) -> list[int]:
    """Shard counts to deploy one after another to go from ``current`` to ``target``.

    Kinesis UpdateShardCount (what CloudFormation calls for a ShardCount change) scales a
    stream to at most double, or at least half, its shards per call ("You can't scale more than
    double your current shard count" / "below half your current shard count", UpdateShardCount
    API reference). Each step is one deploy.
    """
    if current < 1 or target < 1:
        raise ValueError("shard counts must be >= 1")
    steps: list[int] = []
    n = current
    while n != target:
        n = min(target, n * 2) if target > n else max(target, -(-n // 2))
        steps.append(n)
    return steps
