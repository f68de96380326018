# Two commands on a fresh clone: `make run` (set-up, data, dbt build) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Empty: whatever CINEMART_DATA_DIR holds, else ml-latest-small (`cinemart build` without a name).
DATASET ?=

.PHONY: run test setup lock bench docs clean

setup: $(VENV)/.installed

# constraints.txt pins every transitive version; the spark extra is installed too,
# because the tests build the project on local Spark as well as DuckDB.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,spark]"
	touch $@

# Fetches $(DATASET) into data/ unless CINEMART_DATA_DIR points at a local copy
# (which must then hold $(DATASET) if one is named), then builds every table and
# prints where the warehouse is.
run: setup
	$(BIN)/cinemart build $(DATASET)

# Re-resolve every dependency to the newest version pyproject.toml allows, in a
# scratch venv, and pin the result; commit constraints.txt once make test passes on it.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e ".[test,spark]"
	head -3 constraints.txt > constraints.new
	.lock-venv/bin/pip freeze --exclude-editable | LC_ALL=C sort -f >> constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

test: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/bench_als.py

# dbt opens its database read-write: it documents the working copy (warehouse/build),
# which after `make run` holds the warehouse just built, never the file readers have open.
docs: setup
	$(BIN)/dbt docs generate --profiles-dir .

clean:
	rm -rf target logs warehouse
