"""The shards `rotorwatch cost` sizes hold every second's writes, simulated as Kinesis counts them.

Kinesis: "uses MD5 to map partition keys to 128-bit integer values and to map associated data
records to shards" (key-concepts.html), a new stream's hash key range is split evenly between its
shards, and "each shard can support ... up to a maximum total data write rate of 1 MB per second"
(service-sizes-and-limits.html): the quota is per second. Devices publish on their own clocks, so
each device lands in one second of its interval; the telemetry rule keys a record by
``site:device`` (contract.iot_rule). A window over its shard's second is refused and goes to the
IoT rule's error action, so refused windows are windows the pipeline never scores.

The class this guards: any sizing from a shard's mean (or a mean that has to fit a minute) and
not its busy seconds. Shard counts come from the cost model; the simulation does not share its
arithmetic (it hashes keys and draws phases).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from cli.cost import stage_config
from rotorwatch.deployment.cost.estimate import estimate
from rotorwatch.deployment.cost.fleet import Fleet
from rotorwatch.deployment.cost.prices import load_prices

PRICES = load_prices("us-east-1")
MiB = 1024**2
DRAWS = 20
#: Refused windows the sizing may leave, as a share of the fleet's windows (mean over draws).
REFUSED_SHARE_MAX = 1e-3


def shard_of_each_device(devices: int, shards: int) -> np.ndarray:
    keys = (f"site-{i % 7}:dev-{i:05d}" for i in range(devices))
    return np.array(
        [int(hashlib.md5(k.encode()).hexdigest(), 16) * shards >> 128 for k in keys], dtype=int
    )


def refused_share(fleet: Fleet, shards: int, record_bytes: float, seed: int = 0) -> float:
    """Mean share of the fleet's windows refused over DRAWS draws of the devices' phases."""
    shard = shard_of_each_device(fleet.devices, shards)
    per_second = int(MiB // record_bytes)  # whole windows a shard takes in one second
    seconds = int(np.ceil(fleet.interval_s))
    rng = np.random.default_rng(seed)
    refused = []
    for _ in range(DRAWS):
        second = np.floor(rng.uniform(0, fleet.interval_s, fleet.devices)).astype(int)
        counts = np.zeros((shards, seconds), dtype=int)
        np.add.at(counts, (shard, second), 1)
        refused.append(np.maximum(counts - per_second, 0).sum() / fleet.devices)
    return float(np.mean(refused))


def sized(fleet: Fleet) -> tuple[int, float]:
    cap = estimate(fleet, PRICES).capacity
    return cap.telemetry_shards, cap.telemetry_bytes_per_s / cap.messages_per_s


@pytest.mark.parametrize(
    ("devices", "interval_s", "samples"),
    [
        (10_000, 10.0, 4096),  # the README's prod fleet
        (10_000, 10.0, 2048),
        (3_000, 10.0, 4096),
        (50_000, 30.0, 4096),
        (1_000, 5.0, 4096),
        (20_000, 60.0, 16384),  # few, large windows per shard-second: the widest spread
    ],
)
def test_the_sized_shards_refuse_almost_no_window_in_any_second(
    devices: int, interval_s: float, samples: int
) -> None:
    fleet = Fleet(devices=devices, interval_s=interval_s, samples=samples)
    shards, record_bytes = sized(fleet)
    assert refused_share(fleet, shards, record_bytes) <= REFUSED_SHARE_MAX


def test_sizing_for_the_mean_alone_is_caught() -> None:
    """The check can fail: prod's fleet on 12 shards (last release's sizing, each shard's mean
    and its hash spread within quota) refuses about 0.9 % of the windows."""
    fleet = Fleet(devices=10_000, interval_s=10.0, samples=4096)
    _, record_bytes = sized(fleet)
    assert refused_share(fleet, 12, record_bytes) > 5 * REFUSED_SHARE_MAX


def test_prod_deploys_the_shards_its_stated_fleet_needs() -> None:
    prod = stage_config("prod")
    assert prod.fleet_devices is not None
    assert prod.fleet_interval_s is not None
    fleet = replace(
        Fleet(devices=prod.fleet_devices, interval_s=prod.fleet_interval_s, samples=4096),
        kinesis_mode="provisioned",
    )
    shards, record_bytes = sized(fleet)
    assert prod.telemetry_stream.shards >= shards
    assert refused_share(fleet, prod.telemetry_stream.shards, record_bytes) <= REFUSED_SHARE_MAX
