"""What the cost model answers: billed lines, the capacity the fleet needs, and the report
that holds them (``rotorwatch cost`` prints it; ``--json`` is :meth:`CostReport.to_dict`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rotorwatch.deployment.cost.fleet import Assumptions, Fleet


@dataclass(frozen=True, slots=True)
class CostLine:
    """One billed dimension: ``quantity`` of ``unit`` per month costing ``usd``."""

    service: str
    item: str
    quantity: float
    unit: str
    usd: float


@dataclass(frozen=True, slots=True)
class Capacity:
    """What the fleet needs provisioned (or what on-demand has to absorb)."""

    messages_per_s: float
    message_bytes: int
    telemetry_bytes_per_s: float
    features_bytes_per_s: float
    telemetry_shards: int
    features_shards: int
    extract_batch_records: float
    score_batch_records: float
    extract_invocations_per_s: float
    score_invocations_per_s: float
    extract_concurrency: float
    score_concurrency: float
    #: Concurrent Lambda batches Kinesis allows: shards × ParallelizationFactor.
    extract_concurrency_limit: int
    score_concurrency_limit: int
    sagemaker_invocations_per_s: float
    sagemaker_concurrency: float


@dataclass(frozen=True, slots=True)
class CostReport:
    fleet: Fleet
    assumptions: Assumptions
    region: str
    prices_as_of: str
    lines: tuple[CostLine, ...]
    capacity: Capacity
    warnings: tuple[str, ...] = field(default=())

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_service(self) -> dict[str, float]:
        """Monthly USD per service, in pipeline order."""
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.usd
        return out

    def line(self, service: str, item: str) -> CostLine:
        for candidate in self.lines:
            if candidate.service == service and candidate.item == item:
                return candidate
        raise KeyError(f"{service}/{item}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "prices_as_of": self.prices_as_of,
            "fleet": asdict(self.fleet),
            "assumptions": asdict(self.assumptions),
            "lines": [asdict(line) for line in self.lines],
            "by_service_usd": self.by_service(),
            "total_usd": self.total_usd,
            "capacity": asdict(self.capacity),
            "warnings": list(self.warnings),
        }
