"""How a query result's cells read to people: sensible decimals, times instead of epoch ms.

Shared by ``rotorwatch query``'s tables and the demo report (the JSON outputs keep raw values).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

#: Integers above this in a column that holds times are epoch milliseconds (2001 onwards).
_EPOCH_MS_MIN: Final = 1_000_000_000_000
TIME_FORMAT: Final = "%Y-%m-%d %H:%M UTC"


def _is_time_column(column: str) -> bool:
    return column == "ts" or column.endswith(("_ts", "_at", "_at_ms"))


def cell(column: str, value: Any) -> str:
    """One value as text: epoch-ms times in time columns as UTC, floats to 3 significant
    figures (at least 2 decimals for values >= 1), None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        t = value if value.tzinfo else value.replace(tzinfo=UTC)
        return t.astimezone(UTC).strftime(TIME_FORMAT)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and _is_time_column(column) and value >= _EPOCH_MS_MIN:
        return datetime.fromtimestamp(value / 1000, UTC).strftime(TIME_FORMAT)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0 or abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)
