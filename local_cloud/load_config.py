"""The load drill's settings (local_cloud/load_drill.py), in a module of their own so the
figures (local_cloud/load_figures.py) can name them without importing the driver."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_FACTOR = 1 / 50
DEFAULT_MINUTES = 5.0


@dataclass(frozen=True, slots=True)
class DrillConfig:
    #: Prod's rate is multiplied by this (devices, and the Kinesis quotas).
    factor: float = DEFAULT_FACTOR
    #: Simulated minutes of publishing (then the pipeline drains).
    minutes: float = DEFAULT_MINUTES
    #: Shard counts; None: the stage's.
    telemetry_shards: int | None = None
    features_shards: int | None = None
    #: Seconds of scaled quota a shard's bucket holds (quota_gate.bucket_capacity); None: the
    #: fleet's interval, in which every device publishes once.
    burst_s: float | None = None
    #: One shard at full rate, not the fleet shrunk: the busiest telemetry shard's devices at
    #: prod's fleet (mean + 2 sd of the hash spread), publishing at random phases, on one
    #: telemetry and one features shard whose quotas are unscaled and counted per second. A
    #: shard's per-second count varies by the square root of its mean, so only its real device
    #: count shows real bursts; ``factor`` becomes that shard's share of the fleet.
    one_shard: bool = False
    #: Seeds the devices' phases in ``one_shard`` mode.
    seed: int = 0
    tick_s: float = 1.0
    #: Simulated seconds allowed for draining after the last window.
    drain_limit_s: float = 900.0
    samples: int = 4096
    model_artifact: Path | None = None
    stage: str = "prod"
