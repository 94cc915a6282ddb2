# `make run` and `make test` work from a fresh clone: they create .venv and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Test processes (pytest-xdist): most tests wait on servers and clients, so two keep two cores
# busy; a test file stays on one worker, with its module-wide servers.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

.PHONY: run test test-fast lint bench bench-quick clean schemas

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vidpulse needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
		{ echo "could not create $(VENV): on Debian, apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(BIN)/vidpulse serve

test: $(STAMP)
	$(PYTEST)

test-fast: $(STAMP)
	$(PYTEST) -m "not slow and not browser and not redis and not s3"

# docs/report.schema.json is generated from processing/schema.py (a test fails when it is stale).
schemas: $(STAMP)
	$(BIN)/python -c 'from vidpulse.processing.schema import main; main()' > docs/report.schema.json

lint: $(STAMP)
	$(BIN)/ruff check vidpulse server processing client tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# PySceneDetect (the accuracy and speed baseline) lives in a venv of its own: its default package
# pulls opencv-python, which would replace the headless OpenCV that vidpulse uses.
.bench-venv/bin/python:
	$(PYTHON) -m venv .bench-venv
	.bench-venv/bin/python -m pip install --quiet scenedetect-headless

bench: $(STAMP) .bench-venv/bin/python
	$(BIN)/python bench/analysis.py --scenedetect-python .bench-venv/bin/python
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/scaleout.py

# The headline ratios of docs/benchmarks.md, whole process and in-process, in under two minutes.
bench-quick: $(STAMP) .bench-venv/bin/python
	$(BIN)/python bench/analysis.py --quick --rounds 3
	$(BIN)/python bench/fanout.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
