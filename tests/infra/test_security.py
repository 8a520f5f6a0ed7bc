"""Security properties of every synthesized template (docs/security.md states them).

Least privilege: no identity policy allows ``*`` or ``<service>:*``, and ``Resource: "*"`` only
carries actions that have no resource-level permissions. Encryption at rest with the stage's KMS
key for every store and stream, TLS-only resource policies, log groups with a retention.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from cdk_app.publishers import KEY_ACTIONS, KEY_USE
from tests.infra.cdk_helpers import Synth
from tests.infra.cdk_helpers import resources as of_type

#: Actions that support no resource-level permissions: the only ones allowed on Resource "*".
NO_RESOURCE_LEVEL = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "cloudwatch:PutMetricData",
        "ecr:GetAuthorizationToken",
        "glue:GetSchemaVersion",
        # The feedback key's rotation function (CDK's rotation schedule grant).
        "secretsmanager:GetRandomPassword",
    }
)
DATA_KEY = {"Fn::ImportValue": "Rotorwatch-dev-DataKeyArn"}
TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


@pytest.fixture(scope="module")
def templates(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every stack's template; the ml stack from a stand-in artifact if `make model` has not
    run (its IAM and encryption do not depend on the model's content)."""
    out = dict(synth.templates)
    if not any(n.endswith("-Ml") for n in out):
        from aws_cdk import App

        from cdk_app.app import load_cdk_json_context
        from cdk_app.stacks.ml import MlStack
        from rotorwatch.deployment.stage import from_context

        tmp = tmp_path_factory.mktemp("ml")
        (tmp / "code").mkdir()
        (tmp / "code" / "inference.py").write_text("# stand-in\n")
        artifact = tmp / "model.tar.gz"
        with tarfile.open(artifact, "w:gz") as tar:
            tar.add(tmp / "code", arcname="code")
        app = App(outdir=str(tmp / "out"), builtin_cloud_formation_validation=False)
        config = from_context(load_cdk_json_context(), {})
        MlStack(app, "Rotorwatch-dev-Ml", config=config, artifact=artifact)
        app.synth()
        out["Rotorwatch-dev-Ml"] = json.loads(
            (tmp / "out" / "Rotorwatch-dev-Ml.template.json").read_text()
        )
    assert {n.rsplit("-", 1)[1] for n in out} >= {
        "Storage",
        "Ingestion",
        "Analytics",
        "Ml",
        "Processing",
        "Operations",
    }
    return out


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements(templates: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every statement of every role/user policy in the app."""
    for stack, t in templates.items():
        for rid, res in t["Resources"].items():
            props = res.get("Properties", {})
            docs = []
            if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                docs.append(props["PolicyDocument"])
            if res["Type"] == "AWS::IAM::Role":
                docs.extend(p["PolicyDocument"] for p in props.get("Policies", []))
            for doc in docs:
                for st in doc["Statement"]:
                    yield f"{stack}/{rid}", st


def test_no_identity_policy_allows_every_action_of_a_service(templates: dict[str, Any]) -> None:
    statements = list(identity_statements(templates))
    assert len(statements) > 30  # the check looked at the app's real policies
    for where, st in statements:
        assert "NotAction" not in st, where
        assert "NotResource" not in st, where
        for action in _listify(st["Action"]):
            assert action != "*", where
            assert not re.fullmatch(r"[a-z0-9-]+:\*", action), (where, action)


def test_resource_star_only_for_actions_without_resource_level_permissions(
    templates: dict[str, Any],
) -> None:
    for where, st in identity_statements(templates):
        if st["Effect"] == "Allow" and "*" in _listify(st["Resource"]):
            assert set(_listify(st["Action"])) <= NO_RESOURCE_LEVEL, (where, st["Action"])


def test_no_aws_managed_policies_are_attached(templates: dict[str, Any]) -> None:
    for stack, t in templates.items():
        for rid, role in of_type(t, "AWS::IAM::Role").items():
            assert not role["Properties"].get("ManagedPolicyArns"), f"{stack}/{rid}"


def test_key_policy_gives_kms_star_only_to_the_account_root(templates: dict[str, Any]) -> None:
    (key,) = [k for t in templates.values() for k in of_type(t, "AWS::KMS::Key").values()]
    assert key["Properties"]["EnableKeyRotation"] is True
    for st in key["Properties"]["KeyPolicy"]["Statement"]:
        if "kms:*" in _listify(st["Action"]):
            # The CDK default: delegates the key to IAM policies of this account only.
            assert json.dumps(st["Principal"]).count(":root") == 1, st
        else:
            assert "Service" in st["Principal"], st
            service = st["Principal"]["Service"]
            use = KEY_USE.get(service) if isinstance(service, str) else None
            if use is not None and not use.allowed_condition_keys:
                # A publisher that supplies no source condition to KMS (EventBridge to an
                # encrypted topic: cdk_app.publishers): the two data-key actions and no more.
                assert sorted(_listify(st["Action"])) == sorted(KEY_ACTIONS), st
                assert "Condition" not in st, st
            else:
                assert "Condition" in st, st


def _policies_for(t: dict[str, Any], rtype: str, target_key: str) -> dict[str, list[Any]]:
    """Resource id -> its resource-policy statements (bucket, topic or queue policies)."""
    out: dict[str, list[Any]] = {}
    for pol in of_type(t, rtype).values():
        props = pol["Properties"]
        for target in _listify(props[target_key]):
            rid = target.get("Ref")
            out.setdefault(rid or json.dumps(target), []).extend(
                props["PolicyDocument"]["Statement"]
            )
    return out


def test_every_bucket_is_encrypted_private_and_tls_only(templates: dict[str, Any]) -> None:
    n = 0
    for t in templates.values():
        policies = _policies_for(t, "AWS::S3::BucketPolicy", "Bucket")
        for rid, bucket in of_type(t, "AWS::S3::Bucket").items():
            n += 1
            props = bucket["Properties"]
            (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256")
            assert all(props["PublicAccessBlockConfiguration"].values()), rid
            assert props["VersioningConfiguration"] == {"Status": "Enabled"}, rid
            assert props["LifecycleConfiguration"]["Rules"], rid  # retention is decided
            denies = [
                s
                for s in policies.get(rid, [])
                if s["Effect"] == "Deny" and s.get("Condition") == TLS_ONLY
            ]
            assert denies, f"{rid} has no TLS-only deny"
            (deny,) = denies
            assert deny["Action"] == "s3:*"
            assert deny["Principal"] == {"AWS": "*"}
            covered = json.dumps(deny["Resource"])
            assert '"/*"' in covered, rid  # the objects, and the bucket itself:
            assert '"Arn"]}, {' in covered, rid
    assert n == 2  # the lake and its access-log bucket


def test_lake_bucket_uses_the_data_key(templates: dict[str, Any]) -> None:
    t = next(t for n, t in templates.items() if n.endswith("-Storage"))
    (lake,) = [b for rid, b in of_type(t, "AWS::S3::Bucket").items() if rid.startswith("Lake")]
    (rule,) = lake["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"]


def test_streams_tables_topics_queues_use_the_data_key(templates: dict[str, Any]) -> None:
    seen: dict[str, int] = {}
    for t in templates.values():
        for s in of_type(t, "AWS::Kinesis::Stream").values():
            assert s["Properties"]["StreamEncryption"] == {
                "EncryptionType": "KMS",
                "KeyId": DATA_KEY,
            }
            seen["stream"] = seen.get("stream", 0) + 1
        for tbl in of_type(t, "AWS::DynamoDB::Table").values():
            sse = tbl["Properties"]["SSESpecification"]
            assert (sse["SSEType"], sse["KMSMasterKeyId"]) == ("KMS", DATA_KEY)
            seen["table"] = seen.get("table", 0) + 1
        topic_policies = _policies_for(t, "AWS::SNS::TopicPolicy", "Topics")
        for rid, topic in of_type(t, "AWS::SNS::Topic").items():
            assert topic["Properties"]["KmsMasterKeyId"] == DATA_KEY
            assert any(
                s["Effect"] == "Deny" and s["Condition"] == TLS_ONLY for s in topic_policies[rid]
            )
            seen["topic"] = seen.get("topic", 0) + 1
        queue_policies = _policies_for(t, "AWS::SQS::QueuePolicy", "Queues")
        for rid, queue in of_type(t, "AWS::SQS::Queue").items():
            assert queue["Properties"]["KmsMasterKeyId"] == DATA_KEY
            assert any(
                s["Effect"] == "Deny" and s["Action"] == "sqs:*" and s["Condition"] == TLS_ONLY
                for s in queue_policies[rid]
            )
            seen["queue"] = seen.get("queue", 0) + 1
    # Tables: assets, state, feedback (technicians' answers).
    assert seen == {"stream": 2, "table": 3, "topic": 2, "queue": 1}


def test_firehose_athena_and_glue_write_with_the_data_key(templates: dict[str, Any]) -> None:
    t = next(t for n, t in templates.items() if n.endswith("-Analytics"))
    deliveries = of_type(t, "AWS::KinesisFirehose::DeliveryStream")
    assert len(deliveries) == 2  # features (Kinesis-sourced), predictions (Direct PUT)
    for d in deliveries.values():
        props = d["Properties"]
        s3 = props["ExtendedS3DestinationConfiguration"]
        assert s3["EncryptionConfiguration"] == {"KMSEncryptionConfig": {"AWSKMSKeyARN": DATA_KEY}}
        if "KinesisStreamSourceConfiguration" not in props:
            # Direct PUT holds records in Firehose: encrypted with our key too.
            assert props["DeliveryStreamEncryptionConfigurationInput"] == {
                "KeyARN": DATA_KEY,
                "KeyType": "CUSTOMER_MANAGED_CMK",
            }
    (wg,) = of_type(t, "AWS::Athena::WorkGroup").values()
    cfg = wg["Properties"]["WorkGroupConfiguration"]
    assert cfg["EnforceWorkGroupConfiguration"] is True
    assert cfg["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": DATA_KEY,
    }
    jobs = of_type(t, "AWS::Glue::Job")
    if jobs:
        (sec,) = of_type(t, "AWS::Glue::SecurityConfiguration").values()
        enc = sec["Properties"]["EncryptionConfiguration"]
        assert enc["S3Encryptions"] == [{"KmsKeyArn": DATA_KEY, "S3EncryptionMode": "SSE-KMS"}]
        assert enc["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
        assert enc["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
        for job in jobs.values():
            assert job["Properties"]["SecurityConfiguration"] == {
                "Ref": next(iter(of_type(t, "AWS::Glue::SecurityConfiguration")))
            }


def test_every_log_group_is_encrypted_and_expires(templates: dict[str, Any]) -> None:
    groups = [
        (n, rid, g["Properties"])
        for n, t in templates.items()
        for rid, g in of_type(t, "AWS::Logs::LogGroup").items()
    ]
    assert len(groups) >= 5  # 2 functions, the rule errors, 2 Firehose deliveries
    for stack, rid, props in groups:
        assert props.get("KmsKeyId") == DATA_KEY, f"{stack}/{rid}"
        assert 0 < props.get("RetentionInDays", 0) <= 3653, f"{stack}/{rid}"
