"""The bill: one telemetry window followed through the deployed pipeline, priced line by line
(:func:`estimate`). Each cost lever priced against its baseline is :mod:`rotorwatch.deployment.cost.levers`."""

from __future__ import annotations

import math
from collections.abc import Callable

from rotorwatch.contract.telemetry_v2 import CONTRACT_VERSION, RAW_CONTRACT_FIELD, message_bytes_v2
from rotorwatch.deployment.cost.fleet import (
    DAYS_PER_MONTH,
    GB,
    HOURS_PER_MONTH,
    KINESIS_STREAMS,
    MINUTES_PER_MONTH,
    SECONDS_PER_MONTH,
    TB,
    Assumptions,
    Fleet,
    achieved_batch,
    event_max_records,
    features_shards_for_batching,
    increments,
    message_bytes,
    shards_needed,
    state_writes_per_s,
    stream_consumers,
)
from rotorwatch.deployment.cost.prices import PriceTable
from rotorwatch.deployment.cost.report import Capacity, CostLine, CostReport
from rotorwatch.lake import layout as lake
from rotorwatch.lake import raw_keep

#: What a v2 window's raw line carries beyond its v1 form: ``,"contract":2``.
RAW_CONTRACT_LINE_BYTES = len(f',"{RAW_CONTRACT_FIELD}":{CONTRACT_VERSION}')


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
    # What reaches Kinesis: the v1 rule adds site and received_at to a v1 message; the v2 rule
    # passes a v2 message unchanged. The raw lake line is the v1 form either way
    # (extract_features), a v2 window's with its "contract" field.
    record_bytes = msg_bytes + a.rule_added_bytes
    raw_line_bytes = record_bytes
    if fleet.contract == 2:
        msg_bytes = message_bytes_v2(fleet.samples)
        record_bytes = msg_bytes
        raw_line_bytes += RAW_CONTRACT_LINE_BYTES

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
    tel_consumers, feat_consumers = stream_consumers(fleet.raw_path, fleet.features_path)
    tel_shards = shards_needed(msg_per_s, tel_bps, tel_consumers, p, fleet.devices)
    feat_shards = shards_needed(feat_per_s, feat_bps, feat_consumers, p, fleet.devices)
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
        out_gb = tel_in_gb * tel_consumers + feat_in_gb * feat_consumers
        add(
            "Kinesis",
            "data out (on-demand, per consumer)",
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
    ext_ms = a.extract_overhead_ms + ext_batch * (
        a.extract_ms_per_record
        + (a.raw_gzip_ms_per_record if fleet.raw_path == "s3_object" else 0.0)
    )
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

    # Raw: one S3 object per extract batch (no Firehose), aggregated Direct PUT lines, or one
    # Kinesis-sourced record per window (billed_gb's default). Features: one Kinesis-sourced
    # record per window (default) or aggregated Direct PUT lines from extract_features.
    if fleet.raw_path == "s3_object":
        billed_gb["raw"] = 0.0
    elif fleet.raw_path == "direct_put":
        billed_gb["raw"] = aggregated_gb(ext_batch, raw_line_bytes, ext_inv_s)
    if fleet.features_path == "direct_put":
        billed_gb["features"] = aggregated_gb(ext_batch, a.feature_record_bytes, ext_inv_s)
    if fleet.aggregate_predictions:
        billed_gb["predictions"] = aggregated_gb(
            score_batch, a.prediction_record_bytes, score_inv_s
        )
    total_billed_gb = sum(billed_gb.values())
    add(
        "Firehose",
        "ingestion (5 KB rounding)",
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
    if fleet.raw_path == "s3_object":
        # One object per extract_features batch (lake.raw_object_key).
        objects_by_stream["raw"] = ext_inv_s * SECONDS_PER_MONTH
    objects = sum(objects_by_stream.values())
    if a.dynamic_partitioning:
        dp_gb = sum(
            messages * size / GB
            for name, size, _, _ in deliveries
            if name != "raw" or fleet.raw_path != "s3_object"
        )
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
        "PUT requests (Firehose deliveries"
        + (", a raw object per batch)" if fleet.raw_path == "s3_object" else ")"),
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
    if fleet.raw_keep:
        run_h = _raw_keep_lines(
            fleet, a, p, add, messages * raw_line_bytes / GB / DAYS_PER_MONTH, lake_std_gb=std_gb
        )
        if run_h > raw_keep.JOB_TIMEOUT_HOURS:
            warnings.append(
                f"the raw sampling job needs about {run_h:.1f} h a day on {a.raw_keep_dpu:g} "
                f"DPUs, beyond its {raw_keep.JOB_TIMEOUT_HOURS} h timeout: raise "
                "lake.raw_keep_workers"
            )

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


def _raw_keep_lines(
    fleet: Fleet,
    a: Assumptions,
    p: PriceTable,
    add: Callable[[str, str, float, str, float], None],
    raw_gb_per_day: float,
    *,
    lake_std_gb: float,
) -> float:
    """What raw sampling adds: the kept windows' storage (kept as long as the lake, Standard-IA
    after the raw tiering's days, no Glacier) and the daily job's DPU-hours. Returns the hours
    a run takes."""
    rule = raw_keep.KeepRule(fleet.raw_keep_minutes, fleet.raw_keep_per_hour)
    share = raw_keep.kept_fraction(fleet.interval_s, rule, fleet.state_changes_per_device_day)
    kept_per_day_gb = raw_gb_per_day * share * a.raw_kept_bytes_ratio
    days = float(fleet.retention_days)
    std_days = min(days, a.s3_ia_after_days)
    ia_days = max(0.0, days - a.s3_ia_after_days)
    std_gb = kept_per_day_gb * std_days
    # On top of the rest of the lake's Standard GB: the tier the kept bytes fall in.
    tiers = "standard_tiers_usd_per_gb_month"
    add(
        "S3",
        f"Standard storage (raw kept: {share:.1%} of windows)",
        std_gb,
        "GB-month",
        p.tiered("s3", tiers, lake_std_gb + std_gb) - p.tiered("s3", tiers, lake_std_gb),
    )
    add(
        "S3",
        "Standard-IA storage (raw kept)",
        kept_per_day_gb * ia_days,
        "GB-month",
        kept_per_day_gb * ia_days * p.rate("s3", "standard_ia_usd_per_gb_month"),
    )
    min_h = p.rate("glue", "minimum_billed_s") / 3600.0
    run_h = max(
        raw_gb_per_day / (a.raw_keep_gb_per_dpu_hour * a.raw_keep_dpu)
        + a.raw_keep_fixed_minutes_per_run / 60.0,
        min_h,
    )
    dpu_h = DAYS_PER_MONTH * run_h * a.raw_keep_dpu
    add(
        "Glue",
        "raw sampling job DPU-hours",
        dpu_h,
        "DPU-hours",
        dpu_h * p.rate("glue", "etl_dpu_hour_usd"),
    )
    return run_h
