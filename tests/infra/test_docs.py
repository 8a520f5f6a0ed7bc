"""The docs on-call and firmware engineers follow match what the app deploys."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from rotorwatch.contract.reasons import Reason
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


def _alarm_ids(synth: Synth) -> set[str]:
    """Construct ids of every alarm (the logical id less CDK's 8-character hash)."""
    alarms = of_type(synth.template("Operations"), "AWS::CloudWatch::Alarm")
    return {rid[:-8] for rid in alarms}


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_runbook_readme_and_security_describe_every_function(synth: Synth) -> None:
    from rotorwatch.deployment import resources

    functions = {
        h.split(".")[1]
        for h in (
            resources.EXTRACT_FEATURES_HANDLER,
            resources.SCORE_AND_ALERT_HANDLER,
            resources.WATCHDOG_HANDLER,
            resources.FEEDBACK_HANDLER,  # and its key rotation (lambdas/feedback/rotation.py)
        )
    }
    deployed = of_type(synth.template("Processing"), "AWS::Lambda::Function")
    assert len(functions) == 4
    assert len(deployed) == 5
    readme = (DOCS.parent / "README.md").read_text()
    for doc, text in (
        ("runbook", (DOCS / "runbook.md").read_text()),
        ("security", (DOCS / "security.md").read_text()),
        ("README Operations", _section(readme, "Operations")),
        ("README Security", _section(readme, "Security")),
        ("README Deploy", _section(readme, "Deploy")),
    ):
        for name in functions:
            assert name in text, f"{doc} does not mention {name}"


def test_runbook_table_and_readme_list_every_alarm(synth: Synth) -> None:
    # The test stage has SMS recipients and (with the bootstrap model) the ml stack: all alarms.
    ids = _alarm_ids(synth)
    runbook = (DOCS / "runbook.md").read_text()
    table = runbook[: runbook.index("## Finding things")]
    operations = _section((DOCS.parent / "README.md").read_text(), "Operations")
    for alarm in ids:
        assert f"[{alarm}](#{alarm.lower()})" in table, f"runbook table lacks {alarm}"
        assert f"`{alarm}`" in operations, f"README Operations lacks {alarm}"
    if "ml" not in synth.built.skipped:
        (count,) = re.findall(r"and (\d+)\s+alarms", operations)[:1]
        assert int(count) == len(ids)


def test_architecture_doc_names_every_import_contract() -> None:
    """docs/architecture.md tells the rule in words; pyproject.toml's contracts enforce it. Every
    contract is in the page's table, and the table names no contract that is gone."""
    config = tomllib.loads((DOCS.parent / "pyproject.toml").read_text())["tool"]["importlinter"]
    ids = {c["id"] for c in config["contracts"]}
    table = _section((DOCS / "architecture.md").read_text(), "The contracts")
    assert set(re.findall(r"^\| `([\w-]+)` \|", table, flags=re.MULTILINE)) == ids
    assert all(c.get("broken_contract_guidance", "").strip() for c in config["contracts"])
