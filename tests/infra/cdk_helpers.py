"""Helpers for the infra tests: the synthesized app and template lookups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Synth:
    outdir: Path
    built: Any  # cdk_app.app.RotorwatchApp
    templates: dict[str, dict[str, Any]]  # stack name -> template JSON

    def template(self, suffix: str) -> dict[str, Any]:
        (name,) = [n for n in self.templates if n.endswith(f"-{suffix}")]
        return self.templates[name]

    def has(self, suffix: str) -> bool:
        return any(n.endswith(f"-{suffix}") for n in self.templates)


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def only(template: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = resources(template, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]
