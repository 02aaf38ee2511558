# convviz: `make site` builds the site, `make test` runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
export TF_CPP_MIN_LOG_LEVEL ?= 3
export NO_MKDOCS_2_WARNING ?= 1

LINTED := convviz tests benchmarks gallery
# pytest-xdist workers per backend (one per core; whole test files go to one worker, so a
# module's shared fixture, e.g. the built test site, is made once; the longest files first,
# in tests/conftest.py's order); at most 4: each holds TensorFlow
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: site test check lint fast-tests serve zoo clean help

help:
	@echo "make site   build the site into site/ (creates .venv, reads or trains and caches the zoo)"
	@echo "make test   run the whole test suite once per Keras backend ($(BACKENDS))"
	@echo "make check  quick loop for contributors: ruff, mypy and the fast unit tests on TensorFlow (no site build)"
	@echo "make serve  serve the site at http://127.0.0.1:8000 while you edit"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# umap-learn's functions compiled once into numba's cache in the new environment (~17 s):
# otherwise the build's parallel workers, or the suite's renders, each compile them at once.
# A stamp of its own after either install (umap-learn is a core dependency), so `make test`
# and `make check` run it beside the lint (each keeps one core busy).
COMPILE_UMAP = $(BIN)/python -c "import convviz.represent.latent as l; print(f'convviz: umap-learn compiled for this environment in {l.compile_umap():.0f} s')"

# One stamp per set of extras: reinstall when pyproject.toml changes. pip would compile the
# packages' bytecode one file after another (41 s of the 82 s install here): `.byte-compiled`
# does it on every core instead.
PIP_INSTALL = $(BIN)/python -m pip install -q --no-compile
$(VENV)/.docs-installed: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[docs]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev,jax,torch,docs]'
	touch $@ $(VENV)/.docs-installed

# The installed packages' bytecode, as pip writes it (only what changed is compiled again);
# `make test` runs it beside the lint, as a step before the umap compile. A file that is not
# Python 3.11 (a 3.12 test helper in torch) is skipped, as pip skips it: -qq, no failure.
$(VENV)/.byte-compiled: $(VENV)/.docs-installed
	$(BIN)/python -m compileall -qq -j0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
	touch $@

$(VENV)/.umap-compiled: $(VENV)/.byte-compiled
	@$(COMPILE_UMAP)
	touch $@

zoo: $(VENV)/.byte-compiled
	$(BIN)/convviz zoo train

# The build reads the shipped weights (or trains what is neither cached nor shipped, first,
# with its progress shown) and prints each model's test accuracy at the end.
# A site whose inputs did not change since its last successful build is not built again
# (MkDocs would render every page): convviz/site/uptodate.py says what it checks.
# `make site FORCE=1` builds anyway.
BUILD := $(BIN)/mkdocs build --strict
site: $(VENV)/.umap-compiled
	@if $(BIN)/python -m convviz.site.uptodate check $(if $(FORCE),--force) mkdocs.yml -- $(BUILD); then :; else \
	  $(BUILD) && $(BIN)/python -m convviz.site.uptodate record mkdocs.yml; fi

serve: $(VENV)/.umap-compiled
	$(BIN)/mkdocs serve

# The suites overlap. The first backend's (TensorFlow's, the longest: the site, the browser, the
# end-to-end checks) runs at normal priority, its report shown as it goes. The lint and then
# the other backends' suites run beside it at the lowest priority (nice 19): on the CPU time
# its workers leave idle while they wait on their subprocesses, Chromium or the disk, then on
# every core once it ends; each prints its report when it ends, and `make test` fails when
# any of them failed. Measured on fresh clones: docs/performance.md's table.
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=5 tests
FIRST_BACKEND := $(firstword $(BACKENDS))
OTHER_BACKENDS := $(wordlist 2,$(words $(BACKENDS)),$(BACKENDS))
test: $(VENV)/.dev-installed
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1; } || \
	  echo "make test: chromium is not installed and cannot be installed here: browser tests will be skipped"
	@logs=$$(mktemp -d); trap 'rm -rf "$$logs"' EXIT; \
	nice -n 19 $(MAKE) --no-print-directory lint >"$$logs/lint" 2>&1 & lint=$$!; \
	$(MAKE) --no-print-directory $(VENV)/.umap-compiled || exit 1; \
	suite() { start=$$(date +%s); echo "=== KERAS_BACKEND=$$1 ==="; rc=0; KERAS_BACKEND=$$1 $(PYTEST) || rc=$$?; \
	  echo "=== KERAS_BACKEND=$$1: $$(( $$(date +%s) - start )) s"; return $$rc; }; \
	( renice -n 19 -p $$BASHPID >/dev/null; \
	  for b in $(OTHER_BACKENDS); do suite $$b >"$$logs/$$b" 2>&1; echo $$? >"$$logs/$$b.rc"; done ) & others=$$!; \
	failed=""; suite $(FIRST_BACKEND) || failed="$(FIRST_BACKEND)"; \
	wait $$lint || failed="$$failed lint"; echo "=== lint (beside the suites)"; cat "$$logs/lint"; \
	wait $$others; for b in $(OTHER_BACKENDS); do cat "$$logs/$$b"; [ "$$(cat "$$logs/$$b.rc")" = 0 ] || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "make test: failed: $$failed"; exit 1; fi

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# the lint and the fast tests side by side (mypy and pytest each keep about one core busy)
check: $(VENV)/.dev-installed
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint fast-tests

# On every core, as `make test` runs them, beside the lint (mypy keeps a core busy for its
# first 20 s or so); TensorFlow's thread pools sized to a worker's share of the cores: with
# one per core each, three processes on two cores spent their time waiting on each other
# (make check 64-78 s -> 55-60 s here).
FAST_THREADS := $(shell n=$$(( $$(nproc 2>/dev/null || echo 2) / $(TEST_WORKERS) )); [ $$n -lt 1 ] && n=1; echo $$n)
fast-tests: $(VENV)/.dev-installed $(VENV)/.umap-compiled
	KERAS_BACKEND=tensorflow TF_NUM_INTRAOP_THREADS=$(FAST_THREADS) TF_NUM_INTEROP_THREADS=$(FAST_THREADS) \
	  $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not slow and not browser" tests

clean:
	rm -rf site docs/generated .convviz-cache
