"""SageMaker scikit-learn training entry point (also runs as is on a laptop).

Channels (directories of JSON lines, JSON arrays or Parquet files, read recursively):

* ``train`` (SM_CHANNEL_TRAIN): feature records (the lake's features table, or an Athena UNLOAD
  of it). Records that already carry ``fault`` (and ``severity``) are used as labelled.
* ``labels`` (SM_CHANNEL_LABELS, optional): ground-truth rows ``{device_id, ts, seq, fault,
  severity}`` joined onto the records (simulator truth, or a maintenance log in that shape).
* ``feedback`` (SM_CHANNEL_FEEDBACK, optional): technicians' labelled windows, the folder
  ``rotorwatch feedback-labels`` writes (records.jsonl, labels.jsonl), added to the training
  at rotorwatch.diagnosis.model.train.LABEL_WEIGHT each (rotorwatch.diagnosis.model.technician_labels checks them).

Writes model.json, model_card.json and code/ (the inference script and the serving subset of
rotorwatch) into SM_MODEL_DIR, so the model.tar.gz SageMaker packs is servable as is, and the
validation metrics to SM_OUTPUT_DATA_DIR/metrics.json. Prints ``metric_name=value`` lines for
the estimator's metric definitions.

Laptop: PYTHONPATH=. python sagemaker/train.py --train out/train --model-dir out/model
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# In the training container the source dir (this folder plus rotorwatch/) is the working dir.
for candidate in (HERE, HERE.parent):
    if (candidate / "rotorwatch").is_dir() and str(candidate) not in sys.path:
        sys.path.insert(0, str(candidate))

from rotorwatch.diagnosis.model.artifact import write_model_dir  # noqa: E402
from rotorwatch.diagnosis.model.dataio import join_labels, read_records  # noqa: E402
from rotorwatch.diagnosis.model.technician_labels import join as join_technician_labels  # noqa: E402
from rotorwatch.diagnosis.model.technician_labels import read_dir  # noqa: E402
from rotorwatch.diagnosis.model.train import train_with_card  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", default=env.get("SM_CHANNEL_TRAIN", "out/train"))
    p.add_argument("--labels", default=env.get("SM_CHANNEL_LABELS"))
    p.add_argument("--feedback", default=env.get("SM_CHANNEL_FEEDBACK"))
    p.add_argument("--model-dir", default=env.get("SM_MODEL_DIR", "out/model"))
    p.add_argument("--output-data-dir", default=env.get("SM_OUTPUT_DATA_DIR", "out/train-output"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    records = read_records([Path(args.train)])
    if not records:
        print(f"no feature records under {args.train}", file=sys.stderr)
        return 2
    if args.labels:
        records = join_labels(records, read_records([Path(args.labels)]))
    labelled, audit = [], None
    if args.feedback:
        labelled, joined = join_technician_labels(*read_dir(Path(args.feedback)))
        audit = joined.to_dict()
        print(joined.summary(), file=sys.stderr)
    model, card = train_with_card(records, labelled, audit)
    write_model_dir(model, card, Path(args.model_dir), HERE / "inference.py")
    metrics = card["metrics"]["validation_held_out_machines"] or card["metrics"]["training"]
    out = Path(args.output_data_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    for name in ("accuracy", "macro_f1", "anomaly_roc_auc"):
        print(f"{name}={metrics[name]:.6f}")
    print(f"model_version={model.version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
