"""The handlers write the metric series the operations stack's alarms and dashboard select.

An alarm on a series nobody writes never fires (missing data is "not breaching"), so the
namespace, metric name and dimensions are checked on the EMF lines the handlers really print.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from rotorwatch.deployment.resources import (
    ALERTS_SENT_METRIC,
    METRICS_NAMESPACE,
    POWERTOOLS_SERVICE,
    QUARANTINED_RECORDS_METRIC,
    SEVERITY_ATTRIBUTE,
)
from tests.events import kinesis_event
from tests.handlers.conftest import Aws, FakeContext
from tests.handlers.test_score_and_alert import features_event, rules_only, zones  # noqa: F401


def series(stdout: str) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], float]:
    """(namespace, metric, sorted dimensions) -> summed value, from Powertools' EMF lines."""
    out: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        blob: dict[str, Any] = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                key_dims = tuple(sorted((d, str(blob[d])) for d in dims))
                for metric in directive["Metrics"]:
                    v = blob[metric["Name"]]
                    k = (directive["Namespace"], metric["Name"], key_dims)
                    out[k] = out.get(k, 0.0) + (sum(v) if isinstance(v, list) else v)
    return out


def test_quarantined_records_series_is_the_alarmed_one(
    extract_features: ModuleType,
    aws: Aws,
    context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    extract_features.handler(kinesis_event([b"not json", b"{}"]), context)
    got = series(capsys.readouterr().out)
    alarmed = (METRICS_NAMESPACE, QUARANTINED_RECORDS_METRIC, (("service", POWERTOOLS_SERVICE),))
    assert got[alarmed] == 2


def test_alerts_sent_per_severity_series_is_the_dashboards(
    rules_only: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    for windows in (zones(0, "AAAA"), zones(4, "DDDDD"), zones(9, "AAAAAA")):
        rules_only.handler(features_event(windows), context)
    got = series(capsys.readouterr().out)

    def per_severity(severity: str) -> float:
        dims = tuple(sorted((("service", POWERTOOLS_SERVICE), (SEVERITY_ATTRIBUTE, severity))))
        return got.get((METRICS_NAMESPACE, ALERTS_SENT_METRIC, dims), 0.0)

    assert [per_severity(s) for s in ("WARNING", "ALARM", "RECOVERY")] == [1, 1, 1]
    total = (METRICS_NAMESPACE, ALERTS_SENT_METRIC, (("service", POWERTOOLS_SERVICE),))
    assert got[total] == 3
