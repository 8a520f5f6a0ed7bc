"""Technicians' answers as training labels: the windows they label, checked before training.

``rotorwatch feedback-labels`` (:func:`rotorwatch.alerting.feedback_lake.labelled_windows`) turns the lake's
answer rows into a folder of two JSON-lines files:

* ``records.jsonl``: the feature records of the windows the answers label;
* ``labels.jsonl``: one row per window ``{device_id, ts, seq, fault, alert_id, recorded_ms}``
  (``fault``: the claimed fault for ``confirmed``/``repaired``, what was found for
  ``other_fault``, ``normal`` for ``no_fault_found``; ``recorded_ms``: when the answer that
  stands was given).

:func:`join` pairs them up for :func:`rotorwatch.diagnosis.model.train.fit` and refuses, counting each
by reason (:class:`LabelAudit`), what would teach something false:

* ``no_such_window``: a label for a window the records do not hold (a hand-edited file, records
  from another lake); nothing to learn from, and no silent default;
* ``unknown_fault``: a label that is not a class (:data:`rotorwatch.diagnosis.predictions.FAULTS`);
* ``duplicate``: the same label for the same window again (two exports concatenated): kept once;
* ``superseded``: an older label for a window a later answer labels differently: the last
  correction wins (by ``recorded_ms``; the rows of both stay in the lake's audit);
* ``contradictory``: different labels given at the same time: the window is left out.

Deterministic: the output is sorted by (device, ts, seq) whatever the order of the inputs, so the
same files give the same model, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rotorwatch.diagnosis.model.dataio import read_records
from rotorwatch.diagnosis.model.labels import TrainingError
from rotorwatch.diagnosis.predictions import FAULTS

RECORDS_FILE: Final = "records.jsonl"
LABELS_FILE: Final = "labels.jsonl"
#: Why a label row is not trained on (LabelAudit.dropped keys).
DROP_REASONS: Final = (
    "no_such_window",
    "unknown_fault",
    "duplicate",
    "superseded",
    "contradictory",
)

Key = tuple[str, int, int]


@dataclass
class LabelAudit:
    """What :func:`join` did with the label rows (goes into the model card)."""

    rows: int = 0
    windows: int = 0
    by_fault: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    #: Up to :data:`EXAMPLES` dropped rows per reason, to find them again.
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def drop(self, reason: str, row: Mapping[str, Any]) -> None:
        self.dropped[reason] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES:
            kept.append({k: row.get(k) for k in ("device_id", "ts", "seq", "fault", "alert_id")})

    def to_dict(self) -> dict[str, Any]:
        return {
            "label_rows": self.rows,
            "windows": self.windows,
            "windows_by_fault": dict(sorted(self.by_fault.items())),
            "dropped": dict(self.dropped),
            "dropped_examples": {k: v for k, v in sorted(self.examples.items())},
        }

    def summary(self) -> str:
        dropped = ", ".join(f"{k} {v}" for k, v in self.dropped.items() if v) or "none dropped"
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.by_fault.items())) or "none"
        return f"{self.windows} technician-labelled windows ({faults}); {dropped}"


EXAMPLES: Final = 5


def _key(row: Mapping[str, Any]) -> Key:
    try:
        return (str(row["device_id"]), int(row["ts"]), int(row.get("seq") or 0))
    except (KeyError, TypeError, ValueError):
        raise TrainingError(
            f"label row {json.dumps(dict(row), default=str)[:120]} has no device_id/ts"
        ) from None


def _canonical(row: Mapping[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), default=str)


def join(
    records: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], LabelAudit]:
    """(labelled feature records sorted by window, audit) from records and label rows."""
    audit = LabelAudit(rows=len(labels))
    windows: dict[Key, Mapping[str, Any]] = {}
    for rec in sorted(records, key=_canonical):  # a duplicated record: one canonical copy
        windows.setdefault(_key(rec), rec)
    # Per window, the label that stands: the latest recorded_ms; same time, other label: out.
    standing: dict[Key, tuple[int, str, Mapping[str, Any]]] = {}
    contradicted: dict[Key, int] = {}  # window -> the time two labels disagreed at
    for row in sorted(labels, key=_canonical):
        key, fault = _key(row), row.get("fault")
        if fault not in FAULTS:
            audit.drop("unknown_fault", row)
            continue
        if key not in windows:
            audit.drop("no_such_window", row)
            continue
        at = int(row.get("recorded_ms") or 0)
        seen = standing.get(key)
        if seen is None:
            standing[key] = (at, str(fault), row)
        elif seen[1] == fault:
            audit.drop("duplicate", row)
            if at > seen[0]:
                standing[key] = (at, str(fault), row)
        elif at == seen[0]:
            contradicted[key] = at
            audit.drop("contradictory", row)
        else:
            older = row if at < seen[0] else seen[2]
            audit.drop("superseded", older)
            if at > seen[0]:
                standing[key] = (at, str(fault), row)
    out = []
    for key in sorted(standing):
        if contradicted.get(key) == standing[key][0]:  # no later answer settled it
            audit.drop("contradictory", standing[key][2])
            continue
        fault = standing[key][1]
        out.append({**windows[key], "fault": fault, "severity": None})
        audit.by_fault[fault] = audit.by_fault.get(fault, 0) + 1
    audit.windows = len(out)
    return out, audit


def read_dir(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(records, label rows) of a ``rotorwatch feedback-labels`` output folder."""
    missing = [n for n in (RECORDS_FILE, LABELS_FILE) if not (folder / n).is_file()]
    if missing:
        raise TrainingError(
            f"{folder} has no {' or '.join(missing)}: give the folder "
            "`rotorwatch feedback-labels --out` wrote"
        )
    return read_records([folder / RECORDS_FILE]), read_records([folder / LABELS_FILE])
