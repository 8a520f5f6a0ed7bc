"""Every function and every API of the app is watched: a class check over the synthesized
templates, so the next function or API added without an alarm fails here (issue 28: the
feedback function and its HTTP API shipped with none).

An alarm watches a resource when its metric names the resource in the dimension the service
publishes it with (cdk_app.metric_dimensions; the dimension-set check itself is
test_infra_operations.py): Lambda ``Errors`` by ``FunctionName``, HTTP API ``5xx`` by
``ApiId``. Alarms live in the operations stack and reach resources of other stacks through
exports, which are resolved here to the resource they name.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.cdk_helpers import Synth
from tests.infra.cdk_helpers import resources as of_type

Resource = tuple[str, str]  # (template name, logical id)


def _exports(s: Synth) -> dict[str, Resource]:
    """Export name -> the resource its value references (Ref exports only)."""
    out: dict[str, Resource] = {}
    for name, template in s.templates.items():
        for output in template.get("Outputs", {}).values():
            export, value = output.get("Export", {}).get("Name"), output.get("Value")
            if isinstance(export, str) and isinstance(value, dict) and "Ref" in value:
                out[export] = (name, value["Ref"])
    return out


def _resolve(value: Any, template: str, exports: dict[str, Resource]) -> Resource | None:
    if isinstance(value, dict) and "Ref" in value:
        return (template, value["Ref"])
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return exports.get(value["Fn::ImportValue"])
    return None


def _watched(s: Synth) -> dict[tuple[str, str, str], set[Resource]]:
    """(namespace, metric, dimension) -> resources some alarm watches with it."""
    exports = _exports(s)
    out: dict[tuple[str, str, str], set[Resource]] = {}
    for name, template in s.templates.items():
        for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
            props = alarm["Properties"]
            metrics = [props] if "MetricName" in props else []
            metrics += [
                m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m
            ]
            for metric in metrics:
                for dim in metric.get("Dimensions", []):
                    target = _resolve(dim["Value"], name, exports)
                    if target is not None:
                        key = (metric["Namespace"], metric["MetricName"], dim["Name"])
                        out.setdefault(key, set()).add(target)
    return out


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_function_has_an_error_alarm_and_every_api_a_5xx_alarm(
    stage: str, synth: Synth, prod_synth: Synth
) -> None:
    s = synth if stage == "dev" else prod_synth
    watched = _watched(s)
    functions = [
        (name, lid)
        for name, t in s.templates.items()
        for lid in of_type(t, "AWS::Lambda::Function")
    ]
    # The stream functions, the watchdog, the feedback function and its key rotation at least:
    # a parse that found none would pass anything.
    assert len(functions) >= 5, functions
    errors = watched.get(("AWS/Lambda", "Errors", "FunctionName"), set())
    unwatched = [f for f in functions if f not in errors]
    assert not unwatched, f"functions without an Errors alarm: {unwatched}"

    http_apis = [
        (name, lid)
        for name, t in s.templates.items()
        for lid in of_type(t, "AWS::ApiGatewayV2::Api")
    ]
    assert http_apis, "the feedback HTTP API is missing from the app"
    server = watched.get(("AWS/ApiGateway", "5xx", "ApiId"), set())
    unwatched = [a for a in http_apis if a not in server]
    assert not unwatched, f"HTTP APIs without a 5xx alarm: {unwatched}"
    # A REST API publishes 5XXError by ApiName (another metric, another dimension): when one is
    # added this check must learn it rather than pass it unwatched.
    rest = [lid for t in s.templates.values() for lid in of_type(t, "AWS::ApiGateway::RestApi")]
    assert not rest, f"REST APIs {rest}: teach this test their 5XXError/ApiName alarm"


def test_the_check_sees_a_function_without_an_alarm(synth: Synth) -> None:
    """The resolution above is what makes the class check mean something: an alarm's
    cross-stack FunctionName must resolve to the function in the processing stack."""
    watched = _watched(synth)
    errors = watched[("AWS/Lambda", "Errors", "FunctionName")]
    processing = next(n for n in synth.templates if n.endswith("-Processing"))
    handlers = {
        lid: r["Properties"]["Handler"]
        for lid, r in of_type(synth.templates[processing], "AWS::Lambda::Function").items()
    }
    by_handler = {handlers[lid]: (t, lid) for t, lid in errors if t == processing}
    assert "lambdas.feedback.app.handler" in by_handler
    assert "lambdas.feedback.rotation.handler" in by_handler
    # A made-up function is not watched: the check can fail.
    assert (processing, "NoSuchFunction") not in errors
