"""The documented service quotas the pipeline depends on, and the fleet checked against each.

One table (:data:`QUOTAS`), each entry with its source URL and whether its figure was read in
AWS's documentation for this table (``checked``) or is carried without a re-read (check it in
the Service Quotas console before relying on it). :func:`check` takes a cost report (the fleet,
the deployed batching and the capacity it implies) and answers, per quota, what the fleet uses
of it; ``rotorwatch cost`` prints the ones that bind, ``--json`` lists them all, and
``rotorwatch synth`` warns when a stage's configured fleet exceeds one.

Region: several quotas are larger in a few Regions. Without a Region (an environment-agnostic
stage) the smallest documented value applies: the stack may be deployed anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from rotorwatch.deployment.cost.fleet import (
    BURST_SIGMAS,
    HOT_SHARD_SIGMAS,
    busiest_second_share,
    hottest_shard_share,
    stream_consumers,
)
from rotorwatch.deployment.cost.report import CostReport
from rotorwatch.lake.layout import FIREHOSE_RECORD_MAX_BYTES

MiB: Final = 1024 * 1024

_FIREHOSE = "https://docs.aws.amazon.com/firehose/latest/dev/limits.html"
_FIREHOSE_API = "https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html"
_KINESIS = "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
_KINESIS_API = "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html"
_IOT = "https://docs.aws.amazon.com/general/latest/gr/iot-core.html"
_LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_SAGEMAKER_API = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/"
    "API_ProductionVariantServerlessConfig.html"
)
_SAGEMAKER = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"
_DYNAMODB = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"
_SNS = "https://docs.aws.amazon.com/general/latest/gr/sns.html"

#: Regions where Firehose's Direct PUT quotas are 5x the rest ("For US East (N. Virginia), US
#: West (Oregon), and Europe (Ireland): 500,000 records/second, 2,000 requests/second, and
#: 5 MiB/second", limits.html); IoT Core's larger account-level rates are assumed for the same.
LARGE_REGIONS: Final = frozenset({"us-east-1", "us-west-2", "eu-west-1"})
_READ = "read in the documentation for this table (2026-12-07)"
# What the re-read of 2026-12-07 found where the documentation is not one plain figure.
_KINESIS_MB = (
    "read (2026-12-07): the developer guide and the current PutRecords page say 1 MB/s, older "
    "API pages 1 MiB/s; kept in MiB, so a fleet within 5 % of it needs the 1,000,000 B/s reading"
)
_KINESIS_REQUEST = (
    "read (2026-12-07): the current PutRecords page allows 10 MiB per request and per record, "
    "older pages 5 MiB; the smaller is kept (the handlers chunk at it)"
)
_IOT_COPIES = (
    "not confirmed (2026-12-07): AWS's quota table was not in the stored pages, only copies of "
    "it (20,000/s; 2,000/s in some Regions per another copy): confirm in Service Quotas"
)
_IOT_CONNECTION = (
    "read (2026-12-07) in copies of the General Reference table (100/s, not adjustable), "
    "not on AWS's page itself"
)
_LAMBDA_READ = (
    "read (2026-12-07): 1,000 by default; new accounts start lower and AWS raises them with use"
)
_SAGEMAKER_ACCOUNT = (
    "read (2026-12-07): the developer guide says 200; re:Post answers report a Service Quotas "
    "default of 10 in new accounts: confirm in Service Quotas"
)
_DYNAMODB_PARTITION = (
    "read (2026-12-07) in AWS's knowledge-center article (each partition serves up to 1,000 "
    "write request units): https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb"
)
_SNS_NOT_FOUND = (
    "not confirmed (2026-12-07): the stored SNS quota page showed no SMS rate: confirm in "
    "Service Quotas"
)


@dataclass(frozen=True, slots=True)
class Quota:
    name: str
    unit: str
    #: The limit in LARGE_REGIONS and in every other Region.
    large_region_limit: float
    other_region_limit: float
    source: str
    checked: str
    adjustable: bool

    def limit(self, region: str | None) -> float:
        if region is None:  # deployable anywhere: the smallest documented value
            return min(self.large_region_limit, self.other_region_limit)
        return self.large_region_limit if region in LARGE_REGIONS else self.other_region_limit


def _q(
    name: str,
    unit: str,
    limit: float,
    source: str,
    checked: str,
    *,
    adjustable: bool,
    other: float | None = None,
) -> Quota:
    return Quota(name, unit, limit, limit if other is None else other, source, checked, adjustable)


#: Every documented quota the pipeline depends on, by key.
QUOTAS: Final[Mapping[str, Quota]] = {
    "firehose_direct_put_throughput": _q(
        "Firehose Direct PUT throughput per stream",
        "MiB/s",
        5.0,
        _FIREHOSE,
        _READ,
        adjustable=True,
        other=1.0,
    ),
    "firehose_direct_put_requests": _q(
        "Firehose Direct PUT requests per stream",
        "requests/s",
        2000.0,
        _FIREHOSE,
        _READ,
        adjustable=True,
        other=1000.0,
    ),
    "firehose_direct_put_records": _q(
        "Firehose Direct PUT records per stream",
        "records/s",
        500_000.0,
        _FIREHOSE,
        _READ,
        adjustable=True,
        other=100_000.0,
    ),
    # "up to a limit of 4 MB for the entire request. These limits cannot be changed."
    "firehose_put_record_batch_bytes": _q(
        "Firehose PutRecordBatch request size",
        "bytes",
        4_000_000.0,
        _FIREHOSE_API,
        _READ,
        adjustable=False,
    ),
    "kinesis_shard_write_bytes": _q(
        "Kinesis write per shard", "MiB/s", 1.0, _KINESIS, _KINESIS_MB, adjustable=False
    ),
    "kinesis_shard_write_records": _q(
        "Kinesis records written per shard",
        "records/s",
        1000.0,
        _KINESIS,
        _READ,
        adjustable=False,
    ),
    "kinesis_shard_read_bytes": _q(
        "Kinesis read per shard (shared by standard consumers)",
        "MiB/s",
        2.0,
        _KINESIS,
        _READ,
        adjustable=False,
    ),
    "kinesis_put_records_entries": _q(
        "Kinesis PutRecords entries per request",
        "records",
        500.0,
        _KINESIS_API,
        _READ,
        adjustable=False,
    ),
    "kinesis_put_records_bytes": _q(
        "Kinesis PutRecords request size",
        "MiB",
        5.0,
        _KINESIS_API,
        _KINESIS_REQUEST,
        adjustable=False,
    ),
    "iot_inbound_publishes": _q(
        "IoT Core inbound publishes per account",
        "publishes/s",
        20_000.0,
        _IOT,
        _IOT_COPIES,
        adjustable=True,
        other=2000.0,
    ),
    "iot_rule_evaluations": _q(
        "IoT Core rule evaluations (and Kinesis rule actions) per account",
        "evaluations/s",
        20_000.0,
        _IOT,
        _IOT_COPIES,
        adjustable=True,
        other=2000.0,
    ),
    "iot_publishes_per_connection": _q(
        "IoT Core publishes per connection",
        "publishes/s",
        100.0,
        _IOT,
        _IOT_CONNECTION,
        adjustable=False,
    ),
    "lambda_concurrency": _q(
        "Lambda concurrent executions per account",
        "executions",
        1000.0,
        _LAMBDA,
        _LAMBDA_READ,
        adjustable=True,
    ),
    # MaxConcurrency "Valid Range: Minimum value of 1. Maximum value of 200."
    "sagemaker_endpoint_concurrency": _q(
        "SageMaker serverless concurrency per endpoint",
        "invocations",
        200.0,
        _SAGEMAKER_API,
        _READ,
        adjustable=False,
    ),
    "sagemaker_account_concurrency": _q(
        "SageMaker serverless concurrency per account and Region",
        "invocations",
        200.0,
        _SAGEMAKER,
        _SAGEMAKER_ACCOUNT,
        adjustable=True,
    ),
    "dynamodb_partition_writes": _q(
        "DynamoDB writes per partition",
        "WCU/s",
        1000.0,
        _DYNAMODB,
        _DYNAMODB_PARTITION,
        adjustable=False,
    ),
    "dynamodb_table_writes": _q(
        "DynamoDB on-demand writes per table",
        "WRU/s",
        40_000.0,
        _DYNAMODB,
        _READ,
        adjustable=True,
    ),
    "sns_sms_rate": _q(
        "SNS SMS messages per account", "SMS/s", 20.0, _SNS, _SNS_NOT_FOUND, adjustable=True
    ),
}

#: What share of the fleet may go to ALARM inside one scoring window (a site-wide event):
#: the SMS burst the SNS rate quota is checked against. An assumption, stated.
SMS_BURST_DEVICE_FRACTION: Final = 0.01


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    key: str
    name: str
    used: float
    limit: float
    unit: str
    source: str
    checked: str
    adjustable: bool
    #: What ``used`` is, in words.
    what: str
    #: What to do when it binds (default: an increase request, or a design change if hard).
    fix: str | None = None

    @property
    def binds(self) -> bool:
        return self.used > self.limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "used": self.used,
            "limit": self.limit,
            "unit": self.unit,
            "source": self.source,
            "binds": self.binds,
            "adjustable": self.adjustable,
            "checked": self.checked,
            "what": self.what,
        }


def check(
    report: CostReport,
    region: str | None,
    *,
    endpoint_max_concurrency: int | None = None,
    score_window_s: float | None = None,
    deployed_shards: tuple[int, int] | None = None,
) -> list[QuotaCheck]:
    """The fleet of ``report`` against every quota of :data:`QUOTAS` in ``region``.

    ``endpoint_max_concurrency``: the stage's serverless MaxConcurrency (checked as a ceiling
    too: a score batch beyond it is throttled). ``score_window_s``: the scoring batching
    window the SMS burst falls in (default: the fleet's).
    """
    fleet, cap, a = report.fleet, report.capacity, report.assumptions
    msg_per_s = cap.messages_per_s
    out: list[QuotaCheck] = []

    def add(
        key: str, used: float, what: str, limit: float | None = None, fix: str | None = None
    ) -> None:
        q = QUOTAS[key]
        out.append(
            QuotaCheck(
                key,
                q.name,
                used,
                q.limit(region) if limit is None else limit,
                q.unit,
                q.source,
                q.checked,
                q.adjustable,
                what,
                fix,
            )
        )

    # Firehose Direct PUT: predictions always; raw and features when they take that path.
    raw_line = cap.message_bytes + (a.rule_added_bytes if fleet.contract == 1 else 0)
    direct = {"predictions": (a.prediction_record_bytes, cap.score_invocations_per_s)}
    if fleet.features_path == "direct_put":
        direct["features"] = (a.feature_record_bytes, cap.extract_invocations_per_s)
    if fleet.raw_path == "direct_put":
        direct["raw"] = (raw_line, cap.extract_invocations_per_s)
    for stream, (line_bytes, puts_per_s) in direct.items():
        add(
            "firehose_direct_put_throughput",
            msg_per_s * line_bytes / MiB,
            f"{stream} delivery stream",
        )
        add("firehose_direct_put_requests", puts_per_s, f"{stream}: one request per batch")
        batch_bytes = msg_per_s / puts_per_s * line_bytes
        add(
            "firehose_direct_put_records",
            puts_per_s * math.ceil(batch_bytes / FIREHOSE_RECORD_MAX_BYTES),
            f"{stream}: a batch's lines as records of <= 1,000 KiB",
        )
    score_batch_bytes = cap.score_batch_records * a.prediction_record_bytes
    add(
        "firehose_put_record_batch_bytes",
        score_batch_bytes,
        "a score batch's predictions (the handler splits above the limit)",
    )

    # Kinesis: per shard, the fleet spread evenly by partition key (device), on the shards the
    # stage deploys when given (the cost model prices at least what the fleet needs).
    tel_consumers, feat_consumers = stream_consumers(fleet.raw_path, fleet.features_path)
    tel_n, feat_n = deployed_shards or (cap.telemetry_shards, cap.features_shards)
    for stream, bps, shards, consumers in (
        ("telemetry", cap.telemetry_bytes_per_s, tel_n, tel_consumers),
        ("features", cap.features_bytes_per_s, feat_n, feat_consumers),
    ):
        more = f"deploy more shards (streams.{stream}.shards: `rotorwatch cost` sizes them)"
        hot = hottest_shard_share(shards, fleet.devices)
        burst = busiest_second_share(shards, fleet.devices, msg_per_s)
        where = f"{stream} stream, busiest of {shards} shards (mean + {HOT_SHARD_SIGMAS:g} sd)"
        # Writes are counted per second: the busiest shard's busy second, not its mean.
        second = f"{where}, its busy seconds (mean + {BURST_SIGMAS:g} sd)"
        add("kinesis_shard_write_bytes", bps * burst / MiB, second, fix=more)
        add("kinesis_shard_write_records", msg_per_s * burst, second, fix=more)
        add(
            "kinesis_shard_read_bytes",
            consumers * bps * hot / MiB,
            f"{where}, {consumers} reader(s)",
            fix=more,
        )
    add(
        "kinesis_put_records_entries",
        cap.extract_batch_records,
        "features of one extract batch (the handler splits above the limit)",
    )
    add(
        "kinesis_put_records_bytes",
        cap.extract_batch_records * a.feature_record_bytes / MiB,
        "features of one extract batch",
    )

    # IoT Core: one publish, one rule evaluation and one Kinesis action per window.
    add("iot_inbound_publishes", msg_per_s, "the fleet's windows")
    add("iot_rule_evaluations", msg_per_s, "one rule and one Kinesis action per window")
    add("iot_publishes_per_connection", 1.0 / fleet.interval_s, "one device")

    # Lambda: at most shards x ParallelizationFactor batches of each stream at once (the
    # catch-up peak), plus the watchdog.
    peak = cap.extract_concurrency_limit + cap.score_concurrency_limit + 1
    add("lambda_concurrency", float(peak), "peak: shards x parallelization + watchdog")

    # SageMaker: one call per score batch, so at most the score concurrency at once.
    add(
        "sagemaker_endpoint_concurrency",
        float(cap.score_concurrency_limit),
        "peak: one call per concurrent score batch",
        limit=float(min(endpoint_max_concurrency or 200, 200)),
        fix="raise the stage's endpoint.max_concurrency (at most 200), else fewer features "
        "shards or a longer scoring window",
    )
    add(
        "sagemaker_account_concurrency",
        float(min(cap.score_concurrency_limit, endpoint_max_concurrency or 200)),
        "this endpoint's peak (shared with the account's other serverless endpoints)",
    )

    # DynamoDB state: one write per device per score batch; a device's item is one partition
    # key, so a partition takes at most a device's writes (writes of 1 KB = 1 WCU each).
    per_device = 1.0 / (fleet.interval_s * fleet.windows_per_device_batch)
    add("dynamodb_partition_writes", per_device * a.dynamodb_writes_per_record, "one device")
    table = next(
        (line.quantity for line in report.lines if line.item.startswith("state writes")), 0.0
    )
    add("dynamodb_table_writes", table / (730.0 * 3600.0), "state table, mean")

    window = next(
        w
        for w in (score_window_s, fleet.score_batch_window_s, fleet.batch_window_s, 1.0)
        if w is not None
    )
    burst = fleet.devices * SMS_BURST_DEVICE_FRACTION * a.sms_subscribers / max(window, 1.0)
    add(
        "sns_sms_rate",
        burst,
        f"{SMS_BURST_DEVICE_FRACTION:.0%} of devices alarming in one scoring window",
    )
    return out


def binding(checks: list[QuotaCheck]) -> list[QuotaCheck]:
    return [c for c in checks if c.binds]


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


def describe(c: QuotaCheck) -> str:
    how = c.fix or ("request an increase" if c.adjustable else "a hard limit: change the design")
    return (
        f"{c.name} ({c.what}): {_num(c.used)} {c.unit} needed, {_num(c.limit)} allowed; {how} "
        f"({c.source})"
    )


__all__ = ["QUOTAS", "Quota", "QuotaCheck", "binding", "check", "describe"]
