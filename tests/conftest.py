"""Shared fixtures: the whole pipeline built once per test session on the committed sample."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

# make test runs on pytest-xdist workers (-n auto). Each worker gets its own dbt target and log folders, so two
# workers' dbt runs never write the same manifest.json or partial-parse file at once. Set before anything reads
# the settings; every dbt subprocess inherits it (dbt reads DBT_TARGET_PATH / DBT_LOG_PATH itself).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ.setdefault("DBT_TARGET_PATH", f"target/pytest-{_WORKER}")
    os.environ.setdefault("DBT_LOG_PATH", f"logs/pytest-{_WORKER}")
    # execnet starts a worker as `python -c`, so __main__ has neither __spec__ nor __file__, which
    # pyspark.sql.connect (imported by great_expectations when pyspark is installed) takes for a doctest run and
    # answers with sys.exit(0). Import great_expectations once with __main__ looking like a script, as it does
    # under plain pytest; the attribute is removed again (multiprocessing's spawn reads it).
    _main = sys.modules["__main__"]
    if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
        _main.__file__ = sys.argv[0]
        try:
            import great_expectations  # noqa: F401
        except ImportError:
            pass
        finally:
            del _main.__file__

from sen.config import DBT_PROJECT_DIR, REPO_ROOT  # noqa: E402

SAMPLE_DIR = REPO_ROOT / "data_samples" / "sample"
GROUND_TRUTH_DIR = REPO_ROOT / "data_samples" / "ground_truth"
# The committed sample ends on 2026-11-20; its reference time keeps every time-relative figure reproducible.
SAMPLE_AS_OF = "2026-11-21T00:00:00"


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The dbt manifest Dagster reads at import time, parsed once per session."""
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run([str(dbt), "parse", "--quiet"], cwd=DBT_PROJECT_DIR, check=True)
    return DBT_PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target") / "manifest.json"


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory, dbt_manifest) -> Path:
    """Materialize every asset on the committed sample into a temporary warehouse (the main job)."""
    warehouse = tmp_path_factory.mktemp("warehouse") / "sen.duckdb"
    env = {
        **os.environ,
        "CDP_DATA_DIR": str(SAMPLE_DIR),
        "CDP_WAREHOUSE": str(warehouse),
        "CDP_AS_OF": SAMPLE_AS_OF,
        "CDP_SERVING": str(warehouse.with_name("serving.duckdb")),
    }
    env.pop("DAGSTER_HOME", None)
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "build"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        pytest.fail(f"the main job failed:\n{completed.stdout[-6000:]}\n{completed.stderr[-6000:]}")
    return warehouse


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread whole files over the xdist workers, never one file's tests (module fixtures build once per file).

    Every file reading the session's built warehouse goes to one worker, so the sample is built once.
    """
    shared = {item.path for item in items if "built_warehouse" in getattr(item, "fixturenames", ())}
    for item in items:
        group = "built_warehouse" if item.path in shared else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))
        if item.path in shared:
            # The first of these tests also pays for the session's whole build (pytest-timeout counts fixture setup).
            item.add_marker(pytest.mark.timeout(1800))


@pytest.fixture
def warehouse_conn(built_warehouse):
    conn = duckdb.connect(str(built_warehouse), read_only=True)
    yield conn
    conn.close()
