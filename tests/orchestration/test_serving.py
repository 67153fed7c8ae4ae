"""BI-safe serving: a reader in another process keeps opening the serving file read-only and reading a mart
while this process rewrites the warehouse and publishes again and again. It never meets a lock error and
never sees a half-written table."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.assets.serving import SERVING_KEY, build_serving_asset
from orchestration.resources import RunClock, Warehouse
from sen.serving import is_published, publish, serving_path

READER = r"""
import json, sys, time
import duckdb
serving, warehouse, out, stop = sys.argv[1:5]
with open(out, "w") as log:
    try:
        duckdb.connect(warehouse, read_only=True).close()
        log.write(json.dumps({"warehouse": "opened"}) + "\n")
    except duckdb.Error as exc:
        log.write(json.dumps({"warehouse": type(exc).__name__ + ": " + str(exc)[:200]}) + "\n")
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = duckdb.connect(serving, read_only=True)
            try:
                rows, low, high, total = conn.execute(
                    "select count(*), min(version), max(version), sum(amount) from marts.sales"
                ).fetchall()[0]
                manifest = conn.execute(
                    "select version, row_count from _serving.published_tables where table_name = 'sales'"
                ).fetchall()
            finally:
                conn.close()
            log.write(json.dumps({"rows": rows, "low": low, "high": high, "total": total, "manifest": manifest}) + "\n")
        except Exception as exc:
            log.write(json.dumps({"error": type(exc).__name__ + ": " + str(exc)[:300]}) + "\n")
        log.flush()
        import os
        if os.path.exists(stop):
            break
"""


def rows_of(version: int) -> int:
    return 50_000 + 25_000 * version  # each version has its own size, so a mix would show


def write_version(conn: duckdb.DuckDBPyConnection, version: int) -> None:
    conn.execute(
        f"""create or replace table marts.sales as
            select {version} as version, i as sale_id, (i % 97) * 1000 as amount
            from range({rows_of(version)}) t(i)"""
    )


def expected_total(version: int) -> int:
    return sum((i % 97) * 1000 for i in range(rows_of(version)))


def versions_seen(out: Path) -> set[int]:
    seen = set()
    for line in out.read_text().splitlines():
        try:
            seen.add(json.loads(line)["low"])
        except (ValueError, KeyError):  # a line being written, or not an observation
            continue
    return seen


def test_reader_in_another_process_never_sees_a_lock_or_a_half_written_table(tmp_path):
    warehouse, serving = tmp_path / "sen.duckdb", tmp_path / "serving.duckdb"
    out, stop = tmp_path / "reader.jsonl", tmp_path / "stop"
    conn = duckdb.connect(str(warehouse))  # held read-write for the whole test, as a running build would
    conn.execute(
        "create schema marts; create schema staging; create table staging.log (written_at timestamp)"
    )
    write_version(conn, 0)
    publish(conn, serving)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(serving), str(warehouse), str(out), str(stop)]
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 2):
            time.sleep(0.02)  # the reader is up and reading version 0
        published = 1
        for version in range(1, 41):  # at least 8 versions, more if a loaded machine slows the reader
            conn.execute("insert into staging.log values (now())")  # the build keeps writing meanwhile
            write_version(conn, version)
            publish(conn, serving)
            published += 1
            time.sleep(0.05)
            if version >= 8 and len(versions_seen(out)) >= 3 and len(out.read_text().splitlines()) > 8:
                break
        stop.touch()
        assert reader.wait(timeout=90) == 0
    finally:
        reader.kill() if reader.poll() is None else None
        conn.close()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    opened_warehouse, observations = lines[0], lines[1:]
    # The reason BI never opens the warehouse: another process holds its write lock.
    assert opened_warehouse["warehouse"].startswith("IOException") and "lock" in opened_warehouse["warehouse"]
    assert [o for o in observations if "error" in o] == []
    assert len(observations) >= 8
    seen = set()
    for o in observations:
        version = o["low"]
        assert o["high"] == version  # never two versions in one table
        assert o["rows"] == rows_of(version) and o["total"] == expected_total(version)
        assert o["manifest"][0][1] == rows_of(version)
        seen.add(version)
    assert seen <= set(range(published)) and len(seen) >= 3, seen
    print(len(observations), sorted(seen))
    assert not list(tmp_path.glob("serving.duckdb.tmp-*"))  # every temp file was swapped in
    assert not (tmp_path / "serving.duckdb.wal").exists()


def test_publish_copies_marts_audiences_and_identity_kpis_only(tmp_path):
    conn = duckdb.connect(str(tmp_path / "sen.duckdb"))
    conn.execute(
        """create schema marts; create schema audiences; create schema identity; create schema staging;
           create table marts.customers as select 1 as customer_id;
           create view audiences.vip as select * from marts.customers;
           create table identity.identity_runs as select 3 as persons;
           create table identity.identifier_person_map as select 'x' as identifier;
           create table staging.stg_orders as select 1 as order_id"""
    )
    result = publish(conn, tmp_path / "out" / "serving.duckdb", as_of=None)
    conn.close()
    assert result.tables == {"audiences.vip": 1, "identity.identity_runs": 1, "marts.customers": 1}
    reader = duckdb.connect(str(result.path), read_only=True)
    names = reader.execute(
        "select table_schema || '.' || table_name from information_schema.tables order by 1"
    ).fetchall()
    reader.close()
    assert [n for (n,) in names] == [
        "_serving.published_tables",
        "audiences.vip",
        "identity.identity_runs",
        "marts.customers",
    ]


def test_failed_publish_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    conn = duckdb.connect(str(tmp_path / "sen.duckdb"))
    conn.execute("create schema marts; create table marts.a as select 1 as x")
    target = tmp_path / "serving.duckdb"
    first = publish(conn, target)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("sen.serving.os.replace", broken_replace)
    conn.execute("insert into marts.a values (2)")
    with pytest.raises(OSError, match="disk full"):
        publish(conn, target)
    conn.close()
    reader = duckdb.connect(str(target), read_only=True)
    assert reader.execute(
        "select count(*), any_value(version) from _serving.published_tables"
    ).fetchall() == [(1, first.version)]
    assert reader.execute("select count(*) from marts.a").fetchall() == [(1,)]
    reader.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sen.duckdb", "serving.duckdb"]


def test_a_warehouse_without_marts_is_not_published(tmp_path):
    conn = duckdb.connect(str(tmp_path / "sen.duckdb"))
    conn.execute("create schema identity; create table identity.identity_runs as select 1 as persons")
    with pytest.raises(RuntimeError, match="no marts tables"):
        publish(conn, tmp_path / "serving.duckdb")
    conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sen.duckdb"]


def test_parquet_copies_are_swapped_by_a_symlink(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_SERVING_PARQUET", "1")
    conn = duckdb.connect(str(tmp_path / "sen.duckdb"))
    conn.execute("create schema marts; create table marts.customers as select range as id from range(10)")
    target = tmp_path / "serving.duckdb"
    versions = []
    for rows in (10, 20, 30):
        conn.execute(f"create or replace table marts.customers as select range as id from range({rows})")
        result = publish(conn, target)
        versions.append(result.version)
        current = result.parquet_dir / "marts" / "customers.parquet"
        assert conn.execute(f"select count(*) from read_parquet('{current}')").fetchall() == [(rows,)]
    conn.close()
    root = tmp_path / "serving_parquet"
    assert (root / "current").resolve() == root / versions[-1]
    assert sorted(p.name for p in root.iterdir()) == sorted(["current", *versions[-2:]])  # two kept


def test_serving_path_defaults_next_to_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE", str(tmp_path / "wh" / "sen.duckdb"))
    monkeypatch.delenv("CDP_SERVING", raising=False)
    assert serving_path() == tmp_path / "wh" / "serving.duckdb"
    monkeypatch.setenv("CDP_SERVING", str(tmp_path / "bi" / "s.duckdb"))
    assert serving_path() == tmp_path / "bi" / "s.duckdb"


def test_publish_rule():
    assert is_published("marts", "customers") and is_published("audiences", "churn_risk")
    assert is_published("identity", "identity_runs") and is_published("identity", "daily_kpis")
    assert not is_published("identity", "identifier_person_map") and not is_published("staging", "stg_orders")


def test_serving_asset_publishes_after_its_marts(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_SERVING", str(tmp_path / "bi" / "serving.duckdb"))
    monkeypatch.delenv("CDP_SERVING_PARQUET", raising=False)

    @dg.asset(key=["marts", "customers"])
    def customers(warehouse: Warehouse) -> None:
        with warehouse.connect() as conn:
            conn.execute("create schema if not exists marts")
            conn.execute("create or replace table marts.customers as select range as id from range(7)")

    @dg.asset(key=["staging", "stg_x"])
    def staging_model() -> None:
        """Not a mart: not upstream of the serving asset."""

    serving_asset = build_serving_asset([customers, staging_model])
    assert serving_asset.asset_deps[SERVING_KEY] == {dg.AssetKey(["marts", "customers"])}
    result = dg.materialize(
        [customers, staging_model, serving_asset],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(tmp_path / "sen.duckdb"))},
    )
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == SERVING_KEY]
    metadata = event.materialization.metadata
    assert metadata["tables"].value == {"marts.customers": 7}
    assert metadata["dagster/row_count"].value == 7
    reader = duckdb.connect(str(tmp_path / "bi" / "serving.duckdb"), read_only=True)
    assert reader.execute("select count(*) from marts.customers").fetchall() == [(7,)]
    reader.close()
