"""Physical plausibility: the range of each message field no real machine can leave, and the check.

Both contracts (v1 JSON, v2 binary) and score_and_alert (the feature records it reads) hold a
reading against these bounds: a value the contract's types accept but no machine can produce (a
temperature below absolute zero, a shaft at 10^7 rpm) is a broken sensor or firmware, quarantined
with reason ``implausible``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeVar

from rotorwatch.contract.reasons import Reason, TelemetryError

_N = TypeVar("_N", int, float)


@dataclass(frozen=True, slots=True)
class Bound:
    """The physically possible range of one message field (inclusive), and why."""

    low: float
    high: float
    why: str


#: Last instant a calendar date can name (9999-12-31T23:59:59.999Z), epoch ms: beyond it
#: Python's datetime, Athena's timestamp and every alert's "since" text fail.
TS_MS_MAX: Final = 253_402_300_799_999
#: The lake's ``seq`` column is a bigint (int64); DynamoDB numbers hold 38 digits.
SEQ_MAX: Final = 2**63 - 1
#: Physical plausibility per field (both contracts, and score_and_alert for the feature
#: records it reads): outside is ``implausible``, quarantined like a malformed message.
PLAUSIBLE: Final[dict[str, Bound]] = {
    "ts": Bound(0, TS_MS_MAX, "a window starts between 1970 and the end of year 9999"),
    "received_at": Bound(0, TS_MS_MAX, "a receive time is a date (epoch ms) before year 10000"),
    "seq": Bound(0, SEQ_MAX, "seq is stored as a 64-bit integer"),
    "rpm": Bound(
        0,
        1.0e6,
        "no machine shaft turns faster than 1,000,000 rev/min (turbomolecular pumps and dental "
        "air turbines, the fastest in service, stay below 500,000)",
    ),
    "temperature_c": Bound(
        -273.15,
        2000.0,
        "nothing is colder than absolute zero, and no contact sensor reads above 2000 degC "
        "(a type B thermocouple's range ends at 1820)",
    ),
    "pressure_bar": Bound(
        -1.01325,
        10_000.0,
        "a gauge reading cannot be below vacuum (-1 atm), and no industrial pump or compressor "
        "reaches 10,000 bar (ultra-high-pressure water jets run at about 6,000)",
    ),
}


def implausible(name: str, value: float) -> str | None:
    """Why ``value`` cannot be a real reading of field ``name`` (None when it can, or when the
    field has no bound). ``rpm`` must also be > 0."""
    bound = PLAUSIBLE.get(name)
    if bound is None:
        return None
    too_low = value <= bound.low if name == "rpm" else value < bound.low
    if too_low or value > bound.high or value != value:
        return f"'{name}' = {_show(value)} is not physically possible: {bound.why}"
    return None


def _show(value: float) -> str:
    """A number for a one-line message: JSON integers may be far beyond float range."""
    try:
        return f"{float(value):.6g}"
    except OverflowError:
        return f"an integer of {int(value).bit_length()} bits"


def check_plausible(name: str, value: _N) -> _N:
    """``value`` if it is a possible reading of ``name`` (:data:`PLAUSIBLE`), else raise
    :class:`TelemetryError` ``implausible``."""
    why = implausible(name, value)
    if why is not None:
        raise TelemetryError(Reason.IMPLAUSIBLE, why, name)
    return value
