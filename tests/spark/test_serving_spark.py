"""Serving on Spark publishes the BI tables of the catalog as sen.serving lays them out (one Parquet per table)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.spark


def test_publish_writes_published_tables_only_and_swaps_current(spark, tmp_path) -> None:
    from sen.engines.spark_serving import publish_parquet

    spark.sql("create database if not exists marts")
    spark.sql("create database if not exists audiences")
    spark.sql("create database if not exists staging")
    rows = [(f"p_{i}", float(i)) for i in range(50)]
    spark.createDataFrame(rows, "person_id string, clv double").write.mode("overwrite").saveAsTable(
        "marts.customers"
    )
    spark.createDataFrame(rows[:7], "person_id string, clv double").write.mode("overwrite").saveAsTable(
        "audiences.vip"
    )
    spark.createDataFrame(rows, "person_id string, clv double").write.mode("overwrite").saveAsTable(
        "staging.raw"
    )
    target = tmp_path / "serving.duckdb"
    link = publish_parquet(spark, target)
    first = link.resolve()
    customers = pq.read_table(link / "marts" / "customers.parquet")
    assert sorted(customers.column("person_id").to_pylist()) == sorted(r[0] for r in rows)
    assert pq.read_table(link / "audiences" / "vip.parquet").num_rows == 7
    assert not (link / "staging").exists()
    again = publish_parquet(spark, target)
    assert again.resolve() != first and first.exists()  # the previous version stays for readers mid-read
