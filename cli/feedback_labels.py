"""`rotorwatch feedback-labels`: technicians' answers as training labels (rotorwatch.alerting.feedback).

Reads the lake's feedback rows and feature records (files or folders, as ``rotorwatch train``
reads them) and writes the labelled windows and their labels, ready for
``rotorwatch train ... --feedback-labels <out>`` (``make model FEEDBACK_LABELS=<out>``) or the
SageMaker training job's ``feedback`` channel (``launch_training.py --feedback-s3``). Sorted output: the same inputs give the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli import app


@app.command("feedback-labels")
def feedback_labels_command(
    feedback: Annotated[
        list[Path], typer.Argument(help="Feedback rows: the lake's feedback/ folder or files.")
    ],
    features: Annotated[
        list[Path], typer.Option("--features", help="Feature records (folder or files).")
    ],
    out: Annotated[Path, typer.Option(help="Folder for records.jsonl and labels.jsonl.")],
    window_h: Annotated[
        float, typer.Option(help="Hours before an alert its answer labels.", min=0.01)
    ] = 1.0,
) -> None:
    """Write the windows technicians' answers label, with their labels, for training."""
    from rotorwatch.alerting.feedback_lake import labelled_windows
    from rotorwatch.diagnosis.model.dataio import read_records
    from rotorwatch.diagnosis.model.labels import TrainingError
    from rotorwatch.diagnosis.predictions import FAULTS

    try:
        rows = read_records(feedback)
        recs = read_records(features)
    except TrainingError as exc:
        raise typer.BadParameter(str(exc)) from None
    audit: dict[str, int] = {}
    records, truth = labelled_windows(
        rows, recs, FAULTS, window_ms=int(window_h * 3_600_000), audit=audit
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, items in (("records.jsonl", records), ("labels.jsonl", truth)):
        text = "".join(json.dumps(i, sort_keys=True, separators=(",", ":")) + "\n" for i in items)
        (out / name).write_text(text, encoding="utf-8")
    counts: dict[str, int] = {}
    for t in truth:
        counts[t["fault"]] = counts.get(t["fault"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    typer.echo(f"{len(records)} labelled windows -> {out} ({summary})")
    # What was not used, and why: a correction replaces the earlier answer (the lake and the
    # feedback table keep both), an ambiguous window is left out.
    typer.echo(
        f"{audit['answers']} answers: {audit['answers_superseded']} superseded by a later "
        f"correction, {audit['answers_not_a_class']} not a fault the model learns; "
        f"{audit['windows_contradictory']} windows left out (alerts' answers disagree)"
    )
    typer.echo(f"train on them: rotorwatch train ... --feedback-labels {out} (README, Model)")
