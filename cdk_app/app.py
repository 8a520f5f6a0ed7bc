"""The rotorwatch CDK app: one app, one stack per lifecycle.

Run by the CLI (``npx --no-install cdk synth``, cdk.json's "app") or directly
(``CDK_OUTDIR=cdk.out python -m cdk_app.app``). Run directly, nobody passes cdk.json's context
in, so :func:`load_cdk_json_context` reads it; context from the CLI (``-c stage=prod``) wins.
Nothing here looks anything up in AWS: synth works offline without credentials.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack, Tags

from cdk_app import nag
from cdk_app.stacks.analytics import AnalyticsStack
from cdk_app.stacks.ingestion import IngestionStack
from cdk_app.stacks.ml import MODEL_ARTIFACT, MissingModelError, MlStack, UnsupportedRegionError
from cdk_app.stacks.operations import NO_OPS_RECIPIENTS, Monitored, OperationsStack
from cdk_app.stacks.processing import NO_ALERT_RECIPIENTS, ProcessingStack
from cdk_app.stacks.storage import StorageStack
from rotorwatch.deployment.cost.deployed import stage_quota_checks
from rotorwatch.deployment.cost.quotas import binding, describe
from rotorwatch.deployment.stage import (
    ON_DEMAND_INITIAL_SHARDS,
    ConfigError,
    StageConfig,
    from_context,
    shard_steps,
)
from rotorwatch.lake import layout as lake
from rotorwatch.version import VERSION, VERSION_TAG

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RotorwatchApp:
    app: App
    config: StageConfig
    storage: StorageStack
    ingestion: IngestionStack
    analytics: AnalyticsStack
    ml: MlStack | None
    processing: ProcessingStack
    operations: OperationsStack
    stacks: list[Stack]
    #: Why a stack or resource was left out (only when strict_artifacts=False).
    skipped: dict[str, str]
    #: What a deploy of this stage would get wrong without being told (also stack warnings).
    warnings: list[str]


def load_cdk_json_context(root: Path = ROOT) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "cdk.json").read_text())
    return dict(data.get("context", {}))


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    builtin_validation: bool = True,
    env: Mapping[str, str] | None = None,
    strict_artifacts: bool = True,
    model_artifact: Path = MODEL_ARTIFACT,
    glue_script: Path = ROOT / lake.GLUE_JOB_SCRIPT,
) -> RotorwatchApp:
    """Build (not synthesize) the app.

    ``context`` defaults to cdk.json's; ``env`` (default: the process environment) supplies the
    CLI's CDK_DEFAULT_ACCOUNT/REGION when the context names no account/region.
    Built artifacts (the model tarball, the Glue script) must exist unless
    ``strict_artifacts=False`` (unit tests), which leaves out what is missing and says why in
    ``skipped``: the ml stack without the model (scoring then runs on the rules), the Glue job
    without its script.
    """
    ctx = load_cdk_json_context() if context is None else dict(context)
    app = App(context=ctx, outdir=outdir, builtin_cloud_formation_validation=builtin_validation)
    # Read back through the app so CLI context (CDK_CONTEXT_JSON) overrides cdk.json.
    merged = {k: app.node.try_get_context(k) for k in (*ctx, "stage", "account", "region")}
    config = from_context(
        {k: v for k, v in merged.items() if v is not None},
        os.environ if env is None else env,
    )
    nag.add_checks(app)
    stack_env = Environment(account=config.account, region=config.region)
    prefix = config.stack_prefix

    storage = StorageStack(app, f"{prefix}-Storage", config=config, env=stack_env)
    ingestion = IngestionStack(
        app,
        f"{prefix}-Ingestion",
        config=config,
        env=stack_env,
    )
    ingestion.node.add_dependency(storage)
    skipped: dict[str, str] = {}

    script: Path | None = glue_script
    if not glue_script.is_file():
        message = (
            f"Glue job script {glue_script} not found (it comes with the data-lake work): "
            "the machine-health Glue job cannot be deployed"
        )
        if strict_artifacts:
            raise FileNotFoundError(message)
        skipped["glue_job"] = message
        script = None
    analytics = AnalyticsStack(
        app,
        f"{prefix}-Analytics",
        config=config,
        glue_script=script,
        features_stream=ingestion.features_stream,
        telemetry_stream=ingestion.telemetry_stream,
        env=stack_env,
    )
    analytics.node.add_dependency(storage)

    ml: MlStack | None = None
    if model_artifact.is_file() or strict_artifacts:
        ml = MlStack(app, f"{prefix}-Ml", config=config, artifact=model_artifact, env=stack_env)
    else:
        skipped["ml"] = str(MissingModelError(model_artifact))

    processing = ProcessingStack(
        app,
        f"{prefix}-Processing",
        config=config,
        telemetry_stream=ingestion.telemetry_stream,
        features_stream=ingestion.features_stream,
        predictions_stream=analytics.predictions_delivery,
        glue_database=analytics.database_name,
        athena_workgroup=analytics.workgroup_name,
        endpoint_name=ml.endpoint_name if ml else None,
        env=stack_env,
    )
    processing.node.add_dependency(storage)
    if ml:
        processing.node.add_dependency(ml)  # the endpoint must exist before it is called

    operations = OperationsStack(
        app,
        f"{prefix}-Operations",
        config=config,
        watch=Monitored(
            streams={
                "telemetry": ingestion.telemetry_stream,
                "features": ingestion.features_stream,
            },
            functions={
                "extract_features": processing.extract_features.function,
                "score_and_alert": processing.score_and_alert.function,
            },
            # Secrets Manager calls the key rotation on its schedule: errors only, like the
            # watchdog (a failed rotation keeps the current key; links keep working).
            scheduled={
                "watchdog": processing.watchdog.function,
                "feedback_key_rotation": processing.feedback.rotation.function,
            },
            request_functions={"feedback": processing.feedback.function.function},
            http_apis={"feedback_api": processing.feedback.api},
            deliveries={
                "features": analytics.features_delivery,
                "predictions": analytics.predictions_delivery,
            },
            telemetry_rules=ingestion.rule_names,
            alerts_topic=processing.alerts_topic,
            failed_batches=processing.failures,
            endpoint_name=ml.endpoint_name if ml else None,
            glue_jobs=tuple(
                job.job_name for job in (analytics.job, analytics.raw_keep_job) if job is not None
            ),
        ),
        env=stack_env,
    )
    operations.node.add_dependency(storage)

    stacks: list[Stack] = [
        storage,
        ingestion,
        analytics,
        *([ml] if ml else []),
        processing,
        operations,
    ]
    for stack in stacks:
        Tags.of(stack).add("rotorwatch:stage", config.stage)
        # Which release a deployed resource came from (CHANGELOG.md, "Upgrading").
        Tags.of(stack).add(VERSION_TAG, VERSION)
        for k, v in config.tags.items():
            Tags.of(stack).add(k, v)
    return RotorwatchApp(
        app=app,
        config=config,
        storage=storage,
        ingestion=ingestion,
        analytics=analytics,
        ml=ml,
        processing=processing,
        operations=operations,
        stacks=stacks,
        skipped=skipped,
        warnings=stage_warnings(config),
    )


def stage_warnings(config: StageConfig) -> list[str]:
    """What ``rotorwatch synth`` says about a stage before it is deployed."""
    out = []
    if not (config.alert_emails or config.alert_phone_numbers):
        out.append(NO_ALERT_RECIPIENTS.format(stage=config.stage))
    if not config.ops_emails:
        out.append(NO_OPS_RECIPIENTS.format(stage=config.stage))
    if config.alert_phone_numbers:
        out.append(
            f"stage {config.stage} sends SMS: a new account is in the SNS SMS sandbox (texts "
            "reach verified numbers only) with a USD 1.00 monthly spend limit; see README, "
            "Deploy"
        )
    for name, stream in (
        ("telemetry", config.telemetry_stream),
        ("features", config.features_stream),
    ):
        if stream.mode == "provisioned" and stream.shards > 2 * ON_DEMAND_INITIAL_SHARDS:
            steps = shard_steps(ON_DEMAND_INITIAL_SHARDS, stream.shards)
            out.append(
                f"stage {config.stage}: the {name} stream, if it was deployed on-demand "
                f"({ON_DEMAND_INITIAL_SHARDS} shards), cannot reach {stream.shards} shards in one "
                f"deploy (UpdateShardCount at most doubles): deploy shards "
                f"{' then '.join(map(str, steps))} (CHANGELOG.md, Upgrading)"
            )
    # The stage's stated fleet against the documented quotas (rotorwatch.deployment.cost.quotas).
    for q in binding(stage_quota_checks(config)):
        out.append(f"stage {config.stage}: fleet.devices/interval_s exceed a quota: {describe(q)}")
    if config.reserved_concurrency:
        out.append(
            f"stage {config.stage} reserves {config.reserved_concurrency} Lambda concurrency: "
            f"the account's concurrency quota must be at least "
            f"{config.account_concurrency_needed} (a new account has 10)"
        )
    return out


def main() -> None:
    # Until `make model` has built the bootstrap model, synthesize without the ml stack (scoring
    # runs on the ISO/envelope rules, marked degraded) and say so, instead of refusing to synth.
    try:
        built = build_app(strict_artifacts=False)
    except (MissingModelError, FileNotFoundError, UnsupportedRegionError, ConfigError) as exc:
        raise SystemExit(f"rotorwatch synth: {exc}") from None
    for what, why in built.skipped.items():
        print(f"rotorwatch synth: left out {what}: {why}", file=sys.stderr)
    for warning in built.warnings:
        print(f"rotorwatch synth: warning: {warning}", file=sys.stderr)
    built.app.synth()


if __name__ == "__main__":
    main()
