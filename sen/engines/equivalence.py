"""Compare a table built on DuckDB with the same table built on Spark: same rows, in any order.

Rows are compared as multisets. Each value is brought to one Python form first (naive UTC datetimes, Decimal
scale dropped, numbers that are floats on either side compared within a relative tolerance, 1e-9 by default).
An order-free digest of the exact (non-float) part of each table is reported beside the verdict, so a mismatch
names the table, the row counts and the first rows that differ instead of a bare "not equal".

Also: copying DuckDB tables into the Spark catalog (the inputs of a Spark dbt build that the Python steps of a
DuckDB build produced, for tests and for moving an existing warehouse to Spark).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyspark.sql import SparkSession

REL_TOL = 1e-9


@dataclass
class TableDiff:
    table: str
    duckdb_rows: int
    spark_rows: int
    digest_duckdb: str = ""
    digest_spark: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = f"{self.table}: duckdb {self.duckdb_rows} rows, spark {self.spark_rows} rows"
        return head + ("" if self.equal else "\n  " + "\n  ".join(self.problems[:8]))


def canonical(value: Any) -> Any:
    """One form per value whatever engine produced it (floats stay floats, compared with a tolerance)."""
    if value is None:
        return None
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Decimal):
        normalized = value.normalize()
        return int(normalized) if normalized == normalized.to_integral_value() else normalized
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date | time):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return tuple(sorted((str(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(canonical(v) for v in value)
    return str(value)


def _sort_key(row: tuple) -> tuple:
    # Floats only coarsely, so rows equal within the tolerance sort to the same place.
    return tuple(
        (0, "") if v is None else (1, f"{v:.6g}") if isinstance(v, float) else (2, repr(v)) for v in row
    )


def _exact_part(row: tuple) -> tuple:
    return tuple(None if isinstance(v, float) else v for v in row)


def _digest(rows: list[tuple]) -> str:
    total = 0
    for row in rows:
        total = (total + int(hashlib.sha256(repr(_exact_part(row)).encode()).hexdigest()[:16], 16)) % (
            1 << 64
        )
    return f"{total:016x}"


def _values_equal(left: Any, right: Any, rel_tol: float) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, float) or isinstance(right, float):
        if isinstance(left, bool) or isinstance(right, bool):
            return left == right
        try:
            a, b = float(left), float(right)
        except (TypeError, ValueError):
            return False
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0) or a == b
    return left == right


def compare_rows(
    table: str, columns: list[str], duck: list[tuple], spark: list[tuple], rel_tol: float = REL_TOL
) -> TableDiff:
    duck_rows = sorted((tuple(canonical(v) for v in r) for r in duck), key=_sort_key)
    spark_rows = sorted((tuple(canonical(v) for v in r) for r in spark), key=_sort_key)
    diff = TableDiff(table, len(duck_rows), len(spark_rows), _digest(duck_rows), _digest(spark_rows))
    if len(duck_rows) != len(spark_rows):
        diff.problems.append("row counts differ")
    for left, right in zip(duck_rows, spark_rows, strict=False):
        for name, a, b in zip(columns, left, right, strict=True):
            if not _values_equal(a, b, rel_tol):
                diff.problems.append(f"column {name}: duckdb {a!r} vs spark {b!r} (row {left!r})")
                break
        if len(diff.problems) >= 8:
            break
    return diff


def duckdb_rows(conn: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> list[tuple]:
    select = ", ".join(f'"{c}"' for c in columns)
    return conn.execute(f"select {select} from {table}").fetchall()


def spark_rows(spark: SparkSession, table: str, columns: list[str]) -> list[tuple]:
    select = ", ".join(f"`{c}`" for c in columns)
    return [tuple(row) for row in spark.sql(f"select {select} from {table}").collect()]


def compare_table(
    conn: duckdb.DuckDBPyConnection,
    spark: SparkSession,
    table: str,
    rel_tol: float = REL_TOL,
    skip_columns: frozenset[str] = frozenset(),
) -> TableDiff:
    """DuckDB's ``table`` (schema.name) against Spark's table of the same name, columns by name; the columns
    named in ``skip_columns`` (a run's id or clock time) must exist on both sides but are not compared."""
    schema, name = table.split(".")
    duck_columns = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [schema, name],
        ).fetchall()
    ]
    spark_columns = [f.name for f in spark.table(table).schema.fields]
    if [c.lower() for c in duck_columns] != [c.lower() for c in spark_columns]:
        diff = TableDiff(table, -1, -1)
        diff.problems.append(f"columns differ: duckdb {duck_columns} vs spark {spark_columns}")
        return diff
    compared = [c for c in duck_columns if c not in skip_columns]
    return compare_rows(
        table,
        compared,
        duckdb_rows(conn, table, compared),
        spark_rows(spark, table, compared),
        rel_tol,
    )


def _spark_safe(table: pa.Table) -> pa.Table:
    """Arrow types Spark cannot take as they are, cast to ones it can (DuckDB's unsigned and JSON-ish types)."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        kind = f.type
        if pa.types.is_unsigned_integer(kind):
            kind = pa.int64()
        elif pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", tz="UTC")
        fields.append(pa.field(f.name, kind))
    return table.cast(pa.schema(fields))


def copy_to_spark(conn: duckdb.DuckDBPyConnection, spark: SparkSession, tables: list[str]) -> None:
    """Each DuckDB ``schema.table`` written as a Parquet table of the same name in the Spark catalog."""
    for table in tables:
        schema, name = table.split(".")
        arrow = _spark_safe(conn.execute(f'select * from "{schema}"."{name}"').to_arrow_table())
        spark.sql(f"create database if not exists {schema}")
        frame = spark.createDataFrame(arrow)
        frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.`{name}`")


# Tables a DuckDB build writes outside dbt that dbt reads as sources (raw by ingestion, identity by identity
# resolution, marts.customer_clv by the CLV step); sync.* is created by sen-dbt (sen/engines/spark_sync_schema.py).
SOURCE_SCHEMAS = ("raw", "identity", "sync")
SOURCE_TABLES = ("marts.customer_clv",)
# Schemas of the dbt models compared.
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "audiences", "semantic", "reference")


def duckdb_tables(conn: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> list[str]:
    marks = ", ".join("?" for _ in schemas)
    rows = conn.execute(
        f"select table_schema, table_name from information_schema.tables where table_schema in ({marks}) "
        "order by 1, 2",
        list(schemas),
    ).fetchall()
    return [f"{schema}.{name}" for schema, name in rows]


def source_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [*duckdb_tables(conn, SOURCE_SCHEMAS), *SOURCE_TABLES]


def dbt_relation_names() -> set[str]:
    """Names of the project's models and seeds (marts also holds tables of the Python steps, e.g. CLV fits)."""
    from sen.settings import DBT_PROJECT_DIR

    models = {p.stem for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    return models | {p.stem for p in (DBT_PROJECT_DIR / "seeds").rglob("*.csv")}


def model_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of dbt models and seeds in the DuckDB build, schema.name."""
    sources = set(source_tables(conn))
    names = dbt_relation_names()
    return [t for t in duckdb_tables(conn, MODEL_SCHEMAS) if t not in sources and t.split(".")[1] in names]


def compare_builds(
    conn: duckdb.DuckDBPyConnection,
    spark: SparkSession,
    schemas: tuple[str, ...],
    *,
    skip_columns: frozenset[str] = frozenset(),
    leave_out: frozenset[str] = frozenset(),
    rel_tol: float = REL_TOL,
) -> tuple[list[str], list[TableDiff]]:
    """Every table of the DuckDB build in ``schemas`` (but ``leave_out``) against Spark's: (the tables Spark
    lacks, one TableDiff per table both have)."""
    tables = [t for t in duckdb_tables(conn, schemas) if t not in leave_out]
    missing = [t for t in tables if not spark.catalog.tableExists(t)]
    diffs = [
        compare_table(conn, spark, t, rel_tol=rel_tol, skip_columns=skip_columns)
        for t in tables
        if t not in missing
    ]
    return missing, diffs
