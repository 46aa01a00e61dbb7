# The two commands for a fresh machine:  `make run`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## run: migrate, seed the demo retailer (prints its admin key) and serve on 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/omni demo
	$(BIN)/omni serve

## test: lint, types, import contracts, then every test on SQLite and PostgreSQL
test: $(STAMP)
	scripts/ensure-services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

## bench: print the benchmark figures (never part of the tests)
bench: $(STAMP)
	scripts/ensure-services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache omniretail.db*
