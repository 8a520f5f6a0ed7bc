"""The cost model prices what the CDK app deploys (issue 13: it priced 24 Glue runs a day against
a 6-hourly schedule, and Lambda batches of 100 against the deployed 500)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app
from cli.cost import REPO_ROOT
from rotorwatch.deployment.cost.deployed import (
    DEPLOYED_ARCHITECTURE,
    DPU_PER_G1X_WORKER,
    deployed_settings,
)
from rotorwatch.deployment.cost.fleet import Fleet
from rotorwatch.deployment.stage import from_context

CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
STAGES = sorted(CONTEXT["rotorwatch:stages"])


def _config(stage: str):  # type: ignore[no-untyped-def]
    return from_context({**CONTEXT, "stage": stage}, env={})


@pytest.mark.parametrize("stage", STAGES)
def test_cost_json_prices_the_stage_as_deployed(stage: str) -> None:
    cfg = _config(stage)
    result = CliRunner().invoke(
        app, ["cost", "--devices", "10", "--interval", "60", "--stage", stage, "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    fleet, a = out["fleet"], out["assumptions"]
    assert out["stage"] == stage
    # Every setting the bill depends on, against the stage config the CDK app synthesizes from.
    assert fleet["batch_size"] == cfg.extract_features.batch_size
    assert fleet["batch_window_s"] == cfg.extract_features.window_s
    assert fleet["score_batch_size"] == cfg.score_and_alert.batch_size
    assert fleet["score_batch_window_s"] == cfg.score_and_alert.window_s
    assert fleet["kinesis_mode"] == cfg.telemetry_stream.mode
    assert a["glue_runs_per_day"] == pytest.approx(24 / cfg.glue.schedule_hours)
    assert a["glue_dpu"] == cfg.glue.workers * DPU_PER_G1X_WORKER
    assert a["extract_memory_mb"] == a["score_memory_mb"] == cfg.function.memory_mb
    assert a["sagemaker_memory_mb"] == cfg.endpoint.memory_mb
    assert a["parallelization_factor"] == cfg.extract_features.parallelization
    assert a["firehose_buffer_s"] == cfg.firehose.buffer_interval_s
    assert a["s3_ia_after_days"] == cfg.lake.raw_ia_after_days
    assert a["s3_glacier_after_days"] == cfg.lake.raw_glacier_after_days
    assert a["lambda_architecture"] == DEPLOYED_ARCHITECTURE


def test_the_cost_models_own_defaults_are_the_deployed_defaults() -> None:
    """Someone calling the model without a stage gets the deployed batching, not another."""
    from rotorwatch.deployment.stage import DEFAULTS

    assert Fleet(devices=1, interval_s=1).batch_size == DEFAULTS["extract_features"]["batch_size"]
    assert Fleet(devices=1, interval_s=1).batch_window_s == DEFAULTS["extract_features"]["window_s"]


def test_a_changed_stage_changes_the_bill() -> None:
    """The bill follows the config: a stage running Glue hourly pays for 24 runs a day."""
    cfg = _config("dev")
    hourly = from_context(
        {**CONTEXT, "stage": "dev", "rotorwatch:stages": {"dev": {"glue": {"schedule_hours": 1}}}},
        env={},
    )
    _, a6 = deployed_settings(cfg)
    _, a1 = deployed_settings(hourly)
    assert a1["glue_runs_per_day"] == 24.0
    assert a6["glue_runs_per_day"] == 24.0 / cfg.glue.schedule_hours


@pytest.mark.slow
def test_deployed_architecture_and_glue_worker_match_the_cdk_app() -> None:
    """The two facts the stage config does not hold, read from the CDK code (imports aws_cdk)."""
    import inspect

    from cdk_app.constructs.function import ARCHITECTURE
    from cdk_app.stacks import analytics

    assert ARCHITECTURE.name == DEPLOYED_ARCHITECTURE
    # DPU_PER_G1X_WORKER prices G.1X workers: the job must deploy that worker type.
    assert "WorkerType.G_1X" in inspect.getsource(analytics)


def test_at_80_columns_the_total_comes_first() -> None:
    result = CliRunner().invoke(
        app, ["cost", "--devices", "100", "--interval", "10"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("Total: $")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
