"""Upgrade check: a deploy of these templates over a kept release (releases/) replaces or
deletes no stateful resource and changes no imported export unless CHANGELOG.md's
"Upgrading" section of this version names it with its migration step (cdk_app/upgrade.py)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from cdk_app import upgrade
from rotorwatch.version import VERSION
from tests.infra.cdk_helpers import Synth


def _stage_synth(stage: str, synth: Synth, prod_synth: Synth) -> Synth:
    return prod_synth if stage == "prod" else synth


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("release", upgrade.releases())
def test_upgrading_from_a_release_replaces_nothing_stateful_without_a_migration_step(
    release: str, stage: str, synth: Synth, prod_synth: Synth
) -> None:
    current = _stage_synth(stage, synth, prod_synth).templates
    findings = upgrade.compare(upgrade.released_templates(release, stage), current)
    steps = upgrade.migration_steps(upgrade.CHANGELOG.read_text(encoding="utf-8"), VERSION)
    missing = upgrade.unexplained(findings, steps)
    assert not missing, "\n".join(
        ["needs a migration step in CHANGELOG.md (### Upgrading of this version):"]
        + [str(f) for f in missing]
    )
    # A step for a change that no longer happens is stale: the CHANGELOG says what upgrades do.
    assert steps <= {f.ref for f in findings} | {"Stack/LogicalId"}, steps


def test_the_check_sees_a_create_only_change_a_deletion_and_an_imported_export(
    prod_synth: Synth,
) -> None:
    released = upgrade.released_templates("0.1.0", "prod")
    current = copy.deepcopy(prod_synth.templates)
    (ingestion,) = [t for n, t in current.items() if n.endswith("-Ingestion")]
    (bucket_stack,) = [t for n, t in current.items() if n.endswith("-Storage")]
    streams = [r for r in ingestion["Resources"].values() if r["Type"] == "AWS::Kinesis::Stream"]
    # "Name" is create-only for AWS::Kinesis::Stream: a fixed name replaces the stream.
    streams[0]["Properties"]["Name"] = "renamed"
    (bucket_id,) = [
        k
        for k, r in bucket_stack["Resources"].items()
        if r["Type"] == "AWS::S3::Bucket" and k.startswith("Lake")
    ]
    del bucket_stack["Resources"][bucket_id]
    found = [str(f) for f in upgrade.compare(released, current)]
    assert any("create-only /properties/Name changed" in f for f in found), found
    assert any(f.startswith(f"Storage/{bucket_id}: AWS::S3::Bucket deleted") for f in found)
    # The lake bucket's ARN export is imported everywhere: its value now names nothing.
    assert any("imported export" in f and "Storage/" in f for f in found), found


def test_create_only_properties_come_from_the_provider_schemas() -> None:
    # "DeliveryStreamType ... Update requires: Replacement" (AWS::KinesisFirehose::
    # DeliveryStream, CloudFormation user guide): the schema cfn-lint ships says the same.
    assert "/properties/DeliveryStreamType" in upgrade.create_only_properties(
        "AWS::KinesisFirehose::DeliveryStream"
    )
    assert "/properties/TableName" in upgrade.create_only_properties("AWS::DynamoDB::Table")


def _imports(template: dict[str, Any]) -> set[str]:
    return set(re.findall(r'"Fn::ImportValue": "([^"]+)"', json.dumps(template)))


def test_the_first_upgrade_step_deploys_against_the_release(prod_synth: Synth) -> None:
    """CHANGELOG 0.2.0 step 1 deploys Processing alone over 0.1.0: every export it imports
    must exist in the release (or come from Processing itself)."""
    released = upgrade.released_templates("0.1.0", "prod")
    exported = {
        o["Export"]["Name"]
        for t in released.values()
        for o in t.get("Outputs", {}).values()
        if isinstance(o.get("Export", {}).get("Name"), str)
    }
    first = {n: t for n, t in prod_synth.templates.items() if n.endswith("-Processing")}
    own = {
        o["Export"]["Name"]
        for t in first.values()
        for o in t.get("Outputs", {}).values()
        if isinstance(o.get("Export", {}).get("Name"), str)
    }
    needed = set().union(*(_imports(t) for t in first.values()))
    assert needed - exported - own == set()


def test_the_retained_raw_delivery_deploy_changes_nothing_stateful(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """CHANGELOG 0.2.0 step 2: with the flag, the templates replace, delete and break nothing
    of 0.1.0 (the old raw stream is kept as released, retained, with its export)."""
    from cdk_app.app import load_cdk_json_context
    from cdk_app.stacks.analytics import KEEP_RETIRED_RAW_DELIVERY
    from tests.infra.conftest import synthesize

    context = {**load_cdk_json_context(), "stage": "prod", KEEP_RETIRED_RAW_DELIVERY: True}
    flagged = synthesize(tmp_path_factory.mktemp("cdk.out.retained"), context)
    released = upgrade.released_templates("0.1.0", "prod")
    assert upgrade.compare(released, flagged.templates) == []
    (analytics,) = [t for n, t in flagged.templates.items() if n.endswith("-Analytics")]
    (raw,) = [
        r
        for k, r in analytics["Resources"].items()
        if k.startswith("RawDelivery") and r["Type"] == "AWS::KinesisFirehose::DeliveryStream"
    ]
    assert raw["DeletionPolicy"] == "Retain"


def test_changelog_has_a_section_for_the_version_with_upgrading() -> None:
    text = upgrade.CHANGELOG.read_text(encoding="utf-8")
    sections = dict(upgrade.changelog_sections(text))
    assert VERSION in sections
    assert "### Upgrading" in sections[VERSION]
    assert set(upgrade.releases()) <= set(sections)


def test_every_stack_carries_the_version_tag(prod_synth: Synth) -> None:
    from rotorwatch.version import VERSION_TAG

    for name, template in prod_synth.templates.items():
        tagged = [
            r
            for r in template["Resources"].values()
            if r["Type"] in ("AWS::Kinesis::Stream", "AWS::S3::Bucket", "AWS::Lambda::Function")
        ]
        for r in tagged:
            tags = {t["Key"]: t["Value"] for t in r["Properties"].get("Tags", [])}
            assert tags.get(VERSION_TAG) == VERSION, name
