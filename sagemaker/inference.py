"""SageMaker scikit-learn container entry points: feature records in, model rows out.

The container imports this file from /opt/ml/model/code (SAGEMAKER_PROGRAM=inference.py); the
serving subset of the rotorwatch package sits next to it (see rotorwatch/diagnosis/model/artifact.py).
Request: a JSON array of feature records (``application/json``, the scoring contract in
rotorwatch/diagnosis/scoring.py) or JSON lines (``application/jsonlines``). Response: one row per record
with MODEL_OUTPUT_FIELDS, in the same order, as a JSON array or JSON lines (``Accept``).
Runs on Python 3.10 (the 1.4-2 image).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

# The shipped rotorwatch subset lives next to this file; make it importable however the
# container (or a local test) loads the script.
_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(_HERE, "rotorwatch")) and _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from rotorwatch.diagnosis.model import MODEL_FILE, Model  # noqa: E402
from rotorwatch.diagnosis.scoring import ScoringError, decode_request, encode_response  # noqa: E402

JSON = "application/json"
JSON_LINES = ("application/jsonlines", "application/x-jsonlines", "application/x-ndjson")


def _media_type(value: str | None) -> str:
    return (value or JSON).split(";")[0].strip().lower()


def model_fn(model_dir: str) -> Model:
    """Load the model the artifact carries (model.json: arrays, no pickle)."""
    with open(os.path.join(model_dir, MODEL_FILE), encoding="utf-8") as f:
        return Model.from_json(f.read())


def input_fn(request_body: bytes | str, request_content_type: str | None) -> list[dict[str, Any]]:
    """Feature records from a JSON array or JSON lines body."""
    media = _media_type(request_content_type)
    if media == JSON:
        return decode_request(request_body)
    if media in JSON_LINES:
        text = request_body.decode("utf-8") if isinstance(request_body, bytes) else request_body
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ScoringError(f"line {n}: not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise ScoringError(f"line {n}: must be a JSON object")
            rows.append(row)
        return rows
    raise ScoringError(f"unsupported content type {request_content_type!r}; send {JSON}")


def predict_fn(input_data: list[dict[str, Any]], model: Model) -> list[dict[str, Any]]:
    """One model row per feature record, in order."""
    return model.score(input_data)


def output_fn(prediction: list[dict[str, Any]], accept: str | None) -> tuple[bytes, str]:
    """Serialise the rows (JSON array by default, JSON lines on request)."""
    media = _media_type(accept)
    if media in JSON_LINES:
        rows = json.loads(encode_response(prediction))
        body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        return body.encode("utf-8"), media
    if media in (JSON, "*/*"):
        return encode_response(prediction), JSON
    raise ScoringError(f"unsupported accept type {accept!r}; ask for {JSON}")
