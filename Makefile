# Sen: the two set-up commands are `make demo` (install + build the warehouse from the sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint dev lock parse clean

install: $(STAMP)

# Exact versions come from requirements.lock; uv installs them in seconds. Bytecode is compiled once here:
# where PYTHONDONTWRITEBYTECODE is set, every process of a build (Dagster and ~8 dbt steps) would otherwise
# recompile dagster/dbt from source, about 20 s of CPU per build.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

parse: install
	cd dbt_project && ../$(BIN)/dbt parse --quiet

# The main job: every asset on $CDP_DATA_DIR (default: the committed sample) into $CDP_WAREHOUSE.
demo: install
	$(BIN)/python -m orchestration.cli build

# CI fails on segment YAML whose generated dbt models were not recompiled (demo and dev compile them).
lint: parse
	$(BIN)/python -m sen.segments.compile --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models tests macros --processes 2

test: lint
	$(BIN)/pytest

dev: install
	$(BIN)/python -m sen.segments.compile
	cd dbt_project && ../$(BIN)/dbt parse --quiet
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home} && mkdir -p $$DAGSTER_HOME && \
	  { test -f $$DAGSTER_HOME/dagster.yaml || cp orchestration/dagster.yaml $$DAGSTER_HOME/dagster.yaml; } && \
	  DAGSTER_HOME=$$DAGSTER_HOME $(BIN)/dagster dev

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra semantic --extra bench -p 3.11 -o requirements.lock

clean:
	rm -rf warehouse dbt_project/target dbt_project/logs
