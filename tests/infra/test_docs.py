"""The docs on-call and firmware engineers follow match what the app deploys."""

from __future__ import annotations

import re
from pathlib import Path

from rotorwatch.telemetry import Reason
from tests.infra.cdk_helpers import Synth
from tests.infra.cdk_helpers import resources as of_type

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _anchors(markdown: str) -> set[str]:
    """GitHub heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_every_alarm_points_at_a_runbook_section(synth: Synth) -> None:
    anchors = _anchors((DOCS / "runbook.md").read_text())
    alarms = of_type(synth.template("Operations"), "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 14
    for alarm in alarms.values():
        (anchor,) = re.findall(
            r"docs/runbook\.md#([\w-]+)", alarm["Properties"]["AlarmDescription"]
        )
        assert anchor in anchors, f"docs/runbook.md has no section #{anchor}"


def test_telemetry_doc_explains_every_reason_code() -> None:
    text = (DOCS / "telemetry.md").read_text()
    for reason in Reason:
        assert f"`{reason.value}`" in text, reason


def test_readme_and_docs_link_only_to_files_that_exist() -> None:
    root = DOCS.parent
    for doc in (root / "README.md", *DOCS.glob("*.md")):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[\w-]*)?\)", doc.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
