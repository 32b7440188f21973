# make demo / make test / make bench: each sets up what is missing, then runs.
# Setup is idempotent: the virtual environment is rebuilt only when
# pyproject.toml changes, and Debian packages are installed only when absent
# (and only as root).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup system-packages demo test bench format

setup: system-packages $(STAMP)

system-packages:
	@scripts/install-system-packages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: setup
	$(BIN)/exchange demo

test: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
