"""Large random fuzz run over the telemetry v1 and v2 decoders (no hypothesis: plain seeded random).

Prints how many inputs were tried, how many decoded, the reason-code histogram, and any input
that raised something other than TelemetryError (exit status 1 if there was one).

    python benchmarks/fuzz_decoder.py --inputs 200000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from rotorwatch.contract.published import decode_published
from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import (
    ENCODINGS,
    FIELDS,
    MAX_MESSAGE_BYTES,
    RULE_LABELS,
    UNITS,
    VIBRATION_FIELDS,
    decode,
    encode,
    encode_samples,
)
from rotorwatch.contract.telemetry_v2 import HEADER_BYTES, MAGIC, decode_any, encode_v2

TOP_KEYS = FIELDS
VIB_KEYS = VIBRATION_FIELDS
EDGE_VALUES: tuple[Any, ...] = (
    None, True, False, 0, 1, -1, 1.0, 2**63, -(2**63), 10**400, -(10**400), 1e308, -1e308, 5e-324,
    float("nan"), float("inf"), float("-inf"), "", "g", "m/s2", *ENCODINGS, *UNITS, "AAAA", "====",
    "A" * 1000, [], {}, [1, 2], {"a": 1}, 256, 100_000, 100_000.5, 255.9,
)  # fmt: skip


#: The Kinesis arrival the stream decoder stamps (epoch ms).
ARRIVAL_MS = 1_763_900_000_000
#: Partition keys as the rules set them (v1 site:device, v2 site/device, 0.2.0's v1 device) and
#: keys no rule sets: what extract_features meets on the stream.
PARTITION_KEYS: tuple[str, ...] = (
    "plant-a:dev-1", "plant-a/dev-1", "dev-1", "", "bad/key", "a:b/c", ":dev-1", "x" * 200,
)  # fmt: skip


def random_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(EDGE_VALUES)
    if kind == 1:
        return rng.randint(-(2**70), 2**70)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return "".join(chr(rng.randrange(0x20, 0x2FF)) for _ in range(rng.randrange(12)))
    if kind == 4:
        return rng.choice([True, False, None])
    return 10 ** rng.randrange(300, 420) * rng.choice([1, -1])


def random_json(rng: random.Random, depth: int = 0) -> Any:
    if depth > 3 or rng.random() < 0.5:
        return random_scalar(rng)
    if rng.random() < 0.5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = TOP_KEYS + VIB_KEYS + ("x",)
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def valid_pool(rng: random.Random, n: int = 64) -> list[bytes]:
    nrng = np.random.default_rng(rng.randrange(2**32))
    pool = []
    for i in range(n):
        samples = nrng.normal(scale=0.5, size=int(nrng.integers(256, 4097)))
        vib = encode_samples(samples, fs_hz=float(nrng.uniform(256, 100_000)), unit=rng.choice(UNITS),
                             encoding=rng.choice(ENCODINGS))  # type: ignore[arg-type]  # fmt: skip
        pool.append(encode(device_id=f"dev-{i}", ts=1763900000000 + i, seq=i, rpm=1480.0,
                           temperature_c=40.0, pressure_bar=2.0, vibration=vib))  # fmt: skip
    return pool


def valid_v2_pool(rng: random.Random, n: int = 64) -> list[bytes]:
    nrng = np.random.default_rng(rng.randrange(2**32))
    return [
        encode_v2(
            ts=1763900000000 + i,
            seq=i,
            samples=nrng.normal(scale=0.5, size=int(nrng.integers(256, 4097))),
            fs_hz=float(nrng.uniform(256, 100_000)),
            unit=rng.choice(UNITS),
            rpm=1480.0,
            temperature_c=rng.choice([None, 40.0]),
        )
        for i in range(n)
    ]


def make_generators(
    rng: random.Random, pool: list[bytes], pool_v2: list[bytes]
) -> dict[str, Callable[[], bytes | str]]:
    def random_bytes() -> bytes:
        return rng.randbytes(rng.randrange(600))

    def corrupted_valid() -> bytes:
        payload = bytearray(rng.choice(pool))
        for _ in range(rng.randrange(1, 5)):
            payload[rng.randrange(len(payload))] = rng.randrange(256)
        return bytes(payload)

    def truncated_valid() -> bytes:
        payload = rng.choice(pool)
        return payload[: rng.randrange(len(payload) + 1)]

    def field_mutated() -> str:
        msg = json.loads(rng.choice(pool))
        for _ in range(rng.randrange(1, 3)):
            target = (
                msg["vibration"]
                if rng.random() < 0.4 and isinstance(msg.get("vibration"), dict)
                else msg
            )
            key = rng.choice(VIB_KEYS if target is not msg else TOP_KEYS)
            if rng.random() < 0.2:
                target.pop(key, None)
            else:
                target[key] = random_json(rng)
        return json.dumps(msg)

    def labels_mutated() -> str:
        """A valid message whose device also sent what the v1 rule adds, any JSON value: the
        cloud must take the window whatever the label holds (docs/telemetry.md)."""
        msg = json.loads(rng.choice(pool))
        for key in RULE_LABELS:
            if rng.random() < 0.8:
                msg[key] = random_json(rng)
        return json.dumps(msg)

    def random_structure() -> str:
        return json.dumps(random_json(rng))

    def contract_keys() -> str:
        return json.dumps({k: random_json(rng) for k in TOP_KEYS if rng.random() < 0.7})

    def oversize() -> bytes:
        return b'{"v":1,"pad":"' + b"A" * MAX_MESSAGE_BYTES + b'"}'

    def v2_corrupted_header() -> bytes:
        payload = bytearray(rng.choice(pool_v2))
        for _ in range(rng.randrange(1, 4)):
            payload[rng.randrange(HEADER_BYTES)] = rng.randrange(256)
        return bytes(payload)

    def v2_truncated_or_padded() -> bytes:
        payload = rng.choice(pool_v2)
        if rng.random() < 0.5:
            return payload[: rng.randrange(len(payload) + 1)]
        return payload + rng.randbytes(rng.randrange(1, 70_000))

    def v2_random_after_magic() -> bytes:
        return MAGIC + rng.randbytes(rng.randrange(600))

    return {
        "v2_corrupted_header": v2_corrupted_header,
        "v2_truncated_or_padded": v2_truncated_or_padded,
        "v2_random_after_magic": v2_random_after_magic,
        "v2_valid": lambda: rng.choice(pool_v2),
        "random_bytes": random_bytes,
        "corrupted_valid": corrupted_valid,
        "truncated_valid": truncated_valid,
        "field_mutated": field_mutated,
        "labels_mutated": labels_mutated,
        "random_structure": random_structure,
        "contract_keys": contract_keys,
        "valid": lambda: rng.choice(pool),
        "oversize": oversize,
    }


WEIGHTS = {"v2_corrupted_header": 12, "v2_truncated_or_padded": 8, "v2_random_after_magic": 6,
           "v2_valid": 2, "random_bytes": 15, "corrupted_valid": 20, "truncated_valid": 10, "field_mutated": 30, "labels_mutated": 10,
           "random_structure": 10, "contract_keys": 10, "valid": 4, "oversize": 1}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=200_000, help="inputs to try")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=600.0, help="stop earlier after this long")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    gens = make_generators(rng, valid_pool(rng), valid_v2_pool(rng))
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    outcomes: Counter[str] = Counter()
    by_generator: Counter[str] = Counter()
    crashes: list[tuple[str, str, bytes | str]] = []
    start = time.perf_counter()
    tried = 0
    for tried in range(1, args.inputs + 1):  # noqa: B007
        name = rng.choices(names, weights)[0]
        payload = gens[name]()
        by_generator[name] += 1
        try:
            # What extract_features calls: v2 by its magic (device from the partition key), else v1.
            if isinstance(payload, bytes):
                decode_any(
                    payload,
                    "dev-1" if rng.random() < 0.9 else rng.choice(["", "bad/key", "x" * 200]),
                )
            else:
                decode(payload)
            outcomes["(decoded)"] += 1
        except TelemetryError as exc:
            outcomes[str(exc.reason)] += 1
        except Exception as exc:  # the bug class this run hunts for
            outcomes[f"CRASH {type(exc).__name__}"] += 1
            if len(crashes) < 5:
                crashes.append((name, repr(exc), payload))
        data = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogatepass")
        key = rng.choice(PARTITION_KEYS)
        if name == "labels_mutated":
            key = f"plant-a:{json.loads(payload)['device_id']}"  # the v1 rule's key for it
        try:
            # What extract_features calls on the stream: the publisher from the partition key.
            got = decode_published(data, key, ARRIVAL_MS)
            outcomes["(stream) decoded"] += 1
            if name == "labels_mutated" and (got.site, got.received_at) != ("plant-a", ARRIVAL_MS):
                raise AssertionError(f"a device's label reached the window: {got.site!r}")
        except TelemetryError as exc:
            outcomes[f"(stream) {exc.reason}"] += 1
            if name == "labels_mutated":  # a label, whatever it holds, must cost no window
                outcomes["CRASH label quarantined"] += 1
                if len(crashes) < 5:
                    crashes.append((name, repr(exc), payload))
        except Exception as exc:
            outcomes[f"CRASH {type(exc).__name__}"] += 1
            if len(crashes) < 5:
                crashes.append((name, repr(exc), payload))
        if time.perf_counter() - start > args.seconds:
            break
    elapsed = time.perf_counter() - start
    print(
        f"inputs tried: {tried:,} in {elapsed:.1f} s ({tried / elapsed:,.0f}/s), seed {args.seed}"
    )
    print("inputs by generator: " + ", ".join(f"{k} {v:,}" for k, v in by_generator.most_common()))
    print(f"{'outcome':<24}{'count':>10}{'share':>9}")
    for outcome, count in outcomes.most_common():
        print(f"{outcome:<24}{count:>10,}{count / tried:>9.2%}")
    for name, err, payload in crashes:
        print(f"CRASH from {name}: {err}: {payload!r:.300}", file=sys.stderr)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
