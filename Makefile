# The two commands a newcomer types: `make up` runs the system, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint typecheck unit db-tests bench histories clean

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

test: lint typecheck
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
