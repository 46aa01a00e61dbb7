# The two commands for a fresh machine:  `make run`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK := requirements.lock

.PHONY: run test lint unit bench clean lock

# Installs the locked versions (requirements.lock, made by `make lock`) of the runtime and dev stacks.
$(STAMP): pyproject.toml $(LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(LOCK) -e '.[dev]'
	touch $@

## lock: re-resolve requirements.lock from pyproject.toml (newest versions within its bounds)
lock:
	test -x $(BIN)/pip || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --upgrade --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

# The sandbox gateway's callback secret for this checkout: random, made once, never committed.
SANDBOX_SECRET := .sandbox-secret
$(SANDBOX_SECRET):
	umask 077 && $(PY) -c 'import secrets; print(secrets.token_hex(32))' > $@

## run: migrate, seed the demo retailer (prints its admin key) and serve on 127.0.0.1:8000
run: $(STAMP) $(SANDBOX_SECRET)
	$(BIN)/omni demo
	OMNI_SANDBOX_PAYMENT_SECRET=$${OMNI_SANDBOX_PAYMENT_SECRET:-$$(cat $(SANDBOX_SECRET))} $(BIN)/omni serve

## test: lint, types, import contracts, then every test on SQLite and PostgreSQL, on both cores
## (two xdist workers, a test file each at a time, each with its own databases)
test: $(STAMP)
	scripts/ensure-services
	scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 2 --dist loadfile

## bench: print the benchmark figures (never part of the tests)
bench: $(STAMP)
	scripts/ensure-services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache omniretail.db* $(SANDBOX_SECRET)
