# Pointline: every target sets itself up from the repo's own files (pinned in requirements.lock).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test ui lint format docs bench clean-lake

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME) && touch $@

demo: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml  ## sample Bronze -> every asset -> summary
	$(PY) scripts/demo.py

test: $(VENV)/.installed  ## the whole test suite (CI runs this)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

ui: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml  ## Dagster UI + daemon (sensor) on 127.0.0.1:3000
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

docs: $(VENV)/.installed  ## regenerate docs/schemas.md from the schema registry
	$(PY) -m pointline.schemas > docs/schemas.md

bench: $(VENV)/.installed  ## ingest throughput; research query latency (first run generates a 4 GB lake in bench/.data)
	$(PY) bench/ingest_trades.py
	$(PY) bench/ingest_books.py
	$(PY) bench/ingest_many_files.py
	$(PY) bench/research_queries.py

clean-lake:  ## remove the local demo lake, Bronze sample and Dagster instance
	rm -rf lake bronze $(DAGSTER_HOME)
