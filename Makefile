# rotorwatch — every command a developer or CI needs. `make test` works on a fresh clone:
# it creates .venv, installs the locked dependency tree (requirements/), then lints, type-checks and tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= eu-west-1
# Nothing here may reach a real AWS account.
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
export AWS_EC2_METADATA_DISABLED := true
# The working tree wins over any installed copy (worktrees share one virtualenv).
export PYTHONPATH := $(CURDIR)

.PHONY: install test lint typecheck unit demo bench clean glue-local glue-test

.PHONY: install test lint typecheck unit demo bench clean system-deps

install: $(STAMP)

# Dependencies: pyproject.toml declares the direct ones; requirements/*.txt lock the whole tree
# (pip-compile, with hashes). Installs come only from the lock, hash-checked: in that mode pip
# refuses any package the lock does not pin, so nothing is resolved from ranges. Not --no-deps:
# pip then installs in file order instead of dependencies first, and where two packages ship the
# same file (aws-cdk-lib and aws-cdk-cloud-assembly-schema) the wrong one wins. `make lock` after
# editing pyproject; tests/unit/test_lock.py fails when pyproject, the lock and the virtualenv
# disagree.
LOCK := requirements/dev.txt
CHECKOV_LOCK := requirements/checkov.txt
PIP_LOCKED := -m pip install --quiet --disable-pip-version-check --require-hashes
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --unsafe-package rotorwatch \
  --no-emit-index-url --no-emit-find-links

$(STAMP): $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_LOCKED) -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Re-resolve both locks from pyproject.toml (keeps every pin that still fits; to move one:
# make lock LOCK_ARGS="--upgrade-package botocore").
.PHONY: lock
lock: $(STAMP)
	$(PIP_COMPILE) $(LOCK_ARGS) --extra dev -o $(LOCK) pyproject.toml
	$(PIP_COMPILE) $(LOCK_ARGS) --extra scan -o $(CHECKOV_LOCK) pyproject.toml

# ruff, then the import contracts (pyproject.toml [tool.importlinter]; docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# The deploy contracts run first, on their own (check-deploy); pytest then runs the rest.
test: system-deps cdk-cli lint typecheck check-deploy
	$(BIN)/pytest -n auto -m "not deploy_contract"

# Deploy contracts: what a first `cdk deploy` breaks on and moto cannot show (README, Testing),
# plus checkov on the prod templates. checkov lives in its own virtualenv: it pins boto3 to a
# version the dev pins conflict with. Its version is pyproject's `scan` extra.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_PIN := $(shell sed -n 's/^ *"\(checkov==[0-9.]*\)",*$$/\1/p' pyproject.toml)
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(subst ==,-,$(CHECKOV_PIN))

.PHONY: check-deploy
check-deploy: $(STAMP) $(CHECKOV_STAMP) cdk-cli
	RW_CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov RW_REQUIRE_CHECKOV=1 \
	  $(BIN)/pytest -m deploy_contract

$(CHECKOV_STAMP): $(CHECKOV_LOCK)
	test -n "$(CHECKOV_PIN)" || { echo "no checkov==<version> pin in pyproject.toml"; exit 1; }
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_LOCKED) -r $(CHECKOV_LOCK)
	rm -f $(CHECKOV_VENV)/.installed-*
	touch $@

# The MQTT end-to-end test needs a real broker (tests/e2e/test_mqtt_mosquitto.py skips without);
# the report's browser test needs Debian's chromium (tests/e2e/test_local_demo.py skips without).
system-deps:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends mosquitto || \
	    { apt-get update && apt-get install -y --no-install-recommends mosquitto; } || \
	    echo "system-deps: apt-get could not install mosquitto; the MQTT e2e test will be skipped"; \
	  else echo "system-deps: not root, cannot apt-get install mosquitto (run: sudo apt-get install mosquitto); the MQTT e2e test will be skipped"; fi
	@command -v chromium >/dev/null || \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y --no-install-recommends chromium || \
	    { apt-get update && apt-get install -y --no-install-recommends chromium; } || \
	    echo "system-deps: apt-get could not install chromium; the report's browser test will be skipped"; \
	  else echo "system-deps: not root, cannot apt-get install chromium (run: sudo apt-get install chromium); the report's browser test will be skipped"; fi

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# The whole pipeline on this machine (no AWS account): a 26-machine fleet over an accelerated
# day through the deployed handlers on a local cloud, the Glue job on local Spark, the saved
# queries on DuckDB, then a report (DEMO_OUT/report.html). DEMO_ARGS passes options, e.g.
# DEMO_ARGS="--scenario small --duration 6h --skip-glue" or "--mqtt" (real mosquitto broker).
DEMO_OUT ?= out/demo
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/rotorwatch demo --out $(DEMO_OUT) $(DEMO_ARGS)

# The demo report as a browser shows it: Debian's chromium, headless, 800 px wide, into
# $(DEMO_OUT)/report-800px.png, the whole page (after `make demo`); fails if it scrolls sideways.
.PHONY: report-screenshot
report-screenshot: $(STAMP) system-deps
	@test -f $(DEMO_OUT)/report.html || { echo "report-screenshot: no $(DEMO_OUT)/report.html (run make demo first)" >&2; exit 2; }
	$(PY) -c 'import sys; from pathlib import Path; from tests.e2e import chromium; p = Path(sys.argv[1]); w, h = chromium.layout_px(p); png = chromium.screenshot(p, p.with_name("report-800px.png"), height_px=h); print(f"{png} (the whole page: {w} x {h} px at 800 px)"); sys.exit(0 if w <= 800 else "report-screenshot: the page scrolls sideways at 800 px")' $(DEMO_OUT)/report.html

# The machine-health Glue job on local PySpark over the lake `make demo` wrote (GLUE_LAKE,
# default $(DEMO_OUT)/lake; GLUE_ARGS="--window_start 2026-11-23T00:00Z"). It fails, saying why,
# when there is no lake or the job found no feature rows in its window.
GLUE_LAKE ?= $(DEMO_OUT)/lake
glue-local: $(STAMP)
	@test -d $(GLUE_LAKE)/features || { echo "glue-local: no lake at $(GLUE_LAKE) (run make demo first, or GLUE_LAKE=<dir>)" >&2; exit 2; }
	set -o pipefail; $(PY) -m glue_jobs.machine_health --lake_uri file://$(abspath $(GLUE_LAKE))/ $(GLUE_ARGS) | tee $(GLUE_LAKE)/../glue-local.json
	@$(PY) -c 'import json, sys; s = json.loads(open(sys.argv[1]).read().splitlines()[-1]); sys.exit(0 if s["features_in"] else "glue-local: 0 feature rows in " + s["window_start"] + " .. " + s["window_end"] + " (the lake holds other days: pass GLUE_ARGS=\"--window_start ... --window_end ...\")")' $(GLUE_LAKE)/../glue-local.json

# The raw-sampling Glue job (rotorwatch/lake/raw_keep.py) on the same lake, for one UTC day of it:
# make raw-keep-local RAW_KEEP_DAY=2026-11-23 (the windows it keeps land in $(GLUE_LAKE)/raw_kept).
.PHONY: raw-keep-local
raw-keep-local: $(STAMP)
	@test -d $(GLUE_LAKE)/raw || { echo "raw-keep-local: no lake at $(GLUE_LAKE) (run make demo first, or GLUE_LAKE=<dir>)" >&2; exit 2; }
	@test -n "$(RAW_KEEP_DAY)" || { echo "raw-keep-local: name the UTC day to sample: RAW_KEEP_DAY=YYYY-MM-DD (a day of the lake)" >&2; exit 2; }
	$(PY) -m glue_jobs.raw_keep --lake_uri file://$(abspath $(GLUE_LAKE))/ --day $(RAW_KEEP_DAY)

glue-test: $(STAMP)
	$(BIN)/pytest tests/glue

# BENCH_ARGS passes options, e.g. BENCH_ARGS="--fs-hz 97656" (a fast sensor's extra envelope bands).
bench: $(STAMP)
	$(PY) benchmarks/bench_features.py $(BENCH_ARGS)

.PHONY: fuzz cost
# A large seeded random run over the telemetry decoder: inputs tried + reason-code histogram.
FUZZ_INPUTS ?= 1000000
fuzz: $(STAMP)
	$(PY) benchmarks/fuzz_decoder.py --inputs $(FUZZ_INPUTS)

# Monthly AWS cost for the docs/cost.md worked example (any fleet: rotorwatch cost --help).
cost: $(STAMP)
	$(BIN)/rotorwatch cost --devices 100 --interval 10 --samples 4096

# Regenerate the cost figures README.md and docs/cost.md mark (<!--cost:...-->) from the cost
# model after a price, config or model change (tests/unit/test_cost_docs.py fails while stale).
.PHONY: cost-docs
cost-docs: $(STAMP)
	$(PY) -m cli.cost_docs --write

clean:
	rm -rf cdk.out .mypy_cache .ruff_cache .pytest_cache lake out build

.PHONY: bench-e2e
# Local pipeline end to end: sustained records/s and p50/p95 rule bridge -> alert, by hop.
bench-e2e: $(STAMP)
	$(PY) benchmarks/bench_e2e.py $(BENCH_E2E_ARGS)

.PHONY: bench-life
# Remaining life per window (update, the trend's first passage, the P-F method) against a feature window.
bench-life: $(STAMP)
	$(PY) benchmarks/bench_life.py

.PHONY: bench-handlers
# Real-time handlers: one 500-record batch in process, AWS answered on the wire (no moto, no network).
bench-handlers: $(STAMP)
	$(PY) benchmarks/bench_handlers.py

# --- infrastructure (CDK) ---------------------------------------------------------------------
# Node comes from the npm registry with the CDK CLI (package.json pins a supported LTS, `node`):
# `npm ci` puts it in node_modules/.bin, first on the PATH of every target here, so the app's
# jsii runtime and `npx --no-install cdk` run on it, not on the machine's Node (Debian 12 has
# 18, NodeSource's 20 is past end-of-life and jsii printed so on every call).
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
.PHONY: synth lint-infra cdk-cli infra-test

# Offline synth into cdk.out with CloudFormation validation and cdk-nag on (no Docker, no AWS).
synth: $(STAMP) cdk-cli
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out $(PY) -m cdk_app.app

lint-infra: synth
	$(BIN)/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

# The pinned CDK CLI (deploy/diff/destroy): `npx --no-install cdk ...` after this.
cdk-cli: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

infra-test: $(STAMP) cdk-cli
	$(BIN)/pytest tests/infra

# --- model (issue 6) ----------------------------------------------------------------------------
.PHONY: model eval
MODEL_ARTIFACT := sagemaker/bootstrap/model.tar.gz
# The bootstrap model: a deterministic simulated fleet (seed 7, 96 machines, one day, a window
# every 5 min) -> out/model and a byte-for-byte reproducible model.tar.gz (committed; the ml
# stack serves it on day one).
# FEEDBACK_LABELS=<dir> (what `rotorwatch feedback-labels --out <dir>` wrote) adds technicians'
# labelled windows to the training (README, Model); without it the artifact is the committed one,
# byte for byte.
FEEDBACK_LABELS ?=
model: $(STAMP)
	$(BIN)/rotorwatch train --simulate 96 --seed 7 --hours 24 --interval-s 300 \
	  --model-dir out/model --artifact $(MODEL_ARTIFACT) \
	  $(if $(FEEDBACK_LABELS),--feedback-labels $(FEEDBACK_LABELS))
	sha256sum $(MODEL_ARTIFACT)

# Held-out evaluation of the bootstrap model on a fleet it never saw (other seed, machines,
# severities): accuracy, macro-F1, ROC AUC, false alarms, lead time, 500-row latency.
eval: $(STAMP)
	$(PY) benchmarks/eval_model.py --model $(MODEL_ARTIFACT)

.PHONY: eval-real
# The served model on real bearing recordings (../shared/data/real: CWRU faults, IMS healthy),
# each recording one device with no history, as recorded, resampled to 25.6-97.7 kHz, and with
# half- and double-length windows: flagged, named right, false alarms, ROC AUC, then a summary
# line per run. Exits non-zero without the recordings.
eval-real: $(STAMP)
	$(PY) benchmarks/eval_real.py --model $(MODEL_ARTIFACT) --fs 25600 --fs 48000 --fs 64000 --fs 97656 \
	  --window-scale 0.5 --window-scale 2 --no-rpm

.PHONY: eval-life
# Remaining life on the six FEMTO/PRONOSTIA run-to-failure bearings (../shared/data/real/femto),
# each replayed as one device publishing every 10 s through `rotorwatch replay`, with the served
# model and with the rules alone: first lasting alert and lead time, ALARMs in the first half,
# interval coverage, width and error after the alert, PHM 2012 scores beside a constant prior
# fitted leave-one-bearing-out; the trend alone, then the P-F interval prior fitted on the other
# five bearings (leave-one-bearing-out). About two minutes; exits 2 without the recordings.
eval-life: $(STAMP)
	$(PY) benchmarks/eval_life.py

.PHONY: eval-life-scale
# The same six bearings with every timestamp stretched 10x and 100x (a machine whose life runs
# slower, same vibration) against the shipped prior: does the estimate scale with the machine?
# About three minutes; exits 2 without the recordings.
eval-life-scale: $(STAMP)
	$(PY) benchmarks/eval_life_scale.py

.PHONY: life-prior
# Refit the P-F interval prior that ships (rotorwatch/diagnosis/life_prior.py) on all six FEMTO bearings,
# through the same replay as eval-life. Exits 2 without the recordings.
life-prior: $(STAMP)
	$(PY) benchmarks/fit_life_prior.py

.PHONY: drills drills-fuzz
# Failure drills on moto (poison, duplicates, SageMaker/SNS/Firehose faults, state races, device
# clocks, silent devices, handler fuzz): prints the figure table and writes out/drills.md.
drills: $(STAMP)
	$(BIN)/pytest tests/drills -q --show-capture=no

.PHONY: drill-load
# The scaled load drill (local_cloud/load_drill.py): prod's design rate x 1/50 (200 devices, a
# window every 10 s, prod's shards and batching) with the Kinesis write quotas scaled alike, 5
# simulated minutes through the deployed handlers. Prints the figures table, writes
# out/drill-load.md; fails on a window lost or duplicated between device and lake, a write
# refused and not absorbed, or an iterator age over the stage's alarm. Other settings:
# make drill-load DRILL_ARGS="--factor 0.01 --minutes 10 --telemetry-shards 6"
# make drill-load DRILL_ARGS="--one-shard --minutes 2"   # one shard at full rate, per-second quotas
DRILL_ARGS ?=
drill-load: $(STAMP)
	$(PY) -m local_cloud.load_drill $(DRILL_ARGS)

# A longer handler fuzz run (RW_FUZZ_EXAMPLES batches per handler).
RW_FUZZ_EXAMPLES ?= 1000
drills-fuzz: $(STAMP)
	RW_FUZZ_EXAMPLES=$(RW_FUZZ_EXAMPLES) $(BIN)/pytest tests/drills/test_fuzz_handlers.py -q --show-capture=no
