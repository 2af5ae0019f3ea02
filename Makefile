# Medlake: the commands every README, test and check relies on.
# `make demo` and `make test` work from a fresh clone: they set up what they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
STAMP_APT := .run/.apt-installed
# dciodvfy (dicom3tools) checks de-identified output in the test suite.
APT_PACKAGES := dicom3tools

.PHONY: setup demo test lint typecheck up down status bench clean

setup: $(STAMP_PY) $(STAMP_NODE) local.settings.json

$(STAMP_PY): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(STAMP_APT):
	@mkdir -p .run
	@if command -v dciodvfy >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	else echo "install $(APT_PACKAGES) (sudo apt-get install $(APT_PACKAGES))"; exit 1; fi
	touch $@

local.settings.json: local.settings.sample.json
	test -f $@ || cp local.settings.sample.json $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

test: setup $(STAMP_APT) lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider

up: setup
	$(PY) scripts/stack.py up

down:
	@test -x $(PY) && $(PY) scripts/stack.py down || true

status: setup
	$(PY) scripts/stack.py status

demo: setup
	$(PY) scripts/demo.py

bench: setup
	$(PY) -m bench.run

clean: down
	rm -rf .data .run bench/results.json
