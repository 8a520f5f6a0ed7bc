"""Fuzz run over both handlers: random Kinesis record payloads (junk bytes, mutated telemetry,
mutated feature records). Properties: the handler never raises, never fails the batch for bad
input, and every record is accounted for: output, quarantined (telemetry) / counted invalid
(features), or a same-batch duplicate."""

from __future__ import annotations

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
from rotorwatch.features import FEATURE_FIELDS
from rotorwatch.published import decode_published
from rotorwatch.telemetry import TelemetryError, decode, encode, encode_samples
from rotorwatch.telemetry_v2 import HEADER_BYTES, from_v1
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


def _decodes(data: bytes) -> tuple[str, int, int] | None:
    try:
        m = decode(data)
    except TelemetryError:
        return None
    return (m.device_id, m.ts, m.seq)


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
        keys = [_decodes(b) for b in batch]
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


#: Partition keys as the two rules set them, and keys no rule sets (a replay by hand).
v2_keys = st.sampled_from(["plant-a/pump-01", "plant-a/pump-02", "pump-01", "a/b/c", "", "x y"])
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
