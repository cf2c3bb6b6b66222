# Assessment Gateway task interface. Every target sets up what it needs itself.
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
.DEFAULT_GOAL := help

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .venv-tools
STAMP := $(VENV)/.installed
PORT ?= 3000
# The local stack's state folder (python -m local reads the same variable; relative to the repository).
LOCAL_STATE_DIR ?= .local

.PHONY: help run test unit integration e2e lint validate checkov bench reset clean build build-check deploy browser

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/shared/requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or later is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

CHECKOV := .venv-checkov
$(CHECKOV)/.installed: requirements-checkov.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or later is required"; exit 1; }
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

$(TOOLS)/.installed: requirements-tools.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or later is required"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	@touch $@

browser: $(STAMP) ## Debian's chromium for the browser tests (never a browser download)
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: $(STAMP) ## Start the service on the embedded local stack (http://127.0.0.1:$(PORT))
	PORT=$(PORT) $(PY) -m local

test: $(STAMP) browser lint build-check ## Set up everything and run the whole suite (lint, template checks, bundle, all tests)
	$(PY) -m pytest tests/unit tests/integration
	$(PY) -m pytest tests/e2e

unit: $(STAMP) ## Unit tests only (no network)
	$(PY) -m pytest tests/unit

integration: $(STAMP) ## Handler tests on moto
	$(PY) -m pytest tests/integration

e2e: $(STAMP) browser ## HTTP tests against the local stack
	$(PY) -m pytest tests/e2e

lint: $(STAMP) validate checkov ## ruff, mypy and the template checks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check layers functions local tools
	$(VENV)/bin/mypy

validate: $(TOOLS)/.installed ## sam validate --lint (cfn-lint) on template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS)/bin/sam validate --lint --template template.yaml

checkov: $(CHECKOV)/.installed ## checkov (CloudFormation checks) on template.yaml; skips are listed in the template
	$(CHECKOV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

bench: $(STAMP) ## Benchmarks; prints JSON and writes bench/results/latest.json
	$(PY) -m bench

build: $(STAMP) ## The deployable bundle for python3.13/arm64 in .aws-sam/build (sizes checked against Lambda's limits)
	$(PY) -m tools.bundle build

build-check: build ## Import every handler from the built bundle with the local Python
	$(PY) -m tools.bundle check

PROFILE ?= dev
deploy: build $(TOOLS)/.installed ## sam deploy of the built bundle (PROFILE=dev|prod from samconfig.toml; first time: make deploy GUIDED=1)
	$(TOOLS)/bin/sam deploy --config-env $(PROFILE) $(if $(GUIDED),--guided)

reset: ## Forget everything the local stack stored (its state folder: LOCAL_STATE_DIR, default .local)
	@case "$(abspath $(LOCAL_STATE_DIR))" in /|$(abspath .)|$(abspath $(HOME))) \
		echo "make reset: refusing to remove LOCAL_STATE_DIR=$(LOCAL_STATE_DIR)"; exit 1;; esac
	rm -rf -- "$(LOCAL_STATE_DIR)"

clean: reset ## Remove virtual environments and build output
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) .aws-sam build .pytest_cache .mypy_cache .ruff_cache
