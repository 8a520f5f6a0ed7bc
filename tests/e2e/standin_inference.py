"""Test fixture, not a model: a stand-in SageMaker inference script with the serving contract's
four functions (model_fn, input_fn, predict_fn, output_fn). It answers with the rules
(rotorwatch.diagnosis.scoring.rules_row) under its own model_version, so a test can tell that predictions
came through InvokeEndpoint and this script rather than from the handler's rules fallback.
The local cloud loads it by file path from code/inference.py inside a model.tar.gz."""

from __future__ import annotations

import json
import os
from typing import Any

from rotorwatch.diagnosis.scoring import decode_request, encode_response, rules_row


def model_fn(model_dir: str) -> dict[str, Any]:
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as fh:
        return dict(json.load(fh))


def input_fn(body: bytes | str, content_type: str) -> list[dict[str, Any]]:
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}")
    return decode_request(body)


def predict_fn(data: list[dict[str, Any]], model: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**rules_row(row), "model_version": model["version"]} for row in data]


def output_fn(prediction: list[dict[str, Any]], accept: str) -> tuple[bytes, str]:
    return encode_response(prediction), accept
