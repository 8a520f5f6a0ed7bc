"""The Glue job as Glue runs it: the synthesized script asset, with nothing of ours on
``sys.path`` but the zip(s) the job's ``--extra-py-files`` ships.

``tests/glue``'s other tests import the job from the repository root, where every package is
importable, so they cannot see a package missing from the zip. Here a fresh interpreter (no
site-packages, no PYTHONPATH, not started from the repository) gets the synthesized script and
zips, plus only what Glue 5.0 provides itself (PySpark, py4j, numpy), and runs the job with the
template's default arguments on a small file:// lake.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark")

from rotorwatch.contract.telemetry_v2 import raw_line
from rotorwatch.lake import layout as lake
from tests.glue.test_machine_health_job import (
    ASSETS,
    DAY0_MS,
    STEP_MS,
    _arrived,
    _deliver,
    _prediction,
    _telemetry,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.deploy_contract, pytest.mark.slow]

#: Modules Glue 5.0 provides to a job (beside the standard library): Spark and the libraries
#: the job may rely on without shipping them.
GLUE_PROVIDED = ("pyspark", "py4j", "numpy", "numpy.libs")

#: Runs a script the way Glue does: the shipped files first on sys.path, then Glue's own.
BOOTSTRAP = """
import json, runpy, sys
shipped, provided, script = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path[:0] = [p for p in shipped.split("|") if p] + [provided]
sys.argv = sys.argv[3:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    ours = {m: getattr(sys.modules[m], "__file__", None) for m in sys.modules
            if m.split(".")[0] in ("rotorwatch", "glue_jobs")}
    print(json.dumps({"imported_from": ours}))
"""


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every Glue job of the app, by script name: its template properties and the asset files
    CDK staged for it. The prod stage, which deploys every job (raw sampling included)."""
    from cdk_app.app import build_app, load_cdk_json_context
    from cdk_app.constructs.function import SKIP_PIP_CONTEXT

    out = tmp_path_factory.mktemp("cdk.out")
    context = {**load_cdk_json_context(), SKIP_PIP_CONTEXT: True, "stage": "prod"}
    built = build_app(
        context, outdir=str(out), builtin_validation=False, env={}, strict_artifacts=True
    )
    built.app.synth()
    template = json.loads(next(out.glob("*-Analytics.template.json")).read_text())

    def assets(value: Any) -> list[Path]:
        names = re.findall(r"/([0-9a-f]{64}\.(?:py|zip))", json.dumps(value))
        return [out / f"asset.{name}" for name in names]

    jobs: dict[str, dict[str, Any]] = {}
    for r in template["Resources"].values():
        if r["Type"] != "AWS::Glue::Job":
            continue
        props = r["Properties"]
        (script,) = assets(props["Command"]["ScriptLocation"])
        shipped = assets(props["DefaultArguments"]["--extra-py-files"])
        assert shipped, "the job ships no --extra-py-files"
        # Which repository script the asset is (CDK names assets by content hash).
        (name,) = [
            s for s in lake.GLUE_JOB_SCRIPTS if (ROOT / s).read_bytes() == script.read_bytes()
        ]
        jobs[name] = {"props": props, "script": script, "shipped": shipped}
    return jobs


def test_every_glue_script_is_deployed_by_prod() -> None:
    """The list the tests below run is the list the app deploys (no job left untested)."""
    assert set(lake.GLUE_JOB_SCRIPTS) == set(RUNS)
    assert all((ROOT / s).is_file() for s in lake.GLUE_JOB_SCRIPTS)


@pytest.fixture(scope="module")
def glue_provided(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only what Glue provides (links into this environment)."""
    import numpy
    import py4j
    import pyspark

    site = Path(pyspark.__file__).parent.parent
    provided = tmp_path_factory.mktemp("glue-provided")
    for name in GLUE_PROVIDED:
        if (site / name).exists():
            (provided / name).symlink_to(site / name)
    assert {Path(m.__file__).parent.parent for m in (numpy, py4j)} == {site}
    return provided


def _argv(props: dict[str, Any], lake_uri: str, extra: list[str]) -> list[str]:
    """The arguments Glue passes: its own, then every default argument of the job."""
    argv = ["--JOB_NAME", "a-job", "--JOB_RUN_ID", "jr_test"]
    for key, value in props["DefaultArguments"].items():
        if "LakeBucketArn" in json.dumps(value):
            value = lake_uri  # the lake bucket's s3:// URI, here a local lake
        elif not isinstance(value, str):
            value = "s3://cdk-assets/resolved-at-deploy"
        argv += [key, value]
    # An operator-chosen window or day over the test data (a scheduled run looks back from now).
    return [*argv, *extra]


def _run_as_glue(
    tmp_path: Path, script: Path, shipped: list[Path], provided: Path, argv: list[str]
) -> subprocess.CompletedProcess[str]:
    # Glue downloads the script and the --extra-py-files to a directory of its own.
    job_dir = tmp_path / "glue-job"
    job_dir.mkdir()
    local_script = job_dir / script.name
    shutil.copy(script, local_script)
    local_zips = [shutil.copy(z, job_dir / z.name) for z in shipped]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "PYSPARK_PYTHON")
    }
    env["PYSPARK_PYTHON"] = sys.executable
    return subprocess.run(
        [
            sys.executable,
            "-I",  # no PYTHONPATH, no user site, not the script's directory
            "-S",  # no site-packages: nothing installed in this environment is importable
            "-c",
            BOOTSTRAP,
            "|".join(str(z) for z in local_zips),
            str(provided),
            str(local_script),
            *argv,
        ],
        cwd=job_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _small_lake(lake_dir: Path) -> None:
    msgs = [_telemetry(d, DAY0_MS + i * STEP_MS, i, 1.0 + i) for d in ASSETS for i in range(4)]
    from rotorwatch.diagnosis.features import compute_features

    features = _arrived(compute_features(msgs, ASSETS), lag_ms=2_000)
    _deliver(lake_dir, features, lake.FEATURES_TABLE)
    _deliver(lake_dir, [_prediction(f) for f in features], lake.PREDICTIONS_TABLE)
    # The raw lake's lines as extract_features writes them (received_at: arrival).
    raw = [json.loads(raw_line(m, m.ts + 2_000)) for m in msgs]
    _deliver(lake_dir, raw, lake.RAW_TABLE)


def _machine_health_ran(summary: dict[str, Any], lake_dir: Path) -> None:
    assert summary["features_in"] == 2 * 4
    assert summary[lake.HEALTH_DAILY_TABLE] == 2
    assert list((lake_dir / lake.table(lake.HEALTH_DAILY_TABLE).prefix).rglob("*.parquet"))


def _raw_keep_ran(summary: dict[str, Any], lake_dir: Path) -> None:
    # Two devices, four 10-minute windows from midnight; 1, 2, 3, 4 mm/s put the third window
    # in zone C (WARNING): with prod's 30 minutes around a change every window is kept.
    assert summary["windows"] == 2 * 4
    assert summary["keep_minutes"] == 30
    assert summary["kept"] == 2 * 4
    assert list((lake_dir / lake.table(lake.RAW_KEPT_TABLE).prefix).rglob("*.parquet"))


#: Per deployed script: the arguments an operator adds over the test day, and what it wrote.
RUNS: dict[str, tuple[list[str], Callable[[dict[str, Any], Path], None]]] = {
    lake.GLUE_JOB_SCRIPT: (
        ["--window_start", "2026-11-23T00:00Z", "--window_end", "2026-11-23T06:00Z"],
        _machine_health_ran,
    ),
    lake.RAW_KEEP_JOB_SCRIPT: (
        # The deployed --raw_expire_days would refuse a day this old: the run names none.
        ["--day", "2026-11-23"],
        _raw_keep_ran,
    ),
}


@pytest.mark.parametrize("script", lake.GLUE_JOB_SCRIPTS)
def test_each_synthesized_job_runs_with_only_what_it_ships(
    synthesized: dict[str, dict[str, Any]], glue_provided: Path, tmp_path: Path, script: str
) -> None:
    job = synthesized[script]
    extra, check = RUNS[script]
    props = {
        **job["props"],
        "DefaultArguments": {
            k: v
            for k, v in job["props"]["DefaultArguments"].items()
            if k != f"--{lake.JOB_ARG_RAW_EXPIRE_DAYS}"
        },
    }
    lake_dir = tmp_path / "lake"
    _small_lake(lake_dir)
    result = _run_as_glue(
        tmp_path,
        job["script"],
        job["shipped"],
        glue_provided,
        _argv(props, lake_dir.as_uri() + "/", extra),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    summary, imported = lines[-2], lines[-1]["imported_from"]
    check(summary, lake_dir)
    # Every module of ours came out of the shipped zip(s), none from the repository.
    assert {"glue_jobs.transforms", "rotorwatch.lake.layout"} <= set(imported)
    shipped = tuple(str(tmp_path / "glue-job" / z.name) for z in job["shipped"])
    assert all(str(f).startswith(shipped) for f in imported.values() if f), imported


def test_the_harness_fails_a_job_whose_zip_misses_a_package(
    synthesized: dict[str, dict[str, Any]], glue_provided: Path, tmp_path: Path
) -> None:
    """The packaging of issue 18 item 1 (only `rotorwatch` zipped) must fail here."""
    from cdk_app.stacks.analytics import deterministic_zip

    job = synthesized[lake.GLUE_JOB_SCRIPT]
    only_rotorwatch = tmp_path / "rotorwatch.zip"
    only_rotorwatch.write_bytes(deterministic_zip(ROOT, ["rotorwatch"]))
    result = _run_as_glue(
        tmp_path,
        job["script"],
        [only_rotorwatch],
        glue_provided,
        _argv(job["props"], (tmp_path / "lake").as_uri() + "/", RUNS[lake.GLUE_JOB_SCRIPT][0]),
    )
    assert result.returncode != 0
    assert "No module named 'glue_jobs'" in result.stderr
