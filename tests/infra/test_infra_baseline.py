"""The baseline learning period: a stage setting, validated, handed to score_and_alert."""

from __future__ import annotations

import pytest

from rotorwatch.deployment import resources
from rotorwatch.deployment.resources import EnvKey
from rotorwatch.deployment.stage import ConfigError, parse_stage
from rotorwatch.diagnosis.baseline import DEFAULT_LEARNING_WINDOWS
from tests.infra.cdk_helpers import Synth
from tests.infra.cdk_helpers import resources as of_type


def test_learning_period_defaults_to_a_day_and_can_be_set_per_stage() -> None:
    assert parse_stage("dev", {}).baseline_learning_windows == DEFAULT_LEARNING_WINDOWS
    cfg = parse_stage("prod", {"baseline": {"learning_windows": 1008}})  # a week at 10 min
    assert cfg.baseline_learning_windows == 1008


@pytest.mark.parametrize("bad", [0, -1, 1.5, "144", True, 10**6])
def test_bad_learning_periods_are_rejected_with_the_setting_named(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"baseline\.learning_windows"):
        parse_stage("dev", {"baseline": {"learning_windows": bad}})


def test_score_and_alert_gets_the_learning_period(synth: Synth) -> None:
    functions = {
        f["Properties"]["Handler"]: f["Properties"]
        for f in of_type(synth.template("Processing"), "AWS::Lambda::Function").values()
    }
    env = functions[resources.SCORE_AND_ALERT_HANDLER]["Environment"]["Variables"]
    assert env[EnvKey.BASELINE_WINDOWS] == str(synth.built.config.baseline_learning_windows)
