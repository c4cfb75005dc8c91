# Stratus: `make run` brings up the local cloud; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STATE := .stratus
BIN := $(VENV)/bin
export KUBECONFIG := $(CURDIR)/$(STATE)/kubeconfig
export PYTHONPATH := $(CURDIR)

CONSOLE := operator/stratus/dashboard
ASSETS := $(CONSOLE)/static/vendor/.installed

.PHONY: run test bench soak venv binaries assets browser cluster-up cluster-down crds install lint unit integration clean

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

binaries:
	devcluster/build.sh

# The console's JavaScript and CSS, installed from the npm registry and served by the console.
assets: $(ASSETS)
$(ASSETS): $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	touch $@

# Headless Chromium and its matching driver from Debian's packages, for the browser tests.
browser:
	hack/install-browser.sh

cluster-up: venv binaries
	$(BIN)/python -m devcluster up --state $(STATE)

cluster-down: venv
	$(BIN)/python -m devcluster down --state $(STATE)

crds: venv
	$(BIN)/stratus crds

install: cluster-up
	$(BIN)/python -m devcluster install --state $(STATE)

run: install assets
	hack/run.sh

# `make bench N="100 300 500" OBJECTS=5000`: the figures of docs/performance.md.
bench: install
	$(BIN)/python -m bench --state $(STATE) $(if $(N),--servers "$(N)") $(if $(OBJECTS),--objects $(OBJECTS))

# `make soak MINUTES=10 OBJECTS=500`: the chaos soak of docs/reliability.md; fails on any breach.
soak: install
	$(BIN)/python -m soak --state $(STATE) $(if $(MINUTES),--minutes $(MINUTES)) $(if $(OBJECTS),--objects $(OBJECTS))

lint: venv
	$(BIN)/ruff check operator tests devcluster bench soak
	$(BIN)/ruff format --check operator tests devcluster bench soak
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit

test: venv binaries assets browser
	$(BIN)/pytest

clean: cluster-down
	rm -rf $(VENV) $(CONSOLE)/node_modules $(CONSOLE)/static/vendor
