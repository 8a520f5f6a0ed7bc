"""What the fleet sends, what the model assumes, and the capacity arithmetic it implies.

:class:`Fleet` holds the fleet and the deployment choices that change the bill; everything the
price pages cannot tell is an explicit field of :class:`Assumptions`. The functions below size
messages, Kinesis shards and Lambda batches from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from rotorwatch.contract.iot_rule import CONTRACTS
from rotorwatch.contract.telemetry import ENCODINGS, N_SAMPLES_MAX, N_SAMPLES_MIN, Encoding
from rotorwatch.contract.telemetry_v2 import SAMPLE_ENCODING as V2_SAMPLE_ENCODING
from rotorwatch.deployment.cost.prices import CostModelError, PriceTable
from rotorwatch.lake import layout as lake
from rotorwatch.lake.raw_keep import DEFAULT_KEEP_MINUTES, DEFAULT_SAMPLES_PER_HOUR

HOURS_PER_MONTH: Final = 730.0
SECONDS_PER_MONTH: Final = HOURS_PER_MONTH * 3600.0
MINUTES_PER_MONTH: Final = HOURS_PER_MONTH * 60.0
DAYS_PER_MONTH: Final = HOURS_PER_MONTH / 24.0
GB: Final = 1024**3
TB: Final = 1024**4
_BYTES_PER_SAMPLE: Final = {"int16le+base64": 2, "float32le+base64": 4}
#: Kinesis streams the app deploys. Their consumers follow the lake paths
#: (:func:`stream_consumers`): telemetry is read by extract_features (and by a raw delivery
#: stream if raw were Kinesis-sourced), features by score_and_alert and the features delivery.
KINESIS_STREAMS: Final = 2

#: How the raw lake is written. s3_object (deployed): extract_features puts one gzip'd object
#: per batch. direct_put: newline-delimited Firehose records per batch (0.2.0-dev, above the
#: Direct PUT quota at the stated fleet). kinesis_source: a delivery stream reading the
#: telemetry stream (0.1.0; every ~11 KB window billed as 15 KB).
RawPath = Literal["s3_object", "direct_put", "kinesis_source"]
#: How the features lake is written: kinesis_source (deployed, as 0.1.0) or direct_put.
FeaturesPath = Literal["kinesis_source", "direct_put"]
RAW_PATHS: Final[tuple[str, ...]] = ("s3_object", "direct_put", "kinesis_source")
FEATURES_PATHS: Final[tuple[str, ...]] = ("kinesis_source", "direct_put")


def stream_consumers(raw_path: str, features_path: str) -> tuple[int, int]:
    """Standard consumers of (telemetry, features): each shares a shard's 2 MB/s of reads."""
    return (
        1 + (raw_path == "kinesis_source"),
        1 + (features_path == "kinesis_source"),
    )


#: A Lambda invocation's payload limit (6 MB, synchronous): Lambda cuts a Kinesis batch there,
#: whatever the batch size. Each record travels base64-encoded with ~300 B of event metadata.
LAMBDA_EVENT_MAX_BYTES: Final = 6 * 1024 * 1024
KINESIS_EVENT_RECORD_OVERHEAD_BYTES: Final = 300

KinesisMode = Literal["on-demand", "provisioned"]
Architecture = Literal["x86_64", "arm64"]


@dataclass(frozen=True, slots=True)
class Fleet:
    """What the fleet sends and the deployment choices that change the bill."""

    devices: int
    interval_s: float
    samples: int = 4096
    encoding: Encoding = "int16le+base64"
    #: Telemetry contract the devices publish: 1 (JSON, base64 window) or 2 (binary int16,
    #: rotorwatch.contract.telemetry_v2; ``encoding`` does not apply). Both are deployed, each on its
    #: own topic and IoT rule (rotorwatch.contract.iot_rule.RULES); a device chooses.
    contract: int = 1
    basic_ingest: bool = True
    kinesis_mode: KinesisMode = "on-demand"
    #: Lambda event-source batch size (records per invocation, at most) of extract_features,
    #: and of score_and_alert unless ``score_batch_size`` says otherwise. The deployed value
    #: comes from the CDK stage config (``rotorwatch cost --stage``).
    batch_size: int = 500
    #: MaximumBatchingWindowInSeconds of the event sources (0 = Lambda polls each shard ~1/s).
    batch_window_s: float = 5.0
    score_batch_size: int | None = None
    score_batch_window_s: float | None = None
    #: One SageMaker InvokeEndpoint per Lambda batch (True) or one per feature record (False).
    sagemaker_per_batch: bool = True
    #: Days raw waveforms, features and predictions are kept in S3 (lifecycle expiry).
    retention_days: int = 365
    #: Days raw waveforms are kept (the stage's ``lake.raw_expire_days``; None: as long as the
    #: rest, ``retention_days``). Features and predictions are kept ``retention_days``.
    raw_expire_days: int | None = None
    #: Raw sampling (the stage's ``lake.raw_keep_*``, rotorwatch.lake.raw_keep): a daily Glue job
    #: keeps, past raw expiry and for ``retention_days``, the windows within
    #: ``raw_keep_minutes`` of a predicted state change and ``raw_keep_per_hour`` a device-hour.
    raw_keep: bool = False
    raw_keep_minutes: int = DEFAULT_KEEP_MINUTES
    raw_keep_per_hour: int = DEFAULT_SAMPLES_PER_HOUR
    #: ASSUMED changes of a device's predicted state (point by point, any direction) per day,
    #: fleet average (most machines never change, a degrading one flickers): each keeps
    #: 2 x raw_keep_minutes of windows. Measure yours in the predictions table.
    state_changes_per_device_day: float = 1.0
    #: Windows per device a score batch should hold (provisioned mode sizes the features stream
    #: for it): the state table is written once per device per batch, so k windows of a device
    #: in one batch cost one write instead of k (the stage's score_and_alert window / interval).
    windows_per_device_batch: int = 1
    #: Provisioned shards to price (the stage's ``streams.*.shards``), at least what the fleet
    #: needs; None: exactly what the fleet needs.
    telemetry_shards: int | None = None
    features_shards: int | None = None
    #: score_and_alert puts a batch's predictions to Firehose as few newline-delimited records
    #: (lake.aggregate_lines; deployed) rather than one record per window.
    aggregate_predictions: bool = True
    raw_path: RawPath = "s3_object"
    features_path: FeaturesPath = "kinesis_source"

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise CostModelError(f"devices must be >= 1, got {self.devices}")
        if not self.interval_s > 0:
            raise CostModelError(f"interval_s must be > 0, got {self.interval_s}")
        if not N_SAMPLES_MIN <= self.samples <= N_SAMPLES_MAX:
            raise CostModelError(
                f"samples must be in [{N_SAMPLES_MIN}, {N_SAMPLES_MAX}] (telemetry v1), got {self.samples}"
            )
        if self.contract not in CONTRACTS:
            raise CostModelError(f"contract must be one of {CONTRACTS}, got {self.contract!r}")
        if self.encoding not in ENCODINGS:
            raise CostModelError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if self.contract == 2 and self.encoding != V2_SAMPLE_ENCODING:
            # v2 carries raw int16 (docs/telemetry.md): a float32 v2 fleet does not exist.
            raise CostModelError(
                f"contract 2 carries {V2_SAMPLE_ENCODING} samples only, got {self.encoding!r}"
            )
        if self.kinesis_mode not in ("on-demand", "provisioned"):
            raise CostModelError(
                f"kinesis_mode must be on-demand or provisioned, got {self.kinesis_mode!r}"
            )
        for name in ("batch_size", "score_batch_size"):
            size = getattr(self, name)
            if size is not None and not 1 <= size <= 10_000:
                raise CostModelError(f"{name} must be in [1, 10000], got {size}")
        for name in ("batch_window_s", "score_batch_window_s"):
            window = getattr(self, name)
            if window is not None and window < 0:
                raise CostModelError(f"{name} must be >= 0, got {window}")
        if self.retention_days < 1:
            raise CostModelError(f"retention_days must be >= 1, got {self.retention_days}")
        if self.state_changes_per_device_day < 0:
            raise CostModelError(
                f"state changes per device-day must be >= 0, got {self.state_changes_per_device_day}"
            )
        if self.raw_expire_days is not None and self.raw_expire_days < 1:
            raise CostModelError(f"raw_expire_days must be >= 1, got {self.raw_expire_days}")
        if self.raw_path not in RAW_PATHS:
            raise CostModelError(f"raw_path must be one of {RAW_PATHS}, got {self.raw_path!r}")
        if self.features_path not in FEATURES_PATHS:
            raise CostModelError(
                f"features_path must be one of {FEATURES_PATHS}, got {self.features_path!r}"
            )
        if self.windows_per_device_batch < 1:
            raise CostModelError(
                f"windows_per_device_batch must be >= 1, got {self.windows_per_device_batch}"
            )


@dataclass(frozen=True, slots=True)
class Assumptions:
    """Everything the price pages cannot tell: measured or guessed, always stated (docs/cost.md)."""

    #: JSON around the base64 samples in a telemetry v1 message (measured with telemetry.encode
    #: for device "pump-0001", 13-digit ts, 6-digit seq, rpm/temperature/pressure, int16 scale).
    envelope_bytes: int = 224
    #: What the IoT rule's SELECT adds (`"site":"site-01","received_at":<13 digits>`).
    rule_added_bytes: int = 48
    #: One feature record as JSON on the features stream (compute_features output ≈ 0.8–1 KB).
    feature_record_bytes: int = 1000
    #: One prediction record as JSON into the predictions Firehose.
    prediction_record_bytes: int = 400
    #: Parquet bytes per row in S3 after conversion (columnar + Snappy).
    feature_parquet_bytes: int = 250
    prediction_parquet_bytes: int = 120
    #: Raw gzip'd in S3 / raw JSON lines: 0.759 measured at gzip level 1 on a 413-window batch
    #: of simulated fleet-24 windows (benchmarks/bench_raw_gzip.py; level 6 gives 0.743). The
    #: same ratio for every raw path (Firehose's GZIP too).
    raw_compression_ratio: float = 0.759
    #: extract_features CPU time gzip-ing one raw line (level 1) for its batch's object: 0.373 ms
    #: measured (process time, one core of a shared, loaded 2-core box; bench_raw_gzip.py).
    raw_gzip_ms_per_record: float = 0.373
    #: Lambda extract_features: memory, fixed time per invocation, time per record.
    extract_memory_mb: int = 1024
    extract_overhead_ms: float = 30.0
    extract_ms_per_record: float = 1.0
    #: Lambda score_and_alert: memory, fixed time per invocation, own time per record.
    score_memory_mb: int = 512
    score_overhead_ms: float = 30.0
    score_ms_per_record: float = 0.3
    lambda_architecture: Architecture = "x86_64"
    #: Kinesis event-source ParallelizationFactor (concurrent batches per shard, 1–10).
    parallelization_factor: int = 1
    #: SageMaker serverless endpoint: memory size, fixed latency per call, time per record.
    sagemaker_memory_mb: int = 2048
    sagemaker_overhead_ms: float = 40.0
    sagemaker_ms_per_record: float = 0.2
    #: Bytes per scored record in the request and in the response body.
    sagemaker_request_bytes_per_record: int = 700
    sagemaker_response_bytes_per_record: int = 80
    #: DynamoDB state table: request units per state read (BatchGetItem, one per device per
    #: batch) and per conditional write (PutItem, one per device per batch: score_and_alert
    #: folds all of a device's windows of a batch into one write). An item under 1 KB / 4 KB.
    dynamodb_reads_per_record: float = 1.0
    dynamodb_writes_per_record: float = 1.0
    #: Alerts (state changes, recoveries, no-data) per device per month, and their recipients.
    alerts_per_device_month: float = 2.0
    email_subscribers: int = 2
    sms_subscribers: int = 1
    #: Firehose buffering (Parquet conversion needs >= 64 MiB). Dynamic partitioning is off in
    #: the deployed stack (arrival-time prefixes, rotorwatch.lake.layout); on here prices the option.
    firehose_buffer_mb: int = 128
    firehose_buffer_s: int = 900
    dynamic_partitioning: bool = False
    #: jq time per record when dynamic partitioning runs the jq extraction (billed per hour).
    jq_us_per_record: float = 20.0
    #: S3 lifecycle of raw telemetry (the deployed rule): days in Standard before Standard-IA,
    #: days before Glacier Flexible Retrieval. Features and predictions stay in Standard.
    s3_ia_after_days: int = lake.RAW_IA_AFTER_DAYS
    s3_glacier_after_days: int = lake.RAW_GLACIER_AFTER_DAYS
    #: Glue job: runs per day, billed duration per run, DPUs (2 × G.1X workers).
    glue_runs_per_day: float = 24.0
    glue_minutes_per_run: float = 4.0
    glue_dpu: float = 2.0
    #: Raw-sampling job: raw GB (JSON lines, uncompressed) it samples per DPU-hour, and the
    #: fixed time of a run (Spark start, listing) billed on every DPU. Grounded on
    #: benchmarks/bench_raw_keep.py, local Spark on 2 cores: 27 GB per core-hour for one day of
    #: 10 devices at 60 s (0.15 GB, 9.9 s), 34 for 10 devices at 10 s (0.9 GB, 47.7 s). A G.1X
    #: DPU has 4 vCPUs: 108 GB per DPU-hour if it scaled, halved here for reading from S3.
    raw_keep_gb_per_dpu_hour: float = 54.0
    raw_keep_fixed_minutes_per_run: float = 2.0
    raw_keep_dpu: float = 2.0
    #: Bytes a kept window takes in raw_kept/ (Parquet, snappy) per byte of its raw JSON line:
    #: 0.98 measured by the same benchmark (base64 samples compress little).
    raw_kept_bytes_ratio: float = 1.0
    #: Athena: queries per month and data scanned per query (partition pruning keeps it small).
    athena_queries_per_month: int = 3000
    athena_mb_scanned_per_query: float = 200.0


def base64_len(n_bytes: int) -> int:
    """Characters of standard padded base64 for ``n_bytes`` bytes."""
    return 4 * math.ceil(n_bytes / 3)


def message_bytes(samples: int, encoding: Encoding, envelope_bytes: int = 224) -> int:
    """Size in bytes of one telemetry v1 message carrying ``samples`` vibration samples."""
    return base64_len(samples * _BYTES_PER_SAMPLE[encoding]) + envelope_bytes


def increments(size_bytes: float, increment_bytes: float) -> int:
    """How many metering increments one item of ``size_bytes`` is billed as (at least one)."""
    return max(1, math.ceil(size_bytes / increment_bytes))


#: Standard deviations above the mean share a stream's hottest shard is sized for.
HOT_SHARD_SIGMAS: Final = 2.0


def hottest_shard_share(shards: int, devices: int) -> float:
    """Share of a stream's traffic its busiest shard carries, records keyed by device.

    Kinesis maps a partition key's MD5 to a shard by hash range, so with equal ranges the
    devices of a shard are binomial (n = devices, p = 1/shards); the busiest of several sits
    above the mean. Sized at mean + HOT_SHARD_SIGMAS standard deviations (the expected maximum
    of 11 normal shards is ~1.6): 10,000 devices on 11 shards put up to 6.3 % more than the
    mean on one. One shard carries everything.
    """
    if shards <= 1:
        return 1.0
    p = 1.0 / shards
    return min(1.0, p + HOT_SHARD_SIGMAS * math.sqrt(p * (1.0 - p) / max(devices, 1)))


#: Standard deviations above its mean a shard's busiest second is sized for (see
#: :func:`busiest_second_share`).
BURST_SIGMAS: Final = 3.0


def busiest_second_share(shards: int, devices: int, records_per_s: float) -> float:
    """Share of a stream's mean per-second records its busiest shard writes in a busy second.

    Kinesis counts a shard's write quota per second ("Each shard can support ... up to 1,000
    records per second for writes, up to a maximum total data write rate of 1 MB per second",
    service-sizes-and-limits.html), not per minute. Devices publish on their own clocks, so a
    shard's n devices each land in a given second with p = (records a device sends per second)
    and the second's count is binomial around the shard's mean (n p ± sqrt(n p (1 - p))): at
    prod's 10,000 devices every 10 s on 12 shards the busiest shard averages 89 windows a second
    and its seconds vary by about 9. Sized at mean + BURST_SIGMAS standard deviations, on the
    busiest shard (:func:`hottest_shard_share`); a device sending every second or faster adds
    no spread (p = 1).
    """
    hot = hottest_shard_share(shards, devices)
    mean = records_per_s * hot
    if mean <= 0:
        return hot
    p = min(1.0, records_per_s / max(devices, 1))
    return hot + BURST_SIGMAS * math.sqrt(mean * (1.0 - p)) / records_per_s


def shards_needed(
    records_per_s: float,
    bytes_per_s: float,
    consumers: int,
    prices: PriceTable,
    devices: int | None = None,
) -> int:
    """Provisioned shards for a stream: the write limits (1 MB/s, 1000 rec/s, counted per second)
    on its busiest shard's busy seconds when ``devices`` (the partition keys) are given
    (:func:`busiest_second_share`), and the 2 MB/s read limit shared by ``consumers`` standard
    (non-fan-out) consumers on its busiest shard's mean (a reader that falls behind for a
    second catches up; a write over quota is refused)."""
    k = "kinesis"
    writes = (
        (bytes_per_s, prices.rate(k, "shard_write_bytes_per_s")),
        (records_per_s, prices.rate(k, "shard_write_records_per_s")),
    )
    read = (consumers * bytes_per_s, prices.rate(k, "shard_read_bytes_per_s"))
    n = max(1, *(math.ceil(rate / limit) for rate, limit in (*writes, read)))
    if devices is not None:

        def over(n: int) -> bool:
            burst = busiest_second_share(n, devices, records_per_s)
            hot = hottest_shard_share(n, devices)
            return any(rate * burst > limit for rate, limit in writes) or read[0] * hot > read[1]

        while n < devices and over(n):
            n += 1
    return n


def event_max_records(record_bytes: float) -> int:
    """Records of ``record_bytes`` that fit one Lambda invocation payload (6 MB)."""
    per_record = base64_len(math.ceil(record_bytes)) + KINESIS_EVENT_RECORD_OVERHEAD_BYTES
    return max(1, LAMBDA_EVENT_MAX_BYTES // per_record)


def achieved_batch(
    records_per_s: float,
    shards: int,
    batch_size: int,
    window_s: float,
    max_records: int | None = None,
) -> float:
    """Mean records per Lambda invocation from a Kinesis event source.

    Lambda reads each shard about once a second, or waits up to the batching window to fill a
    batch; a quiet stream therefore invokes with fewer records than ``batch_size``. A batch
    also stops at the 6 MB payload (``max_records``, :func:`event_max_records`).
    """
    per_shard = records_per_s / shards
    cap = float(batch_size if max_records is None else min(batch_size, max_records))
    return max(1.0, min(cap, per_shard * max(window_s, 1.0)))


def state_writes_per_s(
    records_per_s: float, devices: int, shards: int, batch_records: float
) -> float:
    """DynamoDB state writes per second: one per device per score batch.

    A batch holds ``batch_records`` of the ``devices / shards`` devices of its shard; each
    device with a window in the batch is written once, so writes = invocations × the devices
    a batch touches (at most one per record).
    """
    invocations_per_s = records_per_s / batch_records
    return invocations_per_s * min(batch_records, devices / shards)


def features_shards_for_batching(
    devices: int, windows_per_device_batch: int, max_batch_records: int
) -> int:
    """Shards the features stream needs so that one score batch (at most ``max_batch_records``)
    holds ``windows_per_device_batch`` windows of every device of its shard."""
    return max(1, math.ceil(devices * windows_per_device_batch / max_batch_records))
