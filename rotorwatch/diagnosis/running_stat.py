"""A running mean and spread small enough to live in a DynamoDB item: one home for the device
state's learned statistics (the vibration baseline and the sensor history).

Welford's update keeps the mean and the sum of squared deviations, so a statistic learns one
window at a time, in any batch split, without keeping the windows. Stored numbers are rounded
to :data:`STORED_DIGITS` significant digits: the item stays small and a stored statistic reads
back exactly, so a re-read state folds to the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

#: Significant digits kept in stored numbers.
STORED_DIGITS: Final = 9


def stored(x: float) -> float:
    """``x`` as the device state stores it."""
    return float(f"{x:.{STORED_DIGITS}g}")


@dataclass(frozen=True, slots=True)
class RunningStat:
    """Welford's running mean and sum of squared deviations of one input."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def std(self) -> float:
        """Sample standard deviation (0 until two values are in)."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0

    def add(self, x: float) -> RunningStat:
        n = self.n + 1
        delta = x - self.mean
        mean = self.mean + delta / n
        return RunningStat(n, stored(mean), stored(self.m2 + delta * (x - mean)))

    def to_list(self) -> list[float]:
        """[n, mean, m2], the stored form."""
        return [self.n, self.mean, self.m2]

    @classmethod
    def from_list(cls, v: Sequence[float]) -> RunningStat:
        return cls(int(v[0]), float(v[1]), float(v[2]))
