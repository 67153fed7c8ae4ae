"""Files of a real shop's size: a monthly export of over a million rows, written in a second by DuckDB."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from sen.contracts import load_contract
from sen.ingest import ingest_source

pytestmark = pytest.mark.field

N_ROWS = 1_000_001  # five full loader chunks and one row


def write_orders(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    try:
        conn.execute(
            f"""copy (
                select 'O' || i as order_id, 'C' || (i % 100000) as customer_id,
                       case when i % 2 = 0 then 'web' else 'app' end as channel, 'completed' as status,
                       cast(10000 + i % 5000 as varchar) as total,
                       strftime(timestamp '2026-01-01' + interval (i % 2592000) second, '%Y-%m-%d %H:%M:%S')
                           as created_at
                from range({n}) t(i)
            ) to '{path}' (header)"""
        )
    finally:
        conn.close()


def test_a_million_row_export_loads_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_orders(data / "orders" / "orders_2026_01.csv", N_ROWS)
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        started = time.perf_counter()
        result = ingest_source(conn, load_contract().sources["orders"], data)
        elapsed = time.perf_counter() - started
        assert result.files_unreadable == {}
        assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (N_ROWS, N_ROWS, 0)
        n, distinct, total = conn.execute(
            "select count(*), count(distinct order_id), sum(cast(total as bigint)) from raw.orders"
        ).fetchone()
        # DuckDB's own CSV reader, independent of the loader, gives the expected sum.
        expected = conn.execute(
            f"select sum(total) from read_csv('{data / 'orders' / 'orders_2026_01.csv'}')"
        ).fetchone()[0]
    finally:
        conn.close()
    assert n == distinct == N_ROWS
    assert total == expected
    print(f"loaded {N_ROWS:,} rows in {elapsed:.1f} s")
