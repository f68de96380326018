# Two commands on a fresh clone: `make run` (set-up, data, dbt build) and `make test`.
VENV := .venv
BIN := $(VENV)/bin
# Empty: whatever CINEMART_DATA_DIR holds, else the shipped data/ml-latest-small.zip
# (`cinemart build` without a name).
DATASET ?=

# The interpreter: PYTHON=... if given, else the newest supported one found on PATH
# or in pyenv's versions folder. A candidate counts only if it runs (pyenv shims of
# versions that are not activated exist on PATH but fail).
SUPPORTED := 3.11 3.12 3.13
PY_OK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
PY_VERSION := import sys; print("%d.%d" % sys.version_info[:2])
ifndef PYTHON
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3 \
             $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[123]*/bin/python3 2>/dev/null); do \
             v=$$($$p -c '$(PY_OK); $(PY_VERSION)' 2>/dev/null) && echo "$$v $$(command -v $$p)"; \
           done | sort -V | tail -n 1 | cut -d' ' -f2)
endif

# A PYTHON named on the command line or in the environment: a pyenv shim of a version
# that is installed but not activated does not run, so `PYTHON=python3.12` then means
# pyenv's own python3.12. If it differs from the one .venv was made with, .venv is
# recreated, so `PYTHON=python3.12 make run` means it.
ifneq ($(filter command line environment,$(origin PYTHON)),)
override PYTHON := $(shell p='$(PYTHON)'; v=$$(basename "$$p" | sed -n 's/^python\(3\.[0-9]*\)$$/\1/p'); \
             if ! "$$p" -c 'import sys' >/dev/null 2>&1 && [ -n "$$v" ]; then \
               for c in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python$$v; do [ -x "$$c" ] && p=$$c && break; done; \
             fi; echo "$$p")
VENV_HAS := $(shell test -x $(BIN)/python && $(BIN)/python -c '$(PY_VERSION)' 2>/dev/null)
VENV_WANTS := $(shell $(PYTHON) -c '$(PY_VERSION)' 2>/dev/null)
ifneq ($(VENV_HAS),)
ifneq ($(VENV_HAS),$(VENV_WANTS))
$(info .venv holds Python $(VENV_HAS); recreating it with $(PYTHON) (Python $(VENV_WANTS)))
$(shell rm -rf $(VENV))
endif
endif
endif

.PHONY: run test setup setup-test interpreter lock bench docs clean bi bi-setup

# `make run` installs the DuckDB engine only; `make test` adds the test and Spark
# extras. constraints.txt pins every transitive version for 3.11, 3.12 and 3.13.
setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

interpreter:
	@test -n "$(PYTHON)" || { echo "make: no Python $(SUPPORTED) found on PATH or in pyenv: install one, or name it with PYTHON=/path/to/python3.x" >&2; exit 2; }
	@$(PYTHON) -c '$(PY_OK)' 2>/dev/null || { echo "make: PYTHON=$(PYTHON) is not a working Python $(SUPPORTED) interpreter" >&2; exit 2; }

$(VENV)/.installed: pyproject.toml constraints.txt | interpreter
	@echo "setting up $(VENV) with $(PYTHON) ($$($(PYTHON) -c '$(PY_VERSION)'))"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,spark]"
	touch $@

# Unpacks the shipped data/ml-latest-small.zip (sha256-checked, no network) unless
# CINEMART_DATA_DIR points at a local copy or DATASET names another release, builds
# every table, publishes the warehouse and prints where it is.
run: setup
	$(BIN)/cinemart build $(DATASET)

# The suite in two pytest processes side by side: the Spark tests (-m spark), whose JVM
# work leaves a core idle between queries, and the rest. The shipped data is unpacked
# first (whatever CINEMART_DATA_DIR says), so the two never race for it. The Spark half's output follows the other's; either half
# failing (or collecting no test) fails the target.
test: setup-test
	env -u CINEMART_DATA_DIR $(BIN)/cinemart data fetch ml-latest-small >/dev/null
	@mkdir -p logs
	@$(BIN)/pytest -m spark -p no:cacheprovider > logs/pytest-spark.log 2>&1 & spark=$$!; \
	  $(BIN)/pytest -m "not spark"; rest=$$?; \
	  wait $$spark; sparked=$$?; \
	  echo "--- the Spark tests (pytest -m spark, logs/pytest-spark.log) ---"; cat logs/pytest-spark.log; \
	  exit $$(( rest || sparked ))

# Re-resolve every dependency to the newest version pyproject.toml allows, in a
# scratch venv, and pin the result; commit constraints.txt once make test passes
# on it with each supported Python (PYTHON=python3.11 make test, and so on).
lock: interpreter
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e ".[test,spark]"
	head -3 constraints.txt > constraints.new
	.lock-venv/bin/pip freeze --exclude-editable | LC_ALL=C sort -f >> constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

# Superset in its own venv (.bi-venv): its pins (SQLAlchemy 1.4, pandas 2.1) never touch .venv.
# Superset 6.1 runs on Python 3.10-3.12; the newest 3.12 or 3.11 is found the way PYTHON is
# (BI_PYTHON=/path/to/python3.x overrides). `make bi` imports the shipped dashboard into a fresh
# metadata database and serves it on 127.0.0.1:8088 with a printed login (after `make run`).
BI_VENV := .bi-venv
BI_OK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))
BI_PACKAGES := apache-superset duckdb-engine duckdb flask-caching rich cachetools
BI_PYTHON ?= $(shell for p in python3.12 python3.11 \
             $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[12]*/bin/python3 2>/dev/null); do \
             v=$$($$p -c '$(BI_OK); $(PY_VERSION)' 2>/dev/null) && echo "$$v $$(command -v $$p)"; \
           done | sort -V | tail -n 1 | cut -d' ' -f2)

bi-setup: $(BI_VENV)/.installed

$(BI_VENV)/.installed: bi/superset/constraints.txt
	@test -n "$(BI_PYTHON)" || { echo "make: Superset needs Python 3.11 or 3.12, none found on PATH or in pyenv: name one with BI_PYTHON=/path/to/python3.x" >&2; exit 2; }
	@echo "setting up $(BI_VENV) (Superset) with $(BI_PYTHON) ($$($(BI_PYTHON) -c '$(PY_VERSION)'))"
	test -x $(BI_VENV)/bin/python || $(BI_PYTHON) -m venv $(BI_VENV)
	$(BI_VENV)/bin/pip install --quiet --upgrade pip
	$(BI_VENV)/bin/pip install --quiet --only-binary=:all: --no-binary=odfpy -c bi/superset/constraints.txt $(BI_PACKAGES)
	touch $@

bi: setup bi-setup
	$(BIN)/cinemart bi --superset-venv $(BI_VENV)

bench: setup
	$(BIN)/python benchmarks/bench_als.py

# dbt opens its database read-write: it documents the working copy (warehouse/build),
# which after `make run` holds the warehouse just built, never the file readers have open.
docs: setup
	$(BIN)/dbt docs generate

clean:
	rm -rf target logs warehouse .bi-home
