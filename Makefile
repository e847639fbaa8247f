# make demo: install smsemu in .venv and run the walk-through.
# make test: install the test dependencies too and run the whole suite, in
#            parallel: one pytest-xdist worker per core (TEST_WORKERS=N for N,
#            TEST_WORKERS=0 for none: all in one process).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
TEST_WORKERS ?= auto

.PHONY: demo test lint bench bench-jasmin clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(PIP) install -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/smsemu demo

test: $(VENV)/.test-installed
	bash scripts/ensure-postgres
	bash scripts/ensure-at-tools
	bash scripts/ensure-tshark
	bash scripts/ensure-chromium
	bash scripts/ensure-haproxy
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.test-installed
	$(BIN)/python bench/pdu_bench.py
	$(BIN)/python bench/cli_bench.py
	bash scripts/ensure-postgres
	$(BIN)/python bench/smsc_bench.py --db both
	$(BIN)/python bench/history_bench.py
	$(BIN)/python bench/smpp_bench.py
	$(BIN)/python bench/attach_bench.py
	$(BIN)/python bench/attach_bench.py --storm 1000
	$(BIN)/python bench/tls_bench.py

# smsemu's SMPP door against Jasmin 0.11.1 (../shared/peers/jasmin: apt-get and pip once, as root).
bench-jasmin: $(VENV)/.test-installed
	$(BIN)/python bench/versus_jasmin.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
