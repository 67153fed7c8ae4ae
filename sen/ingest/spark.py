"""Ingestion when CDP_ENGINE=spark: the same raw tables, contract, quarantine and idempotency, in Spark.

The loader (sen/ingest/loader.py) is not duplicated: it validates each run's new files exactly as on DuckDB,
in a throw-away in-memory DuckDB database used as a local validation library (vectorized type, required-field,
accepted-value and conflicting-key checks; the files of one run are small next to the cluster). What it accepted
and quarantined is then appended to the Spark tables of the same names and columns:

    raw.<source>        the good rows, text columns plus _source_file, _source_line, _file_sha256, _load_id,
                        _loaded_at (a Spark timestamp: an instant, as timestamptz on DuckDB)
    raw._quarantine     the bad rows with file, line and reason
    raw._loaded_files   one row per loaded file (SHA-256), written last

Idempotency: the SHA-256 of every file already in Spark's raw._loaded_files is handed to the loader, which then
skips those files, as on DuckDB. Spark's appends are not one transaction; the run's file records are written
last, so a crash leaves rows of a load that raw._loaded_files does not know, and the next run removes them
(a rewrite of the kept rows: Parquet has no DELETE) before loading those files again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from sen.contracts import Source
from sen.ingest.loader import (
    LoadResult,
    SourceProblemError,
    check_data_dir,
    ensure_raw_tables,
    load_source,
)

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    from pyspark.sql import SparkSession

LOADED_FILES_COLUMNS = (
    "source string, file_path string, file_sha256 string, load_id string, loaded_at timestamp, "
    "rows_in bigint, rows_loaded bigint, rows_quarantined bigint"
)
QUARANTINE_COLUMNS = (
    "source string, file_path string, line bigint, reason string, record string, file_sha256 string, "
    "load_id string, quarantined_at timestamp"
)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _table_exists(spark: SparkSession, table: str) -> bool:
    return bool(spark.catalog.tableExists(table))


def ensure_spark_raw_tables(spark: SparkSession, source: Source) -> None:
    """raw._loaded_files, raw._quarantine and raw.<source> as Parquet tables, widened to the contract."""
    spark.sql("create database if not exists raw")
    spark.sql(f"create table if not exists raw._loaded_files ({LOADED_FILES_COLUMNS}) using parquet")
    spark.sql(f"create table if not exists raw._quarantine ({QUARANTINE_COLUMNS}) using parquet")
    data = ", ".join(f"`{c}` string" for c in source.column_names)
    spark.sql(
        f"create table if not exists raw.`{source.name}` ({data}, _source_file string, _source_line bigint, "
        "_file_sha256 string, _load_id string, _loaded_at timestamp) using parquet"
    )
    present = {f.name for f in spark.table(f"raw.`{source.name}`").schema.fields}
    missing = [c for c in source.column_names if c not in present]
    if missing:  # a contract that gained columns widens an older table (old rows: null)
        spark.sql(
            f"alter table raw.`{source.name}` add columns ({', '.join(f'`{c}` string' for c in missing)})"
        )


def _rewrite_without(spark: SparkSession, table: str, keep_condition: str) -> None:
    """Keep only the rows of ``table`` matching ``keep_condition`` (Parquet tables have no DELETE)."""
    side = f"{table}__sen_rewrite".replace("`", "")
    spark.sql(f"drop table if exists {side}")
    spark.sql(f"create table {side} using parquet as select * from {table} where {keep_condition}")
    spark.sql(f"insert overwrite table {table} select * from {side}")
    spark.sql(f"drop table if exists {side}")


def drop_unrecorded_loads(spark: SparkSession, source: Source) -> int:
    """Rows of loads that raw._loaded_files does not record (a run that crashed before its last append) are
    removed, so that their files load again exactly once. Returns how many rows went."""
    recorded = f"select load_id from raw._loaded_files where source = {_quote(source.name)}"
    table = f"raw.`{source.name}`"
    orphans = spark.sql(f"select count(*) from {table} where _load_id not in ({recorded})").collect()[0][0]
    quarantined = spark.sql(
        f"select count(*) from raw._quarantine where source = {_quote(source.name)} "
        f"and file_sha256 is not null and load_id not in ({recorded})"
    ).collect()[0][0]
    if orphans:
        _rewrite_without(spark, table, f"_load_id in ({recorded})")
    if quarantined:
        _rewrite_without(
            spark,
            "raw._quarantine",
            f"not (source = {_quote(source.name)} and file_sha256 is not null and load_id not in ({recorded}))",
        )
    return int(orphans) + int(quarantined)


def _append(spark: SparkSession, table: str, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    columns = [f.name for f in spark.table(table).schema.fields]
    frame = spark.createDataFrame(rows.select(columns))
    frame.write.insertInto(table)


def load_source_spark(spark: SparkSession, source: Source, data_dir: Path) -> LoadResult:
    """load_source with Spark's raw tables: validate the new files with the loader, append what it decided."""
    ensure_spark_raw_tables(spark, source)
    drop_unrecorded_loads(spark, source)
    conn = duckdb.connect()  # validation only; nothing in it outlives the call
    try:
        ensure_raw_tables(conn, source)
        known = spark.sql(
            f"select distinct file_sha256 from raw._loaded_files where source = {_quote(source.name)}"
        ).collect()
        # Already loaded into Spark: the loader skips these files (its own idempotency rule).
        if known:
            conn.executemany(
                "insert into raw._loaded_files (source, file_sha256) values (?, ?)",
                [[source.name, row[0]] for row in known],
            )
        result = load_source(conn, source, data_dir)
        rows = conn.execute(f'select * from raw."{source.name}"').to_arrow_table()
        quarantine = conn.execute("select * from raw._quarantine").to_arrow_table()
        files = conn.execute("select * from raw._loaded_files where load_id is not null").to_arrow_table()
    finally:
        conn.close()
    _append(spark, f"raw.`{source.name}`", rows)
    _append(spark, "raw._quarantine", quarantine)
    _append(spark, "raw._loaded_files", files)  # last: a load counts once its files are recorded
    return result


def spark_source_problems(spark: SparkSession, source: Source, result: LoadResult) -> list[str]:
    """sen.ingest.loader.source_problems, read from Spark's raw tables."""
    name = _quote(source.name)
    problems = [
        f"{path}: {reason}; fix or replace the file and rerun (it is not marked loaded)"
        for path, reason in result.files_unreadable.items()
    ]
    loaded = spark.sql(f"select count(*) from raw.`{source.name}`").collect()[0][0]
    if not loaded:
        reasons = spark.sql(
            f"""select split_part(reason, ':', 1) as r, count(*) as n from raw._quarantine
                where source = {name} and line is not null group by 1 order by 2 desc, 1"""
        ).collect()
        if reasons:
            total = sum(n for _, n in reasons)
            top = ", ".join(f"{r} ({n:,})" for r, n in reasons[:3])
            problems.append(
                f"all {total:,} row(s) were quarantined, none loaded (reasons: {top}); "
                f"see raw._quarantine where source = '{source.name}' and fix the export "
                "(docs/input_contract.md)"
            )
            return problems
    if result.file_sha:
        shas = ", ".join(_quote(s) for s in result.file_sha.values())
        quarantined_of = dict(
            spark.sql(
                f"""select file_sha256, rows_quarantined from raw._loaded_files
                    where source = {name} and rows_loaded = 0 and rows_quarantined > 0
                      and file_sha256 in ({shas})"""
            ).collect()
        )
        for path, sha in result.file_sha.items():
            if sha in quarantined_of:
                problems.append(
                    f"{path}: all {quarantined_of[sha]:,} row(s) quarantined, none loaded; see raw._quarantine "
                    f"where file_path = '{path}', then fix the file (or remove it) and rerun"
                )
    return problems


def ingest_source_spark(
    spark: SparkSession, source: Source, data_dir: Path, source_names: list[str] | None = None
) -> LoadResult:
    """sen.ingest.ingest_source on Spark: checks the data folder, loads, raises SourceProblemError (after
    keeping what loaded well) when the source's outcome would be silently wrong."""
    if source_names is None:
        from sen.contracts import load_contract

        source_names = list(load_contract().sources)
    check_data_dir(data_dir, source_names)
    result = load_source_spark(spark, source, data_dir)
    problems = spark_source_problems(spark, source, result)
    if problems:
        raise SourceProblemError(source.name, problems, result)
    return result


def spark_first_loaded_day(spark: SparkSession, source: str, column: str | None):
    """The first day of raw.<source>'s event time ``column`` (text: its leading ISO date); None without one."""
    if column is None:
        return None
    return spark.sql(
        f"select min(try_cast(left(trim(`{column}`), 10) as date)) from raw.`{source}`"
    ).collect()[0][0]
