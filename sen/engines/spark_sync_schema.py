"""The `sync` tables dbt reads as sources (contact ledger, dead push tokens, runs), created empty on Spark.

The one definition of the tables stays reverse_etl/state_schema.py (DuckDB DDL); this module derives Spark DDL
from it (Parquet tables, no keys or NOT NULL: plain Parquet enforces neither), the counterpart of the dbt-duckdb
plugin reverse_etl/dbt_sync_schema.py, so a fresh Spark catalog builds before any sync has run. Tables already
there are left alone (a sync on Spark owns their rows).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from reverse_etl.state_schema import ADDED_COLUMNS, SCHEMA, TABLES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_SPARK_TYPES = {
    "VARCHAR": "STRING",
    "TIMESTAMP": "TIMESTAMP",
    "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
}


def spark_columns(table: str) -> list[tuple[str, str]]:
    """(name, Spark type) of a sync table, in column order, from the DuckDB definition."""
    text = re.sub(r"--[^\n]*", "", TABLES[table])
    columns = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        name, kind = words[0], words[1].upper()
        if kind not in _SPARK_TYPES:
            raise ValueError(f"sync.{table}.{name}: no Spark type for {kind}")
        columns.append((name, _SPARK_TYPES[kind]))
    for added_table, name, kind in ADDED_COLUMNS:
        if added_table == table:
            columns.append((name, _SPARK_TYPES[kind.upper()]))
    return columns


def spark_ddl() -> list[str]:
    statements = [f"CREATE DATABASE IF NOT EXISTS {SCHEMA}"]
    for table in TABLES:
        columns = ", ".join(f"{name} {kind}" for name, kind in spark_columns(table))
        statements.append(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} ({columns}) USING parquet")
    return statements


def ensure_sync_schema(spark: SparkSession) -> None:
    for statement in spark_ddl():
        spark.sql(statement)
