"""Monthly AWS cost and capacity of a rotorwatch deployment for a given fleet (pure arithmetic).

The model follows one telemetry window through the deployed pipeline (docs/cost.md draws it):
device ▶ IoT Core (broker messaging or Basic Ingest) ▶ rule ▶ Kinesis ``telemetry`` ▶ Lambda
extract_features ▶ Kinesis ``features`` ▶ Lambda score_and_alert (SageMaker serverless, DynamoDB
state, SNS) ▶ Firehose ×3 ▶ S3 lake ▶ Glue job, Athena queries.

Prices come from a JSON price table (``rotorwatch/pricing/<region>.json``) that records its
sources and the date it was read; everything the model cannot know (how long a Lambda takes per
record, how many queries analysts run) is an explicit field of :class:`Assumptions`. A month is
730 hours, as on the AWS pricing pages. Free tiers are ignored. Sizes metered "per KB/GB" use
binary units (1 KB = 1024 bytes), the convention AWS bills with.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from rotorwatch import lake
from rotorwatch.telemetry import ENCODINGS, N_SAMPLES_MAX, N_SAMPLES_MIN, Encoding
from rotorwatch.telemetry_v2 import message_bytes_v2

HOURS_PER_MONTH: Final = 730.0
SECONDS_PER_MONTH: Final = HOURS_PER_MONTH * 3600.0
MINUTES_PER_MONTH: Final = HOURS_PER_MONTH * 60.0
DAYS_PER_MONTH: Final = HOURS_PER_MONTH / 24.0
GB: Final = 1024**3
TB: Final = 1024**4
_BYTES_PER_SAMPLE: Final = {"int16le+base64": 2, "float32le+base64": 4}
#: Kinesis streams the app deploys and how many consumers read each: telemetry is read by
#: extract_features only (it writes the raw and features lakes itself), features by
#: score_and_alert only.
KINESIS_STREAMS: Final = 2
TELEMETRY_CONSUMERS: Final = 1
FEATURES_CONSUMERS: Final = 1

#: A Lambda invocation's payload limit (6 MB, synchronous): Lambda cuts a Kinesis batch there,
#: whatever the batch size. Each record travels base64-encoded with ~300 B of event metadata.
LAMBDA_EVENT_MAX_BYTES: Final = 6 * 1024 * 1024
KINESIS_EVENT_RECORD_OVERHEAD_BYTES: Final = 300

KinesisMode = Literal["on-demand", "provisioned"]
Architecture = Literal["x86_64", "arm64"]


class CostModelError(ValueError):
    """A fleet or assumption outside what the model (or the telemetry contract) allows."""


# --------------------------------------------------------------------------------------------
# Price table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceTable:
    """A region's list prices, as loaded from ``rotorwatch/pricing/<region>.json``."""

    region: str
    prices_as_of: str
    status: str
    sources: dict[str, str]
    data: dict[str, Any]

    def rate(self, service: str, item: str) -> float:
        """One price or metering constant, e.g. ``rate("glue", "etl_dpu_hour_usd")``."""
        try:
            return float(self.data[service][item])
        except KeyError:
            raise CostModelError(f"price table {self.region} has no {service}.{item}") from None

    def tiered(self, service: str, item: str, quantity: float) -> float:
        """Cost of ``quantity`` under a tier list ``[[cumulative upper bound | null, price], …]``."""
        tiers = self.data[service][item]
        cost, lower = 0.0, 0.0
        for upper, price in tiers:
            top = math.inf if upper is None else float(upper)
            if quantity <= lower:
                break
            cost += (min(quantity, top) - lower) * float(price)
            lower = top
        return cost


def load_prices(region: str = "us-east-1", path: Path | None = None) -> PriceTable:
    """Load a price table: ``path`` if given, else the packaged table for ``region``."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("rotorwatch.pricing").joinpath(f"{region}.json")
        if not resource.is_file():
            raise CostModelError(
                f"no packaged price table for region {region!r}; pass one with a path"
            )
        text = resource.read_text(encoding="utf-8")
    raw = json.loads(text)
    return PriceTable(
        region=raw["region"],
        prices_as_of=raw["prices_as_of"],
        status=raw["status"],
        sources=dict(raw["sources"]),
        data={k: v for k, v in raw.items() if isinstance(v, dict) and k != "sources"},
    )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fleet:
    """What the fleet sends and the deployment choices that change the bill."""

    devices: int
    interval_s: float
    samples: int = 4096
    encoding: Encoding = "int16le+base64"
    #: Telemetry contract the devices publish: 1 (JSON, base64 window) or 2 (binary int16,
    #: rotorwatch.telemetry_v2; ``encoding`` does not apply). extract_features decodes both;
    #: the IoT rule path for v2 is not deployed yet (docs/telemetry.md), so 2 is a what-if.
    contract: Literal[1, 2] = 1
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

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise CostModelError(f"devices must be >= 1, got {self.devices}")
        if not self.interval_s > 0:
            raise CostModelError(f"interval_s must be > 0, got {self.interval_s}")
        if not N_SAMPLES_MIN <= self.samples <= N_SAMPLES_MAX:
            raise CostModelError(
                f"samples must be in [{N_SAMPLES_MIN}, {N_SAMPLES_MAX}] (telemetry v1), got {self.samples}"
            )
        if self.contract not in (1, 2):
            raise CostModelError(f"contract must be 1 or 2, got {self.contract!r}")
        if self.encoding not in ENCODINGS:
            raise CostModelError(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
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
        if self.raw_expire_days is not None and self.raw_expire_days < 1:
            raise CostModelError(f"raw_expire_days must be >= 1, got {self.raw_expire_days}")
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
    #: Raw JSON in S3 / bytes ingested (1.0 = stored as delivered; base64 noise barely compresses).
    raw_compression_ratio: float = 1.0
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
    #: the deployed stack (arrival-time prefixes, rotorwatch.lake); on here prices the option.
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
    #: Athena: queries per month and data scanned per query (partition pruning keeps it small).
    athena_queries_per_month: int = 3000
    athena_mb_scanned_per_query: float = 200.0


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostLine:
    """One billed dimension: ``quantity`` of ``unit`` per month costing ``usd``."""

    service: str
    item: str
    quantity: float
    unit: str
    usd: float


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the fleet needs provisioned (or what on-demand has to absorb)."""

    messages_per_s: float
    message_bytes: int
    telemetry_bytes_per_s: float
    features_bytes_per_s: float
    telemetry_shards: int
    features_shards: int
    extract_batch_records: float
    score_batch_records: float
    extract_invocations_per_s: float
    score_invocations_per_s: float
    extract_concurrency: float
    score_concurrency: float
    #: Concurrent Lambda batches Kinesis allows: shards × ParallelizationFactor.
    extract_concurrency_limit: int
    score_concurrency_limit: int
    sagemaker_invocations_per_s: float
    sagemaker_concurrency: float


@dataclass(frozen=True, slots=True)
class CostReport:
    fleet: Fleet
    assumptions: Assumptions
    region: str
    prices_as_of: str
    lines: tuple[CostLine, ...]
    capacity: Capacity
    warnings: tuple[str, ...] = field(default=())

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_service(self) -> dict[str, float]:
        """Monthly USD per service, in pipeline order."""
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.usd
        return out

    def line(self, service: str, item: str) -> CostLine:
        for candidate in self.lines:
            if candidate.service == service and candidate.item == item:
                return candidate
        raise KeyError(f"{service}/{item}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "prices_as_of": self.prices_as_of,
            "fleet": asdict(self.fleet),
            "assumptions": asdict(self.assumptions),
            "lines": [asdict(line) for line in self.lines],
            "by_service_usd": self.by_service(),
            "total_usd": self.total_usd,
            "capacity": asdict(self.capacity),
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


def base64_len(n_bytes: int) -> int:
    """Characters of standard padded base64 for ``n_bytes`` bytes."""
    return 4 * math.ceil(n_bytes / 3)


def message_bytes(samples: int, encoding: Encoding, envelope_bytes: int = 224) -> int:
    """Size in bytes of one telemetry v1 message carrying ``samples`` vibration samples."""
    return base64_len(samples * _BYTES_PER_SAMPLE[encoding]) + envelope_bytes


def increments(size_bytes: float, increment_bytes: float) -> int:
    """How many metering increments one item of ``size_bytes`` is billed as (at least one)."""
    return max(1, math.ceil(size_bytes / increment_bytes))


def shards_needed(
    records_per_s: float, bytes_per_s: float, consumers: int, prices: PriceTable
) -> int:
    """Provisioned shards for a stream: write limits (1 MB/s, 1000 rec/s) and the 2 MB/s read
    limit shared by ``consumers`` standard (non-fan-out) consumers."""
    k = "kinesis"
    return max(
        1,
        math.ceil(bytes_per_s / prices.rate(k, "shard_write_bytes_per_s")),
        math.ceil(records_per_s / prices.rate(k, "shard_write_records_per_s")),
        math.ceil(consumers * bytes_per_s / prices.rate(k, "shard_read_bytes_per_s")),
    )


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


def _gb(n_bytes: float) -> float:
    return n_bytes / GB


def estimate(
    fleet: Fleet, prices: PriceTable, assumptions: Assumptions | None = None
) -> CostReport:
    """Monthly cost lines and the capacity the fleet needs."""
    a = assumptions or Assumptions()
    p = prices
    lines: list[CostLine] = []
    warnings: list[str] = []

    def add(service: str, item: str, quantity: float, unit: str, usd: float) -> None:
        lines.append(CostLine(service, item, quantity, unit, usd))

    msg_per_s = fleet.devices / fleet.interval_s
    messages = msg_per_s * SECONDS_PER_MONTH
    msg_bytes = message_bytes(fleet.samples, fleet.encoding, a.envelope_bytes)
    # What reaches Kinesis: the rule adds site and received_at to a v1 message; a v2 message
    # passes unchanged. The raw lake line is v1-shaped JSON either way (extract_features).
    record_bytes = msg_bytes + a.rule_added_bytes
    raw_line_bytes = record_bytes
    if fleet.contract == 2:
        msg_bytes = message_bytes_v2(fleet.samples)
        record_bytes = msg_bytes

    # IoT Core ------------------------------------------------------------------------------
    minutes = fleet.devices * MINUTES_PER_MONTH
    add(
        "IoT Core",
        "connectivity",
        minutes,
        "connection-minutes",
        minutes / 1e6 * p.rate("iot_core", "connectivity_usd_per_million_minutes"),
    )
    metered_msgs = messages * increments(msg_bytes, p.rate("iot_core", "messaging_increment_bytes"))
    if fleet.basic_ingest:
        # Basic Ingest publishes straight to the rule: the broker's messaging charge does not apply.
        add("IoT Core", "messaging (Basic Ingest: not charged)", metered_msgs, "5 KB messages", 0.0)
    else:
        add(
            "IoT Core",
            "messaging",
            metered_msgs,
            "5 KB messages",
            p.tiered("iot_core", "messaging_tiers_usd_per_million", metered_msgs) / 1e6,
        )
    rule_units = messages * increments(msg_bytes, p.rate("iot_core", "rules_increment_bytes"))
    add(
        "IoT Core",
        "rules triggered",
        rule_units,
        "5 KB rule triggers",
        rule_units / 1e6 * p.rate("iot_core", "rules_triggered_usd_per_million"),
    )
    add(
        "IoT Core",
        "actions executed (Kinesis)",
        rule_units,
        "5 KB actions",
        rule_units / 1e6 * p.rate("iot_core", "actions_executed_usd_per_million"),
    )

    # Kinesis -------------------------------------------------------------------------------
    feat_per_s = msg_per_s  # one feature record per window
    tel_bps = msg_per_s * record_bytes
    feat_bps = feat_per_s * a.feature_record_bytes
    tel_shards = shards_needed(msg_per_s, tel_bps, TELEMETRY_CONSUMERS, p)
    feat_shards = shards_needed(feat_per_s, feat_bps, FEATURES_CONSUMERS, p)
    score_batch_size = (
        fleet.batch_size if fleet.score_batch_size is None else fleet.score_batch_size
    )
    score_max_records = min(score_batch_size, event_max_records(a.feature_record_bytes))
    if fleet.kinesis_mode == "provisioned":
        tel_shards = max(tel_shards, fleet.telemetry_shards or 0)
        feat_shards = max(feat_shards, fleet.features_shards or 0)
    if fleet.kinesis_mode == "provisioned" and fleet.windows_per_device_batch > 1:
        # More features shards (each ~$11/month) so a batch holds k windows per device: the
        # state table's one write per device per batch then covers k windows.
        feat_shards = max(
            feat_shards,
            features_shards_for_batching(
                fleet.devices, fleet.windows_per_device_batch, score_max_records
            ),
        )
    k = "kinesis"
    if fleet.kinesis_mode == "provisioned":
        shard_hours = (tel_shards + feat_shards) * HOURS_PER_MONTH
        add(
            "Kinesis",
            "shard-hours (provisioned)",
            shard_hours,
            "shard-hours",
            shard_hours * p.rate(k, "provisioned_shard_hour_usd"),
        )
        unit_b = p.rate(k, "provisioned_put_payload_unit_bytes")
        put_units = messages * increments(record_bytes, unit_b) + messages * increments(
            a.feature_record_bytes, unit_b
        )
        add(
            "Kinesis",
            "PUT payload units (25 KB)",
            put_units,
            "PUT units",
            put_units / 1e6 * p.rate(k, "provisioned_put_payload_units_usd_per_million"),
        )
    else:
        stream_hours = KINESIS_STREAMS * HOURS_PER_MONTH
        add(
            "Kinesis",
            "stream-hours (on-demand)",
            stream_hours,
            "stream-hours",
            stream_hours * p.rate(k, "on_demand_stream_hour_usd"),
        )
        kb = p.rate(k, "on_demand_record_rounding_bytes")
        tel_in_gb = messages * increments(record_bytes, kb) * kb / GB
        feat_in_gb = messages * increments(a.feature_record_bytes, kb) * kb / GB
        in_gb = tel_in_gb + feat_in_gb
        add(
            "Kinesis",
            "data in (on-demand, 1 KB rounding)",
            in_gb,
            "GB",
            in_gb * p.rate(k, "on_demand_ingest_usd_per_gb"),
        )
        out_gb = tel_in_gb * TELEMETRY_CONSUMERS + feat_in_gb * FEATURES_CONSUMERS
        add(
            "Kinesis",
            "data out (on-demand, 1 consumer per stream)",
            out_gb,
            "GB",
            out_gb * p.rate(k, "on_demand_retrieval_usd_per_gb"),
        )

    # Lambda --------------------------------------------------------------------------------
    ext_batch = achieved_batch(
        msg_per_s,
        tel_shards,
        fleet.batch_size,
        fleet.batch_window_s,
        event_max_records(record_bytes),
    )
    score_batch = achieved_batch(
        feat_per_s,
        feat_shards,
        score_batch_size,
        fleet.batch_window_s if fleet.score_batch_window_s is None else fleet.score_batch_window_s,
        score_max_records,
    )
    sm_calls_per_batch = 1.0 if fleet.sagemaker_per_batch else score_batch
    sm_call_ms_batch = (
        sm_calls_per_batch * a.sagemaker_overhead_ms + score_batch * a.sagemaker_ms_per_record
    )
    ext_ms = a.extract_overhead_ms + ext_batch * a.extract_ms_per_record
    # score_and_alert waits for SageMaker synchronously: that wait is billed Lambda time too.
    score_ms = a.score_overhead_ms + score_batch * a.score_ms_per_record + sm_call_ms_batch
    ext_inv_s = msg_per_s / ext_batch
    score_inv_s = feat_per_s / score_batch
    gb_s_tiers = f"{a.lambda_architecture}_gb_s_tiers_usd"
    gb_s_total = 0.0
    for name, inv_s, ms, mem in (
        ("extract_features", ext_inv_s, ext_ms, a.extract_memory_mb),
        ("score_and_alert", score_inv_s, score_ms, a.score_memory_mb),
    ):
        requests = inv_s * SECONDS_PER_MONTH
        add(
            "Lambda",
            f"{name} requests",
            requests,
            "requests",
            requests / 1e6 * p.rate("lambda", "requests_usd_per_million"),
        )
        gb_s = requests * ms / 1000.0 * mem / 1024.0
        # GB-s tiers apply to the account's total: price this function's slice of the total.
        usd = p.tiered("lambda", gb_s_tiers, gb_s_total + gb_s) - p.tiered(
            "lambda", gb_s_tiers, gb_s_total
        )
        gb_s_total += gb_s
        add("Lambda", f"{name} compute", gb_s, "GB-s", usd)

    # SageMaker serverless --------------------------------------------------------------------
    sm_calls = score_inv_s * sm_calls_per_batch * SECONDS_PER_MONTH
    sm_gb_s = (
        score_inv_s * SECONDS_PER_MONTH * sm_call_ms_batch / 1000.0 * a.sagemaker_memory_mb / 1024.0
    )
    add(
        "SageMaker",
        f"serverless compute ({'one call per batch' if fleet.sagemaker_per_batch else 'one call per record'})",
        sm_gb_s,
        "GB-s",
        sm_gb_s * p.rate("sagemaker", "serverless_usd_per_gb_s"),
    )
    sm_data_gb = (
        messages
        * (a.sagemaker_request_bytes_per_record + a.sagemaker_response_bytes_per_record)
        / GB
    )
    add(
        "SageMaker",
        "data processed in + out",
        sm_data_gb,
        "GB",
        sm_data_gb * p.rate("sagemaker", "serverless_data_processed_usd_per_gb"),
    )

    # DynamoDB state ------------------------------------------------------------------------
    # One BatchGetItem read and one conditional write per device per batch (not per window).
    state_ops = state_writes_per_s(feat_per_s, fleet.devices, feat_shards, score_batch)
    wru = state_ops * SECONDS_PER_MONTH * a.dynamodb_writes_per_record
    rru = state_ops * SECONDS_PER_MONTH * a.dynamodb_reads_per_record
    add(
        "DynamoDB",
        "state writes (on-demand, one per device per batch)",
        wru,
        "WRU",
        wru / 1e6 * p.rate("dynamodb", "on_demand_write_usd_per_million"),
    )
    add(
        "DynamoDB",
        "state reads (on-demand)",
        rru,
        "RRU",
        rru / 1e6 * p.rate("dynamodb", "on_demand_read_usd_per_million"),
    )

    # SNS -----------------------------------------------------------------------------------
    alerts = fleet.devices * a.alerts_per_device_month
    add(
        "SNS",
        "publishes",
        alerts,
        "publishes",
        alerts / 1e6 * p.rate("sns", "publish_usd_per_million"),
    )
    emails = alerts * a.email_subscribers
    add(
        "SNS",
        "e-mail notifications",
        emails,
        "e-mails",
        emails / 1e5 * p.rate("sns", "email_usd_per_100000"),
    )
    sms = alerts * a.sms_subscribers
    add("SNS", "SMS notifications (US)", sms, "SMS", sms * p.rate("sns", "sms_us_usd_per_message"))

    # Firehose ------------------------------------------------------------------------------
    fh_inc = p.rate("firehose", "ingest_increment_bytes")
    deliveries = (
        ("raw", raw_line_bytes, False, raw_line_bytes * a.raw_compression_ratio),
        ("features", a.feature_record_bytes, True, float(a.feature_parquet_bytes)),
        ("predictions", a.prediction_record_bytes, True, float(a.prediction_parquet_bytes)),
    )
    billed_gb = {
        name: messages * increments(size, fh_inc) * fh_inc / GB for name, size, _, _ in deliveries
    }

    def aggregated_gb(batch_records: float, line_bytes: float, invocations_per_s: float) -> float:
        """A batch's lines as newline-delimited records of <= 1,000 KiB, each rounded up to
        5 KB once (lake.aggregate_lines)."""
        batch_bytes = batch_records * line_bytes
        records = math.ceil(batch_bytes / lake.FIREHOSE_RECORD_MAX_BYTES)
        billed = records * increments(batch_bytes / records, fh_inc)
        return invocations_per_s * SECONDS_PER_MONTH * billed * fh_inc / GB

    # extract_features puts the raw and feature lines of its batch to their Firehoses.
    billed_gb["raw"] = aggregated_gb(ext_batch, raw_line_bytes, ext_inv_s)
    billed_gb["features"] = aggregated_gb(ext_batch, a.feature_record_bytes, ext_inv_s)
    if fleet.aggregate_predictions:
        billed_gb["predictions"] = aggregated_gb(
            score_batch, a.prediction_record_bytes, score_inv_s
        )
    total_billed_gb = sum(billed_gb.values())
    add(
        "Firehose",
        "ingestion (5 KB rounding, 3 streams)",
        total_billed_gb,
        "GB",
        p.tiered("firehose", "ingest_tiers_usd_per_gb", total_billed_gb),
    )
    conv_gb = sum(billed_gb[name] for name, _, parquet, _ in deliveries if parquet)
    add(
        "Firehose",
        "Parquet format conversion (features, predictions)",
        conv_gb,
        "GB",
        conv_gb * p.rate("firehose", "format_conversion_usd_per_gb"),
    )
    stored_gb_month = {name: messages * stored / GB for name, _, _, stored in deliveries}
    objects_by_stream = {
        # A buffer flushes on size or on time, whichever comes first (one hour partition is open).
        name: max(
            messages * size / 1024**2 / a.firehose_buffer_mb,
            SECONDS_PER_MONTH / a.firehose_buffer_s,
        )
        for name, size, _, _ in deliveries
    }
    objects = sum(objects_by_stream.values())
    if a.dynamic_partitioning:
        dp_gb = sum(messages * size / GB for _, size, _, _ in deliveries)
        add(
            "Firehose",
            "dynamic partitioning data",
            dp_gb,
            "GB",
            dp_gb * p.rate("firehose", "dynamic_partitioning_usd_per_gb"),
        )
        add(
            "Firehose",
            "dynamic partitioning objects",
            objects,
            "S3 objects",
            objects / 1000 * p.rate("firehose", "dynamic_partitioning_usd_per_1000_objects"),
        )
        jq_h = 3 * messages * a.jq_us_per_record / 1e6 / 3600.0
        add(
            "Firehose",
            "dynamic partitioning jq",
            jq_h,
            "jq hours",
            jq_h * p.rate("firehose", "dynamic_partitioning_jq_usd_per_hour"),
        )

    # S3 (steady state: the lake holds `retention_days` of data) ------------------------------
    # Raw telemetry moves down the lifecycle; features and predictions stay in Standard.
    raw_per_day_gb = stored_gb_month["raw"] / DAYS_PER_MONTH
    other_per_day_gb = sum(v for k, v in stored_gb_month.items() if k != "raw") / DAYS_PER_MONTH
    days = float(fleet.retention_days)
    # Raw windows expire after raw_expire_days (the stage's lifecycle) when that comes first.
    raw_days = days if fleet.raw_expire_days is None else min(days, fleet.raw_expire_days)
    ia_days = max(0.0, min(raw_days, a.s3_glacier_after_days) - a.s3_ia_after_days)
    glacier_days = max(0.0, raw_days - a.s3_glacier_after_days)
    std_gb = raw_per_day_gb * min(raw_days, a.s3_ia_after_days) + other_per_day_gb * days
    add(
        "S3",
        "Standard storage",
        std_gb,
        "GB-month",
        p.tiered("s3", "standard_tiers_usd_per_gb_month", std_gb),
    )
    add(
        "S3",
        "Standard-IA storage (raw)",
        raw_per_day_gb * ia_days,
        "GB-month",
        raw_per_day_gb * ia_days * p.rate("s3", "standard_ia_usd_per_gb_month"),
    )
    add(
        "S3",
        "Glacier Flexible Retrieval storage (raw)",
        raw_per_day_gb * glacier_days,
        "GB-month",
        raw_per_day_gb * glacier_days * p.rate("s3", "glacier_flexible_usd_per_gb_month"),
    )
    add(
        "S3",
        "PUT requests (Firehose deliveries)",
        objects,
        "requests",
        objects / 1000 * p.rate("s3", "put_usd_per_1000"),
    )
    # Only raw objects move down the lifecycle.
    transitions = objects_by_stream["raw"] * ((ia_days > 0) + (glacier_days > 0))
    add(
        "S3",
        "lifecycle transitions",
        transitions,
        "requests",
        transitions / 1000 * p.rate("s3", "transition_usd_per_1000"),
    )

    # Glue ----------------------------------------------------------------------------------
    runs = a.glue_runs_per_day * DAYS_PER_MONTH
    run_h = max(a.glue_minutes_per_run * 60.0, p.rate("glue", "minimum_billed_s")) / 3600.0
    dpu_h = runs * run_h * a.glue_dpu
    add("Glue", "ETL job DPU-hours", dpu_h, "DPU-hours", dpu_h * p.rate("glue", "etl_dpu_hour_usd"))

    # Athena --------------------------------------------------------------------------------
    scan_b = max(
        a.athena_mb_scanned_per_query * 1024**2, p.rate("athena", "minimum_scan_bytes_per_query")
    )
    scan_tb = a.athena_queries_per_month * scan_b / TB
    add("Athena", "data scanned", scan_tb, "TB", scan_tb * p.rate("athena", "usd_per_tb_scanned"))

    # Capacity ------------------------------------------------------------------------------
    pf = a.parallelization_factor
    cap = Capacity(
        messages_per_s=msg_per_s,
        message_bytes=msg_bytes,
        telemetry_bytes_per_s=tel_bps,
        features_bytes_per_s=feat_bps,
        telemetry_shards=tel_shards,
        features_shards=feat_shards,
        extract_batch_records=ext_batch,
        score_batch_records=score_batch,
        extract_invocations_per_s=ext_inv_s,
        score_invocations_per_s=score_inv_s,
        extract_concurrency=ext_inv_s * ext_ms / 1000.0,
        score_concurrency=score_inv_s * score_ms / 1000.0,
        extract_concurrency_limit=tel_shards * pf,
        score_concurrency_limit=feat_shards * pf,
        sagemaker_invocations_per_s=sm_calls / SECONDS_PER_MONTH,
        sagemaker_concurrency=score_inv_s * sm_call_ms_batch / 1000.0,
    )
    for name, need, limit in (
        ("extract_features", cap.extract_concurrency, cap.extract_concurrency_limit),
        ("score_and_alert", cap.score_concurrency, cap.score_concurrency_limit),
    ):
        if need > limit:
            factor = math.ceil(need / (limit / pf))
            fix = (
                f"raise the factor to {factor}" if factor <= 10 else "add shards (factor max is 10)"
            )
            warnings.append(
                f"{name} needs {need:.1f} concurrent batches but shards × ParallelizationFactor "
                f"allows {limit}: it falls behind ({fix})"
            )
    if msg_bytes > 128 * 1024:
        warnings.append(f"a message of {msg_bytes} bytes exceeds IoT Core's 128 KB limit")
    return CostReport(
        fleet=fleet,
        assumptions=a,
        region=p.region,
        prices_as_of=p.prices_as_of,
        lines=tuple(lines),
        capacity=cap,
        warnings=tuple(warnings),
    )


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
            f"kept {fleet.raw_expire_days or fleet.retention_days} days",
            total(replace(fleet, raw_expire_days=None)),
            total(fleet),
        ),
        Comparison(
            "Kinesis capacity",
            "on-demand",
            "provisioned (shards sized by the model)",
            total(replace(fleet, kinesis_mode="on-demand")),
            total(replace(fleet, kinesis_mode="provisioned")),
        ),
    ]
