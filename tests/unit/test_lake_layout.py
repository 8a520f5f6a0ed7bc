"""Lake layout: partition paths, Firehose prefixes and jq query, projection, schemas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rotorwatch.diagnosis.features import FEATURE_NAMES
from rotorwatch.diagnosis.predictions import PREDICTION_NAMES
from rotorwatch.lake import layout as lake
from rotorwatch.lake import schemas


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("ts_ms", "path"),
    [
        (_ms(2026, 1, 2, 3, 4, 5), "year=2026/month=01/day=02/hour=03"),
        (
            _ms(2025, 12, 31, 23, 59, 59) + 999,
            "year=2025/month=12/day=31/hour=23",
        ),  # last ms of a year
        (_ms(2026, 1, 1), "year=2026/month=01/day=01/hour=00"),
        (_ms(2028, 2, 29, 12), "year=2028/month=02/day=29/hour=12"),
    ],
)
def test_partition_path_is_utc_and_zero_padded(ts_ms: int, path: str) -> None:
    assert lake.partition_path(ts_ms) == path
    assert lake.partition_path(ts_ms, lake.DAY_PARTITION_KEYS) == path.rsplit("/", 1)[0]


def test_partition_path_rejects_non_integer_times() -> None:
    with pytest.raises(TypeError, match="epoch milliseconds"):
        lake.partition_path(1.7e12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lake.partition_path(True)  # type: ignore[arg-type]


def test_object_keys_follow_each_tables_prefix() -> None:
    ts = _ms(2026, 11, 23, 7)
    assert lake.object_key(lake.FEATURES_TABLE, ts, "f.parquet") == (
        "features/year=2026/month=11/day=23/hour=07/f.parquet"
    )
    assert lake.object_key(lake.HEALTH_DAILY_TABLE, ts, "d.parquet") == (
        "curated/machine_health_daily/year=2026/month=11/day=23/d.parquet"
    )
    name = lake.firehose_object_name("features", ts, b"abc", ".parquet")
    assert name.startswith("features-1-2026-11-23-07-00-00-")
    assert name.endswith(".parquet")
    assert name == lake.firehose_object_name("features", ts, b"abc", ".parquet")
    assert name != lake.firehose_object_name("features", ts, b"abd", ".parquet")
    with pytest.raises(ValueError, match="unknown lake table"):
        lake.object_key("nope", ts, "x")


def test_firehose_prefixes_use_the_documented_clock() -> None:
    # Every Firehose table is partitioned by arrival time (Firehose's clock), none by jq.
    assert lake.firehose_prefix(lake.FEATURES_TABLE) == (
        "features/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    )
    assert not any(lake.table(t).event_time for t in lake.FIREHOSE_TABLES)
    # Raw is not Firehose's (extract_features writes one object per batch) but keeps its layout.
    assert lake.raw_object_key(1_796_602_813_932, "shardId-000000000003", "495", "497") == (
        "raw/telemetry/year=2026/month=12/day=07/hour=00/shardId-000000000003-495-497.gz"
    )
    for t in lake.FIREHOSE_TABLES:
        assert "!{firehose:error-output-type}" in lake.firehose_error_prefix(t)
        assert lake.firehose_error_prefix(t).startswith(lake.FIREHOSE_ERRORS_PREFIX)
    with pytest.raises(ValueError, match="not written by Firehose"):
        lake.firehose_prefix(lake.HEALTH_HOURLY_TABLE)


def test_projection_parameters_generate_the_same_paths_as_the_writers() -> None:
    p = lake.projection_parameters(lake.FEATURES_TABLE, "my-lake")
    assert p["projection.enabled"] == "true"
    assert p["projection.month.range"] == "1,12"
    assert p["projection.month.digits"] == "2"
    assert p["projection.hour.range"] == "0,23"
    assert p["projection.hour.digits"] == "2"
    template = p["storage.location.template"]
    assert template == "s3://my-lake/features/year=${year}/month=${month}/day=${day}/hour=${hour}/"
    # Substituting the zero-padded values Athena projects gives the key Firehose wrote.
    ts = _ms(2026, 3, 4, 5)
    values = lake.partition_values(ts)
    path = template
    for k in lake.PARTITION_KEYS:
        path = path.replace("${" + k + "}", values[k].zfill(int(p[f"projection.{k}.digits"])))
    assert path == f"s3://my-lake/{lake.object_key(lake.FEATURES_TABLE, ts, '')}"
    daily = lake.projection_parameters(lake.HEALTH_DAILY_TABLE)
    assert "projection.hour.type" not in daily
    assert "storage.location.template" not in daily


def test_table_schemas_come_from_their_single_homes() -> None:
    assert lake.TABLES[lake.FEATURES_TABLE].column_names == FEATURE_NAMES
    assert lake.TABLES[lake.PREDICTIONS_TABLE].column_names == PREDICTION_NAMES
    assert set(lake.TABLES) >= {
        lake.RAW_TABLE,
        lake.FEATURES_TABLE,
        lake.PREDICTIONS_TABLE,
        lake.HEALTH_HOURLY_TABLE,
        lake.HEALTH_DAILY_TABLE,
    }
    for t in lake.TABLES.values():
        assert t.prefix.endswith("/")
        assert not set(t.column_names) & set(t.partition_keys)


def test_arrow_schema_maps_glue_types() -> None:
    pa = pytest.importorskip("pyarrow")
    schema = lake.arrow_schema(lake.RAW_TABLE)
    assert schema.field("ts").type == pa.int64()
    assert schema.field("v").type == pa.int32()
    assert schema.field("vibration").type.field("data").type == pa.string()
    feats = lake.arrow_schema(lake.FEATURES_TABLE)
    assert feats.field("n_samples").type == pa.int32()
    assert not feats.field("device_id").nullable
    with pytest.raises(ValueError, match="no pyarrow type"):
        schemas.arrow_type("map<string,string>")


def test_top_prefixes_are_disjoint_and_hold_every_prefix_of_the_lake() -> None:
    # The lifecycle gives each top-level prefix its own rules: overlapping ones would act twice.
    tops = lake.TOP_PREFIXES
    for i, a in enumerate(tops):
        for b in tops[i + 1 :]:
            assert not a.startswith(b), (a, b)
            assert not b.startswith(a), (a, b)
    prefixes = {v for k, v in vars(lake).items() if k.endswith("_PREFIX") and isinstance(v, str)}
    for p in prefixes:
        assert any(p.startswith(t) for t in tops), p
