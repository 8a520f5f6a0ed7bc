"""Properties of the whole cloud assembly: cdk-nag clean, cfn-lint clean, no Docker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.cdk_helpers import Synth


def test_every_lifecycle_stack_is_synthesized(synth: Synth) -> None:
    expected = {"Storage", "Ingestion", "Analytics", "Processing", "Operations"}
    if "ml" not in synth.built.skipped:
        expected.add("Ml")
    assert {n.split("-")[-1] for n in synth.templates} == expected


def test_cdk_nag_reports_nothing_unacknowledged(synth: Synth) -> None:
    # A finding fails app.synth() itself; the report then must be empty of violations too
    # (warnings included: they are acknowledged with a reason or fixed).
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    violations = [
        (v["ruleName"], c["constructPath"])
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
        for c in v["violatingConstructs"]
    ]
    assert violations == []


def test_cdk_nag_fails_the_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    from cdk_app import nag

    app = App(outdir=str(tmp_path), builtin_cloud_formation_validation=False)
    sqs.Queue(Stack(app, "Bad"), "Q")  # no DLQ, no TLS enforcement
    nag.add_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules


def test_acknowledgements_need_a_reason() -> None:
    from aws_cdk import App

    from cdk_app.nag import acknowledge

    with pytest.raises(ValueError, match="real reason"):
        acknowledge(App(), "AwsSolutions-S1", "ok")


def test_assembly_needs_no_docker(synth: Synth) -> None:
    manifests = list(synth.outdir.glob("*.assets.json"))
    assert manifests
    for m in manifests:
        assert json.loads(m.read_text()).get("dockerImages", {}) == {}, m.name
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    kinds = {a["type"] for a in manifest["artifacts"].values()}
    assert "cdk:asset-manifest" in kinds


def test_stacks_are_environment_agnostic_without_account_or_region(synth: Synth) -> None:
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    envs = {
        a["environment"]
        for a in manifest["artifacts"].values()
        if a["type"] == "aws:cloudformation:stack"
    }
    assert envs == {"aws://unknown-account/unknown-region"}


@pytest.mark.slow
def test_cfn_lint_finds_no_errors(synth: Synth) -> None:
    templates = sorted(str(p) for p in synth.outdir.glob("*.template.json"))
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or "cfn-lint"
    result = subprocess.run(
        [cfn_lint, "--non-zero-exit-code", "error", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
