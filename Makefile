# Two commands on a fresh machine: `make run` (set up + main job) and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true
export RAY_USAGE_STATS_ENABLED := 0
# Keep Ray on 127.0.0.1 (spec platform.md §4) and its token in the project (deps.md §8).
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
export RAY_AUTH_MODE ?= token
export RAY_AUTH_TOKEN_PATH ?= $(CURDIR)/.ray/auth_token
export PYTHONDONTWRITEBYTECODE := 1
RAY_LOG := $(CURDIR)/runs/make-run-ray.log

.PHONY: all venv run sweep-smoke test test-fast lint format bench browser-deps ray-up ray-down ray-submit mlflow-ui mlflow-server clean

all: run

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	# torch first so the pinned CPU/CUDA wheel is taken before anything can pull another build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip check
	@touch $(STAMP)

venv: $(STAMP)

# Main job on embedded defaults: local Ray, sqlite MLflow under the project.
# A small umaze model on Ray Train (progress bars on the terminal), evaluated by Ray rollout actors in track G
# with the hold (preset `demo`, docs/results.md), logged to MLflow.
run: venv
	$(BIN)/mage data generate maze2d-umaze-v1 --if-missing
	$(BIN)/mage data info maze2d-umaze-v1
	MAGE_RAY_LOG=$(RAY_LOG) $(BIN)/mage train --dataset maze2d-umaze-v1 --preset demo --run-name make-run
	@echo
	@echo "Done. MLflow store: $${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlruns.db} (experiment mage-train, run make-run)."
	@echo "Open the dashboard: make mlflow-ui  (then http://127.0.0.1:5000)."
	@echo "Ray's own log lines went to $(RAY_LOG). A smoke sweep (Tune + Optuna): make sweep-smoke."

# The hierarchy-depth sweep on smoke settings: Ray Tune trials, an MLflow parent with a child per trial.
sweep-smoke: venv
	$(BIN)/mage data generate maze2d-umaze-v1 --if-missing
	MAGE_RAY_LOG=$(RAY_LOG) $(BIN)/python sweeps/hierarchy_depth.py --smoke

# Debian's chromium for the MLflow dashboard browser test (Playwright drives it; no browser download).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "warning: chromium missing and not root; the browser test will be skipped"; fi; }

test: venv browser-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --durations=30

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python bench/datagen.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/rollouts.py

ray-up: venv
	@bash cluster/local/ray-up.sh

ray-down: venv
	@bash cluster/local/ray-down.sh

# Smoke sweep as a job on the head from `make ray-up` (the exported RAY_AUTH_* are picked up).
ray-submit: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ray job submit --address http://127.0.0.1:8265 --working-dir . -- python sweeps/hierarchy_depth.py --smoke

mlflow-ui: venv
	$(BIN)/mage ui

# A tracking server for multi-node sweeps (the sqlite default cannot serve several nodes): runs/mlflow-server,
# artifacts served through it. `make mlflow-server ACTION=stop|status`; ARGS="--port 5001" etc. (cluster/README.md).
mlflow-server: venv
	@bash cluster/local/mlflow-server.sh $(or $(ACTION),start) $(ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache ray_results analysis/out
