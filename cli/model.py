"""`rotorwatch train` and `rotorwatch score`: the model, locally, with the serving code.

``train`` runs the same training routine as sagemaker/train.py; ``score`` loads a model
directory (or model.tar.gz) the way the endpoint does and answers with the same rows.
"""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import app

REPO_ROOT = Path(__file__).resolve().parents[1]
INFERENCE_SCRIPT = REPO_ROOT / "sagemaker" / "inference.py"
#: Where `rotorwatch train` writes by default (`make model` too, before packing the artifact).
DEFAULT_MODEL_DIR = Path("out/model")
#: What `score` loads by default: the committed bootstrap artifact, so it works on a fresh
#: clone (the same file the demo serves and `cdk deploy` ships).
DEFAULT_SCORE_MODEL = REPO_ROOT / "sagemaker" / "bootstrap" / "model.tar.gz"
#: Fields that tie a score back to its machine and window (copied to every output row).
KEY_FIELDS = ("device_id", "ts", "seq")


@app.command("train")
def train_command(
    features: Annotated[
        list[Path] | None,
        typer.Argument(help="Feature files/directories (JSON lines, JSON array, Parquet)."),
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Ground-truth rows {device_id, ts, seq, fault, severity}.")
    ] = None,
    simulate: Annotated[
        int, typer.Option(help="Train on a simulated random fleet of this many machines instead.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated fleet.")] = 7,
    hours: Annotated[float, typer.Option(help="Simulated hours.")] = 24.0,
    interval_s: Annotated[float, typer.Option(help="Seconds between windows (simulated).")] = 600.0,
    model_dir: Annotated[Path, typer.Option(help="Where to write the model directory.")] = (
        DEFAULT_MODEL_DIR
    ),
    artifact: Annotated[
        Path | None, typer.Option(help="Also pack a deterministic model.tar.gz here.")
    ] = None,
    feedback_labels: Annotated[
        Path | None,
        typer.Option(
            help="Also train on technicians' labelled windows: the folder "
            "`rotorwatch feedback-labels --out` wrote (README, Model)."
        ),
    ] = None,
) -> None:
    """Train the anomaly model and fault classifier; write model.json, model_card.json, code/."""
    from rotorwatch.diagnosis.model.artifact import pack, write_model_dir
    from rotorwatch.diagnosis.model.calibration import ECE_BOUND
    from rotorwatch.diagnosis.model.dataio import join_labels, read_records
    from rotorwatch.diagnosis.model.labels import TrainingError
    from rotorwatch.diagnosis.model.train import train_with_card

    try:
        if simulate:
            from simulator.dataset import simulated_fleet_features

            _sc, records = simulated_fleet_features(
                simulate, seed=seed, duration_h=hours, interval_s=interval_s
            )
        elif features:
            records = read_records(features)
            _check_trainable(records, features, labels)
            if labels is not None:
                truth = read_records([labels])
                _check_labels(truth, labels)
                records = join_labels(records, truth)
        else:
            typer.echo("error: give feature files or --simulate N", err=True)
            raise typer.Exit(2)
        labelled: list[dict[str, Any]] = []
        audit: dict[str, Any] | None = None
        if feedback_labels is not None:
            from rotorwatch.diagnosis.model.technician_labels import join, read_dir

            labelled, joined = join(*read_dir(feedback_labels))
            audit = joined.to_dict()
            typer.echo(f"{feedback_labels}: {joined.summary()}", err=True)
        model, card = train_with_card(records, labelled, audit)
    except TrainingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    write_model_dir(model, card, model_dir, INFERENCE_SCRIPT)
    typer.echo(f"model {model.version} -> {model_dir}", err=True)
    valid = card["metrics"]["validation_held_out_machines"]
    if valid:
        typer.echo(
            f"held-out machines: accuracy {valid['accuracy']:.3f}, "
            f"macro-F1 {valid['macro_f1']:.3f}, anomaly ROC AUC {valid['anomaly_roc_auc']:.3f}",
            err=True,
        )
    cal = card.get("confidence_calibration_held_out_machines")
    if cal:
        errors = [e for e in (cal["ece"], cal["ece_naming_a_fault"]) if e == e]  # NaN: no rows
        worst = max(errors, default=float("nan"))
        typer.echo(
            f"held-out machines: confidence calibration error {worst:.3f} over "
            f"{cal['windows']} windows"
            + (
                ""
                if not worst > ECE_BOUND
                else f", above {ECE_BOUND}: this model's fault_confidence is not a probability "
                "to show anyone (train on more machines)"
            ),
            err=True,
        )
    if artifact is not None:
        data = pack(model_dir, artifact)
        typer.echo(f"artifact {artifact} ({len(data)} bytes)", err=True)


def _check_trainable(
    records: list[dict[str, Any]], sources: list[Path], labels: Path | None
) -> None:
    """Training data is labelled feature records: raw telemetry trained a model that scored
    every window 1.0 (and exit 0); unlabelled records died on a KeyError."""
    from rotorwatch.diagnosis.model.labels import TrainingError

    named = ", ".join(str(p) for p in sources)
    if not records:
        raise TrainingError(f"no records in {named}")
    first = records[0]
    if isinstance(first.get("vibration"), dict):
        raise TrainingError(
            f"{named} is raw telemetry: run `rotorwatch features {named} --assets <registry>` "
            "and train on its output (with --labels from `rotorwatch simulate --truth`)"
        )
    if labels is None and "fault" not in first:
        raise TrainingError(
            f"{named} has no 'fault' labels: give --labels <truth file> "
            "(`rotorwatch simulate --truth` writes one) or train with --simulate N"
        )


def _check_labels(truth: list[dict[str, Any]], labels: Path) -> None:
    from rotorwatch.diagnosis.model.labels import TrainingError

    wanted = ("device_id", "ts", "seq", "fault")
    missing = [k for k in wanted if not truth or k not in truth[0]]
    if missing:
        raise TrainingError(
            f"{labels} is not ground truth (no {', '.join(missing)}): --labels takes the rows "
            "`rotorwatch simulate --truth` writes ({device_id, ts, seq, fault, severity})"
        )


def _load(model: Path) -> object:
    from rotorwatch.diagnosis.model import MODEL_FILE, Model

    if model.is_file() and model.name.endswith(".tar.gz"):
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(model) as tar:
            tar.extract(tar.getmember(MODEL_FILE), tmp, filter="data")
            return Model.from_json((Path(tmp) / MODEL_FILE).read_text(encoding="utf-8"))
    return Model.from_json((model / MODEL_FILE).read_text(encoding="utf-8"))


class Unreadable(str):
    """A record of the input that is not JSON at all: why, in one line."""


def score_input(data: bytes) -> list[object]:
    """The records of ``rotorwatch score``'s input: a JSON array, or JSON lines.

    Bad records are kept (as what they are, or :class:`Unreadable`) for
    :func:`unscorable_reason` to name, so one bad line skips that line, not the file: a line
    that is not UTF-8 or not JSON, ``null``, a first line that starts with ``[`` but is not an
    array of the whole input.
    """
    stripped = data.lstrip()
    if stripped.startswith(b"["):
        try:
            whole = json.loads(stripped)
        except ValueError:  # not UTF-8 or not JSON as a whole: read it line by line
            whole = None
        if isinstance(whole, list):
            return list(whole)
    records: list[object] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line.decode("utf-8")))
        except UnicodeDecodeError as exc:
            records.append(Unreadable(f"not UTF-8 text (byte {exc.start} of the line)"))
        except ValueError as exc:
            records.append(Unreadable(f"not JSON ({exc})"))
    return records


def unscorable_reason(record: object) -> str | None:
    """Why ``record`` is not a feature record the model can score, or None if it is one.

    A feature record (``rotorwatch features``, the features stream, the lake) names its machine
    and window and carries vibration features; raw telemetry or an empty object is a mistake
    that would otherwise score as a confident HEALTHY.
    """
    from rotorwatch.diagnosis.features.schema import VIBRATION_FEATURES

    if isinstance(record, Unreadable):
        return str(record)
    if not isinstance(record, dict):
        return f"not a JSON object ({type(record).__name__ if record is not None else 'null'})"
    missing = [k for k in KEY_FIELDS if record.get(k) is None]
    if "vibration" in record and isinstance(record.get("vibration"), dict):
        return "raw telemetry, not a feature record (run `rotorwatch features` on it first)"
    if missing:
        return f"not a feature record: no {', '.join(missing)}"
    if all(record.get(k) is None for k in VIBRATION_FEATURES):
        return "no vibration features (a window without vibration cannot be scored)"
    return None


@app.command("score")
def score_command(
    source: Annotated[
        str, typer.Argument(help="Feature records: JSON lines or a JSON array; '-' for stdin.")
    ] = "-",
    model: Annotated[
        Path,
        typer.Option(
            help="Model directory or model.tar.gz (default: the committed bootstrap one)."
        ),
    ] = DEFAULT_SCORE_MODEL,
) -> None:
    """Score feature records with a model: one JSON line per record (device_id, ts, seq and the
    endpoint's answer). Records that are not feature records are named on stderr; the exit
    status is 1 if any was skipped and nothing was scored."""
    from rotorwatch.diagnosis.model import Model, ModelError
    from rotorwatch.diagnosis.scoring import encode_response

    try:
        m = _load(model)
    except (OSError, KeyError, ModelError) as exc:
        typer.echo(f"error: cannot load model from {model}: {exc}", err=True)
        raise typer.Exit(2) from None
    assert isinstance(m, Model)
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    records = score_input(data)
    scorable: list[dict[str, Any]] = []
    skipped_by_reason: dict[str, list[int]] = {}
    for n, record in enumerate(records, start=1):
        reason = unscorable_reason(record)
        if reason is None:
            assert isinstance(record, dict)
            scorable.append(record)
        else:
            skipped_by_reason.setdefault(reason, []).append(n)
    for reason, numbers in skipped_by_reason.items():
        first = ", ".join(str(n) for n in numbers[:5]) + (", ..." if len(numbers) > 5 else "")
        typer.echo(f"skipped {len(numbers)} record(s) ({first}): {reason}", err=True)
    rows = json.loads(encode_response(m.score(scorable))) if scorable else []
    for record, row in zip(scorable, rows, strict=True):
        keys = {k: record[k] for k in KEY_FIELDS}
        sys.stdout.write(json.dumps({**keys, **row}, separators=(",", ":")) + "\n")
    skipped = len(records) - len(scorable)
    if skipped:
        typer.echo(f"{len(scorable)} scored, {skipped} skipped", err=True)
    if not scorable:
        typer.echo("error: nothing to score", err=True)
        raise typer.Exit(1)
