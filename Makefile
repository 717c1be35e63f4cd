# The two commands a newcomer types: `make up` runs the system, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive this Chromium (Debian's package); Playwright's own browser downloads are never used.
export OMS_TEST_CHROMIUM ?= /usr/bin/chromium

.PHONY: up test lint typecheck browser unit db-tests bench histories clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/oms up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

# Chromium for the browser tests (tests/integration/test_browser.py): Debian's package, installed when missing
# and this is root with apt-get; otherwise stop and say what to install.
browser:
	@if [ ! -x "$(OMS_TEST_CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
		else \
			echo "The browser tests need Chromium at $(OMS_TEST_CHROMIUM): install it (Debian: apt-get install chromium)" \
				"or point OMS_TEST_CHROMIUM at a Chromium or Chrome binary."; \
			exit 1; \
		fi; \
	fi
	@test -x "$(OMS_TEST_CHROMIUM)" || { echo "$(OMS_TEST_CHROMIUM) is still missing after installing chromium"; exit 1; }

test: lint typecheck browser
	$(BIN)/pytest -q

# The benchmark's figures: orders/s against the Temporal floor and a naive design, how cost grows with
# concurrency, order and network size (with a worker profile and flame graph), then memory with open orders held.
BENCH_ARGS ?= --orders 300 --concurrency 30 --scale 10,30,60 --profile --out bench-out
OPEN_ORDERS ?= 10000
bench: $(STAMP)
	$(BIN)/oms bench $(BENCH_ARGS)
	$(BIN)/oms bench --open-orders $(OPEN_ORDERS) --concurrency 30 --out bench-out/open-orders

# Saved histories of every path of the order, for the replay tests; an existing one is never overwritten.
# One path: make histories HISTORIES_ARGS="--path reship"
histories: $(STAMP)
	$(BIN)/python -m tests.workflows.record_histories $(HISTORIES_ARGS)

db-tests: $(STAMP)
	$(BIN)/pytest -q -m db

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
