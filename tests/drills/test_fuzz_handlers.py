"""Fuzz run over both handlers: random Kinesis record payloads (junk bytes, mutated telemetry,
mutated feature records). Properties: the handler never raises, never fails the batch for bad
input, and every record is accounted for: output, quarantined (telemetry) / counted invalid
(features), or a same-batch duplicate."""

from __future__ import annotations

import base64
import json
import math
import os
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lambdas.common.batch import source_records
from rotorwatch.contract.plausible import PLAUSIBLE
from rotorwatch.contract.published import decode_published
from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import (
    FS_HZ_MAX,
    FS_HZ_MIN,
    N_SAMPLES_MIN,
    SAMPLE_ABS_MAX,
    SCALE_MAX,
    SCALE_MIN,
    decode,
    encode,
    encode_samples,
)
from rotorwatch.contract.telemetry_v2 import HEADER_BYTES, from_v1
from rotorwatch.diagnosis.features import FEATURE_FIELDS
from tests.drills.figures import Figure, record
from tests.drills.harness import Pipeline
from tests.drills.test_drill_aws_faults import rules  # noqa: F401  (fixture)
from tests.handlers.conftest import Aws, FakeContext

#: Batches per handler; RW_FUZZ_EXAMPLES=2000 for a longer run (`make drills-fuzz`).
EXAMPLES = int(os.environ.get("RW_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same inputs every run: CI is reproducible
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_t = np.arange(256) / 1024.0
VALID = json.loads(
    encode(
        device_id="pump-01",
        ts=1_763_900_000_000,
        seq=1,
        rpm=1780.0,
        temperature_c=40.0,
        vibration=encode_samples(np.sin(2 * np.pi * 29.7 * _t), fs_hz=1024.0),
    )
)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


#: Identity fields are mostly kept, so most mutants get past the first checks and the rest of
#: the record (values, types, nesting) is what gets exercised.
_IDENTITY = ("v", "device_id", "ts", "seq")


def _mutate(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Each field kept, dropped, or replaced by junk (nested vibration too)."""
    choice = st.sampled_from(["keep", "keep", "drop", "junk"])
    identity = st.sampled_from(["keep"] * 8 + ["drop", "junk"])

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in keys:
            c = draw(identity if k in _IDENTITY else choice)
            if c == "keep" and k in base:
                v = base[k]
                if isinstance(v, dict):
                    v = draw(_mutate(v, list(v)))
                out[k] = v
            elif c == "junk":
                out[k] = draw(junk)
        return out

    return build()


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True, default=str).encode()


telemetry_payloads = st.one_of(
    st.binary(max_size=64),
    _mutate(VALID, [*VALID, "site", "received_at"]).map(dumps),
    st.just(dumps(VALID)),
)
_BY_TYPE = {"double": 1.5, "bigint": 1, "int": 4096, "string": "x"}
feature_base = {f.name: _BY_TYPE[f.type] for f in FEATURE_FIELDS} | {
    "device_id": "pump-01",
    "ts": 1_763_900_000_000,
    "seq": 1,
    "iso_zone": "B",
    "site": "plant-a",
}


@st.composite
def _few_fields_off(draw: st.DrawFn) -> dict[str, Any]:
    """A good feature record with one to three fields dropped or replaced by junk."""
    rec = dict(feature_base)
    for name in draw(st.lists(st.sampled_from(sorted(feature_base)), min_size=1, max_size=3)):
        if draw(st.booleans()):
            rec.pop(name, None)
        else:
            rec[name] = draw(junk)
    return rec


feature_payloads = st.one_of(
    st.binary(max_size=64),
    _few_fields_off().map(dumps),
    st.just(dumps(feature_base)),
)
#: What the fuzz run first found: a list where the ISO zone belongs raised inside scoring and
#: failed the whole batch on every retry.
ISO_ZONE_LIST = dumps(feature_base | {"iso_zone": [0]})

TRIED = {"telemetry": 0, "features": 0}


@pytest.mark.slow
def test_fuzz_extract_features(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    pipe = Pipeline(aws, context)
    totals = {"in": 0, "out": 0, "quarantined": 0, "duplicates": 0}

    @FUZZ
    @given(batch=st.lists(telemetry_payloads, min_size=1, max_size=5))
    def run(batch: list[bytes]) -> None:
        before = pipe.quarantined_count()
        event = pipe.event(batch)
        response = extract_features.handler(event, context)  # never raises
        assert response == {"batchItemFailures": []}  # bad input never fails the batch
        out = len(pipe.new_feature_records())
        quarantined = pipe.quarantined_count() - before
        # What the stream decoder makes of each record under the key the rule gave it (the
        # v1 rule's site:device: the labels a device sends are ignored, not judged).
        keys = [
            _published(b, r["kinesis"]["partitionKey"])
            for b, r in zip(batch, event["Records"], strict=True)
        ]
        valid = [k for k in keys if k is not None]
        assert quarantined == len(batch) - len(valid)
        assert out == len(set(valid))  # every valid window out once (same-batch repeats merge)
        totals["in"] += len(batch)
        totals["out"] += out
        totals["quarantined"] += quarantined
        totals["duplicates"] += len(valid) - len(set(valid))
        TRIED["telemetry"] += len(batch)

    run()
    assert totals["in"] == totals["out"] + totals["quarantined"] + totals["duplicates"]
    record(
        Figure(
            f"fuzz extract_features ({EXAMPLES} batches)",
            records_in=totals["in"],
            records_out=totals["out"],
            quarantined=totals["quarantined"],
            alerts=0,
            note=f"{totals['duplicates']} same-batch duplicates merged; never raised",
        )
    )


VALID_V2 = from_v1(decode(dumps(VALID)))


@st.composite
def _v2_mutant(draw: st.DrawFn) -> bytes:
    """A good v2 message cut short, grown, or with a few bytes overwritten (header mostly)."""
    data = bytearray(VALID_V2)
    kind = draw(st.sampled_from(["keep", "cut", "grow", "poke", "poke"]))
    if kind == "cut":
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif kind == "grow":
        data += draw(st.binary(min_size=1, max_size=9))
    elif kind == "poke":
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, HEADER_BYTES + 3))] = draw(st.integers(0, 255))
    return bytes(data)


#: Partition keys as the two rules set them (v1 site:device, v2 site/device), as 0.2.0's v1
#: rule set them (the device), and keys no rule sets (a replay by hand).
v2_keys = st.sampled_from(
    [
        "plant-a/pump-01",
        "plant-a/pump-02",
        "plant-a:pump-01",
        "plant-b:pump-02",
        "pump-01",
        "a/b/c",
        "a:b/c",
        ":pump-01",
        "",
        "x y",
    ]
)
v2_records = st.tuples(st.one_of(_v2_mutant(), telemetry_payloads), v2_keys)


def _published(data: bytes, key: str) -> tuple[str, int, int] | None:
    try:
        m = decode_published(data, key, 0)
    except TelemetryError:
        return None
    return (m.device_id, m.ts, m.seq)


@pytest.mark.slow
def test_fuzz_extract_features_with_v2_and_partition_keys(
    extract_features: ModuleType, aws: Aws, context: FakeContext
) -> None:
    """Contract v2 is identified by its partition key (site/device) and magic: mutated v2
    messages under every kind of key are output or quarantined, never raise, never fail the
    batch."""
    pipe = Pipeline(aws, context)
    totals = {"in": 0, "out": 0, "quarantined": 0}

    @FUZZ
    @given(batch=st.lists(v2_records, min_size=1, max_size=5))
    def run(batch: list[tuple[bytes, str]]) -> None:
        before = pipe.quarantined_count()
        event = pipe.event([d for d, _ in batch], partition_keys=[k for _, k in batch])
        assert extract_features.handler(event, context) == {"batchItemFailures": []}
        out = len(pipe.new_feature_records())
        quarantined = pipe.quarantined_count() - before
        valid = [k for d, key in batch if (k := _published(d, key)) is not None]
        assert quarantined == len(batch) - len(valid)
        assert out == len(set(valid))
        totals["in"] += len(batch)
        totals["out"] += out
        totals["quarantined"] += quarantined

    run()
    assert totals["out"] > 0
    assert totals["quarantined"] > 0
    record(
        Figure(
            f"fuzz extract_features, v2 and partition keys ({EXAMPLES} batches)",
            records_in=totals["in"],
            records_out=totals["out"],
            quarantined=totals["quarantined"],
            alerts=0,
            note="mutated v2 headers and lengths under v1, v2 and foreign keys; never raised",
        )
    )


def _valid_feature(data: bytes) -> tuple[str, int, int] | None:
    try:
        rec = json.loads(data)
    except ValueError:
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("device_id"), str):
        return None
    if any(isinstance(rec.get(k), bool) or not isinstance(rec.get(k), int) for k in ("ts", "seq")):
        return None
    return (rec["device_id"], rec["ts"], rec["seq"])


@pytest.mark.slow
def test_fuzz_score_and_alert(
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
) -> None:
    pipe = Pipeline(aws, context)
    totals = {"in": 0, "out": 0, "invalid": 0}

    @FUZZ
    @given(batch=st.lists(feature_payloads, min_size=1, max_size=5))
    @example(batch=[ISO_ZONE_LIST, dumps(feature_base | {"seq": 2})])
    def run(batch: list[bytes]) -> None:
        outcome = rules.process(
            source_records(pipe.event(batch, template="kinesis_features")), rules.DEPS
        )
        assert outcome.failed_positions == []
        keys = [_valid_feature(b) for b in batch]
        valid = [k for k in keys if k is not None]
        # Every record is either skipped as invalid or scored; same-batch repeats merge.
        assert outcome.invalid + outcome.scored + outcome.duplicates == len(batch)
        assert outcome.invalid >= len(batch) - len(valid)
        assert outcome.predictions_put == outcome.scored
        totals["in"] += len(batch)
        totals["out"] += outcome.predictions_put
        totals["invalid"] += outcome.invalid
        TRIED["features"] += len(batch)

    run()
    lake = aws.predictions()
    assert all(math.isfinite(p["ts"]) for p in lake)
    record(
        Figure(
            f"fuzz score_and_alert ({EXAMPLES} batches)",
            records_in=totals["in"],
            records_out=totals["out"],
            quarantined=totals["invalid"],
            alerts=len(aws.alerts()),
            lake_rows=len(lake),
            note="invalid feature records counted (InvalidFeatureRecords), never raised",
        )
    )


# ---- issue 26: values valid by the contract, at its extremes, through both handlers ----------

_EDGE_TIMES = [0, 1, 1_763_900_000_000, PLAUSIBLE["ts"].high]


def _edges(name: str, extra: list[float]) -> st.SearchStrategy[float]:
    b = PLAUSIBLE[name]
    return st.sampled_from([b.low, b.high, *extra]) | st.floats(
        min_value=b.low, max_value=b.high, allow_nan=False
    )


@st.composite
def _extreme_window(draw: st.DrawFn) -> dict[str, Any]:
    """A window the contract accepts, at its edges: length, rate, scale, encoding, and samples
    that are dead (zeros, a constant), pinned at full scale, tiny or huge."""
    n = draw(st.sampled_from([N_SAMPLES_MIN, 1024, 4096, 16384]))
    fs_hz = draw(st.sampled_from([FS_HZ_MIN, 8192.0, FS_HZ_MAX]))
    kind = draw(st.sampled_from(["zeros", "constant", "full_scale", "sine", "noise", "impulses"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    t = np.arange(n) / fs_hz
    unit = draw(st.sampled_from(["g", "m/s2"]))
    if draw(st.booleans()):  # int16 counts with any scale the contract allows
        counts = {
            "zeros": np.zeros(n),
            "constant": np.full(n, draw(st.integers(-32768, 32767))),
            "full_scale": np.where(np.sin(2 * np.pi * 50 * t) > 0, 32767, -32768),
            "sine": 30000 * np.sin(2 * np.pi * 29.7 * t),
            "noise": rng.normal(0, 8000, n),
            "impulses": np.where(rng.random(n) < 0.01, 32767, 0),
        }[kind]
        raw = np.clip(np.rint(counts), -32768, 32767).astype("<i2").tobytes()
        scale = draw(st.sampled_from([SCALE_MIN, 1e-4, SCALE_MAX]))
        vib = {"fs_hz": fs_hz, "unit": unit, "encoding": "int16le+base64", "scale": scale}
    else:  # float32 up to the largest magnitude allowed
        peak = draw(st.sampled_from([1e-30, 1.0, SAMPLE_ABS_MAX]))
        x = {
            "zeros": np.zeros(n),
            "constant": np.full(n, peak),
            "full_scale": np.where(np.sin(2 * np.pi * 50 * t) > 0, peak, -peak),
            "sine": peak * np.sin(2 * np.pi * 29.7 * t),
            "noise": np.clip(rng.normal(0, peak / 4, n), -peak, peak),
            "impulses": np.where(rng.random(n) < 0.01, peak, 0.0),
        }[kind]
        raw = x.astype("<f4").tobytes()
        vib = {"fs_hz": fs_hz, "unit": unit, "encoding": "float32le+base64"}
    vib["data"] = base64.b64encode(raw).decode("ascii")
    return vib


@st.composite
def _extreme_message(draw: st.DrawFn) -> tuple[bytes, str]:
    """A v1 (or, where it fits, v2) record with every number at or inside the physical
    bounds, and now and then just outside them (quarantined, never a stall)."""
    device = draw(st.sampled_from(["pump-01", "pump-02"]))
    msg: dict[str, Any] = {
        "v": 1,
        "device_id": device,
        "ts": draw(st.sampled_from(_EDGE_TIMES) | st.integers(0, int(PLAUSIBLE["ts"].high))),
        "seq": draw(st.sampled_from([0, 2**32 - 1, int(PLAUSIBLE["seq"].high)]) | st.integers(0)),
    }
    for name, extra in (
        ("rpm", [5e-324, 1e-3, 1.0, 60.0]),
        ("temperature_c", [0.0]),
        ("pressure_bar", [0.0]),
    ):
        if draw(st.booleans()):
            value = draw(_edges(name, extra))
            msg[name] = value if value > 0 or name != "rpm" else 1.0
    if draw(st.integers(0, 9)) == 0:  # just outside one bound: implausible
        name = draw(st.sampled_from(["temperature_c", "pressure_bar", "rpm", "seq", "ts"]))
        msg[name] = PLAUSIBLE[name].high * 10 + 1
    if draw(st.booleans()):
        msg["vibration"] = draw(_extreme_window())
    data = json.dumps(msg).encode()
    if draw(st.booleans()):
        try:
            return from_v1(decode(data)), f"plant-a/{device}"
        except ValueError:  # not expressible in v2 (seq beyond 32 bits, float32 peaks)
            pass
    return data, device


@pytest.mark.slow
def test_fuzz_extreme_valid_values_through_both_handlers(
    extract_features: ModuleType,
    rules: ModuleType,  # noqa: F811
    aws: Aws,
    context: FakeContext,
) -> None:
    """Issue 26: what the contract accepts, at its edges, through extract_features and then
    score_and_alert (moto): no raise, no failed batch, every record processed or quarantined,
    every feature record scored into the lake and the device state written."""
    pipe = Pipeline(aws, context)
    totals = {"in": 0, "features": 0, "quarantined": 0, "predictions": 0}

    @FUZZ
    @given(batch=st.lists(_extreme_message(), min_size=1, max_size=4))
    def run(batch: list[tuple[bytes, str]]) -> None:
        before_q, before_p = pipe.quarantined_count(), len(aws.predictions())
        event = pipe.event([d for d, _ in batch], partition_keys=[k for _, k in batch])
        assert extract_features.handler(event, context) == {"batchItemFailures": []}
        feats = [r["Data"] for r in pipe.new_feature_records()]
        quarantined = pipe.quarantined_count() - before_q
        valid = {k for d, key in batch if (k := _published(d, key)) is not None}
        assert quarantined == len(batch) - sum(_published(d, k) is not None for d, k in batch)
        assert len(feats) == len(valid)
        if feats:
            keys = [json.loads(f)["device_id"] for f in feats]
            scored = pipe.event(feats, template="kinesis_features", partition_keys=keys)
            assert rules.handler(scored, context) == {"batchItemFailures": []}
        assert len(aws.predictions()) - before_p == len(feats)  # none skipped as invalid
        totals["in"] += len(batch)
        totals["features"] += len(feats)
        totals["quarantined"] += quarantined
        totals["predictions"] += len(feats)

    run()
    assert totals["features"] > 0
    assert totals["quarantined"] > 0
    record(
        Figure(
            f"fuzz valid extremes through both handlers ({EXAMPLES} batches)",
            records_in=totals["in"],
            records_out=totals["features"],
            quarantined=totals["quarantined"],
            alerts=len(aws.alerts()),
            lake_rows=totals["predictions"],
            note="contract edges (ts, seq, rpm, temperature, pressure, scale, rates, lengths, "
            "dead/pinned/huge windows), v1 and v2; never raised, never stalled",
        )
    )
