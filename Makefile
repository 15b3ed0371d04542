# TensorOne Training — developer entry points. `make help` lists them.
SHELL := /bin/bash
# Debian's interpreter when there is one: sandbox pods run as their securityContext user (not root) with this
# venv's Python, so the interpreter must be readable by every user (a pyenv build under /root is not).
PYTHON ?= $(shell test -x /usr/bin/python3.11 && echo /usr/bin/python3.11 || echo python3.11)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install kubernetes browser s3-stand-in test test-fast lint manifests check-manifests docs-assets bench demo demo-up e2e images vendor-uplot clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[trainer,dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with every extra (about 80 s, 6 GB)

kubernetes: ## Build (once, cached outside the checkout) the real control plane the sandbox runs: Debian, root
	@bash scripts/kubernetes.sh >/dev/null

browser: ## Install chromium + chromedriver for the dashboard's browser tests (apt-get; no-op when present)
	bash scripts/browser.sh

# moto (the tests' S3 server) pins botocore, whose python-dateutil<3 cannot share an environment with the pinned
# kubernetes client (python-dateutil>=3): it gets a venv of its own (tests/helpers/object_store.py finds it).
s3-stand-in: ## Install moto's S3 server (the tests' object store) into .venv-moto
	@test -x .venv-moto/bin/moto_server || { $(PYTHON) -m venv .venv-moto && .venv-moto/bin/pip install --quiet -r tests/requirements-s3-stand-in.txt; }

test: $(STAMP) kubernetes browser s3-stand-in ## Run the whole test suite (unit, integration against the sandbox, system)
	$(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) test-js

test-fast: $(STAMP) ## Unit tests only
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

SDK_JS := sdks/js
.PHONY: test-js sdk-js-types

test-js: $(STAMP) ## The JS SDK (sdks/js): npm ci, build, node --test against the local platform (needs Node >= 18)
	cd $(SDK_JS) && npm ci --no-audit --no-fund && TENSORONE_PYTHON=$(abspath $(PY)) npm test  # npm test builds first

sdk-js-types: $(STAMP) ## Regenerate the JS SDK's types from the facade's OpenAPI document (openapi-typescript)
	cd $(SDK_JS) && npm ci --no-audit --no-fund
	tmp=$$(mktemp) && $(PY) $(SDK_JS)/scripts/dump_openapi.py > $$tmp \
	  && (cd $(SDK_JS) && node scripts/generate-types.mjs $$tmp src/generated/openapi.ts); rc=$$?; rm -f $$tmp; exit $$rc

lint: $(STAMP) ## ruff + mypy --strict on every package
	$(VENV)/bin/ruff check operator trainer-image tests benchmarks
	$(VENV)/bin/ruff format --check operator trainer-image tests benchmarks
	$(VENV)/bin/mypy operator/tensorone trainer-image/tensorone_trainer

manifests: $(STAMP) ## Regenerate crds/ (and the chart's copy) from the pydantic models
	$(PY) -m tensorone.api.crd_gen --out crds --out charts/tensorone-training/files/crds

docs-assets: ## Re-vendor the Swagger UI and ReDoc assets of /docs and /redoc (pinned in the script; needs npm)
	bash operator/tensorone/facade/docs_assets/refresh.sh

bench: $(STAMP) kubernetes ## Run the benchmarks; each prints ratios against a baseline measured in the same run
	$(PY) -m benchmarks

demo: $(STAMP) kubernetes ## The main job: a real training job through the API on the local sandbox
	$(PY) -m tensorone.demo

demo-up: $(STAMP) kubernetes ## Leave the sandbox platform running for a person to try
	$(VENV)/bin/tensorone sandbox up --with-operator --with-facade --with-demo-data

.PHONY: sdk-wheel
sdk-wheel: $(STAMP) ## Build the light Python SDK (tensorone-sdk: SDK + client CLI) wheel into sdks/python/dist
	rm -rf sdks/python/build
	$(PY) -m pip wheel --quiet --no-deps -w sdks/python/dist ./sdks/python

e2e: ## Full path on a kind cluster (needs Docker; cannot run on the development machines)
	bash tests/e2e/run.sh

images: ## Build the operator and trainer images (needs Docker)
	docker build -f operator/Dockerfile -t tensorone/operator:dev .
	docker build -f trainer-image/Dockerfile -t tensorone/trainer:dev .

vendor-uplot: ## Refresh the dashboard's vendored chart library (uPlot, pinned in scripts/vendor-uplot.sh; needs npm)
	bash scripts/vendor-uplot.sh

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .sandbox
