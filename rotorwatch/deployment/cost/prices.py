"""The price table: a region's list prices and metering constants, with their sources.

Loaded from ``rotorwatch/deployment/cost/pricing/<region>.json``, which records where each price was read and
when; :class:`CostModelError` is what every part of the cost model raises on bad input.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


class CostModelError(ValueError):
    """A fleet or assumption outside what the model (or the telemetry contract) allows."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """A region's list prices, as loaded from ``rotorwatch/deployment/cost/pricing/<region>.json``."""

    region: str
    prices_as_of: str
    status: str
    sources: dict[str, str]
    data: dict[str, Any]

    def rate(self, service: str, item: str) -> float:
        """One price or metering constant, e.g. ``rate("glue", "etl_dpu_hour_usd")``."""
        try:
            return float(self.data[service][item])
        except KeyError:
            raise CostModelError(f"price table {self.region} has no {service}.{item}") from None

    def tiered(self, service: str, item: str, quantity: float) -> float:
        """Cost of ``quantity`` under a tier list ``[[cumulative upper bound | null, price], …]``."""
        tiers = self.data[service][item]
        cost, lower = 0.0, 0.0
        for upper, price in tiers:
            top = math.inf if upper is None else float(upper)
            if quantity <= lower:
                break
            cost += (min(quantity, top) - lower) * float(price)
            lower = top
        return cost


def load_prices(region: str = "us-east-1", path: Path | None = None) -> PriceTable:
    """Load a price table: ``path`` if given, else the packaged table for ``region``."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("rotorwatch.deployment.cost.pricing").joinpath(f"{region}.json")
        if not resource.is_file():
            raise CostModelError(
                f"no packaged price table for region {region!r}; pass one with a path"
            )
        text = resource.read_text(encoding="utf-8")
    where = str(path) if path is not None else f"the packaged {region} table"
    try:
        raw = json.loads(text)
        return PriceTable(
            region=raw["region"],
            prices_as_of=raw["prices_as_of"],
            status=raw["status"],
            sources=dict(raw["sources"]),
            data={k: v for k, v in raw.items() if isinstance(v, dict) and k != "sources"},
        )
    except json.JSONDecodeError as exc:
        raise CostModelError(f"{where} is not JSON ({exc}); give a price table") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CostModelError(
            f"{where} is not a price table (no {exc}; the layout is rotorwatch/deployment/cost/pricing/us-east-1.json's)"
        ) from None
