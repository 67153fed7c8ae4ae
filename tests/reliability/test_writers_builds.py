"""Issue 18, case 4 through real command-line builds (`python -m orchestration.cli build`).

A build of one dbt seed (`key:reference/loyalty_tiers`, 4 rows) is a whole build in small: the lock, a
`dbt parse` into the run's folder, the Definitions read from its manifest, a dbt step writing the warehouse,
the summary. Before issue 18 two such builds at once wrote one manifest.json together, a second build on a
warehouse in use went ahead and collided with the first on DuckDB's lock, and a reader holding the
warehouse failed the build at its first write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt.target import dbt_target_dir
from sen.warehouse_lock import holder_path, read_holder
from tests.conftest import SAMPLE_AS_OF, SAMPLE_DIR

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SELECTION = "key:reference/loyalty_tiers"


def build_env(warehouse: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CDP_DATA_DIR": str(SAMPLE_DIR),
        "CDP_WAREHOUSE": str(warehouse),
        "CDP_AS_OF": SAMPLE_AS_OF,
        "CDP_SERVING": str(warehouse.with_name("serving.duckdb")),
        **extra,
    }
    env.pop("DAGSTER_HOME", None)
    env.pop("DBT_TARGET_PATH", None)
    env.update(extra)
    return env


def start_build(env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed with the process below
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "build", "--select", SELECTION],
        cwd=REPO,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(build: subprocess.Popen, log: Path, timeout: float = 600) -> tuple[int, str]:
    code = build.wait(timeout=timeout)
    return code, log.read_text(encoding="utf-8")


def seed_rows(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute("select count(*) from reference.loyalty_tiers").fetchone()[0]


def test_a_second_build_exits_naming_the_first_a_third_waits_and_the_first_completes(tmp_path):
    """One first build on a warehouse; while it holds the lock, a second (CDP_WAREHOUSE_LOCK_WAIT=0) exits
    75 naming it, and a third (CDP_WAREHOUSE_LOCK_WAIT=600) waits and builds after it."""
    warehouse = tmp_path / "sen.duckdb"
    first = start_build(build_env(warehouse), tmp_path / "first.log")
    third = None
    try:
        deadline = time.monotonic() + 120
        while read_holder(warehouse) is None:  # the first build holds the lock
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        holder = read_holder(warehouse)
        second = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "build", "--select", SELECTION],
            cwd=REPO,
            env=build_env(warehouse, CDP_WAREHOUSE_LOCK_WAIT="0"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 75, second.stderr[-3000:]
        assert f"pid {holder.pid}" in second.stderr and holder.run_id in second.stderr
        third = start_build(build_env(warehouse, CDP_WAREHOUSE_LOCK_WAIT="600"), tmp_path / "third.log")
        first_code, first_output = finish(first, tmp_path / "first.log")
        # its dbt files are its own: one run folder, with the manifest its Definitions read (looked at before
        # the third build's run prunes it)
        first_run_dirs = [
            d for d in (dbt_target_dir(warehouse) / "runs").iterdir() if holder.run_id[:8] in d.name
        ]
        first_manifest = (
            json.loads((first_run_dirs[0] / "manifest.json").read_text()) if first_run_dirs else {}
        )
        third_code, third_output = finish(third, tmp_path / "third.log")
    finally:
        for build in (first, third):
            if build is not None and build.poll() is None:
                build.kill()
    assert first_code == 0, first_output[-4000:]  # the first build was not disturbed
    assert len(first_run_dirs) == 1 and "seed.sen.loyalty_tiers" in first_manifest["nodes"]
    assert third_code == 0, third_output[-4000:]
    assert "Waiting up to 600 s" in third_output and f"pid {holder.pid}" in third_output
    assert seed_rows(warehouse) > 0
    assert not holder_path(warehouse).exists()
    # CDP_DBT_RUNS_KEPT=1: the third run's folder stays (its manifest whole, its dbt log), the first's is gone
    (run_dir,) = (dbt_target_dir(warehouse) / "runs").iterdir()
    assert run_dir != first_run_dirs[0]
    json.loads((run_dir / "manifest.json").read_text())
    assert (run_dir / "dbt_output.log").exists()


def test_two_builds_at_once_sharing_a_dbt_target_path_each_parse_their_own(tmp_path):
    shared = tmp_path / "shared_target"
    builds = []
    for name in ("a", "b"):
        warehouse = tmp_path / name / "sen.duckdb"
        warehouse.parent.mkdir()
        env = build_env(warehouse, DBT_TARGET_PATH=str(shared))
        builds.append((warehouse, start_build(env, tmp_path / f"{name}.log"), tmp_path / f"{name}.log"))
    for warehouse, build, log in builds:
        code, output = finish(build, log)
        assert code == 0, output[-4000:]
        assert seed_rows(warehouse) > 0
    manifest = json.loads((shared / "manifest.json").read_text())  # published whole, by a rename
    assert "seed.sen.loyalty_tiers" in manifest["nodes"]
    assert not list(shared.glob(".*.tmp-*"))


def test_a_reader_holding_the_warehouse_is_waited_for_and_the_build_succeeds(tmp_path):
    warehouse = tmp_path / "sen.duckdb"
    duckdb.connect(str(warehouse)).execute("create schema keep; create table keep.t as select 1 as x").close()
    log = tmp_path / "build.log"
    # The reader lets go 3 s after the build says it is waiting for it (at most 240 s: a build that does not
    # wait meets it at its first write and fails).
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "from pathlib import Path\n"
            "c = duckdb.connect(sys.argv[1], read_only=True)\n"
            "print('reading', flush=True)\n"
            "log, deadline = Path(sys.argv[2]), time.monotonic() + 240\n"
            "while time.monotonic() < deadline and 'held by another process' not in "
            "(log.read_text() if log.exists() else ''):\n"
            "    time.sleep(0.5)\n"
            "time.sleep(3)\n"
            "c.close()",
            str(warehouse),
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        build = start_build(build_env(warehouse), log)
        code, output = finish(build, log)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.wait()
    assert code == 0, output[-4000:]
    assert "held by another process" in output and f"PID {reader.pid}" in output
    assert seed_rows(warehouse) > 0
    with duckdb.connect(str(warehouse), read_only=True) as conn:  # what was there is still there
        assert conn.execute("select x from keep.t").fetchall() == [(1,)]
