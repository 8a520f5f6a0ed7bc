"""The scaled load drill (`make drill-load`), tiny: prod's shards and batching, the rate and the
Kinesis quotas shrunk to 16 devices (factor 0.0016, one per telemetry shard), half a simulated
minute of windows.

It must pass on the shards the stage deploys and fail when a stream is under-provisioned; the
quota gate must answer as Kinesis does, so the handlers' own retries run against it.
"""

from __future__ import annotations

import math
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from lambdas.common.batch import put_records
from local_cloud.load_drill import DrillConfig, DrillResult, run, stage_config, table
from local_cloud.quota_gate import THROTTLED, KinesisGate
from rotorwatch.deployment.cost.fleet import hottest_shard_share
from rotorwatch.deployment.cost.quotas import QUOTAS, MiB
from tests.drills import figures

#: 16 devices: one on each of prod's 16 telemetry shards (the busiest shard's share stays prod's).
TINY = DrillConfig(factor=0.0016, minutes=0.5)


def _record(name: str, r: DrillResult) -> None:
    figures.record(
        figures.Figure(
            drill=name,
            records_in=r.published,
            records_out=r.lake["predictions"].distinct,
            quarantined=r.quarantined,
            alerts=r.alerts,
            redeliveries=r.put_records_retried,
            lake_rows=r.lake["predictions"].rows,
            lost=r.lost,
            duplicated=r.duplicated_alerts,
            note=f"max iterator age {max(r.iterator_age_s.values()):.0f} s; "
            f"{r.rule_errors} to the rule's error action; {r.duplicated} duplicated lake rows",
        )
    )


def test_tiny_drill_passes_on_the_stage_shards(tmp_path: Path) -> None:
    r = run(TINY, tmp_path)
    _record("load drill, tiny, prod shards", r)
    assert r.passed, table(r)
    assert r.published == 16 * 3  # 30 s of a window every 10 s
    for name, count in r.lake.items():
        assert (count.rows, count.distinct, count.lost) == (r.published, r.published, 0), name
    assert r.rule_errors == 0
    assert r.discarded == 0
    # Not a vacuous pass: the busiest telemetry shard ran at two thirds of its scaled write quota
    # over the bucket's 10 s, the mean prod's shards are sized for (each shard's busy seconds,
    # mean + 3 sd, fill it: cost.fleet.busiest_second_share; tests/unit/test_cost_bursts.py).
    tel = next(q for q in r.quotas if q.quota == "Kinesis write per shard (telemetry)")
    assert 0.6 < tel.share <= 1.0, table(r)
    assert max(r.iterator_age_s.values()) < r.iterator_age_limit_s


def test_halved_telemetry_shards_are_caught(tmp_path: Path) -> None:
    """The class: a stream provisioned below its load. Half the stage's telemetry shards carry
    twice the bytes each; Kinesis refuses the excess, the IoT rule sends it to its error action,
    and the drill fails naming the quota."""
    half = stage_config("prod").telemetry_stream.shards // 2
    r = run(DrillConfig(factor=TINY.factor, minutes=TINY.minutes, telemetry_shards=half), tmp_path)
    _record("load drill, tiny, telemetry shards halved", r)
    assert not r.passed
    tel = next(q for q in r.quotas if q.quota == "Kinesis write per shard (telemetry)")
    assert tel.share > 1.0
    assert tel.throttled
    assert r.rule_errors == tel.throttled
    assert any("ProvisionedThroughputExceededException" in f for f in r.failures), r.failures
    # What the error action took never reaches the lake: the end-to-end count sees it.
    assert r.lake["raw"].lost == r.rule_errors


@mock_aws
def test_gate_answers_as_kinesis_and_the_handlers_retry_into_the_next_second() -> None:
    """API_PutRecords: a throttled entry comes back in a 200 answer with ErrorCode
    ProvisionedThroughputExceededException and "Rate exceeded for shard ..."; the handlers'
    put_records re-sends only those entries after a backoff, and on the drill's clock the
    backoff refills the shard's quota."""
    now = [0.0]
    gate = KinesisGate(lambda: now[0], factor=0.01, burst_s=1.0)
    kinesis = boto3.client("kinesis", region_name="eu-west-1")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    # 1 MiB/s x 0.01 for 1 s: about 10 KiB a second; three 6 KB entries fit one at a time.
    assert gate.bytes_per_s == QUOTAS["kinesis_shard_write_bytes"].limit(None) * MiB * 0.01
    data = [bytes(6000) for _ in range(3)]
    with gate:
        raw = kinesis.put_records(
            StreamName="s", Records=[{"Data": d, "PartitionKey": "k"} for d in data]
        )
        assert raw["FailedRecordCount"] == 2
        refused = [e for e in raw["Records"] if "ErrorCode" in e]
        assert {e["ErrorCode"] for e in refused} == {THROTTLED}
        assert refused[0]["ErrorMessage"].startswith("Rate exceeded for shard shardId-")

        def sleep(s: float) -> None:
            now[0] += max(s, 0.6)  # at least the time the quota needs to refill one entry

        now[0] += 10.0
        result = put_records(kinesis, "s", data, ["k"] * 3, max_attempts=4, sleep=sleep)
    assert result.failed == []
    assert result.retried >= 2
    shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    got = kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]
    assert len(got) == 1 + 3  # the first call's one accepted entry, then all three


@pytest.mark.parametrize("factor", [0.0, 1.5])
def test_drill_refuses_a_factor_outside_0_1(
    factor: float, capsys: pytest.CaptureFixture[str]
) -> None:
    from local_cloud.load_drill import main

    assert main(["--factor", str(factor)]) == 2
    assert "--factor must be in (0, 1]" in capsys.readouterr().err


def test_a_bucket_smaller_than_one_window_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """0.1 s of a 1/50 shard quota (2 KiB) can never take an 11 KB window: every write would be
    refused, which says nothing about the design."""
    from local_cloud.load_drill import main

    assert main(["--burst-s", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "less than one" in err
    assert "Traceback" not in err


def test_one_shard_at_full_rate_takes_the_busiest_shards_devices_at_unscaled_per_second_quotas(
    tmp_path: Path,
) -> None:
    """`make drill-load DRILL_ARGS=--one-shard`: a shard's per-second count spreads by the square
    root of its mean, so the busy seconds prod is sized for (cost.fleet.busiest_second_share)
    show only with the shard's real device count, random phases and the quota per second."""
    prod = stage_config("prod")
    assert prod.fleet_devices is not None
    r = run(DrillConfig(one_shard=True, minutes=0.05), tmp_path)
    _record("load drill, one shard at full rate (3 s)", r)
    assert r.devices == math.ceil(
        prod.fleet_devices * hottest_shard_share(prod.telemetry_stream.shards, prod.fleet_devices)
    )
    assert r.shards == (1, 1)
    assert r.burst_s == 1.0
    tel = next(q for q in r.quotas if q.quota == "Kinesis write per shard (telemetry)")
    assert tel.limit == QUOTAS["kinesis_shard_write_bytes"].limit(None) * 1024  # KiB/s, unscaled
    assert r.passed, table(r)
    assert r.published > 100
    assert (r.lake["raw"].rows, r.lake["raw"].lost) == (r.published, 0)
