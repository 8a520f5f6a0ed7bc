"""The one Lambda function factory, and the Docker-free bundle both functions share.

Defaults every rotorwatch function gets: Python 3.12 on arm64, the Powertools layer of the
version the tests ran (``aws-lambda-powertools`` in pyproject's ``lambda`` extra; resolved from
its versioned SSM public parameter at deploy time, never looked up at synth, never ``latest``,
which moves under a running stack), active X-Ray tracing, JSON logs into a KMS-encrypted log
group with a retention, a role that may write only its own logs, and the stage's reserved
concurrency when it sets one.

arm64, not x86_64: Graviton costs about 20 % less per GB-second, and the hot path (a batched
numpy FFT) runs as fast there; numpy publishes aarch64 wheels for every version we pin.

The bundle is ``rotorwatch/`` + ``lambdas/`` + numpy installed by pip for the Lambda platform
(``--platform manylinux_2_28_aarch64 --only-binary=:all: --python-version 3.12``): no Docker.
numpy 2.4 ships manylinux_2_28 wheels only, so the older manylinux2014 tag finds nothing; the
Python 3.12 runtime (Amazon Linux 2023, glibc 2.34) runs manylinux_2_28 wheels.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk_app.nag import acknowledge, skip_checkov
from cdk_app.retention import retention
from rotorwatch.deployment import resources
from rotorwatch.deployment.stage import StageConfig

ROOT: Final = Path(__file__).resolve().parents[2]
#: Context flag: bundle sources but skip pip (offline unit synth). Never set it for a deploy.
SKIP_PIP_CONTEXT: Final = "rotorwatch:skip-pip"

RUNTIME: Final = lambda_.Runtime.PYTHON_3_12
PYTHON_VERSION: Final = "3.12"
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
PIP_PLATFORM: Final = "manylinux_2_28_aarch64"


def pinned_version(package: str, extra: str, pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The exact version pyproject pins ``package`` to in the optional dependency ``extra``."""
    import tomllib

    deps = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"][extra]
    for dep in deps:
        name, sep, version = dep.partition("==")
        if name.strip().lower() == package and sep:
            return version.strip()
    raise ValueError(f"{package} is not pinned (name==version) in the {extra!r} extra")


#: The Powertools the handlers were tested with is the layer they run with.
POWERTOOLS_VERSION: Final = pinned_version("aws-lambda-powertools", "lambda")
POWERTOOLS_LAYER_PARAMETER: Final = (
    f"/aws/service/powertools/python/arm64/python{PYTHON_VERSION}/{POWERTOOLS_VERSION}"
)
#: Folders copied into the bundle (handlers import rotorwatch; Lambda imports lambdas.*).
PACKAGES: Final = ("rotorwatch", "lambdas")
#: Bump when the bundling steps change (the content hash must then change too).
BUNDLE_FORMAT: Final = 2
_IGNORE: Final = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The core's pinned dependencies (``numpy==x.y.z``), read from pyproject.toml."""
    import tomllib

    deps: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    for dep in deps:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.]+", dep):
            raise ValueError(f"Lambda dependency {dep!r} must be pinned exactly (name==version)")
    return deps


def pip_command(pip: Sequence[str], output_dir: str, requirements: Sequence[str]) -> list[str]:
    return [
        *pip,
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",  # Lambda writes no .pyc into /var/task anyway; keeps the zip small
        "--platform",
        PIP_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--target",
        output_dir,
        *requirements,
    ]


def bundle_hash(root: Path, requirements: Sequence[str], *, skip_pip: bool) -> str:
    """Content hash of what goes into the bundle: a new hash means a new code asset."""
    h = hashlib.sha256()
    h.update(
        f"{BUNDLE_FORMAT}|{PIP_PLATFORM}|{PYTHON_VERSION}|{sorted(requirements)}|{skip_pip}".encode()
    )
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                h.update(path.relative_to(root).as_posix().encode())
                h.update(path.read_bytes())
    return h.hexdigest()


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Builds the Lambda bundle on this machine (CDK calls ``try_bundle``; Docker never runs)."""

    def __init__(
        self,
        root: Path,
        requirements: Sequence[str],
        *,
        skip_pip: bool = False,
        pip: Sequence[str] = (sys.executable, "-m", "pip"),
    ) -> None:
        self.root = root
        self.requirements = list(requirements)
        self.skip_pip = skip_pip
        self.pip = list(pip)

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        out = Path(output_dir)
        for package in PACKAGES:
            shutil.copytree(self.root / package, out / package, ignore=_IGNORE, dirs_exist_ok=True)
        if not self.skip_pip:
            result = subprocess.run(
                pip_command(self.pip, output_dir, self.requirements),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"pip could not fetch {self.requirements} for {PIP_PLATFORM} / Python "
                    f"{PYTHON_VERSION} (network to PyPI needed):\n{result.stderr[-2000:]}"
                )
            prune_bundle(out)
        return True


def prune_bundle(out: Path) -> None:
    """Drop what a function never imports from installed wheels (numpy's test suites and
    console scripts: ~8 MB of 56 MB), so the zip uploads and cold-starts faster."""
    shutil.rmtree(out / "bin", ignore_errors=True)
    for tests in sorted(out.glob("*/**/tests"), reverse=True):
        if tests.is_dir() and tests.relative_to(out).parts[0] not in PACKAGES:
            shutil.rmtree(tests)


def bundle_code(scope: Construct, root: Path = ROOT) -> lambda_.Code:
    """The code asset both handlers share (their handler strings select the entry point)."""
    skip_pip = bool(scope.node.try_get_context(SKIP_PIP_CONTEXT))
    requirements = runtime_requirements(root / "pyproject.toml")
    return lambda_.Code.from_asset(
        str(root / "lambdas"),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundle_hash(root, requirements, skip_pip=skip_pip),
        bundling=BundlingOptions(
            # Required by the API, never pulled: the local bundler always succeeds or raises.
            image=DockerImage.from_registry("unused-local-bundling-only"),
            local=LocalBundler(root, requirements, skip_pip=skip_pip),
        ),
    )


def powertools_layer(scope: Construct) -> lambda_.ILayerVersion:
    arn = ssm.StringParameter.value_for_string_parameter(scope, POWERTOOLS_LAYER_PARAMETER)
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)


class RotorwatchFunction(Construct):
    """A Lambda function with rotorwatch's defaults; grant it what it needs afterwards."""

    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        handler: str,
        description: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        config: StageConfig,
        key: kms.IKey,
        environment: Mapping[str, str],
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, cid)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(config.function.log_retention_days),
            encryption_key=key,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{handler}: writes its own logs; grants added per resource",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code,
            description=description,
            layers=[layer],
            memory_size=config.function.memory_mb,
            timeout=Duration.seconds(config.function.timeout_s),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            role=self.role,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                resources.EnvKey.STAGE: config.stage,
                "POWERTOOLS_SERVICE_NAME": resources.POWERTOOLS_SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": resources.METRICS_NAMESPACE,
                **environment,
            },
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
        )
        skip_checkov(
            self.function,
            "CKV_AWS_117",
            "No VPC resources to reach: the functions call AWS service endpoints only (Kinesis, "
            "S3, DynamoDB, SNS, Firehose, SageMaker); a VPC would add NAT or endpoint cost.",
        )
        skip_checkov(
            self.function,
            "CKV_AWS_173",
            "The environment holds resource names and settings, no secrets; Lambda encrypts it "
            "at rest with its AWS-managed key.",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to Python 3.12 on purpose: the bundled numpy wheels (cp312) and the "
            "Powertools layer parameter are chosen for it; upgrade all three together.",
        )
