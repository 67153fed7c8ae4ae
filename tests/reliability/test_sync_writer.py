"""Issue 18, case 4 for the syncs: a sync run on the warehouse file is a writer like a build.

Before, `run_sync("warehouse/sen.duckdb", ...)` opened the file straight away: started while a build held the
warehouse it died on DuckDB's lock (or, between two dbt steps, took the file and made the build's next step
die), and a reader of the file failed it at once. Now it takes the same writer lock (waiting
CDP_WAREHOUSE_LOCK_WAIT seconds, then stopping with the holder named, before anything is sent or written),
waits CDP_WAREHOUSE_READER_WAIT seconds for readers, and only counts the lock up inside a build that holds it.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from reverse_etl.engine import run_sync
from sen.warehouse_lock import WarehouseBusy, holder_path, read_holder, warehouse_lock
from tests.reliability.lock_children import HOLDER, READER, start, stop
from tests.reverse_etl.retl_helpers import base_sync, make_audience, sync_from


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "wh" / "sen.duckdb"
    path.parent.mkdir()
    with duckdb.connect(str(path)) as conn:
        make_audience(conn, 5)
    return path


@pytest.fixture
def export_dir(tmp_path) -> Path:
    path = tmp_path / "export"
    path.mkdir()
    return path


@pytest.fixture
def cfg(export_dir):
    return sync_from(
        base_sync(
            "file_lock_test",
            {"type": "file_export", "directory": str(export_dir), "format": "csv"},
            {"email": "email"},
        )
    )


def sync_schema_exists(warehouse: Path) -> bool:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return bool(
            conn.execute("select count(*) from duckdb_schemas() where schema_name = 'sync'").fetchone()[0]
        )


def test_a_sync_during_a_build_stops_naming_it_and_writes_nothing(warehouse, export_dir, cfg, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE_LOCK_WAIT", "0")
    holder = start(HOLDER, str(warehouse), "build-run-0001", "120", "python -m orchestration.cli build")
    try:
        with pytest.raises(WarehouseBusy) as busy:
            run_sync(str(warehouse), cfg)
        message = str(busy.value)
        assert f"pid {holder.pid}" in message and "build-run-0001" in message
        assert "this sync did not touch the warehouse" in message and "CDP_WAREHOUSE_LOCK_WAIT" in message
        assert holder.poll() is None  # the build goes on
        assert read_holder(warehouse).run_id == "build-run-0001"
    finally:
        stop(holder)
    # nothing sent, nothing written: no export file, no sync tables, no run row
    assert list(export_dir.iterdir()) == []
    assert not sync_schema_exists(warehouse)


def test_a_sync_waits_for_a_build_when_told(warehouse, export_dir, cfg, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE_LOCK_WAIT", "60")
    holder = start(HOLDER, str(warehouse), "build-run-0002", "2", "python -m orchestration.cli build")
    try:
        started = time.monotonic()
        result = run_sync(str(warehouse), cfg)
        waited = time.monotonic() - started
        assert holder.poll() is not None  # the build had ended before the sync went ahead
    finally:
        stop(holder)
    assert waited > 0.5  # it waited for the build's 2 s rather than colliding with it
    assert result.status == "success" and result.added == 5
    assert result.output_file and Path(result.output_file).exists()
    assert not holder_path(warehouse).exists()  # released when it returned
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute(
            "select count(*) from sync.sync_runs where sync_name = 'file_lock_test'"
        ).fetchone() == (1,)


def test_a_sync_names_itself_as_the_holder_while_it_runs(warehouse, cfg, monkeypatch):
    from reverse_etl import sending

    holders = []
    real_write_file = sending.write_file

    def write_file(run, client):
        holders.append(read_holder(warehouse))
        return real_write_file(run, client)

    monkeypatch.setattr("reverse_etl.engine.write_file", write_file)
    result = run_sync(str(warehouse), cfg)
    (holder,) = holders
    assert holder is not None and holder.run_id == result.run_id and holder.command == "sync file_lock_test"
    assert not holder_path(warehouse).exists()


def test_a_sync_inside_a_build_holding_the_lock_runs(warehouse, cfg, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE_LOCK_WAIT", "0")
    monkeypatch.chdir(warehouse.parent)
    with warehouse_lock(warehouse, run_id="cli-build", command="python -m orchestration.cli build"):
        # the same file spelled relatively is the same lock, not a second writer waiting for itself
        assert run_sync("sen.duckdb", cfg).status == "success"
        assert read_holder(warehouse).run_id == "cli-build"  # still the build's lock
    assert not holder_path(warehouse).exists()


def test_a_reader_of_the_warehouse_is_waited_for(warehouse, cfg, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE_READER_WAIT", "60")
    reader = start(READER, str(warehouse), "3")
    try:
        started = time.monotonic()
        result = run_sync(str(warehouse), cfg)
        assert time.monotonic() - started > 1
    finally:
        stop(reader)
    assert result.status == "success" and result.added == 5


def test_a_reader_that_never_lets_go_stops_the_sync_with_its_pid(warehouse, export_dir, cfg, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE_READER_WAIT", "1")
    reader = start(READER, str(warehouse), "120")
    try:
        with pytest.raises(WarehouseBusy, match=rf"this sync cannot write it.*PID {reader.pid}"):
            run_sync(str(warehouse), cfg)
    finally:
        stop(reader)
    assert list(export_dir.iterdir()) == []
    assert not holder_path(warehouse).exists()
