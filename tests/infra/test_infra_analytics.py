"""The analytics stack: Firehose layout, Glue tables with projection, Glue job, Athena."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cdk_app.stacks.analytics import deterministic_zip
from rotorwatch.deployment.resources import EnvKey
from rotorwatch.diagnosis.features.schema import FEATURE_FIELDS
from rotorwatch.diagnosis.predictions import PREDICTION_FIELDS
from rotorwatch.lake import layout as lake
from rotorwatch.lake import query, schemas
from tests.infra.cdk_helpers import Synth, only
from tests.infra.cdk_helpers import resources as of_type

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 3, 7, 5, 42, tzinfo=UTC)
JODA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H"}


def render_firehose(prefix: str, when: datetime = WHEN) -> str:
    """What Firehose writes for a record received at ``when`` (its !{timestamp:...} syntax)."""
    return re.sub(r"!\{timestamp:(\w+)\}", lambda m: when.strftime(JODA_TO_STRFTIME[m[1]]), prefix)


def render_projection(params: dict[str, Any], when: datetime = WHEN) -> str:
    """The S3 location Athena's partition projection computes for ``when`` (as template JSON:
    the bucket part is a CloudFormation join)."""
    out = json.dumps(params["storage.location.template"])
    for key, value in (
        ("year", when.year),
        ("month", when.month),
        ("day", when.day),
        ("hour", when.hour),
    ):
        if f"projection.{key}.type" not in params:
            continue
        lo, hi = (int(x) for x in params[f"projection.{key}.range"].split(","))
        assert lo <= value <= hi
        digits = int(params.get(f"projection.{key}.digits", "1"))
        out = out.replace(f"${{{key}}}", str(value).zfill(digits))
    return out


def _deliveries(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for v in of_type(t, "AWS::KinesisFirehose::DeliveryStream").values():
        dest = v["Properties"]["ExtendedS3DestinationConfiguration"]
        out[dest["Prefix"].split("year=")[0]] = v["Properties"]
    return out


def _tables(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        v["Properties"]["TableInput"]["Name"]: v["Properties"]["TableInput"]
        for v in of_type(t, "AWS::Glue::Table").values()
    }


def test_two_deliveries_with_hive_prefixes_and_error_prefixes(synth: Synth) -> None:
    d = _deliveries(synth.template("Analytics"))
    assert set(d) == {lake.FEATURES_PREFIX, lake.PREDICTIONS_PREFIX}
    for prefix, props in d.items():
        dest = props["ExtendedS3DestinationConfiguration"]
        assert render_firehose(dest["Prefix"]) == f"{prefix}year=2026/month=03/day=07/hour=05/"
        assert dest["ErrorOutputPrefix"].startswith(lake.FIREHOSE_ERRORS_PREFIX)
        assert "!{firehose:error-output-type}" in dest["ErrorOutputPrefix"]
        assert "KMSEncryptionConfig" in dest["EncryptionConfiguration"]
        assert (
            dest["BufferingHints"]["IntervalInSeconds"]
            == synth.built.config.firehose.buffer_interval_s
        )


def test_features_lake_reads_the_features_stream_and_raw_has_no_delivery_stream(
    synth: Synth,
) -> None:
    """Issue 25: at 10,000 devices raw (~10.7 MB/s) is above every Region's Direct PUT quota
    and features (~1 MB/s) at the 1 MiB/s of most Regions. Features: the Kinesis-sourced
    stream of 0.1.0 (no Direct PUT quota; type and source unchanged, so no replacement). Raw:
    extract_features puts one object per batch under raw/telemetry/ and may put nowhere else."""
    d = _deliveries(synth.template("Analytics"))
    features = d[lake.FEATURES_PREFIX]
    assert features["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert "FeaturesStream" in json.dumps(features["KinesisStreamSourceConfiguration"])
    assert d[lake.PREDICTIONS_PREFIX]["DeliveryStreamType"] == "DirectPut"
    processing = synth.template("Processing")
    fn = next(
        v["Properties"]
        for k, v in of_type(processing, "AWS::Lambda::Function").items()
        if k.startswith("ExtractFeatures")
    )
    assert EnvKey.QUARANTINE_BUCKET in fn["Environment"]["Variables"]
    statements = [
        s
        for p in of_type(processing, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "firehose:PutRecordBatch" in s["Action"]
    ]
    # Only score_and_alert puts to Firehose (predictions).
    assert len(statements) == 1
    puts = json.dumps(
        [
            s
            for p in of_type(processing, "AWS::IAM::Policy").values()
            if "ExtractFeatures" in json.dumps(p["Properties"]["Roles"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if "s3:PutObject" in s["Action"]
        ]
    )
    assert f"/{lake.RAW_PREFIX}*" in puts


def test_glue_5_jobs_carry_no_glue_4_logging_option(synth: Synth, prod_synth: Synth) -> None:
    # "In AWS Glue 4.0 and earlier versions, continuous logging was an available feature ...
    # with the introduction of AWS Glue 5.0, all jobs have real-time logging capability"
    # (monitor-continuous-logging-enable.html): the argument does nothing on 5.0.
    jobs = [
        j["Properties"]
        for s in (synth, prod_synth)
        for j in of_type(s.template("Analytics"), "AWS::Glue::Job").values()
    ]
    assert jobs
    for job in jobs:
        assert job["GlueVersion"].startswith("5.")
        assert "--enable-continuous-cloudwatch-log" not in job["DefaultArguments"]


def test_features_and_predictions_are_parquet_via_their_glue_tables(synth: Synth) -> None:
    t = synth.template("Analytics")
    d = _deliveries(t)
    table_ids = {
        v["Properties"]["TableInput"]["Name"]: k for k, v in of_type(t, "AWS::Glue::Table").items()
    }
    for prefix, table, source in (
        (lake.FEATURES_PREFIX, lake.FEATURES_TABLE, "KinesisStreamAsSource"),
        (lake.PREDICTIONS_PREFIX, lake.PREDICTIONS_TABLE, "DirectPut"),
    ):
        props = d[prefix]
        assert props["DeliveryStreamType"] == source
        dest = props["ExtendedS3DestinationConfiguration"]
        conv = dest["DataFormatConversionConfiguration"]
        assert conv["Enabled"] is True
        assert "ParquetSerDe" in conv["OutputFormatConfiguration"]["Serializer"]
        assert "OpenXJsonSerDe" in conv["InputFormatConfiguration"]["Deserializer"]
        assert conv["SchemaConfiguration"]["TableName"] == {"Ref": table_ids[table]}
        assert conv["SchemaConfiguration"]["DatabaseName"] == "rotorwatch_dev"
        assert dest["BufferingHints"]["SizeInMBs"] >= 64  # Firehose's floor for conversion
        assert dest.get("CompressionFormat", "UNCOMPRESSED") == "UNCOMPRESSED"
    sse = d[lake.PREDICTIONS_PREFIX]["DeliveryStreamEncryptionConfigurationInput"]
    assert sse["KeyType"] == "CUSTOMER_MANAGED_CMK"


def test_glue_tables_project_the_same_partitions_firehose_writes(synth: Synth) -> None:
    tables = _tables(synth.template("Analytics"))
    lake_dests = {
        p: d["ExtendedS3DestinationConfiguration"]["Prefix"]
        for p, d in _deliveries(synth.template("Analytics")).items()
    }
    # Raw's objects are extract_features' (lake.raw_object_key), in the same arrival layout.
    lake_dests[lake.RAW_PREFIX] = lake.firehose_prefix(lake.RAW_TABLE)
    key = lake.raw_object_key(1_772_860_000_000, "shardId-0", "1", "2")  # 2026-03-07 05:06 UTC
    assert key.startswith(render_firehose(lake_dests[lake.RAW_PREFIX]))
    for name, prefix in (
        (lake.RAW_TABLE, lake.RAW_PREFIX),
        (lake.FEATURES_TABLE, lake.FEATURES_PREFIX),
        (lake.PREDICTIONS_TABLE, lake.PREDICTIONS_PREFIX),
    ):
        params = tables[name]["Parameters"]
        assert params["projection.enabled"] == "true"
        assert [k["Name"] for k in tables[name]["PartitionKeys"]] == list(lake.PARTITION_KEYS)
        written = render_firehose(lake_dests[prefix])
        assert written == f"{prefix}year=2026/month=03/day=07/hour=05/"
        assert render_projection(params).endswith(f'/{written}"]]}}')
    for name in (lake.HEALTH_HOURLY_TABLE, lake.HEALTH_DAILY_TABLE):
        assert (
            json.dumps(tables[name]["Parameters"]["storage.location.template"]).count(
                f"{lake.CURATED_PREFIX}{name}/year=${{year}}"
            )
            == 1
        )


def test_table_columns_come_from_the_shared_schemas(synth: Synth) -> None:
    tables = _tables(synth.template("Analytics"))

    def cols(name: str) -> list[tuple[str, str]]:
        return [(c["Name"], c["Type"]) for c in tables[name]["StorageDescriptor"]["Columns"]]

    assert cols(lake.FEATURES_TABLE) == [(f.name, f.type) for f in FEATURE_FIELDS]
    assert cols(lake.PREDICTIONS_TABLE) == [(f.name, f.type) for f in PREDICTION_FIELDS]
    assert cols(lake.RAW_TABLE) == [(f.name, f.type) for f in schemas.RAW_FIELDS]
    assert cols(lake.HEALTH_DAILY_TABLE) == [(f.name, f.type) for f in schemas.HEALTH_FIELDS]
    raw = tables[lake.RAW_TABLE]["StorageDescriptor"]
    assert raw["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    parquet = tables[lake.FEATURES_TABLE]["StorageDescriptor"]
    assert parquet["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")


def test_athena_workgroup_enforces_location_encryption_and_cutoff(synth: Synth) -> None:
    wg = only(synth.template("Analytics"), "AWS::Athena::WorkGroup")
    cfg = wg["WorkGroupConfiguration"]
    assert wg["Name"] == "rotorwatch-dev"
    assert cfg["EnforceWorkGroupConfiguration"] is True
    assert (
        cfg["BytesScannedCutoffPerQuery"]
        == synth.built.config.athena_bytes_scanned_cutoff_mib * 2**20
    )
    res = cfg["ResultConfiguration"]
    assert res["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert json.dumps(res["OutputLocation"]).endswith(f'/{lake.ATHENA_RESULTS_PREFIX}"]]}}')


def test_every_saved_query_file_becomes_a_named_query(synth: Synth) -> None:
    t = synth.template("Analytics")
    named = {
        v["Properties"]["Name"]: v["Properties"]
        for v in of_type(t, "AWS::Athena::NamedQuery").values()
    }
    saved = {q.name: q for q in query.list_queries()}
    assert set(named) == set(saved)
    for name, props in named.items():
        # As the Athena console runs it: `?` execution parameters, in the header's order.
        assert props["QueryString"] == query.athena_text(saved[name])
        assert props["Database"] == "rotorwatch_dev"


def test_glue_job_runs_glue_5_on_a_schedule_over_explicit_windows(synth: Synth) -> None:
    if "glue_job" in synth.built.skipped:
        pytest.skip(
            f"{lake.GLUE_JOB_SCRIPT} not in this tree yet (lake branch): "
            + synth.built.skipped["glue_job"]
        )
    t = synth.template("Analytics")
    job = only(t, "AWS::Glue::Job")
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["Name"] == "glueetl"
    args = job["DefaultArguments"]
    # The job recomputes whole days over an explicit window: no bookmarks.
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert f"--{lake.JOB_ARG_LAKE_URI}" in args
    assert "--extra-py-files" in args
    assert "SecurityConfiguration" in job
    trigger = only(t, "AWS::Glue::Trigger")
    hours = synth.built.config.glue.schedule_hours
    assert trigger["Type"] == "SCHEDULED"
    assert trigger["Schedule"] == f"cron(15 0/{hours} * * ? *)"
    assert trigger["StartOnCreation"] is True


def test_glue_library_zip_is_deterministic() -> None:
    packages = lake.GLUE_JOB_PY_PACKAGES
    assert deterministic_zip(ROOT, packages) == deterministic_zip(ROOT, packages)


def test_every_lake_table_is_in_the_glue_catalog(synth: Synth) -> None:
    # rotorwatch/lake/layout.py is the layout's one home: the Glue job's compacted tables too.
    tables = _tables(synth.template("Analytics"))
    assert set(tables) == set(lake.TABLES)
    for name, t in lake.TABLES.items():
        assert [k["Name"] for k in tables[name]["PartitionKeys"]] == list(t.partition_keys)
        assert [c["Name"] for c in tables[name]["StorageDescriptor"]["Columns"]] == list(
            t.column_names
        )
