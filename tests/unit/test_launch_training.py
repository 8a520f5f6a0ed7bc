"""sagemaker/launch_training.py against moto: the SDK's real calls, answered at the boto3 boundary."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rotorwatch.lake.layout import FEATURES_PREFIX

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
BUCKET = "rw-lake"

pytestmark = pytest.mark.slow


def _launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "launch_training", ROOT / "sagemaker" / "launch_training.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _card() -> dict[str, Any]:
    metrics = {"accuracy": 0.97, "macro_f1": 0.96, "anomaly_roc_auc": 0.99, "windows": 10}
    return {
        "name": "rotorwatch anomaly + fault model",
        "model_version": "rw-0123456789ab",
        "intended_use": "tests",
        "classifier": {"kind": "boosted trees"},
        "metrics": {"validation_held_out_machines": metrics, "training": metrics},
    }


def test_trains_on_the_lake_features_and_registers_with_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    import sagemaker.session
    from moto import mock_aws

    # The SDK polls the job every 5 s; moto's job is already complete, so skip the nap.
    monkeypatch.setattr(sagemaker.session.time, "sleep", lambda _s: None)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    launcher = _launcher()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        role = session.client("iam").create_role(
            RoleName="rw-sagemaker", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        # What the training job would leave behind (moto does not run the container).
        buf = io.BytesIO()
        card = json.dumps(_card()).encode()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("model_card.json")
            info.size = len(card)
            tar.addfile(info, io.BytesIO(card))
        s3.put_object(
            Bucket=BUCKET, Key="models/training/rw-job-1/output/model.tar.gz", Body=buf.getvalue()
        )

        result = launcher.launch(
            boto_session=session,
            bucket=BUCKET,
            role_arn=role,
            job_name="rw-job-1",
            labels_s3=f"s3://{BUCKET}/labels/",
        )

        sm = session.client("sagemaker")
        job = sm.describe_training_job(TrainingJobName="rw-job-1")
        channels = {
            c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in job["InputDataConfig"]
        }
        assert channels == {
            "train": f"s3://{BUCKET}/{FEATURES_PREFIX}",
            "labels": f"s3://{BUCKET}/labels/",
        }
        assert job["AlgorithmSpecification"]["TrainingImage"].endswith(
            "sagemaker-scikit-learn:1.4-2-cpu-py3"
        )
        assert job["HyperParameters"]["sagemaker_program"] == '"train.py"'
        # The staged source carries train.py, inference.py and the rotorwatch subset.
        src_bucket, _, src_key = json.loads(job["HyperParameters"]["sagemaker_submit_directory"])[
            5:
        ].partition("/")
        src = s3.get_object(Bucket=src_bucket, Key=src_key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(src)) as tar:
            names = set(tar.getnames())
        assert {
            "train.py",
            "inference.py",
            "requirements.txt",
            "rotorwatch/diagnosis/model/train.py",
        } <= names
        assert "rotorwatch/contract/telemetry.py" not in names

        package = sm.describe_model_package(ModelPackageName=result["model_package_arn"])
        assert package["ModelPackageGroupName"] == "rotorwatch-fault-model"
        assert package["ModelApprovalStatus"] == "PendingManualApproval"
        assert package["CustomerMetadataProperties"]["accuracy"] == "0.9700"
        assert package["CustomerMetadataProperties"]["model_version"] == "rw-0123456789ab"
        container = package["InferenceSpecification"]["Containers"][0]
        assert container["ModelDataUrl"] == result["model_data"]
        assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
        stats = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
        key = stats.split(f"s3://{BUCKET}/", 1)[1]
        assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["macro_f1"] == 0.96

        # A second run registers a new version in the same group.
        s3.put_object(
            Bucket=BUCKET, Key="models/training/rw-job-2/output/model.tar.gz", Body=buf.getvalue()
        )
        again = launcher.launch(
            boto_session=session, bucket=BUCKET, role_arn=role, job_name="rw-job-2"
        )
        assert again["model_package_arn"].endswith("/2")
