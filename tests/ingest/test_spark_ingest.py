"""Ingestion into Spark (CDP_ENGINE=spark): the same rows, quarantine and idempotency as on DuckDB.

Marked `spark` (a JVM): CI runs it in its own step, `pytest -m spark tests/engines tests/ingest`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from sen.contracts import load_contract
from sen.ingest import SourceProblemError, load_source
from sen.settings import Settings

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

ORDERS_HEADER = (
    "order_id,customer_id,email,phone,anonymous_id,channel,status,currency,subtotal,discount,shipping_fee,"
    "total,coupon_code,shipping_city,is_test,created_at\n"
)
ORDERS = (
    ORDERS_HEADER
    + "O1,C1,a@b.vn,0912345678,,web,completed,VND,100000,0,0,100000,,Hà Nội,false,2026-11-01 10:00:00\n"
    "O2,C2,,,,web,completed,VND,,,,not-a-number,,,false,2026-11-01 11:00:00\n"
    "O3,C3,,,,kiosk,completed,VND,,,,5000,,,false,2026-11-01 12:00:00\n"
    "O6,C6,too,few,fields\n"
    "O7,C7,c@d.vn,,,app,completed,VND,,,,7000,,,false,2026-11-02T01:00:00+07:00\n"
)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.skip(
            "Java is not installed: local Spark needs a JRE (apt-get install openjdk-17-jre-headless)"
        )
    pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e .[spark])")
    from sen.engines.dbt_spark import open_session

    lake = tmp_path_factory.mktemp("lake")
    session = open_session(Settings.from_env({"CDP_SPARK_WAREHOUSE": str(lake)}))
    yield session
    session.stop()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rows(spark, sql: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.sql(sql).collect())


def test_spark_raw_tables_hold_what_the_duckdb_loader_holds(spark, tmp_path):
    from sen.ingest.spark import load_source_spark

    data = tmp_path / "data"
    write(data / "orders" / "orders.csv", ORDERS)
    orders = load_contract().sources["orders"]
    conn = duckdb.connect()
    on_duckdb = load_source(conn, orders, data)
    on_spark = load_source_spark(spark, orders, data)
    assert (on_spark.rows_in, on_spark.rows_loaded, on_spark.rows_quarantined) == (
        on_duckdb.rows_in,
        on_duckdb.rows_loaded,
        on_duckdb.rows_quarantined,
    )
    assert on_spark.rows_quarantined == 3 and on_spark.reconciles
    good = "select order_id, total, created_at, _source_line from raw.{t} order by 1"
    assert rows(spark, good.format(t="orders")) == sorted(conn.execute(good.format(t="orders")).fetchall())
    bad = "select source, line, reason, record from raw._quarantine order by line"
    assert rows(spark, bad) == sorted(conn.execute(bad).fetchall())
    loaded = spark.sql("select rows_in, rows_loaded, rows_quarantined from raw._loaded_files").collect()
    assert [tuple(r) for r in loaded] == [(5, 2, 3)]


def test_a_file_loads_once_even_after_a_crash_between_appends(spark, tmp_path):
    from sen.ingest.spark import ingest_source_spark, load_source_spark

    stores = load_contract().sources["stores"]
    data = tmp_path / "data"
    write(data / "stores" / "stores.csv", "store_id,name,city,country,opened_at\nS1,Q1,HCM,VN,2020-01-01\n")
    assert ingest_source_spark(spark, stores, data).rows_loaded == 1
    # The same content again (a renamed re-delivery) is recognised by its checksum in Spark's raw._loaded_files.
    write(
        data / "stores" / "stores_copy.csv", "store_id,name,city,country,opened_at\nS1,Q1,HCM,VN,2020-01-01\n"
    )
    again = load_source_spark(spark, stores, data)
    assert again.rows_in == 0 and len(again.files_already_loaded) == 2
    # A run that died after appending its rows but before recording its files: the rows are not counted twice.
    write(data / "stores" / "stores_2.csv", "store_id,name,city,country,opened_at\nS2,Q3,HCM,VN,2021-01-01\n")
    spark.sql(
        "insert into raw.stores select 'S2', 'Q3', 'HCM', 'VN', '2021-01-01', 'stores_2.csv', 2, 'sha', "
        "'crashed-run', current_timestamp()"
    )
    assert load_source_spark(spark, stores, data).rows_loaded == 1
    assert rows(spark, "select store_id, count(*) from raw.stores group by 1") == [("S1", 1), ("S2", 1)]


def test_a_source_whose_rows_all_fail_stops_the_build(spark, tmp_path):
    from sen.ingest.spark import ingest_source_spark

    data = tmp_path / "data"
    write(
        data / "orders" / "orders.csv",
        ORDERS_HEADER + "O9,C9,,,,web,completed,VND,,,,oops,,,false,2026-11-01\n",
    )
    with pytest.raises(SourceProblemError, match="all 1 row"):
        ingest_source_spark(spark, load_contract().sources["orders"], data)
