"""The ml stack: serverless endpoint serving the bootstrap model artifact."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cdk_app.stacks.ml import (
    IMAGE_TAG,
    MODEL_ARTIFACT,
    SKLEARN_REPOSITORY,
    MissingModelError,
    sklearn_image_accounts,
)
from tests.infra.cdk_helpers import Synth, only


def _ml_template(synth: Synth) -> dict[str, Any]:
    if "ml" in synth.built.skipped:
        pytest.skip(synth.built.skipped["ml"])
    return synth.template("Ml")


def test_image_map_comes_from_the_sagemaker_sdk() -> None:
    accounts = sklearn_image_accounts()
    assert len(accounts) > 20
    assert accounts["eu-west-1"] == "141502667606"
    assert accounts["us-east-1"] == "683313688378"
    assert all(a.isdigit() and len(a) == 12 for a in accounts.values())


def test_missing_model_fails_with_a_pointer_to_make_model(tmp_path: Path) -> None:
    from cdk_app.app import build_app, load_cdk_json_context

    missing = tmp_path / "model.tar.gz"
    with pytest.raises(MissingModelError, match="run `make model`"):
        build_app(
            load_cdk_json_context(),
            outdir=str(tmp_path / "out"),
            env={},
            builtin_validation=False,
            model_artifact=missing,
            glue_script=Path(__file__),
        )  # any existing file: only the model is missing


def test_ml_stack_with_the_real_artifact(synth: Synth) -> None:
    _check_ml_template(_ml_template(synth), synth.built.config)


@pytest.mark.parametrize("env", [None, ("111111111111", "eu-west-1")], ids=["agnostic", "concrete"])
def test_ml_stack_wiring_with_a_stand_in_artifact(
    tmp_path: Path, env: tuple[str, str] | None
) -> None:
    """The stack's wiring does not depend on the model's content: check it even before
    `make model` has run, with a tiny stand-in tarball, in a one-stack app (about a second)."""
    from aws_cdk import App, Environment

    from cdk_app import nag
    from cdk_app.app import load_cdk_json_context
    from cdk_app.stacks.ml import MlStack
    from rotorwatch.deployment.stage import from_context

    artifact = tmp_path / "model.tar.gz"
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("# stand-in\n")
    with tarfile.open(artifact, "w:gz") as tar:
        tar.add(tmp_path / "code", arcname="code")
    config = from_context(load_cdk_json_context(), {})
    app = App(outdir=str(tmp_path / "out"), builtin_cloud_formation_validation=False)
    nag.add_checks(app)
    # The CLI gives stacks a concrete environment from your credentials: cdk-nag finding IDs
    # (and so the acknowledgements) must hold either way.
    stack_env = Environment(account=env[0], region=env[1]) if env else None
    MlStack(app, "Rotorwatch-dev-Ml", config=config, artifact=artifact, env=stack_env)
    app.synth()  # raises on any unacknowledged cdk-nag finding
    template = json.loads((tmp_path / "out" / "Rotorwatch-dev-Ml.template.json").read_text())
    _check_ml_template(template, config)


def _check_ml_template(t: dict[str, Any], config: Any) -> None:
    model = only(t, "AWS::SageMaker::Model")
    container = model["PrimaryContainer"]
    image = json.dumps(container["Image"])
    assert container["Image"]["Fn::Join"][1][0] == {
        "Fn::FindInMap": ["SklearnImageAccount", {"Ref": "AWS::Region"}, "account"]
    }
    assert f"/{SKLEARN_REPOSITORY}:{IMAGE_TAG}" in image
    assert t["Mappings"]["SklearnImageAccount"]["eu-west-1"] == {"account": "141502667606"}
    # Content-hash key: a new model is a new object, hence a new Model and EndpointConfig.
    url = json.dumps(container["ModelDataUrl"])
    assert re.search(r"cdk-hnb659fds-assets-.*/[0-9a-f]{64}\.gz", url), url
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    cfg = only(t, "AWS::SageMaker::EndpointConfig")
    (variant,) = cfg["ProductionVariants"]
    assert variant["ServerlessConfig"] == {
        "MemorySizeInMB": config.endpoint.memory_mb,
        "MaxConcurrency": config.endpoint.max_concurrency,
    }
    endpoint = only(t, "AWS::SageMaker::Endpoint")
    assert endpoint["EndpointName"] == f"rotorwatch-{config.stage}-scoring"
    actions = set()
    for pol in (v for v in t["Resources"].values() if v["Type"] == "AWS::IAM::Policy"):
        for st in pol["Properties"]["PolicyDocument"]["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            actions.update(acts)
            if st["Resource"] == "*":
                assert set(acts) <= {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}
    assert {"ecr:BatchGetImage", "s3:GetObject*"} <= actions
    assert not any(a.startswith(("sagemaker:", "iam:")) for a in actions)


def test_default_artifact_path_is_where_make_model_writes() -> None:
    assert MODEL_ARTIFACT.parts[-3:] == ("sagemaker", "bootstrap", "model.tar.gz")
