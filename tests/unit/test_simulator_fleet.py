"""Fleet runs: contract-valid messages in time order, reproducible, with a truthful ground truth."""

from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rotorwatch.contract.iot_rule import parse_topic
from rotorwatch.contract.telemetry import MAX_MESSAGE_BYTES, decode
from rotorwatch.diagnosis.assets import load_assets
from rotorwatch.diagnosis.features import compute_features
from rotorwatch.diagnosis.predictions import FAULT_CAUSES, FAULTS, SENSOR_FAULTS
from simulator.fleet import (
    generate,
    generate_windows,
    ground_truth,
    load_scenario,
    write_ground_truth,
)
from simulator.run import JsonLinesSink, paced, run
from simulator.scenario import (
    PRESSURE_BAR_BY_KIND,
    SCENARIO_DIR,
    ScenarioError,
    parse_scenario,
    random_fleet,
)

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_messages_are_valid_time_ordered_and_counted_per_device() -> None:
    sc = load_scenario("small")
    truth = io.StringIO()
    msgs = list(
        generate(sc, start_ms=START_MS, duration_s=7200, interval_s=600, seed=1, truth=truth)
    )
    assert len(msgs) == 4 * 12
    decoded = [decode(p) for _, p in msgs]
    assert all(len(p) <= MAX_MESSAGE_BYTES for _, p in msgs)
    assert [m.ts for m in decoded] == sorted(m.ts for m in decoded)
    for (topic, _), m in zip(msgs, decoded, strict=True):
        assert parse_topic(topic) == ("plant-a", m.device_id)
        assert m.vibration is not None
        assert m.vibration.fs_hz == 8192.0
        assert m.vibration.n_samples == 4096
        assert m.vibration.encoding == "int16le+base64"
        assert m.rpm is not None
        assert m.temperature_c is not None
    per_device = defaultdict(list)
    for m in decoded:
        per_device[m.device_id].append(m)
    for lst in per_device.values():
        assert [m.seq for m in lst] == list(range(12))
        assert np.all(np.diff([m.ts for m in lst]) == 600_000)
    rows = [json.loads(line) for line in truth.getvalue().splitlines()]
    assert [(r["device_id"], r["ts"], r["seq"]) for r in rows] == [
        (m.device_id, m.ts, m.seq) for m in decoded
    ]


def test_same_seed_is_byte_identical_and_another_seed_differs() -> None:
    sc = load_scenario("small")
    kw = {"start_ms": START_MS, "duration_s": 3600, "interval_s": 900}
    a = list(generate(sc, seed=42, **kw))
    b = list(generate(sc, seed=42, **kw))
    c = list(generate(sc, seed=43, **kw))
    assert a == b
    assert [p for _, p in a] != [p for _, p in c]


def test_ground_truth_follows_the_fault_schedule() -> None:
    sc = load_scenario("small")
    rows = list(ground_truth(sc, start_ms=START_MS, duration_s=86400, interval_s=600))
    by_dev = defaultdict(list)
    for r in rows:
        assert r["fault"] in FAULTS
        assert 0.0 <= r["severity"] <= 1.0
        by_dev[r["device_id"]].append(r)
    assert {r["fault"] for r in by_dev["pump-01"]} == {"normal"}
    assert all(r["onset_ms"] is None and r["severity"] == 0 for r in by_dev["pump-01"])
    bearing = by_dev["pump-02"]  # bearing_outer from 2 h, life 18 h
    onset = START_MS + 2 * 3_600_000
    assert {r["onset_ms"] for r in bearing} == {onset}
    assert all((r["fault"] == "normal") == (r["ts"] < onset) for r in bearing)
    assert all(r["severity"] == 0 for r in bearing if r["ts"] < onset)
    sev = [r["severity"] for r in bearing]
    assert np.all(np.diff(sev) >= 0)
    assert sev[-1] == pytest.approx(1.0)  # the day outlasts onset + life
    assert {r["fault"] for r in by_dev["comp-04"]} == {"normal", "misalignment"}


def test_ground_truth_without_signals_matches_what_generate_emits() -> None:
    sc = load_scenario("small")
    emitted: list[dict] = []
    list(
        generate(
            sc, start_ms=START_MS, duration_s=5400, interval_s=900, seed=3, truth=emitted.append
        )
    )
    assert emitted == list(ground_truth(sc, start_ms=START_MS, duration_s=5400, interval_s=900))
    out = io.StringIO()
    assert write_ground_truth(iter(emitted), out) == len(emitted)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == emitted


def test_fleet_physics_through_the_feature_engine() -> None:
    """A day of fleet-24: healthy machines stay in zone A/B, every machine with a vibration fault
    ends in C or D and starts in A, each fault class moves its indicator."""
    sc = load_scenario("fleet-24")
    rows: list[dict] = []
    msgs = [
        decode(p)
        for _, p in generate(
            sc, start_ms=START_MS, duration_s=86400, interval_s=3600, seed=7, truth=rows.append
        )
    ]
    feats = compute_features(msgs, sc.assets)
    by_dev = defaultdict(list)
    for r, f in zip(rows, feats, strict=True):
        # A window whose accelerometer was failing (m19's, simulator.sensor_failure) says
        # nothing about the machine: tests/unit/test_simulator_sensor_failure.py.
        if not r.get("sensor_problem"):
            by_dev[r["device_id"]].append((r, f))
    labels = {m.device_id: (m.fault.fault if m.fault else "normal") for m in sc.machines}
    for dev, lst in by_dev.items():
        zones = [f["iso_zone"] for _, f in lst]
        if labels[dev] == "normal":
            assert set(zones) <= {"A", "B"}, dev
        elif labels[dev] in SENSOR_FAULTS:
            continue  # temperature/pressure first: tests/unit/test_simulator_sensor_faults.py
        else:
            assert zones[0] == "A", dev
            assert zones[-1] in ("C", "D"), (dev, zones)

    def ratio(fault: str, name: str, lo: float = 0.2, hi: float = 1.0) -> float:
        """Median of the indicator at severity lo..hi over healthy machines' median."""
        late = [
            f[name]
            for d, lst in by_dev.items()
            if labels[d] == fault
            for r, f in lst
            if lo < r["severity"] <= hi
        ]
        healthy = [f[name] for d, lst in by_dev.items() if labels[d] == "normal" for _, f in lst]
        return float(np.median(late) / np.median(healthy))

    assert ratio("bearing_outer", "env_bpfo") > 5
    assert ratio("bearing_inner", "env_bpfi") > 5
    assert ratio("bearing_ball", "env_bsf") > 3
    # Kurtosis rises while impacts are sparse and sharp, and falls again as damage spreads and
    # the running tones grow (as on real bearings): look at early life.
    assert ratio("bearing_outer", "kurtosis", 0.005, 0.2) > 1.3


def test_live_feed_runs_for_ever_and_staggers_devices() -> None:
    sc = load_scenario("small")
    first = list(
        itertools.islice(
            generate(sc, start_ms=START_MS, duration_s=None, interval_s=60, seed=0), 40
        )
    )
    ts = [decode(p).ts for _, p in first]
    assert len(first) == 40
    assert len(set(ts)) == 40  # four devices spread across each minute, never at once
    assert ts == sorted(ts)


def test_basic_ingest_topics() -> None:
    sc = load_scenario("small")
    topic, _ = next(
        generate(
            sc,
            start_ms=START_MS,
            duration_s=600,
            interval_s=600,
            seed=0,
            basic_ingest_rule="rw_telemetry",
        )
    )
    assert topic == "$aws/rules/rw_telemetry/rw/plant-a/pump-01/telemetry"
    assert parse_topic(topic) == ("plant-a", "pump-01")


def test_a_v2_device_publishes_binary_to_its_v2_topic_behind_the_v2_rule() -> None:
    """Per-device contracts: pump-01 on v2, the others v1; each to its own contract's topic
    (Basic Ingest: behind that contract's rule), the v2 payload the same window in binary."""
    from rotorwatch.contract.telemetry_v2 import decode_v2, is_v2

    sc = load_scenario("small")
    kw: dict[str, Any] = {"start_ms": START_MS, "duration_s": 600, "interval_s": 600, "seed": 0}
    v1 = {w.device_id: w for w in generate_windows(sc, **kw)}
    mixed = {
        w.device_id: w
        for w in generate_windows(
            sc, basic_ingest_rule="rw_telemetry", contract={"pump-01": 2}, **kw
        )
    }
    w2 = mixed["pump-01"]
    assert w2.topic == "$aws/rules/rw_telemetry_v2/rw/plant-a/pump-01/telemetry/v2"
    assert is_v2(w2.payload)
    got, sent = decode_v2(w2.payload, "pump-01"), decode(v1["pump-01"].payload)
    assert (got.ts, got.seq, got.rpm, got.temperature_c) == (
        sent.ts,
        sent.seq,
        sent.rpm,
        sent.temperature_c,
    )
    others = [w for d, w in mixed.items() if d != "pump-01"]
    assert all(w.topic.startswith("$aws/rules/rw_telemetry/") for w in others)
    assert all(w.payload == v1[w.device_id].payload for w in others)  # v1 devices unchanged


def test_pacing_releases_messages_at_simulated_time() -> None:
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    msgs = [("t", b"a", START_MS), ("t", b"b", START_MS + 60_000), ("t", b"c", START_MS + 120_000)]
    out = list(paced(msgs, start_ms=START_MS, speedup=60.0, clock=lambda: clock[0], sleep=sleep))
    assert [p for _, p in out] == [b"a", b"b", b"c"]
    assert sleeps == pytest.approx([1.0, 1.0])  # a minute of machine time per second
    assert list(paced(msgs, start_ms=START_MS, speedup=None, sleep=sleep)) == [
        (t, p) for t, p, _ in msgs
    ]


def test_json_lines_sink_writes_one_message_per_line() -> None:
    sc = load_scenario("small")
    buf = io.BytesIO()
    n = run(
        generate(sc, start_ms=START_MS, duration_s=1200, interval_s=600, seed=0), JsonLinesSink(buf)
    )
    lines = buf.getvalue().splitlines()
    assert n == len(lines) == 8
    assert all(decode(line).device_id for line in lines)


def test_scenario_file_is_also_an_asset_registry() -> None:
    for path in SCENARIO_DIR.glob("*.json"):
        assert set(load_assets(path)) == {m.device_id for m in load_scenario(path).machines}


def test_random_fleet_round_trips_through_a_file(tmp_path: Path) -> None:
    sc = random_fleet(12, seed=5, name="t", n_healthy=2)
    faults = [m.fault.fault for m in sc.machines if m.fault]
    assert len(faults) == 10
    assert set(faults) == set(FAULT_CAUSES) - {"normal"}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(sc.to_dict()))
    assert load_scenario(path) == sc


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["faults"].append(
                {"device_id": "ghost", "fault": "imbalance", "onset_h": 1, "life_h": 1}
            ),
            "not in 'assets'",
        ),
        (
            lambda d: d["faults"].__setitem__(0, {**d["faults"][0], "fault": "rust"}),
            "fault must be one of",
        ),
        (lambda d: d["faults"].append(dict(d["faults"][0])), "twice"),
        (lambda d: d["assets"][1].pop("bearing"), "needs a bearing geometry"),
        (lambda d: d["machines"][0].__setitem__("resonance_hz", 50.0), "resonance_hz"),
        (lambda d: d["machines"][0].__setitem__("colour", "red"), "unknown field"),
        (lambda d: d["faults"][0].__setitem__("life_h", 0), "life_h"),
        (lambda d: d.pop("assets"), "assets"),
    ],
)
def test_bad_scenarios_are_refused_with_a_reason(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((SCENARIO_DIR / "small.json").read_text())
    mutate(data)
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_unreadable_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.json")


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIO_DIR.glob("*.json")))
def test_every_bundled_machine_has_the_pressure_of_its_kind(name: str) -> None:
    """small once gave its fan a pump's drawn 0.025 bar and a pump none: the pressure was
    drawn for a random kind, then the kind was set by name."""
    for m in load_scenario(name).machines:
        low, high = PRESSURE_BAR_BY_KIND[m.physics.kind]
        assert low <= m.physics.pressure_bar <= high, (m.device_id, m.physics.kind)


def test_the_small_scenario_says_what_machines_it_has() -> None:
    sc = load_scenario("small")
    assert "four pumps" not in sc.description.lower()
    for kind in {m.physics.kind for m in sc.machines}:
        assert kind in sc.description, kind
