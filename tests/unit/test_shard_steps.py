"""Resharding in steps UpdateShardCount accepts (issue 25 item 5)."""

from __future__ import annotations

import pytest

from rotorwatch.deployment.stage import ON_DEMAND_INITIAL_SHARDS, shard_steps


@pytest.mark.parametrize(
    ("current", "target", "steps"),
    [(4, 12, [8, 12]), (4, 8, [8]), (11, 12, [12]), (12, 4, [6, 4]), (1, 500, None), (5, 5, [])],
)
def test_each_step_at_most_doubles_or_halves(
    current: int, target: int, steps: list[int] | None
) -> None:
    # "You can't scale more than double your current shard count for a stream" / "below half"
    # (Kinesis UpdateShardCount API reference).
    got = shard_steps(current, target)
    if steps is not None:
        assert got == steps
    previous = current
    for n in got:
        assert previous / 2 <= n <= previous * 2
        previous = n
    assert previous == target


def test_synth_warns_when_prod_cannot_be_reached_from_on_demand_in_one_deploy() -> None:
    from cdk_app.app import stage_warnings
    from cli.cost import stage_config

    prod = stage_config("prod")
    assert prod.telemetry_stream.shards > 2 * ON_DEMAND_INITIAL_SHARDS
    (warning,) = [w for w in stage_warnings(prod) if "UpdateShardCount" in w]
    assert "telemetry" in warning
    assert "8 then 16" in warning
    assert not [w for w in stage_warnings(stage_config("dev")) if "UpdateShardCount" in w]
