"""Training on a small simulated fleet, the deterministic artifact, and serving it the way the
SageMaker container does (fresh interpreter, only the artifact's code/ on the path)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from rotorwatch.diagnosis.model import CARD_FILE, MODEL_FILE, Model
from rotorwatch.diagnosis.model.artifact import (
    PACKAGE_ROOT,
    SERVING_MODULES,
    TRAINING_MODULES,
    pack,
    write_code,
    write_model_dir,
)
from rotorwatch.diagnosis.model.labels import TrainingError
from rotorwatch.diagnosis.model.train import fit, train_with_card
from rotorwatch.diagnosis.scoring import MODEL_OUTPUT_FIELDS, ScoringError, decode_response

ROOT = Path(__file__).resolve().parents[2]
INFERENCE = ROOT / "sagemaker" / "inference.py"
BOOTSTRAP = ROOT / "sagemaker" / "bootstrap" / "model.tar.gz"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet() -> list[dict[str, Any]]:
    from simulator.dataset import simulated_fleet_features

    # 14 machines: 2 per fault class and 2 healthy, a window every 20 min for a day.
    _sc, rows = simulated_fleet_features(
        14, seed=11, duration_h=24.0, interval_s=1200.0, n_healthy=2
    )
    return rows


@pytest.fixture(scope="module")
def trained(fleet: list[dict[str, Any]]) -> tuple[Model, dict[str, Any]]:
    return train_with_card(fleet)


def _load_inference(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"inference_{abs(hash(path))}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_is_deterministic(fleet: list[dict[str, Any]], trained: Any) -> None:
    model, _card = trained
    again = fit(fleet)
    assert again.to_json() == model.to_json()
    assert again.version == model.version


def test_card_summarises_data_metrics_inputs_versions(trained: Any) -> None:
    model, card = trained
    assert card["model_version"] == model.version
    assert card["training_data"]["devices"] == 14
    assert card["training_data"]["windows_by_fault"]["normal"] > 0
    valid = card["metrics"]["validation_held_out_machines"]
    assert valid is not None
    assert 0.0 <= valid["accuracy"] <= 1.0
    assert card["metrics"]["training"]["accuracy"] > 0.9
    assert card["features"] == list(model.features)
    assert card["versions"]["scikit-learn"] == "1.4.2"  # the serving image's (1.4-2)


def test_bearing_faults_are_recognised_by_their_defect_frequency(
    fleet: list[dict[str, Any]], trained: Any
) -> None:
    """A healthy window with a strong line at BPFO / BPFI in its envelope spectrum is a bearing
    fault of that race, whatever else the simulator put in it."""
    model, _ = trained
    base = next(r for r in fleet if r["fault"] == "normal" and r["env_bpfo"] is not None)
    assert model.score([base])[0]["fault"] == "normal"
    for indicator, fault in (("env_bpfo", "bearing_outer"), ("env_bpfi", "bearing_inner")):
        row = model.score([{**base, indicator: 40.0}])[0]
        assert row["fault"] == fault, indicator
        assert row["anomaly_score"] >= model.warning_score
        assert row["state"] in ("WARNING", "ALARM")
        stronger = model.score([{**base, indicator: 400.0}])[0]
        assert stronger["anomaly_score"] > row["anomaly_score"]


def test_state_is_never_better_than_the_iso_zone(fleet: list[dict[str, Any]], trained: Any) -> None:
    model, _ = trained
    base = next(r for r in fleet if r["fault"] == "normal")
    assert model.score([{**base, "iso_zone": "D"}])[0]["state"] == "ALARM"
    assert model.score([{**base, "iso_zone": "C"}])[0]["state"] in ("WARNING", "ALARM")


def test_training_refuses_unlabelled_or_one_class_data(fleet: list[dict[str, Any]]) -> None:
    with pytest.raises(TrainingError, match="'fault' must be one of"):
        fit([{**fleet[0], "fault": "broken"}])
    with pytest.raises(TrainingError, match="at least 3 classes"):
        fit([r for r in fleet if r["fault"] == "normal"])


def test_two_builds_give_identical_artifact_bytes(
    tmp_path: Path, fleet: list[dict[str, Any]], trained: Any
) -> None:
    model, card = trained
    m2, c2 = train_with_card(fleet)
    write_model_dir(model, card, tmp_path / "a", INFERENCE)
    write_model_dir(m2, c2, tmp_path / "b", INFERENCE)
    one = pack(tmp_path / "a", tmp_path / "a.tar.gz")
    two = pack(tmp_path / "b", tmp_path / "b.tar.gz")
    assert one == two
    assert gzip.decompress(one)  # a valid gzip stream
    assert one[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        names = tar.getnames()
        assert names == sorted(names)
        assert {m.mtime for m in tar.getmembers()} == {0}
        assert {(m.uid, m.gid, m.uname, m.gname) for m in tar.getmembers()} == {(0, 0, "", "")}
    assert {
        MODEL_FILE,
        CARD_FILE,
        "code/inference.py",
        "code/rotorwatch/diagnosis/scoring.py",
    } <= set(names)


_CONTAINER_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1] + "/code")
import inference
model = inference.model_fn(sys.argv[1])
body = sys.stdin.read()
rows = inference.predict_fn(inference.input_fn(body, "application/json"), model)
out, ctype = inference.output_fn(rows, "application/json")
assert ctype == "application/json"
# The endpoint must not need the telemetry decoder or feature engine (Python 3.11 only).
assert "rotorwatch.contract.telemetry" not in sys.modules and "rotorwatch.diagnosis.features.engine" not in sys.modules
assert not any(m.startswith("sklearn") for m in sys.modules), "served without scikit-learn"
sys.stdout.write(out.decode())
"""


def test_artifact_serves_in_a_fresh_interpreter_like_the_container(
    tmp_path: Path, fleet: list[dict[str, Any]], trained: Any
) -> None:
    model, card = trained
    write_model_dir(model, card, tmp_path / "build", INFERENCE)
    pack(tmp_path / "build", tmp_path / "model.tar.gz")
    served = tmp_path / "opt-ml-model"
    with tarfile.open(tmp_path / "model.tar.gz") as tar:
        tar.extractall(served, filter="data")
    batch = fleet[:50]
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _CONTAINER_SCRIPT, str(served)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = decode_response(proc.stdout, len(batch))
    assert rows == json.loads(json.dumps(model.score(batch)))
    assert [list(r) for r in rows] == [list(MODEL_OUTPUT_FIELDS)] * len(batch)


def test_inference_json_lines_in_and_out_and_typed_errors(
    tmp_path: Path, fleet: list[dict[str, Any]], trained: Any
) -> None:
    model, card = trained
    write_model_dir(model, card, tmp_path, INFERENCE)
    inference = _load_inference(tmp_path / "code" / "inference.py")
    loaded = inference.model_fn(str(tmp_path))
    lines = "\n".join(json.dumps(r) for r in fleet[:5]) + "\n"
    records = inference.input_fn(lines.encode(), "application/jsonlines")
    assert len(records) == 5
    body, ctype = inference.output_fn(
        inference.predict_fn(records, loaded), "application/jsonlines"
    )
    assert ctype == "application/jsonlines"
    assert [json.loads(x)["fault"] for x in body.decode().splitlines()] == [
        r["fault"] for r in model.score(fleet[:5])
    ]
    with pytest.raises(ScoringError, match="content type"):
        inference.input_fn(b"a,b", "text/csv")
    with pytest.raises(ScoringError, match="line 2"):
        inference.input_fn(b'{"a": 1}\nnope\n', "application/jsonlines")
    with pytest.raises(ScoringError, match="JSON array"):
        inference.input_fn(b'{"a": 1}', "application/json")


def test_cli_train_and_score_match_the_endpoint(
    tmp_path: Path, fleet: list[dict[str, Any]]
) -> None:
    feats = tmp_path / "features.jsonl"
    truth = tmp_path / "truth.jsonl"
    feats.write_text(
        "".join(
            json.dumps({k: v for k, v in r.items() if k not in ("fault", "severity")}) + "\n"
            for r in fleet
        )
    )
    truth.write_text(
        "".join(
            json.dumps({k: r[k] for k in ("device_id", "site", "ts", "seq", "fault", "severity")})
            + "\n"
            for r in fleet
        )
    )
    runner = CliRunner()
    model_dir, artifact = tmp_path / "model", tmp_path / "model.tar.gz"
    res = runner.invoke(
        app,
        ["train", str(feats), "--labels", str(truth), "--model-dir", str(model_dir),
         "--artifact", str(artifact)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    # It says how far its confidence is from how often it was right on the held-out machines.
    card = json.loads((model_dir / CARD_FILE).read_text())
    cal = card["confidence_calibration_held_out_machines"]
    assert cal["windows"] > 0
    assert f"confidence calibration error {max(cal['ece'], cal['ece_naming_a_fault']):.3f}" in (
        res.output
    )
    model = Model.from_json((model_dir / MODEL_FILE).read_text())
    assert model.to_json() == fit(fleet).to_json()  # labels joined exactly as in memory
    res = runner.invoke(app, ["score", "--model", str(artifact), str(feats)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in res.stdout.splitlines()]
    # Each row is the endpoint's answer plus the record's device_id/ts/seq (to join it back).
    keys = ("device_id", "ts", "seq")
    assert [{k: r[k] for k in keys} for r in rows] == [{k: f[k] for k in keys} for f in fleet]
    assert [{k: v for k, v in r.items() if k not in keys} for r in rows] == json.loads(
        json.dumps(model.score(fleet))
    )
    res = runner.invoke(app, ["score", "--model", str(tmp_path / "nope"), str(feats)])
    assert res.exit_code == 2


def test_sagemaker_train_entry_point_reads_parquet_with_sm_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fleet: list[dict[str, Any]]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    train_dir = tmp_path / "train" / "year=2026"
    train_dir.mkdir(parents=True)
    half = len(fleet) // 2
    for i, part in enumerate((fleet[:half], fleet[half:])):
        # Firehose names its Parquet objects without an extension.
        pq.write_table(pa.Table.from_pylist(part), train_dir / f"rw-features-1-2026-{i}")
    (train_dir / "_SUCCESS").write_text("")
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "train"))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "output"))
    train = _load_inference(ROOT / "sagemaker" / "train.py")
    assert train.main([]) == 0
    model = Model.from_json((tmp_path / "model" / MODEL_FILE).read_text())
    assert model.to_json() == fit(fleet).to_json()
    assert (tmp_path / "model" / "code" / "inference.py").read_bytes() == INFERENCE.read_bytes()
    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text())
    assert set(metrics) >= {"accuracy", "macro_f1", "anomaly_roc_auc"}


_TRAINING_JOB_SCRIPT = """
import runpy, sys
code = sys.argv[1]
# Only the staged source may answer for rotorwatch: not the repository's editable install.
sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", "")]
sys.path.insert(0, code)
assert runpy.run_path(code + "/train.py")["main"]([]) == 0
outside = [m.__name__ for n, m in list(sys.modules.items())
           if n.split(".")[0] == "rotorwatch" and not (m.__file__ or "").startswith(code)]
assert not outside, outside
"""


def test_training_job_source_trains_on_its_own(tmp_path: Path, fleet: list[dict[str, Any]]) -> None:
    """The source launch_training.py stages (train.py + TRAINING_MODULES) trains in a fresh
    interpreter with nothing else of the repository: a module the training code imports but
    the list leaves out fails here, not in a SageMaker training job."""
    code = tmp_path / "code"
    write_code(code, [ROOT / "sagemaker" / "train.py", INFERENCE], TRAINING_MODULES)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "features.json").write_text("\n".join(json.dumps(r) for r in fleet))
    env = {
        "SM_CHANNEL_TRAIN": str(tmp_path / "train"),
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _TRAINING_JOB_SCRIPT, str(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "model" / MODEL_FILE).is_file()


def test_committed_bootstrap_artifact_is_current() -> None:
    """sagemaker/bootstrap/model.tar.gz ships the serving code: it must match the source
    (if this fails, run `make model` and commit the artifact)."""
    with tarfile.open(BOOTSTRAP) as tar:
        files = {m.name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
        content = {k: f.read() for k, f in files.items() if f is not None}
    assert content["code/inference.py"] == INFERENCE.read_bytes()
    for rel in SERVING_MODULES:
        assert content[f"code/rotorwatch/{rel}"] == (PACKAGE_ROOT / rel).read_bytes(), rel
    model = Model.from_json(content[MODEL_FILE])
    card = json.loads(content[CARD_FILE])
    assert card["model_version"] == model.version
