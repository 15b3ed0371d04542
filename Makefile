# TensorOne Training — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install browser test test-fast lint manifests check-manifests bench demo demo-up e2e images vendor-uplot clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[trainer,dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with every extra (about 80 s, 6 GB)

browser: ## Install chromium + chromedriver for the dashboard's browser tests (apt-get; no-op when present)
	bash scripts/browser.sh

test: $(STAMP) browser ## Run the whole test suite (unit, integration against the sandbox, system)
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: $(STAMP) ## Unit tests only
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

lint: $(STAMP) ## ruff + mypy --strict on every package
	$(VENV)/bin/ruff check operator trainer-image tests benchmarks
	$(VENV)/bin/ruff format --check operator trainer-image tests benchmarks
	$(VENV)/bin/mypy operator/tensorone trainer-image/tensorone_trainer

manifests: $(STAMP) ## Regenerate crds/ (and the chart's copy) from the pydantic models
	$(PY) -m tensorone.api.crd_gen --out crds --out charts/tensorone-training/files/crds

bench: $(STAMP) ## Run the benchmarks; each prints ratios against a baseline measured in the same run
	$(PY) -m benchmarks

demo: $(STAMP) ## The main job: a real training job through the API on the local sandbox
	$(PY) -m tensorone.demo

demo-up: $(STAMP) ## Leave the sandbox platform running for a person to try
	$(VENV)/bin/tensorone sandbox up --with-operator --with-facade

e2e: ## Full path on a kind cluster (needs Docker; cannot run on the development machines)
	bash tests/e2e/run.sh

images: ## Build the operator and trainer images (needs Docker)
	docker build -f operator/Dockerfile -t tensorone/operator:dev .
	docker build -f trainer-image/Dockerfile -t tensorone/trainer:dev .

vendor-uplot: ## Refresh the dashboard's vendored chart library (uPlot, pinned in scripts/vendor-uplot.sh; needs npm)
	bash scripts/vendor-uplot.sh

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .sandbox
