# cityopt: two commands on a fresh machine (Python 3.11 and the package index):
#   make run    # venv, install, then `cityopt demo` -> outputs/
#   make test   # venv, install, then the whole test suite
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cityopt-installed
OUT    ?= outputs
PYTEST_ARGS ?=

.PHONY: run test test-all bench lint fuzz-survey venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,crosscheck]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/cityopt demo --out $(OUT)

CHROMIUM := command -v chromium >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium) || echo "WARNING: chromium could not be installed: the report's browser test will be SKIPPED"

test: $(STAMP)
	@$(CHROMIUM)
	$(BIN)/ruff check optimizer solvers city_data tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-all: $(STAMP)
	@$(CHROMIUM)
	$(BIN)/python -m pytest -n 2 -m "slow or not slow" $(PYTEST_ARGS)

# QOKit (the fast simulator's outside reference) only for the benchmark, without its
# dependencies: its own exact pins of numpy, numba and qiskit conflict with constraints.txt,
# and the comparison uses only its compiled C simulator (see benchmarks/bench_qaoa.py)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps "qokit==0.1.4"
	$(BIN)/cityopt bench

# every bad input of tests/fuzz/cases.py in its own process: counts by outcome (clean, weak, traceback,
# partial, silently accepted); SURVEY_ARGS="--pythonpath DIR" surveys another checkout with this venv
fuzz-survey: $(STAMP)
	$(BIN)/python -m tests.fuzz.survey --jobs 2 --json $(OUT)/fuzz.json --status $(OUT)/fuzz.md $(SURVEY_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check optimizer solvers city_data tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
