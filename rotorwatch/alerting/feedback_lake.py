"""Technicians' answers in the lake: the rows alerts and answers leave, and the labels read back."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from rotorwatch.alerting.feedback import (
    NO_FAULT_FOUND,
    OTHER_FAULT,
    RECORD_VERSION,
    AlertRecord,
    Answer,
)
from rotorwatch.lake import layout as lake

# ------------------------------------------------------------------------------------------
# Labels in the lake (rotorwatch.lake.layout.FEEDBACK_TABLE)

ROW_ALERT: Final = "alert"
ROW_ANSWER: Final = "answer"


def alert_row(alert: AlertRecord) -> dict[str, Any]:
    """The lake row of an alert that could be answered (so unanswered alerts count)."""
    return {
        "record_version": RECORD_VERSION,
        "kind": ROW_ALERT,
        "alert_id": alert.alert_id,
        "device_id": alert.device_id,
        "site": alert.site,
        "severity": alert.severity,
        "fault_claimed": alert.fault,
        "alert_ts": alert.ts,
        "recorded_ms": alert.created_ms,
        "verdict": None,
        "fault_found": None,
        "action": None,
        "channel": None,
        "correction": None,
    }


def answer_row(alert: AlertRecord, answer: Answer) -> dict[str, Any]:
    """The lake row of an answer the record took (accepted or corrected)."""
    row = alert_row(alert)
    row.update(
        kind=ROW_ANSWER,
        recorded_ms=answer.answered_ms,
        verdict=answer.verdict,
        fault_found=answer.fault_found,
        action=answer.action,
        channel=answer.channel,
        correction=answer.correction,
    )
    return row


def lake_object(row: Mapping[str, Any]) -> tuple[str, bytes]:
    """(S3 key, gzip'd JSON line) of one lake row. The key is a hash of the row, so writing
    the same row twice (a retried publish, a replayed answer) overwrites, never duplicates."""
    line = json.dumps(row, separators=(",", ":"), sort_keys=True).encode("utf-8") + b"\n"
    name = f"{row['kind']}-{hashlib.sha256(line).hexdigest()[:24]}.json.gz"
    key = lake.object_key(lake.FEEDBACK_TABLE, int(row["recorded_ms"]), name)
    return key, gzip.compress(line, mtime=0)


# ------------------------------------------------------------------------------------------
# Labelled windows for training (rotorwatch train ... --labels, the SageMaker labels channel)

#: Windows before an alert that its answer labels (ms): the windows that raised it.
DEFAULT_LABEL_WINDOW_MS: Final = 3_600_000


def answer_label(row: Mapping[str, Any], faults: Sequence[str]) -> str | None:
    """The training label an answer row gives the windows that raised its alert, or None.

    ``confirmed`` / ``repaired``: the claimed fault; ``other_fault``: what was found;
    ``no_fault_found``: ``normal``. None when the fault is not a class the model learns (a
    sensor cause, free text): a label outside the classes would teach nothing true.
    """
    verdict = row.get("verdict")
    if verdict == NO_FAULT_FOUND:
        return "normal"
    fault = row.get("fault_found") if verdict == OTHER_FAULT else row.get("fault_claimed")
    return fault if fault in faults else None


#: What :func:`labelled_windows` counts (its ``audit`` argument's keys).
LABEL_AUDIT_KEYS: Final = (
    "answers",  # answer rows read
    "answers_superseded",  # earlier answers a correction replaced (the last correction wins)
    "answers_not_a_class",  # answers whose fault the model does not learn (a sensor cause)
    "windows_contradictory",  # windows two alerts' answers label differently (left out)
    "windows",  # windows labelled
)


def _row_order(row: Mapping[str, Any]) -> tuple[int, str]:
    # The later answer wins; the same millisecond is settled by content, never by file order.
    return int(row["recorded_ms"]), json.dumps(row, sort_keys=True, default=str)


def labelled_windows(
    feedback_rows: Sequence[Mapping[str, Any]],
    feature_records: Sequence[Mapping[str, Any]],
    faults: Sequence[str],
    *,
    window_ms: int = DEFAULT_LABEL_WINDOW_MS,
    audit: dict[str, int] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(feature records, label rows) for the windows technicians' answers label.

    The answer that stands per alert is its latest answer row (a correction replaces the first;
    the lake keeps both rows, and the feedback table the whole history). Each labels its
    device's windows in ``(alert_ts - window_ms, alert_ts]``. A window two alerts' answers label
    differently is left out (ambiguous). Label rows carry the alert and the time of the answer
    that stands (``alert_id``, ``recorded_ms``: rotorwatch.diagnosis.model.technician_labels settles any
    later duplicate by them). Output is sorted by (device, ts, seq), so the same lake gives the
    same files, and the same model. ``audit`` (if given) receives :data:`LABEL_AUDIT_KEYS`.
    """
    counts = dict.fromkeys(LABEL_AUDIT_KEYS, 0)
    latest: dict[str, Mapping[str, Any]] = {}
    for row in feedback_rows:
        if row.get("kind") != ROW_ANSWER:
            continue
        counts["answers"] += 1
        seen = latest.get(str(row["alert_id"]))
        if seen is None or _row_order(row) > _row_order(seen):
            latest[str(row["alert_id"])] = row
    counts["answers_superseded"] = counts["answers"] - len(latest)
    spans: dict[str, list[tuple[int, int, str, Mapping[str, Any]]]] = {}
    for row in latest.values():
        label = answer_label(row, faults)
        if label is None:
            counts["answers_not_a_class"] += 1
            continue
        end = int(row["alert_ts"])
        spans.setdefault(str(row["device_id"]), []).append((end - window_ms, end, label, row))
    chosen: dict[tuple[str, int, int], tuple[Mapping[str, Any], list[tuple[str, Any]]]] = {}
    for rec in feature_records:
        device, ts, seq = (
            str(rec.get("device_id")),
            int(rec.get("ts") or 0),
            int(rec.get("seq") or 0),
        )
        hits = [
            (label, row) for start, end, label, row in spans.get(device, ()) if start < ts <= end
        ]
        if hits:
            chosen[(device, ts, seq)] = (rec, hits)
    records, truth = [], []
    for key in sorted(chosen):
        rec, hits = chosen[key]
        if len({label for label, _row in hits}) != 1:
            counts["windows_contradictory"] += 1
            continue
        label, row = max(hits, key=lambda h: _row_order(h[1]))
        records.append(dict(rec))
        truth.append(
            {
                "device_id": key[0],
                "ts": key[1],
                "seq": key[2],
                "fault": label,
                "alert_id": str(row["alert_id"]),
                "recorded_ms": int(row["recorded_ms"]),
            }
        )
    counts["windows"] = len(truth)
    if audit is not None:
        audit.update(counts)
    return records, truth
