"""The device state item as stored: its format version, the reader every writer uses, and which
writer owns which attribute.

Released versions wrote these shapes (no version attribute; ``git log -p rotorwatch/alerting/alerts.py``):

* the first real-time path: ``device_id``, ``site``, ``last_ts``, ``last_seq``, ``state``,
  ``since_ms``, ``points``, ``healthy_run``, ``velocities_mm_s``, ``fault``,
  ``fault_confidence``, ``iso_zone``, ``velocity_rms_mm_s``, ``degraded``, ``last_alert_ms``,
  ``last_alert_severity``, ``pending_alert``;
* the watchdog added ``last_seen_ms`` and ``no_data_for_ms``, then ``last_received_ms``;
* per-device baselines added ``baseline`` and ``baseline_resets``; the sensor rules
  ``sensor_cause``, ``sensor_reason``, ``sensor_since_ms``, then ``sensor_history``;
* ``rotorwatch baseline reset`` on a device with no item created none, but an item whose
  windows were never applied holds only ``device_id`` and a few of the above.

Every attribute is optional (``None`` is not stored), so an older item reads as this release's
state with defaults, and :data:`STATE_FORMAT` is written from now on (``state_format``). A
newer item reads too: attributes this release does not know are ignored, and never written
(each writer updates only its own attributes, :data:`SCORE_AND_ALERT_ATTRIBUTES`), so a
rollback neither fails on nor erases what a newer release keeps.

The reader also heals: a learned statistic that no physical reading can produce (a temperature
of -1e100 degC learned before the contract had bounds) is dropped and learned again, because
the next update would square it beyond DynamoDB's number range and fail every later batch of
the device; an outbox entry that cannot be read is dropped rather than failing every retry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from rotorwatch.alerting.alerts import BASELINE_RESETS_ATTRIBUTE, Alert, DeviceState
from rotorwatch.contract.plausible import implausible

#: Version of the stored item. 1: every released shape before this attribute existed.
STATE_FORMAT: Final = 2
FORMAT_ATTRIBUTE: Final = "state_format"
#: Attributes the watchdog owns (``lambdas/watchdog``): score_and_alert never writes them.
WATCHDOG_ATTRIBUTES: Final[frozenset[str]] = frozenset({"no_data_for_ms"})
#: Attributes ``rotorwatch baseline reset`` owns (it also removes ``baseline``, which
#: score_and_alert learns: its writes are conditioned on the reset count instead).
BASELINE_RESET_ATTRIBUTES: Final[frozenset[str]] = frozenset({BASELINE_RESETS_ATTRIBUTE})
#: What score_and_alert sets or removes: every state field but the key and the others' own.
SCORE_AND_ALERT_ATTRIBUTES: Final[tuple[str, ...]] = tuple(
    f.name
    for f in fields(DeviceState)
    if f.name != "device_id"
    and f.name not in WATCHDOG_ATTRIBUTES
    and f.name not in BASELINE_RESET_ATTRIBUTES
)
#: A learned sum of squares beyond this came from an impossible reading: the next update could
#: leave DynamoDB's number range (magnitudes up to 9.99e125).
_M2_MAX: Final = 1e100


@dataclass(frozen=True, slots=True)
class StoredState:
    """A state item as read: the state, the format it was written in, and what was healed."""

    state: DeviceState
    format: int
    healed: tuple[str, ...] = ()


def _number(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _history_is_possible(value: Any) -> bool:
    """A stored sensor history every number of which a real device could have produced."""
    if not isinstance(value, Mapping):
        return True  # nothing stored (or unreadable: DeviceState drops it itself)
    try:
        t_n, t_mean, t_m2 = (_number(x) for x in value.get("temperature", (0, 0, 0)))
        _p_n, p_mean, p_m2 = (_number(x) for x in value.get("pressure", (0, 0, 0)))
        recent = [_number(c) for _ts, c in value.get("recent", ())]
    except (TypeError, ValueError):
        return True
    numbers = (t_mean, t_m2, p_mean, p_m2, *recent)
    if any(x is None for x in numbers):
        return False
    if any(abs(x) > _M2_MAX for x in numbers if x is not None):
        return False
    temperatures = [t for t in recent if t is not None]
    if t_n and t_mean is not None:
        temperatures.append(t_mean)
    return all(implausible("temperature_c", t) is None for t in temperatures)


def _readable_outbox(text: Any) -> str | None:
    """The outbox with only the alerts this release can read (None when none is left)."""
    if not isinstance(text, str):
        return None
    try:
        entries = json.loads(text)
    except ValueError:
        return None
    if not isinstance(entries, list):
        return None
    kept = []
    for entry in entries:
        try:
            Alert.from_json(entry)
        except (TypeError, ValueError):
            continue
        kept.append(entry)
    return json.dumps(kept) if kept else None


def read_state(item: Mapping[str, Any]) -> StoredState:
    """The device state of a stored item of any released format, older or newer (see the
    module docstring); numbers may be Decimal, as DynamoDB returns them."""
    fmt = _number(item.get(FORMAT_ATTRIBUTE))
    version = int(fmt) if fmt is not None else 1
    plain = dict(item)
    healed = []
    if not _history_is_possible(plain.get("sensor_history")):
        plain.pop("sensor_history")
        healed.append("sensor_history")
    if "pending_alert" in plain:
        outbox = _readable_outbox(plain["pending_alert"])
        if outbox != plain["pending_alert"]:
            healed.append("pending_alert")
        plain["pending_alert"] = outbox
    return StoredState(DeviceState.from_item(plain), version, tuple(healed))
