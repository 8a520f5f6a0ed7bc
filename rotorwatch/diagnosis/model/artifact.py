"""The model artifact: a directory (and a byte-for-byte deterministic model.tar.gz) that the
prebuilt SageMaker scikit-learn container serves as is.

Layout (SageMaker unpacks it into /opt/ml/model; SAGEMAKER_PROGRAM=inference.py and
SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code, as the ml stack sets)::

    model.json          the model (plain arrays, no pickle: loads under any scikit-learn)
    model_card.json     training data summary, metrics, inputs, versions
    code/inference.py   model_fn / input_fn / predict_fn / output_fn
    code/rotorwatch/    the serving subset of the rotorwatch package (numpy only, Python 3.10)

The serving subset leaves out the telemetry decoder and the feature engine (the endpoint
receives feature records, and those modules need Python 3.11); ``rotorwatch/diagnosis/features`` there
holds only the schema, behind an ``__init__`` that re-exports it.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any, Final

from rotorwatch.diagnosis.model.model import CARD_FILE, MODEL_FILE, Model

PACKAGE_ROOT: Final = Path(__file__).resolve().parents[2]  # .../diagnosis/model/ -> rotorwatch/
#: Modules of the rotorwatch package the endpoint imports (paths relative to the package).
SERVING_MODULES: Final[tuple[str, ...]] = (
    "__init__.py",
    "diagnosis/__init__.py",
    "diagnosis/predictions.py",
    "diagnosis/running_stat.py",
    "diagnosis/scoring.py",
    "diagnosis/sensor_limits.py",
    "diagnosis/sensors.py",
    "diagnosis/features/schema.py",
    "diagnosis/features/sensor_health.py",
    "diagnosis/model/__init__.py",
    "diagnosis/model/calibration.py",
    "diagnosis/model/features.py",
    "diagnosis/model/forest.py",
    "diagnosis/model/model.py",
)
#: What the SageMaker training job needs on top (sagemaker/train.py imports these).
TRAINING_MODULES: Final[tuple[str, ...]] = (
    *SERVING_MODULES,
    "diagnosis/model/artifact.py",
    "diagnosis/model/dataio.py",
    "diagnosis/model/evaluate.py",
    "diagnosis/model/labels.py",
    "diagnosis/model/technician_labels.py",
    "diagnosis/model/train.py",
)
SERVING_FEATURES_INIT: Final = (
    '"""Serving subset: the feature schema only (the engine is not shipped to the endpoint)."""\n'
    "\n"
    "from rotorwatch.diagnosis.features.schema import FEATURE_FIELDS, FEATURE_NAMES, Field\n"
    "\n"
    '__all__ = ["FEATURE_FIELDS", "FEATURE_NAMES", "Field"]\n'
)
#: Fixed metadata for every tar member: same inputs, same bytes.
_MTIME: Final = 0
_MODE_FILE: Final = 0o644
_MODE_DIR: Final = 0o755


def write_model_dir(
    model: Model, card: dict[str, Any], model_dir: Path, inference_script: Path
) -> None:
    """Write the model, its card and the serving code into ``model_dir`` (created if needed)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_text(model.to_json() + "\n", encoding="utf-8")
    (model_dir / CARD_FILE).write_text(
        json.dumps(card, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    write_code(model_dir / "code", [inference_script], SERVING_MODULES)


def write_code(code_dir: Path, scripts: list[Path], modules: tuple[str, ...]) -> None:
    """A source directory: entry ``scripts`` plus ``modules`` of the rotorwatch package."""
    if code_dir.exists():
        shutil.rmtree(code_dir)
    code_dir.mkdir(parents=True)
    for script in scripts:
        shutil.copyfile(script, code_dir / script.name)
    for rel in modules:
        (code_dir / "rotorwatch" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_ROOT / rel, code_dir / "rotorwatch" / rel)
    (code_dir / "rotorwatch" / "diagnosis" / "features" / "__init__.py").write_text(
        SERVING_FEATURES_INIT, encoding="utf-8"
    )


def _members(model_dir: Path) -> list[Path]:
    return sorted(
        (p for p in model_dir.rglob("*") if "__pycache__" not in p.parts),
        key=lambda p: p.relative_to(model_dir).as_posix(),
    )


def pack(model_dir: Path, out_path: Path) -> bytes:
    """Pack ``model_dir`` into a deterministic ``.tar.gz`` at ``out_path``; returns its bytes.

    Members are sorted, with mtime 0, uid/gid 0, no user/group names and fixed modes, and the
    gzip header carries mtime 0 and no file name: the bytes depend on the content only.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _members(model_dir):
            info = tarfile.TarInfo(path.relative_to(model_dir).as_posix())
            info.mtime = _MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = _MODE_DIR
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size = len(data)
                info.mode = _MODE_FILE
                tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    out = compressed.getvalue()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(out)
    return out
