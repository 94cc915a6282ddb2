# `make run` and `make test` work from a fresh clone: they create .venv and install into it.
# `make run` installs the runtime only; the test, lint and bench targets also the test extras
# (pytest, Playwright, SeaweedFS, mypy, Schemathesis, ...), most of the venv's size (README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A stamp a kind of install, named after pyproject.toml's checksum: an edit there installs again.
# The test extras include the runtime, so their install stamps both: `make run` after `make test`
# installs nothing.
CHECKSUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
RUNTIME := $(VENV)/.runtime-$(CHECKSUM)
TESTS := $(VENV)/.tests-$(CHECKSUM)
# Test processes (pytest-xdist): most tests wait on servers and clients, so two keep two cores
# busy; a test file stays on one worker, with its module-wide servers.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

.PHONY: run test test-fast lint bench bench-quick clean schemas

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vidpulse needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "could not create $(VENV): on Debian, apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@rm -f $(VENV)/.runtime-*
	@touch $@

$(TESTS): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.runtime-* $(VENV)/.tests-*
	@touch $@ $(RUNTIME)

run: $(RUNTIME)
	$(BIN)/vidpulse serve

test: $(TESTS)
	$(PYTEST)

test-fast: $(TESTS)
	$(PYTEST) -m "not slow and not browser and not redis and not s3"

# docs/report.schema.json is generated from processing/schema.py (a test fails when it is stale).
schemas: $(RUNTIME)
	$(BIN)/python -c 'from vidpulse.processing.schema import main; main()' > docs/report.schema.json

lint: $(TESTS)
	$(BIN)/ruff check vidpulse server processing client tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# PySceneDetect (the accuracy and speed baseline) lives in a venv of its own: its default package
# pulls opencv-python, which would replace the headless OpenCV that vidpulse uses.
.bench-venv/bin/python:
	$(PYTHON) -m venv .bench-venv
	.bench-venv/bin/python -m pip install --quiet scenedetect-headless

bench: $(TESTS) .bench-venv/bin/python
	$(BIN)/python bench/analysis.py --scenedetect-python .bench-venv/bin/python
	$(BIN)/python bench/cues.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/scaleout.py

# The headline ratios of docs/benchmarks.md, whole process and in-process, in under two minutes.
bench-quick: $(TESTS) .bench-venv/bin/python
	$(BIN)/python bench/analysis.py --quick --rounds 3
	$(BIN)/python bench/fanout.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
