"""The docs state facts the code owns: metric names, retentions, decoder bounds, file names,
what a command's help says. Each is checked against the code here, so the next drift fails
(issue 27: the runbook missed nine metrics, security.md said raw telemetry is never expired
where prod deletes it after 14 days and cited a config.py that no longer exists)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from rotorwatch.contract.telemetry import SAMPLE_ABS_MAX, SCALE_MAX
from rotorwatch.deployment import resources

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _emitted_metrics(function: str) -> set[str]:
    """Metric names a function's handler emits: literals, resources constants, and one
    ``<Phase>Time`` per timing phase its service measures."""
    app_py = (ROOT / "lambdas" / function / "app.py").read_text()
    service_py = (ROOT / "lambdas" / function / "service.py").read_text()
    names = set(re.findall(r'add_metric\(\s*"(\w+)"', app_py))
    for constant in re.findall(r"add_metric\(\s*([A-Z_]+_METRIC)\b", app_py):
        names.add(getattr(resources, constant))
    for constant in re.findall(r"single_metric\(\s*(?:name=)?([A-Z_]+_METRIC)\b", app_py):
        names.add(getattr(resources, constant))
    if "capitalize()}Time" in app_py:
        names |= {f"{p.capitalize()}Time" for p in re.findall(r'timings_s\["(\w+)"\]', service_py)}
    return names


def test_the_runbook_lists_every_custom_metric() -> None:
    text = (DOCS / "runbook.md").read_text()
    section = text[text.index("**Custom metrics**") :]
    section = section[: section.index("\n\n")]
    functions = [p.name for p in (ROOT / "lambdas").iterdir() if (p / "app.py").is_file()]
    emitted = set().union(*(_emitted_metrics(f) for f in functions))
    assert len(emitted) > 20, emitted  # the parse above found the handlers' metrics
    missing = sorted(m for m in emitted if f"`{m}`" not in section)
    assert not missing, f"docs/runbook.md's metric list lacks {missing}"


def test_security_states_each_stages_raw_retention() -> None:
    text = (DOCS / "security.md").read_text()
    retention = text[text.index("## 6. Data retention") :]
    stages = json.loads((ROOT / "cdk.json").read_text())["context"]["rotorwatch:stages"]
    for stage, cfg in stages.items():
        expire = cfg.get("lake", {}).get("raw_expire_days")
        if expire is not None:
            assert f"{stage}: deleted after {expire} days" in retention, stage
        if cfg.get("lake", {}).get("raw_keep_enabled"):
            assert "`raw_kept/telemetry/`" in retention, stage


def test_every_python_file_the_docs_cite_exists() -> None:
    """A cited file that was renamed sends a reader nowhere (security.md cited config.py)."""
    existing = {
        p.name
        for p in ROOT.rglob("*.py")
        if not any(
            part.startswith(".") or part in ("node_modules", "cdk.out", "out")
            for part in p.relative_to(ROOT).parts
        )
    }
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for cited in re.findall(r"`([\w/.*-]+\.py)(?:[:`])", doc.read_text()):
            name = cited.rsplit("/", 1)[-1]
            if "*" in name:
                continue
            assert name in existing, f"{doc.name} cites {cited}, which does not exist"


def test_the_telemetry_contract_states_the_decoders_upper_bounds() -> None:
    text = (DOCS / "telemetry.md").read_text()
    assert f"{SCALE_MAX:g}" in text
    assert f"±{SAMPLE_ABS_MAX:g}" in text


def test_help_names_both_telemetry_contracts() -> None:
    provision = CliRunner().invoke(app, ["provision", "--help"], terminal_width=400).stdout
    assert "/telemetry/v2" in " ".join(provision.split())
    simulate = " ".join(
        CliRunner().invoke(app, ["simulate", "--help"], terminal_width=400).stdout.split()
    )
    assert "telemetry v1 messages" not in simulate
    assert "v2" in simulate.split("Options")[0], "the description names only v1"
