"""One synth of the whole CDK app per test session (each synth costs seconds)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.infra.cdk_helpers import Synth

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def synthesize(outdir: Path, context: dict[str, Any]) -> Synth:
    """Build and synthesize the app offline (no pip, no CloudFormation validation, no env)."""
    from cdk_app.app import build_app
    from cdk_app.constructs.function import SKIP_PIP_CONTEXT

    # Unit synth stays offline and fast: the bundler copies sources but does not run pip
    # (the bundling function itself is tested against a fake pip).
    context = {**context, SKIP_PIP_CONTEXT: True}
    built = build_app(
        context, outdir=str(outdir), builtin_validation=False, env={}, strict_artifacts=False
    )
    built.app.synth()
    templates = {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in outdir.glob("*.template.json")
    }
    return Synth(outdir=outdir, built=built, templates=templates)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from cdk_app.app import load_cdk_json_context

    context = load_cdk_json_context()
    # Subscriptions only exist when the stage names recipients: give the test stage some.
    dev = context["rotorwatch:stages"]["dev"]
    dev["alert_emails"] = ["tech@example.com"]
    dev["alert_phone_numbers"] = ["+441234567890"]
    dev["ops_emails"] = ["oncall@example.com"]
    return synthesize(tmp_path_factory.mktemp("cdk.out"), context)


@pytest.fixture(scope="session")
def prod_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The prod stage exactly as cdk.json defines it (what checkov scans)."""
    from cdk_app.app import load_cdk_json_context

    context = {**load_cdk_json_context(), "stage": "prod"}
    return synthesize(tmp_path_factory.mktemp("cdk.out.prod"), context)
