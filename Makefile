# Two commands: `make demo` and `make test`. Each creates .venv when needed and installs the
# project from its own files (pyproject.toml), so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

CHROMIUM := /usr/bin/chromium
SOFTHSM := /usr/bin/softhsm2-util
SUDO := $(if $(filter 0,$(shell id -u)),,sudo )

.PHONY: demo test lint typecheck unit install clean bench chromium softhsm

# One stamp per set of extras: the demo needs the runtime dependencies only, the checks the
# dev tools, the benchmarks Faust (its comparison); each is reinstalled when pyproject.toml
# changes.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
BENCH := $(VENV)/.installed-bench

define install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '$(1)'
	@touch $@
endef

$(RUNTIME): pyproject.toml
	$(call install,.)

$(DEV): pyproject.toml
	$(call install,.[dev])

$(BENCH): pyproject.toml
	$(call install,.[bench])

install: $(DEV)

demo: $(RUNTIME)
	$(BIN)/hub demo $(ARGS)

# The import rules ([tool.importlinter] in pyproject.toml) are part of the lint.
lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(DEV)
	$(BIN)/mypy --strict hub agents connectors

# The dashboard's browser test drives Debian's Chromium (a registry package, no download of
# its own); installed once when missing.
$(CHROMIUM):
	$(SUDO)apt-get update -qq && $(SUDO)apt-get install -y -qq chromium

chromium: $(CHROMIUM)

# The PKCS#11 key store's contract tests run against Debian's SoftHSM2 (the PKCS#11 module that
# production swaps for an HSM's); each test session initialises its own token in a temporary
# SOFTHSM2_CONF directory (tests/unit/audit/conftest.py), never a system token.
$(SOFTHSM):
	$(SUDO)apt-get update -qq && $(SUDO)apt-get install -y -qq softhsm2

softhsm: $(SOFTHSM)

# Stream tests mostly wait on the broker: six processes (each with its own broker) on two
# cores cut the wall time, the long files first (tests/conftest.py orders them; xdist would
# otherwise start the files with the most tests, and end on the long ones); tests that measure
# latency or memory run alone afterwards. The 25 slowest are listed, to keep an eye on them.
TEST_WORKERS ?= 6
test: lint typecheck $(CHROMIUM) $(SOFTHSM)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 -m "not serial" $(ARGS)
	$(BIN)/python -m pytest -m serial $(ARGS)

bench: $(BENCH)
	$(BIN)/python bench/codec.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
