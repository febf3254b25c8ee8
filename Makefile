# cxloop — `make help` lists the targets.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/cxloop: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	@touch $@

.PHONY: install
install: $(BIN)/cxloop ## Install cxloop into .venv

.PHONY: run
run: install sdk-if-node ## Install, start cxloop on its embedded defaults and show it working (Ctrl-C stops)
	$(BIN)/cxloop demo

# The browser SDK is built from sdk-js/ with Node; without Node the server runs without it (the demo
# app and the console's survey preview then say how to build it). The console itself is prebuilt.
.PHONY: sdk-if-node
sdk-if-node:
	@if [ -f sdk-js/dist/cxloop.min.js ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  echo "building the browser SDK (sdk-js) ..."; \
	  cd sdk-js && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; \
	else echo "no npm: the browser SDK is not built (the demo app and the survey preview need it)"; fi

.PHONY: serve
serve: install ## Run the server only (embedded PostgreSQL, ./.cxloop)
	$(BIN)/cxloop serve

.PHONY: install-test
install-test: install ## Install everything the tests need (Python, npm, Chromium, wrk)
	$(BIN)/pip install -q -e '.[test]'
	./scripts/install-system-deps.sh
	cd sdk-js && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	cd console && npm ci --no-audit --no-fund --loglevel=error

.PHONY: lint
lint: ## ruff + mypy --strict + the layers (.importlinter)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

$(BIN)/pytest: $(BIN)/cxloop
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

.PHONY: test-fast
test-fast: $(BIN)/pytest ## Unit tests and ruff only: no database, server or browser (a few minutes)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench
	$(BIN)/pytest -q tests/unit

.PHONY: test-py
test-py: ## Python tests (unit + integration with a real server and PostgreSQL)
	$(BIN)/pytest -q

.PHONY: readme
readme: ## Regenerate the README's settings table from Settings (a unit test holds them equal)
	$(BIN)/python scripts/readme_settings.py

.PHONY: test-js
test-js: ## sdk-js and console: typecheck, unit tests, size budgets, build check, browser tests (headless Chromium)
	cd sdk-js && npm test && npm run test:browser
	cd console && npm test && npm run test:browser

.PHONY: console
console: ## Rebuild the console into backend/cxloop/console/static (commit the result)
	cd console && npm ci --no-audit --no-fund --loglevel=error && npm run build

.PHONY: test
test: install-test lint test-py test-js ## Install what tests need and run every test

.PHONY: bench
bench: install-test ## Run the benchmarks (see BENCHMARKS.md)
	$(BIN)/python bench/bench_ingest.py

.PHONY: clean
clean: ## Remove the virtualenv, build output and the local data directory
	rm -rf $(VENV) sdk-js/node_modules sdk-js/dist console/node_modules .cxloop
