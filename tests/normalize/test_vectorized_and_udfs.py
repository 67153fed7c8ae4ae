from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from sen.normalize import (
    BLOCKLISTED,
    normalize_arrow,
    normalize_series,
    register_udfs,
    rejection_counts,
    reload_blocklist,
    reset_rejection_counts,
)


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    register_udfs(connection)
    yield connection
    connection.close()


def test_arrow_column_counts_rejections_per_row() -> None:
    reset_rejection_counts()
    values = pa.chunked_array([["A@Shop.vn", "test@test.com", None], ["test@test.com", "a@shop.vn "]])
    assert normalize_arrow(values, "email").to_pylist() == ["a@shop.vn", None, None, None, "a@shop.vn"]
    assert rejection_counts()[("email", BLOCKLISTED)] == 2


def test_per_row_types_and_regions() -> None:
    values = ["0912 345 678", "(650) 253-0000", "k1", "x@Y.vn", "z"]
    types = ["phone", "phone", "customer_id", "email", None]
    regions = ["VN", "US", None, None, None]
    assert normalize_arrow(values, types, regions).to_pylist() == [
        "+84912345678", "+16502530000", "K1", "x@y.vn", None,
    ]  # fmt: skip


def test_pandas_series_keeps_index() -> None:
    series = pd.Series(["0912345678", "bad", None], index=[10, 20, 30], name="phone")
    result = normalize_series(series, "phone")
    assert list(result.index) == [10, 20, 30]
    assert result.loc[10] == "+84912345678"
    assert result.isna().tolist() == [False, True, True]


def test_duckdb_udfs(conn: duckdb.DuckDBPyConnection) -> None:
    register_udfs(conn)  # a second registration on the same connection is harmless
    rows = conn.sql(
        """
        select sen_normalize_email(e), sen_normalize_phone(p, 'VN'), sen_normalize_identifier(i, t)
        from (values (' A@Shop.VN', '84912345678', ' c1 ', 'customer_id'),
                     ('test@test.com', '0000000000', 'undefined', 'anonymous_id'),
                     (null, null, null, null)) v(e, p, i, t)
        """
    ).fetchall()
    assert rows == [("a@shop.vn", "+84912345678", "C1"), (None, None, None), (None, None, None)]


def test_duckdb_udf_over_many_rows_uses_distinct_values(conn: duckdb.DuckDBPyConnection) -> None:
    distinct = conn.execute(
        "select count(distinct sen_normalize_phone('0912' || lpad((i % 1000)::varchar, 6, '0'), 'VN')) "
        "from range(20000) t(i)"
    ).fetchone()
    assert distinct == (1000,)


def test_bad_region_in_sql_names_the_region(conn: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match="unknown phone region 'XX'"):
        conn.sql("select sen_normalize_phone('0912345678', 'XX')").fetchall()


def test_blocklist_override_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = tmp_path / "blocklist.yml"
    custom.write_text("common:\n  exact: [walk-in]\nemail:\n  patterns: ['@shop\\.vn$']\n", encoding="utf-8")
    monkeypatch.setenv("CDP_BLOCKLIST", str(custom))
    try:
        reload_blocklist()
        assert normalize_arrow(["Walk-In", "a@shop.vn", "test@test.com"], "email").to_pylist() == [
            None, None, "test@test.com",
        ]  # fmt: skip
    finally:
        monkeypatch.delenv("CDP_BLOCKLIST")
        reload_blocklist()
    assert normalize_arrow(["a@shop.vn"], "email").to_pylist() == ["a@shop.vn"]


def test_malformed_blocklist_names_file_and_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = tmp_path / "bad.yml"
    custom.write_text("email:\n  patterns: ['([']\n", encoding="utf-8")
    monkeypatch.setenv("CDP_BLOCKLIST", str(custom))
    try:
        with pytest.raises(ValueError, match=r"bad\.yml: 'email\.patterns\[0\]'"):
            reload_blocklist()
    finally:
        monkeypatch.delenv("CDP_BLOCKLIST")
        reload_blocklist()
