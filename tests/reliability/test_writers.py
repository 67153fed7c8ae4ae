"""Issue 18, case 4: one writer at a time, by design.

- a second build started while one runs exits with a clear message naming the running one (pid, run id,
  since when) and touches nothing; or waits, bounded, when CDP_WAREHOUSE_LOCK_WAIT says so;
- a Dagster run tagged sen/warehouse=write holds the same lock for its whole execution;
- a reader holding the main file is waited for with backoff, never a build failure at the first refusal;
- a WAL left beside the serving copy by a tool that opened it read-write cannot break the next publish;
- each command-line run parses into a dbt folder of its own; the published manifest is swapped atomically;
- the shipped Dagster instance config fails a run whose process died, so the writer queue moves on.

The same cases through whole builds are in test_writers_builds.py (e2e).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef

from orchestration.dbt.project import new_run_dir, prune_run_dirs, publish_parse
from orchestration.resources import warehouse_locked_in_process_executor
from orchestration.run_launcher import SenRunLauncher, pid_alive
from sen.serving import publish
from sen.warehouse_lock import (
    WarehouseBusy,
    connect_for_writing,
    holder_path,
    read_holder,
    warehouse_lock,
)
from tests.reliability.lock_children import HOLDER, READER, start, stop

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "wh" / "sen.duckdb"
    path.parent.mkdir()
    return path


def test_a_second_build_exits_naming_the_running_one_and_touches_nothing(warehouse, tmp_path):
    holder = start(HOLDER, str(warehouse), "run-first-0001", "120", "the first build")
    try:
        env = {
            **os.environ,
            "CDP_WAREHOUSE": str(warehouse),
            "CDP_SERVING": str(warehouse.with_name("serving.duckdb")),
            "CDP_WAREHOUSE_LOCK_WAIT": "0",
        }
        env.pop("DAGSTER_HOME", None)
        env.pop("DBT_TARGET_PATH", None)
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "build"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - started
        assert second.returncode == 75, second.stderr[-3000:]
        # the message names the running build: its pid, run id and since when
        assert f"pid {holder.pid}" in second.stderr
        assert "run-first-0001" in second.stderr and "since 20" in second.stderr
        assert "CDP_WAREHOUSE_LOCK_WAIT" in second.stderr
        assert elapsed < 60  # it stopped before parsing dbt or loading anything
        # nothing written: no warehouse file, no dbt run folder, the first build still runs and holds it
        assert not warehouse.exists()
        assert holder.poll() is None
        assert read_holder(warehouse).run_id == "run-first-0001"
    finally:
        stop(holder)


def test_a_second_writer_waits_when_told_and_gets_the_lock_when_the_first_ends(warehouse):
    holder = start(HOLDER, str(warehouse), "run-first-0002", "2", "the first build")
    try:
        messages: list[str] = []
        started = time.monotonic()
        with warehouse_lock(warehouse, run_id="second", command="test", wait=60, log=messages.append) as me:
            waited = time.monotonic() - started
            assert me.run_id == "second" and me.pid == os.getpid()
            assert read_holder(warehouse).run_id == "second"
        assert 0.5 < waited < 30
        assert messages and f"pid {holder.pid}" in messages[0] and "run-first-0002" in messages[0]
        assert not holder_path(warehouse).exists()  # released: nobody is named as the holder
    finally:
        stop(holder)


def test_a_bounded_wait_ends_with_the_holder_named(warehouse):
    holder = start(HOLDER, str(warehouse), "run-first-0003", "60", "the first build")
    try:
        second = warehouse_lock(warehouse, run_id="second", command="test", wait=1.0, log=lambda _: None)
        with pytest.raises(WarehouseBusy, match=f"pid {holder.pid}.*run-first-0003.*Waited 1 s"), second:
            pytest.fail("two writers held the warehouse at once")
    finally:
        stop(holder)


def test_a_killed_holder_leaves_no_stale_lock(warehouse):
    holder = start(HOLDER, str(warehouse), "run-dead-0004", "120", "the first build")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with warehouse_lock(warehouse, run_id="after", command="test", wait=0) as me:
        assert me.run_id == "after"


# --- Dagster runs tagged sen/warehouse=write --------------------------------------------------------------


def run_text(instance, run_id: str) -> str:
    """Every message and error of a run's event log, as one text."""
    parts = []
    for entry in instance.all_logs(run_id):
        parts.append(entry.user_message or "")
        event = entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event is not None else None
        if error is not None:
            parts.append(error.to_string())
    return "\n".join(parts)


def test_a_dagster_writer_run_holds_the_lock_for_its_steps(warehouse, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE", str(warehouse))
    seen = Path(os.environ["SEN_TEST_SEEN"])
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(_writer_job_for_test), instance=instance, tags={"sen/warehouse": "write"}
        )
        assert result.success
        step_holder = json.loads(seen.read_text())
        assert step_holder["run_id"] == result.run_id and "Dagster run of" in step_holder["command"]
        assert step_holder["pid"] == os.getpid()
    assert not holder_path(warehouse).exists()
    # a run without the tag (a read-only job) does not take it
    with dg.instance_for_test() as instance:
        assert dg.execute_job(dg.reconstructable(_writer_job_for_test), instance=instance).success
    assert json.loads(seen.read_text()) is None


def test_a_dagster_writer_run_fails_naming_the_holder_and_never_runs_a_step(warehouse, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CDP_WAREHOUSE_LOCK_WAIT", "0")
    holder = start(HOLDER, str(warehouse), "cli-build-0005", "120", "the first build")
    try:
        with dg.instance_for_test() as instance:
            result = dg.execute_job(
                dg.reconstructable(_writer_job_for_test), instance=instance, tags={"sen/warehouse": "write"}
            )
            assert not result.success
            text = run_text(instance, result.run_id)
            assert "cli-build-0005" in text and f"pid {holder.pid}" in text
        assert not Path(os.environ["SEN_TEST_SEEN"]).exists()  # no step ran
        assert holder.poll() is None  # the holder goes on
    finally:
        stop(holder)


@pytest.fixture(autouse=True)
def _seen_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SEN_TEST_SEEN", str(tmp_path / "seen.json"))


@dg.op
def _record_holder() -> None:
    holder = read_holder(Path(os.environ["CDP_WAREHOUSE"]))
    Path(os.environ["SEN_TEST_SEEN"]).write_text(json.dumps(holder.__dict__ if holder else None))


@dg.job(executor_def=warehouse_locked_in_process_executor)
def _writer_job_for_test() -> None:
    _record_holder()


# --- readers of the main file ------------------------------------------------------------------------------


def test_a_reader_holding_the_warehouse_is_waited_for_not_fatal(warehouse):
    duckdb.connect(str(warehouse)).execute("create table t as select 1 as x").close()
    reader = start(READER, str(warehouse), "3")
    try:
        messages: list[str] = []
        started = time.monotonic()
        conn = connect_for_writing(warehouse, wait=60, log=messages.append)
        try:
            conn.execute("insert into t values (2)")
        finally:
            conn.close()
        assert 1 < time.monotonic() - started < 45
        assert len(messages) == 1 and "retrying" in messages[0] and str(reader.pid) in messages[0]
    finally:
        stop(reader)


def test_a_reader_that_never_lets_go_ends_the_wait_with_its_pid_and_the_fix(warehouse):
    duckdb.connect(str(warehouse)).execute("create table t as select 1 as x").close()
    reader = start(READER, str(warehouse), "120")
    try:
        with pytest.raises(WarehouseBusy, match=rf"PID {reader.pid}.*serving copy"):
            connect_for_writing(warehouse, wait=2, log=lambda _: None)
    finally:
        stop(reader)


def test_the_dbt_profile_retries_a_refused_connection():
    profile = yaml.safe_load((REPO / "dbt_project" / "profiles.yml").read_text())
    retries = profile["sen"]["outputs"]["dev"]["retries"]
    assert retries["connect_attempts"] >= 5  # 1+2+4+8 s of backoff at least, DuckDB's IOException retried


# --- the serving copy ------------------------------------------------------------------------------------


def test_a_stray_wal_beside_the_serving_copy_cannot_break_the_next_publish(tmp_path):
    warehouse = tmp_path / "sen.duckdb"
    serving = tmp_path / "serving.duckdb"
    conn = duckdb.connect(str(warehouse))
    conn.execute("create schema marts; create table marts.customers as select 1 as person_id")
    publish(conn, serving)
    # A BI tool opens the serving copy read-write, writes, and dies without a checkpoint: its WAL stays.
    bi_tool = textwrap.dedent(
        """
        import os, signal, sys, duckdb
        conn = duckdb.connect(sys.argv[1])
        conn.execute("set checkpoint_threshold = '1GB'")
        conn.execute("create table marts.scratch as select 42 as x")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    subprocess.run([sys.executable, "-c", bi_tool, str(serving)], check=False)
    assert serving.with_name("serving.duckdb.wal").exists()
    conn.execute("insert into marts.customers values (2)")
    publish(conn, serving)
    conn.close()
    assert not serving.with_name("serving.duckdb.wal").exists()
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        assert reader.execute("select count(*) from marts.customers").fetchone()[0] == 2
    finally:
        reader.close()


def test_the_bi_recipes_open_the_serving_copy_read_only():
    doc = (REPO / "docs" / "serving.md").read_text()
    recipes = doc[doc.index("## Connection recipes") : doc.index("## Keeping it fresh")]
    assert "access_mode=read_only" in recipes  # Superset
    assert "read_only=True" in recipes  # Python
    assert "duckdb -readonly" in recipes  # CLI
    assert "driver's read-only option" in recipes  # Metabase
    assert "READ_ONLY" in recipes  # Evidence (its connector's own mode)


# --- dbt folders per run ------------------------------------------------------------------------------------


def test_each_run_has_its_own_dbt_folder_and_the_manifest_is_published_whole(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "partial_parse.msgpack").write_bytes(b"previous parse")
    first, second = new_run_dir(target, "a" * 32), new_run_dir(target, "b" * 32)
    assert first != second and first.parent == second.parent == target / "runs"
    assert (first / "partial_parse.msgpack").read_bytes() == b"previous parse"  # seeded: a partial parse
    (first / "manifest.json").write_text('{"run": "first"}')
    (second / "manifest.json").write_text('{"run": "second"}')
    publish_parse(second, target)
    assert json.loads((target / "manifest.json").read_text()) == {"run": "second"}
    assert (first / "manifest.json").read_text() == '{"run": "first"}'  # the other run's own is untouched
    assert not list(target.glob(".*.tmp-*"))
    assert prune_run_dirs(target, keep=1) == [first]
    assert [p.name for p in (target / "runs").iterdir()] == [second.name]
    assert prune_run_dirs(target, keep=0) == [second]


# --- the Dagster instance: a dead run is failed and the queue moves on --------------------------------------

DEAD_RUN = """
import sys, time
import dagster as dg
from orchestration.resources import warehouse_locked_in_process_executor

@dg.op
def long_step() -> None:
    print("running", flush=True)
    time.sleep(300)

@dg.job(executor_def=warehouse_locked_in_process_executor, tags={"sen/warehouse": "write"})
def nightly() -> None:
    long_step()

if __name__ == "__main__":
    with dg.DagsterInstance.get() as instance:
        dg.execute_job(dg.reconstructable(nightly), instance=instance)
"""


def test_the_shipped_instance_fails_a_run_whose_process_died(tmp_path, warehouse):
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    home = tmp_path / "dagster_home"
    home.mkdir()
    shipped = yaml.safe_load((REPO / "orchestration" / "dagster.yaml").read_text())
    assert shipped["run_monitoring"]["enabled"] is True
    (home / "dagster.yaml").write_text((REPO / "orchestration" / "dagster.yaml").read_text())
    script = tmp_path / "nightly.py"
    script.write_text(DEAD_RUN)
    env = {**os.environ, "DAGSTER_HOME": str(home), "CDP_WAREHOUSE": str(warehouse), "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None
        while "running" not in worker.stdout.readline():
            assert worker.poll() is None, "the run worker ended before its step"
        worker.send_signal(signal.SIGKILL)  # the run worker dies mid-step: no RUN_FAILURE is ever written
        worker.wait(timeout=30)
    finally:
        stop(worker)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        assert isinstance(instance.run_launcher, SenRunLauncher)
        assert instance.run_monitoring_enabled and instance.run_launcher.supports_check_run_worker_health
        (run,) = instance.get_runs(RunsFilter(job_name="nightly"))
        assert (
            run.status == DagsterRunStatus.STARTED
        )  # what the shipped config without monitoring left forever
        assert not pid_alive(worker.pid)
        record = instance.get_run_record_by_id(run.run_id)
        monitor_started_run(instance, None, record, _logger())  # one pass of the daemon's run monitoring
        run = instance.get_run_by_id(run.run_id)
        assert run.status == DagsterRunStatus.FAILURE
        # the queue's limit (one sen/warehouse=write run in progress) is free again
        in_progress = instance.get_runs(
            RunsFilter(
                statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING],
                tags={"sen/warehouse": "write"},
            )
        )
        assert in_progress == []
    finally:
        instance.dispose()
    # and the warehouse lock died with the process
    with warehouse_lock(warehouse, run_id="next", command="test", wait=0):
        pass


def test_a_live_run_worker_is_left_running(tmp_path):
    from dagster import DagsterRunStatus
    from dagster._core.events import EngineEventData
    from dagster._core.test_utils import create_run_for_test
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "orchestration" / "dagster.yaml").read_text())
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    try:
        run = create_run_for_test(instance, job_name="nightly", status=DagsterRunStatus.STARTED)
        instance.report_engine_event(
            f"Started process for run (pid: {os.getpid()}).", run, EngineEventData.in_process(os.getpid())
        )
        monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), _logger())
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
    finally:
        instance.dispose()


def _logger():
    import logging

    return logging.getLogger("test_writers")
