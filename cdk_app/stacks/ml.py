"""MlStack: the scoring model on a SageMaker serverless endpoint.

The model artifact (``make model`` builds it deterministically) is uploaded as a CDK asset, so
its S3 key is its content hash: a new model means a new key, a new Model and EndpointConfig,
and an in-place endpoint update. The prebuilt scikit-learn image lives in a different ECR
account per region and CDK has no lookup for it: the region -> account map is read from the
installed sagemaker SDK (image_uri_config/sklearn.json) into a CfnMapping, resolved at deploy.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Final

from aws_cdk import ArnFormat, Aws, CfnMapping, CfnOutput, CfnRule, Fn, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from cdk_app import refs
from cdk_app.nag import acknowledge, skip_checkov
from rotorwatch.deployment.stage import StageConfig

ROOT = Path(__file__).resolve().parents[2]
MODEL_ARTIFACT: Final = ROOT / "sagemaker" / "bootstrap" / "model.tar.gz"
#: The serving image's scikit-learn version: the model must be trained with this version.
SKLEARN_IMAGE_VERSION: Final = "1.4-2"
SKLEARN_REPOSITORY: Final = "sagemaker-scikit-learn"
IMAGE_TAG: Final = f"{SKLEARN_IMAGE_VERSION}-cpu-py3"
#: The inference script inside the artifact (model.tar.gz: code/inference.py + model files).
INFERENCE_PROGRAM: Final = "inference.py"


class UnsupportedRegionError(RuntimeError):
    """The serving image is not published in the region the stack is deployed to."""


def check_region(region: str | None, accounts: dict[str, str]) -> None:
    """Fail the synth, naming the regions that work, when ``region`` has no serving image."""
    if region is not None and not Token.is_unresolved(region) and region not in accounts:
        raise UnsupportedRegionError(
            f"the SageMaker scikit-learn image {SKLEARN_REPOSITORY}:{IMAGE_TAG} is not "
            f"published in {region}, so the ml stack cannot be deployed there; deploy to one of "
            f"{', '.join(sorted(accounts))}"
        )


class MissingModelError(RuntimeError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"model artifact {path} not found: run `make model` to build the bootstrap model "
            "before synthesizing the ml stack"
        )


def sklearn_image_accounts(version: str = SKLEARN_IMAGE_VERSION) -> dict[str, str]:
    """Region -> ECR account of the scikit-learn image, from the installed sagemaker SDK.

    Found without importing the SDK (slow, and it would pull boto3 into the synth).
    """
    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the sagemaker SDK is not installed (make install: it installs requirements/dev.txt)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "image_uri_config" / "sklearn.json"
        if path.exists():
            config = json.loads(path.read_text())
            # This SDK release lists 1.4-2 under "training" only; the image is the same one
            # the SDK resolves for inference (same repository and registries as 1.2-1).
            for scope in ("inference", "training"):
                versions = config.get(scope, {}).get("versions", {})
                if version in versions:
                    entry = versions[version]
                    if entry["repository"] != SKLEARN_REPOSITORY:
                        raise RuntimeError(f"unexpected repository {entry['repository']}")
                    return dict(sorted(entry["registries"].items()))
            raise RuntimeError(f"scikit-learn image {version} not in {path}")
    raise RuntimeError("image_uri_config/sklearn.json not found in the sagemaker SDK")


class MlStack(Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: StageConfig,
        artifact: Path = MODEL_ARTIFACT,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        if not artifact.is_file():
            raise MissingModelError(artifact)
        model_asset = s3_assets.Asset(self, "ModelArtifact", path=str(artifact))

        registries = sklearn_image_accounts()
        # A concrete region (the CLI sets one from your credentials) is checked now; an
        # environment-agnostic template checks it before CloudFormation creates anything.
        check_region(self.region, registries)
        CfnRule(
            self,
            "SupportedRegion",
            assertions=[
                {
                    "assert": Fn.condition_contains(sorted(registries), Aws.REGION),
                    "assertDescription": (
                        f"{SKLEARN_REPOSITORY}:{IMAGE_TAG} is not published in this region; "
                        f"deploy the ml stack to one of {', '.join(sorted(registries))}"
                    )[:1024],
                }
            ],
        )
        accounts = CfnMapping(
            self,
            "SklearnImageAccount",
            mapping={region: {"account": account} for region, account in registries.items()},
        )
        image_account = accounts.find_in_map(Aws.REGION, "account")
        image = Fn.join(
            "",
            [
                image_account,
                ".dkr.ecr.",
                Aws.REGION,
                ".",
                Aws.URL_SUFFIX,
                f"/{SKLEARN_REPOSITORY}:{IMAGE_TAG}",
            ],
        )

        role = iam.Role(
            self,
            "ModelRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Serverless endpoint: pull the sklearn image, read the model",
        )
        model_asset.grant_read(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[
                    Fn.join(
                        "",
                        [
                            f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:",
                            image_account,
                            f":repository/{SKLEARN_REPOSITORY}",
                        ],
                    )
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"], resources=["*"]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/Endpoints/*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )

        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image,
                model_data_url=model_asset.s3_object_url,
                environment={
                    "SAGEMAKER_PROGRAM": INFERENCE_PROGRAM,
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                },
            ),
        )
        self.model.node.add_dependency(role)
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    model_name=self.model.attr_model_name,
                    variant_name="AllTraffic",
                    serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                        memory_size_in_mb=config.endpoint.memory_mb,
                        max_concurrency=config.endpoint.max_concurrency,
                    ),
                )
            ],
        )
        # A fixed, lower-case name: the scoring function's IAM grant names the endpoint ARN,
        # and SageMaker lower-cases endpoint ARNs.
        self.endpoint_name = f"rotorwatch-{config.stage}-scoring"
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )

        serverless = (
            "Serverless inference does not support this feature (no VPC config, "
            "network isolation or storage KMS key on serverless endpoints)."
        )
        skip_checkov(
            self.model,
            "CKV_AWS_370",
            "Serverless inference does not support network isolation (SageMaker developer "
            "guide, serverless endpoints, feature exclusions): enabling it on the model of a "
            "serverless endpoint would break the deploy. The inference code makes no calls.",
        )
        acknowledge(self.model, "AwsSolutions-SM1", serverless)
        acknowledge(self.model, "AwsSolutions-SM3", serverless)
        acknowledge(self.endpoint_config, "AwsSolutions-SM2", serverless)
        for finding, why in (
            (
                "Resource::*",
                "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no "
                "resource-level permissions",
            ),
            ("Action::s3:GetObject*", "CDK's read grant on the model asset"),
            ("Action::s3:GetBucket*", "CDK's read grant on the model asset"),
            ("Action::s3:List*", "CDK's read grant on the model asset"),
            (
                "Resource::" + refs.nag_arn(self, "logs", "log-group:/aws/sagemaker/Endpoints/*"),
                "SageMaker names the endpoint log groups itself",
            ),
        ):
            acknowledge(role, f"AwsSolutions-IAM5[{finding}]", f"{why}.")
        acknowledge(
            role,
            refs.bootstrap_assets_finding(self),
            "CDK's read grant on the content-hashed model asset in the bootstrap bucket.",
        )

        CfnOutput(
            self,
            "EndpointName",
            value=self.endpoint_name,
            description="Serverless scoring endpoint (score_and_alert calls it per batch)",
        )
        CfnOutput(self, "ModelArtifactUrl", value=model_asset.s3_object_url)
