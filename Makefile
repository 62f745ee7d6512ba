# The two commands of the README. Each one creates the virtualenv on first use and installs the project.
VENV ?= .venv
PYTHON ?= python3
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install repro test bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# The benchmarks' extra (faiss, psutil), installed by the bench target itself rather than left to `test`.
$(VENV)/.bench-installed: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[bench]'
	touch $@

install: $(VENV)/.installed

## Command 1: install, then run the whole DVC pipeline on the embedded default benchmark.
repro: install
	dvc repro

## Command 2: install, then run the test suite (what CI runs).
test: install
	pytest

bench: $(VENV)/.bench-installed
	for script in benchmarks/bench_*.py; do python $$script || exit 1; done
