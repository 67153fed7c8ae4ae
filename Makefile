# Sen: the two set-up commands are `make demo` (install + build the warehouse from the sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint dev lock parse clean dagster-home

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

# One Dagster home for `make demo` and `make dev`, so the UI shows the demo's runs (git-ignored).
# (Only for these targets: the tests keep their own, ephemeral, instances.)
demo dev dagster-home: export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

dagster-home:
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# The main job: every asset on $CDP_DATA_DIR (default: the committed sample) into $CDP_WAREHOUSE.
demo: install dagster-home
	$(BIN)/python -m orchestration.cli build

# CI fails on segment YAML whose generated dbt models were not recompiled (demo and dev compile them).
lint: parse
	$(BIN)/python -m sen.segments.compile --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models tests macros --processes 2

test: lint
	$(BIN)/pytest

# The code location parses the dbt project itself (with the venv's dbt): no activated venv, no `make parse`.
dev: install dagster-home
	$(BIN)/python -m sen.segments.compile
	$(BIN)/dagster dev

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra semantic --extra bench --extra spark -p 3.11 -o requirements.lock

clean:
	rm -rf warehouse dbt_project/target dbt_project/logs
