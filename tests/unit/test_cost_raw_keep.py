"""Raw sampling priced (issue 15 item 5): the kept share from the rule, its storage, the job."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from cli import app
from rotorwatch.deployment.cost.estimate import estimate
from rotorwatch.deployment.cost.fleet import Assumptions, Fleet
from rotorwatch.deployment.cost.levers import comparisons
from rotorwatch.deployment.cost.prices import load_prices
from rotorwatch.lake.raw_keep import KeepRule, kept_fraction

PRICES = load_prices()
FLEET = Fleet(devices=10_000, interval_s=10.0, raw_expire_days=15, raw_keep=True)


def _lines(fleet: Fleet, a: Assumptions | None = None) -> dict[str, float]:
    return {line.item: line.usd for line in estimate(fleet, PRICES, a).lines}


def _kept_gb_month(fleet: Fleet) -> float:
    return sum(line.quantity for line in estimate(fleet, PRICES).lines if "(raw kept" in line.item)


def test_sampling_adds_kept_storage_and_the_job_and_nothing_when_off() -> None:
    on, off = _lines(FLEET), _lines(replace(FLEET, raw_keep=False))
    added = set(on) - set(off)
    share = kept_fraction(10.0, KeepRule(30, 1), FLEET.state_changes_per_device_day)
    assert added == {
        f"Standard storage (raw kept: {share:.1%} of windows)",
        "Standard-IA storage (raw kept)",
        "raw sampling job DPU-hours",
    }
    assert all(on[k] > 0 for k in added)
    assert sum(on.values()) > sum(off.values())


def test_kept_storage_follows_the_rule_and_the_assumed_change_rate() -> None:
    quiet = replace(FLEET, state_changes_per_device_day=0.0)
    busy = replace(FLEET, state_changes_per_device_day=4.0)
    # No change: 1 window an hour of 360; four changes add 4 x 361 windows a day.
    ratio = _kept_gb_month(busy) / _kept_gb_month(quiet)
    assert ratio == pytest.approx((24 + 4 * 361) / 24)
    two = replace(quiet, raw_keep_per_hour=2)
    assert _kept_gb_month(two) == pytest.approx(2 * _kept_gb_month(quiet))


def test_the_job_s_dpu_hours_follow_the_raw_bytes_it_reads() -> None:
    a = Assumptions(raw_keep_fixed_minutes_per_run=0.0)
    big = _lines(FLEET, a)["raw sampling job DPU-hours"]
    small = _lines(replace(FLEET, devices=5_000), a)["raw sampling job DPU-hours"]
    assert big == pytest.approx(2 * small)


def test_a_job_too_slow_for_its_timeout_is_warned_about() -> None:
    slow = estimate(FLEET, PRICES, Assumptions(raw_keep_dpu=2.0))
    assert any("raise lake.raw_keep_workers" in w for w in slow.warnings)
    fast = estimate(FLEET, PRICES, Assumptions(raw_keep_dpu=20.0))
    assert not any("raw_keep_workers" in w for w in fast.warnings)


def test_the_raw_comparison_prices_expiry_with_sampling_against_keeping_all() -> None:
    (raw,) = [c for c in comparisons(FLEET, PRICES) if c.title == "Raw waveforms"]
    assert "1/device-hour" in raw.alternative
    assert raw.alternative_usd == pytest.approx(estimate(FLEET, PRICES).total_usd)
    assert raw.baseline_usd > raw.alternative_usd


def test_cli_prices_prod_s_sampling_with_the_state_change_option() -> None:
    def usd(*extra: str) -> dict[str, float]:
        args = ["cost", "--devices", "10000", "--interval", "10", "--stage", "prod", "--json"]
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        return {x["item"]: x["usd"] for x in json.loads(result.stdout)["lines"]}

    default, busy = usd(), usd("--state-changes-per-day", "4")
    ia = "Standard-IA storage (raw kept)"
    assert ia in default
    assert busy[ia] > 3 * default[ia]
    bad = CliRunner().invoke(
        app, ["cost", "--devices", "1", "--interval", "10", "--state-changes-per-day", "-1"]
    )
    assert bad.exit_code == 2
    assert "state changes per device-day must be >= 0" in bad.output
    assert "Traceback" not in bad.output
