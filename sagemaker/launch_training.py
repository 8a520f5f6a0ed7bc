"""Retrain the model on SageMaker from the lake and register it in the Model Registry.

1. Stages the training source (sagemaker/train.py + the rotorwatch modules it needs, the same
   subset the artifact ships) and starts a scikit-learn (1.4-2, the serving image's version)
   training job whose ``train`` channel is the lake's features prefix (Parquet written by
   Firehose, or an Athena UNLOAD of the features table) and whose optional ``labels`` channel
   holds ground-truth rows {device_id, ts, seq, fault, severity}; the optional ``feedback``
   channel holds technicians' labelled windows (``rotorwatch feedback-labels --out``, uploaded:
   records.jsonl and labels.jsonl), trained on at LABEL_WEIGHT each.
2. Reads the model card out of the job's model.tar.gz and registers the artifact as a model
   package (PendingManualApproval) in the model package group, with the card's held-out metrics
   as model-quality statistics and as customer metadata.

Approve the package in SageMaker Studio (or update-model-package) and point the ml stack at it
to deploy; see README "## Model".

python sagemaker/launch_training.py --bucket <lake-bucket> --role-arn <sagemaker-role> \
    [--labels-s3 s3://.../labels/] [--feedback-s3 s3://.../feedback-labels/]
    [--group rotorwatch-fault-model]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after site-packages: `sagemaker` must stay the SDK

from rotorwatch.diagnosis.model.artifact import TRAINING_MODULES, write_code  # noqa: E402
from rotorwatch.diagnosis.model.model import CARD_FILE  # noqa: E402
from rotorwatch.lake.layout import FEATURES_PREFIX  # noqa: E402

FRAMEWORK_VERSION = "1.4-2"  # the serving image (cdk_app/stacks/ml.py SKLEARN_IMAGE_VERSION)
DEFAULT_GROUP = "rotorwatch-fault-model"
DEFAULT_INSTANCE = "ml.m5.large"
CONTENT_TYPES = ["application/json", "application/jsonlines"]
#: train.py prints `name=value` lines; SageMaker turns them into training-job metrics.
METRIC_DEFINITIONS = [
    {"Name": name, "Regex": f"^{name}=([0-9.]+)"}
    for name in ("accuracy", "macro_f1", "anomaly_roc_auc")
]


#: Installed by the container from source_dir/requirements.txt before train.py runs: reading the
#: lake's Parquet needs pyarrow, and 20.0.0 is the newest with wheels for the image's Python 3.10.
TRAINING_REQUIREMENTS = "pyarrow==20.0.0\n"


def stage_source(dest: Path) -> Path:
    """The training job's source_dir: train.py, inference.py and the rotorwatch subset."""
    write_code(dest, [HERE / "train.py", HERE / "inference.py"], TRAINING_MODULES)
    (dest / "requirements.txt").write_text(TRAINING_REQUIREMENTS, encoding="utf-8")
    return dest


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def read_card(s3: Any, model_data_uri: str) -> dict[str, Any]:
    """The model card inside a model.tar.gz on S3."""
    bucket, key = _split_s3(model_data_uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        member = tar.extractfile(CARD_FILE)
        if member is None:
            raise ValueError(f"{model_data_uri} has no {CARD_FILE}")
        card: dict[str, Any] = json.loads(member.read())
    return card


def registry_card_content(card: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """SageMaker model-card content (model_card schema) from our model card."""
    numbers = ("accuracy", "macro_f1", "accuracy_all_windows", "anomaly_roc_auc")
    return {
        "model_overview": {
            "model_description": f"{card['name']} {card['model_version']}",
            "algorithm_type": card["classifier"]["kind"],
        },
        "intended_uses": {"intended_uses": card["intended_use"]},
        "evaluation_details": [
            {
                "name": "held-out machines",
                "metric_groups": [
                    {
                        "name": "fault classification and anomaly",
                        "metric_data": [
                            {"name": n, "type": "number", "value": float(metrics[n])}
                            for n in numbers
                            if isinstance(metrics.get(n), int | float)
                        ],
                    }
                ],
            }
        ],
    }


def ensure_group(sm: Any, group: str) -> None:
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except sm.exceptions.ClientError:
        sm.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription="rotorwatch anomaly + fault classifier",
        )


def launch(
    *,
    boto_session: Any,
    bucket: str,
    role_arn: str,
    group: str = DEFAULT_GROUP,
    labels_s3: str | None = None,
    feedback_s3: str | None = None,
    job_name: str | None = None,
    instance_type: str = DEFAULT_INSTANCE,
    wait: bool = True,
) -> dict[str, Any]:
    """Train on the lake's features and register the model; returns what was registered."""
    # SDK v2 is what the container images and this code target; its v3 notice is noise here.
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    from sagemaker.model_card import ModelPackageModelCard
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.session import Session
    from sagemaker.sklearn.estimator import SKLearn

    session = Session(boto_session=boto_session, default_bucket=bucket)
    inputs = {"train": f"s3://{bucket}/{FEATURES_PREFIX}"}
    if labels_s3:
        inputs["labels"] = labels_s3
    if feedback_s3:
        inputs["feedback"] = feedback_s3
    with tempfile.TemporaryDirectory() as tmp:
        estimator = SKLearn(
            entry_point="train.py",
            source_dir=str(stage_source(Path(tmp) / "source")),
            framework_version=FRAMEWORK_VERSION,
            py_version="py3",
            instance_type=instance_type,
            instance_count=1,
            role=role_arn,
            output_path=f"s3://{bucket}/models/training/",
            code_location=f"s3://{bucket}/models/source",
            metric_definitions=METRIC_DEFINITIONS,
            sagemaker_session=session,
            disable_profiler=True,
            base_job_name="rotorwatch-train",
        )
        estimator.fit(inputs=inputs, job_name=job_name, wait=wait, logs="None")
    if not wait:
        return {"training_job": estimator.latest_training_job.name}
    model_data = estimator.model_data
    s3 = boto_session.client("s3")
    card = read_card(s3, model_data)
    metrics = card["metrics"].get("validation_held_out_machines") or card["metrics"]["training"]
    metrics_key = f"models/metrics/{card['model_version']}.json"
    s3.put_object(
        Bucket=bucket,
        Key=metrics_key,
        Body=json.dumps(metrics, sort_keys=True).encode(),
        ContentType="application/json",
    )
    ensure_group(boto_session.client("sagemaker"), group)
    package = estimator.register(
        content_types=CONTENT_TYPES,
        response_types=CONTENT_TYPES,
        inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"],
        model_package_group_name=group,
        approval_status="PendingManualApproval",
        description=f"rotorwatch model {card['model_version']}",
        # Serve with inference.py from the job's staged source (which carries it and the same
        # rotorwatch subset), as the ml stack does for the bootstrap model.
        entry_point="inference.py",
        model_metrics=ModelMetrics(
            model_statistics=MetricsSource(
                content_type="application/json", s3_uri=f"s3://{bucket}/{metrics_key}"
            )
        ),
        # Our card, not the SDK's default one (which it would assemble by searching the job).
        model_card=ModelPackageModelCard(
            model_card_content=registry_card_content(card, metrics),
            model_card_status="Draft",
        ),
        customer_metadata_properties={
            "model_version": card["model_version"],
            "accuracy": f"{metrics['accuracy']:.4f}",
            "macro_f1": f"{metrics['macro_f1']:.4f}",
            "anomaly_roc_auc": f"{metrics['anomaly_roc_auc']:.4f}",
        },
    )
    return {
        "training_job": estimator.latest_training_job.name,
        "model_data": model_data,
        "model_package_arn": package.model_package_arn,
        "model_version": card["model_version"],
        "metrics": metrics,
    }


def main(argv: list[str] | None = None) -> int:
    import boto3

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bucket", required=True, help="lake bucket (features under features/)")
    p.add_argument("--role-arn", required=True, help="SageMaker execution role")
    p.add_argument("--labels-s3", help="s3:// prefix of ground-truth rows (JSON lines)")
    p.add_argument(
        "--feedback-s3",
        help="s3:// prefix of technicians' labelled windows (rotorwatch feedback-labels --out)",
    )
    p.add_argument("--group", default=DEFAULT_GROUP, help="model package group")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE)
    p.add_argument("--no-wait", action="store_true", help="start the job and return")
    args = p.parse_args(argv)
    result = launch(
        boto_session=boto3.Session(),
        bucket=args.bucket,
        role_arn=args.role_arn,
        group=args.group,
        labels_s3=args.labels_s3,
        feedback_s3=args.feedback_s3,
        instance_type=args.instance_type,
        wait=not args.no_wait,
    )
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
