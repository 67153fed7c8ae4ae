"""`python -m orchestration.cli rebuild-events`: the event-sized models rebuilt in load-time batches end equal
to a one-statement full refresh, and each batch reads only the loads up to its cap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt.rebuild import EVENT_SIZED_TABLES, plan_batches
from sen.config import DBT_PROJECT_DIR, REPO_ROOT
from tests.orchestration.test_incremental_models import VARS, built_sample_warehouse

pytestmark = pytest.mark.e2e


def fingerprints(warehouse: Path) -> dict[str, tuple[int, int]]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return {
            t: conn.execute(f"select count(*), sum(hash(columns(*))) from {t}").fetchall()[0]
            for t in EVENT_SIZED_TABLES
        }


def dbt(warehouse: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--target-path", str(workdir / "target")],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse)},
        capture_output=True,
        text=True,
    )


def test_the_event_sized_table_list_matches_the_models_tags():
    tagged = {
        f"{path.relative_to(DBT_PROJECT_DIR / 'models').parts[0]}.{path.stem}"
        for path in (DBT_PROJECT_DIR / "models").rglob("*.sql")
        if "'event_sized'" in path.read_text()
    }
    assert tagged == set(EVENT_SIZED_TABLES)


@pytest.fixture(scope="module")
def full_build(tmp_path_factory) -> tuple[Path, Path]:
    workdir = tmp_path_factory.mktemp("rebuild")
    return workdir, built_sample_warehouse(workdir)


def test_batched_rebuild_equals_a_full_refresh(full_build, tmp_path: Path):
    _, warehouse = full_build
    copy = tmp_path / "rebuilt.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy), read_only=True) as conn:
        plan = plan_batches(conn, 3)
        total = conn.execute("select count(*) from raw.events").fetchall()[0][0]
    assert len(plan) == 3 and plan[-1].loaded_until is None and plan[-1].events == total
    assert plan[0].loaded_until < plan[1].loaded_until and 0 < plan[0].events < plan[1].events < total

    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "rebuild-events", "--batches", "3"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "CDP_WAREHOUSE": str(copy),
            "CDP_AS_OF": VARS["as_of"].replace(" ", "T"),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
        },
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    steps = [
        line.split(":")[0]
        for line in completed.stdout.splitlines()
        if line.startswith(("batch ", "identity"))
    ]
    assert steps == ["batch 1/3", "batch 2/3", "batch 3/3", "identity graph"]
    assert fingerprints(copy) == fingerprints(warehouse)


def test_a_capped_full_build_reads_only_the_loads_up_to_the_cap(full_build, tmp_path: Path):
    _, warehouse = full_build
    copy = tmp_path / "capped.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy), read_only=True) as conn:
        cap = plan_batches(conn, 2)[0].loaded_until
    assert cap is not None
    capped_vars = json.dumps({"as_of": VARS["as_of"], "loaded_until": cap})
    completed = dbt(
        copy, tmp_path, "run", "--select", "tag:event_sized", "--full-refresh", "--vars", capped_vars
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as conn:
        latest = {
            table: conn.execute(
                f"select strftime(max(_loaded_at) at time zone 'UTC', '%Y-%m-%d %H:%M:%S.%f') from {table}"
            ).fetchall()[0][0]
            for table in ("staging.stg_tracking__events", "intermediate.int_identifier_occurrences")
        }
        rows = conn.execute("select count(*) from staging.stg_tracking__events").fetchall()[0][0]
    assert all(value <= cap for value in latest.values()), latest
    assert 0 < rows < fingerprints(warehouse)["staging.stg_tracking__events"][0]


def test_a_malformed_cap_is_a_clear_error(full_build, tmp_path: Path):
    _, warehouse = full_build
    bad = json.dumps({"as_of": VARS["as_of"], "loaded_until": "yesterday"})
    completed = dbt(warehouse, tmp_path, "compile", "--select", "stg_tracking__events", "--vars", bad)
    assert completed.returncode != 0
    assert "var loaded_until must be an ISO timestamp (UTC), got 'yesterday'" in completed.stdout
