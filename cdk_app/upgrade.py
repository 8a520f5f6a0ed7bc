"""Upgrade check: what a ``cdk deploy`` of these templates does to a stack of an earlier release.

CloudFormation replaces a resource when its type or a create-only property changes (the
resource provider schema's ``createOnlyProperties``, which cfn-lint ships per Region), deletes
one whose logical id is gone, and refuses to change or delete an export another stack imports
("Export ... cannot be updated as it is in use"). For a stateful resource (data it holds, data
a reader's position in it, or a name devices and people use) each of these loses something, so
every such change must be intended: it needs a written migration step in the CHANGELOG's
"Upgrading" section of the release that makes it, naming the change as
```Stack/LogicalId``` (stack without its ``Rotorwatch-<stage>-`` prefix).

Released templates live in ``releases/<version>/<stage>/`` (synthesized from the release's
commit; see CHANGELOG.md). Pure: reads JSON, never calls AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RELEASES_DIR = ROOT / "releases"
CHANGELOG = ROOT / "CHANGELOG.md"

#: Resource types whose replacement or deletion loses data, a position in data, or a name
#: something outside the stack uses. Why each:
STATEFUL_TYPES: Mapping[str, str] = {
    "AWS::S3::Bucket": "the lake and its objects",
    "AWS::DynamoDB::Table": "asset registry and device state",
    "AWS::Kinesis::Stream": "records not yet read (retention), readers' positions",
    "AWS::KinesisFirehose::DeliveryStream": "records buffered but not yet delivered",
    "AWS::KMS::Key": "everything encrypted with it",
    "AWS::SQS::Queue": "failed-batch messages waiting for replay",
    "AWS::SNS::Topic": "subscriptions (confirmed e-mail, SMS)",
    "AWS::Logs::LogGroup": "logs kept for the retention",
    "AWS::Glue::Database": "the catalog analysts query",
    "AWS::IoT::Policy": "attached to every device certificate",
    "AWS::IoT::TopicRule": "its name is in every Basic Ingest topic devices publish to",
    "AWS::IoT::ThingGroup": "fleet membership",
    "AWS::Athena::WorkGroup": "saved queries, query history",
}


@dataclass(frozen=True, slots=True)
class Finding:
    stack: str  # without the Rotorwatch-<stage>- prefix
    logical_id: str
    what: str

    @property
    def ref(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    def __str__(self) -> str:
        return f"{self.ref}: {self.what}"


def stack_suffix(stack_name: str) -> str:
    """``Rotorwatch-prod-Analytics`` -> ``Analytics``."""
    return stack_name.rsplit("-", 1)[-1]


@cache
def create_only_properties(resource_type: str, region: str = "eu-west-1") -> tuple[str, ...]:
    """JSON pointers of a type's create-only properties, from the provider schema cfn-lint
    ships (a change to any of them: "Update requires: Replacement")."""
    import cfnlint  # the infra extra; imported here so the module loads without it

    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    providers = json.loads((schemas / "providers" / f"{region}.json").read_text())
    schema_id = providers.get(resource_type)
    if schema_id is None:
        return ()
    schema = json.loads((schemas / "resources" / f"{schema_id}.json").read_text())
    return tuple(schema.get("createOnlyProperties", ()))


def _at(props: Any, pointer: str) -> Any:
    value = {"properties": props}
    for part in pointer.strip("/").split("/"):
        if part == "*":  # "any element": compare the whole list
            return value
        if not isinstance(value, dict) or part.lower() not in {k.lower() for k in value}:
            return None
        value = next(v for k, v in value.items() if k.lower() == part.lower())
    return value


def _imports(templates: Mapping[str, Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Fn::ImportValue" in node and isinstance(node["Fn::ImportValue"], str):
                found.add(node["Fn::ImportValue"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for t in templates.values():
        walk(t.get("Resources", {}))
        walk(t.get("Outputs", {}))
    return found


def _exports(template: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    out = {}
    for oid, output in template.get("Outputs", {}).items():
        name = output.get("Export", {}).get("Name")
        if isinstance(name, str):
            out[name] = (oid, output.get("Value"))
    return out


def compare(
    released: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]]
) -> list[Finding]:
    """What deploying ``current`` over ``released`` (stack name -> template) would replace,
    delete or break, for stateful resources and imported exports."""
    findings: list[Finding] = []
    current_by_suffix = {stack_suffix(n): t for n, t in current.items()}
    for name, old in released.items():
        suffix = stack_suffix(name)
        new = current_by_suffix.get(suffix)
        if new is None:
            findings.append(Finding(suffix, "*", "stack removed"))
            continue
        new_resources = new.get("Resources", {})
        for lid, res in old.get("Resources", {}).items():
            rtype = res["Type"]
            if rtype not in STATEFUL_TYPES:
                continue
            now = new_resources.get(lid)
            if now is None:
                findings.append(Finding(suffix, lid, f"{rtype} deleted (logical id gone)"))
                continue
            if now["Type"] != rtype:
                findings.append(Finding(suffix, lid, f"type {rtype} -> {now['Type']}: replaced"))
                continue
            for pointer in create_only_properties(rtype):
                before = _at(res.get("Properties", {}), pointer)
                after = _at(now.get("Properties", {}), pointer)
                if before != after:
                    findings.append(
                        Finding(suffix, lid, f"create-only {pointer} changed: replaced")
                    )
    replaced = {(f.stack, f.logical_id) for f in findings}
    # An export another stack of the release imports cannot change or go away in one deploy;
    # one whose value names a replaced resource changes (a new physical name or ARN).
    imported = _imports(released)
    new_exports: dict[str, tuple[str, Any]] = {}
    for t in current.values():
        new_exports.update(_exports(t))
    for name, old in released.items():
        for export, (oid, value) in _exports(old).items():
            if export not in imported:
                continue
            if export not in new_exports:
                findings.append(Finding(stack_suffix(name), oid, f"imported export {export} gone"))
            elif new_exports[export][1] != value or any(
                (stack_suffix(name), lid) in replaced for lid in _referenced(value)
            ):
                findings.append(
                    Finding(stack_suffix(name), oid, f"imported export {export} value changed")
                )
    return findings


def _referenced(value: Any) -> set[str]:
    """Logical ids a value refers to (Ref, Fn::GetAtt)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            found.add(value["Ref"])
        att = value.get("Fn::GetAtt")
        if isinstance(att, list) and att:
            found.add(str(att[0]))
        for v in value.values():
            found |= _referenced(v)
    elif isinstance(value, list):
        for v in value:
            found |= _referenced(v)
    return found


def released_templates(version: str, stage: str) -> dict[str, dict[str, Any]]:
    folder = RELEASES_DIR / version / stage
    return {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in sorted(folder.glob("*.template.json"))
    }


def releases() -> list[str]:
    """Released versions with templates kept, oldest first."""
    return sorted(
        (p.name for p in RELEASES_DIR.iterdir() if p.is_dir()),
        key=lambda v: tuple(int(x) for x in v.split(".")),
    )


_SECTION = re.compile(r"^## \[(?P<version>[^\]]+)\]", re.MULTILINE)
_STEP = re.compile(r"`(?P<ref>[A-Za-z]+/[A-Za-z0-9*]+)`")


def changelog_sections(text: str) -> Iterator[tuple[str, str]]:
    """(version, body) per ``## [version]`` section of a keepachangelog file."""
    marks = list(_SECTION.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        yield m.group("version"), text[m.end() : end]


def migration_steps(text: str, version: str) -> set[str]:
    """``Stack/LogicalId`` refs the "### Upgrading" part of ``version``'s section names."""
    for v, body in changelog_sections(text):
        if v == version:
            _, _, upgrading = body.partition("### Upgrading")
            upgrading = re.split(r"^### ", upgrading, maxsplit=1, flags=re.MULTILINE)[0]
            return {m.group("ref") for m in _STEP.finditer(upgrading)}
    return set()


def unexplained(findings: list[Finding], steps: set[str]) -> list[Finding]:
    """Findings no migration step names."""
    return [f for f in findings if f.ref not in steps]
