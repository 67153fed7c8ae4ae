"""The Python steps of a Spark build (identity resolution, CLV, serving), each run in a child process.

Spark's embedded Derby metastore admits one JVM at a time, and a JVM started in the Dagster process would keep
it after its session stops, locking out the next step (a dbt block through sen-dbt, another Python step). So
each step opens the shared session (sen.engines.spark.spark_session) in a fresh process, does its work on the
cluster, stops the session and returns plain values (metadata) to the Dagster step, as ingestion does
(orchestration/assets/ingestion.py).

Expected failures (bad input, a fit that cannot run, nothing to publish) come back as :class:`StepError` with
the message of the child's error; anything else is re-raised as it came.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from sen.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class StepError(RuntimeError):
    """An expected failure of a Spark step, with the child's message (its class may not survive pickling)."""


def in_child(function: Callable[..., Any], *args: Any) -> Any:
    """function(*args) in a fresh (spawned) process; a returned ("error", message) raises StepError here."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcome = pool.submit(function, *args).result()
    if isinstance(outcome, tuple) and len(outcome) == 2 and outcome[0] == "error":
        raise StepError(outcome[1])
    return outcome


def _table_exists(spark: SparkSession, table: str) -> bool:
    return bool(spark.catalog.tableExists(table))


# ---------------------------------------------------------------- identity


def identity_step(run_at: datetime) -> dict[str, Any] | tuple[str, str]:
    """resolve_identities_spark on the shared catalog; the run's statistics as metadata."""
    from sen.engines.spark import spark_session
    from sen.identity.config import load_identity_config
    from sen.identity.graph import IdentityInputError
    from sen.identity.spark import resolve_identities_spark

    with spark_session(Settings.from_env()) as spark:
        try:
            stats = resolve_identities_spark(spark, load_identity_config(), run_at=run_at)
        except IdentityInputError as exc:
            return ("error", str(exc))
    return stats.as_metadata()


def cluster_alarm_step() -> tuple[bool, dict[str, Any]]:
    """sen.identity.checks.cluster_alarm on Spark's identity.identity_runs: the last two runs (a few rows) are
    read from the catalog and judged by the same function, in a throw-away DuckDB database."""
    import duckdb

    from sen.engines.spark import spark_session
    from sen.identity.checks import cluster_alarm

    columns = ["run_id", "run_at", "largest_component", "merged_share", "components"]
    with spark_session(Settings.from_env()) as spark:
        runs = None
        if _table_exists(spark, "identity.identity_runs"):
            runs = (
                spark.table("identity.identity_runs")
                .select(*columns)
                .orderBy("run_at", ascending=False)
                .limit(2)
                .toPandas()
                .iloc[::-1]  # oldest first: the judged table's row order breaks ties of run_at
            )
    conn = duckdb.connect()
    try:
        if runs is not None:
            conn.execute("create schema identity")
            conn.register("_runs", runs)
            conn.execute("create table identity.identity_runs as select * from _runs")
            conn.unregister("_runs")
        return cluster_alarm(conn)
    finally:
        conn.close()


# ---------------------------------------------------------------- CLV


def _orders(spark: SparkSession, as_of: datetime) -> DataFrame:
    """sen.clv.store.ORDERS_SQL on Spark: purchases of known persons at or before as_of (UTC instants)."""
    from pyspark.sql import functions as F

    cutoff = as_of.astimezone(UTC)  # aware: PySpark reads a naive datetime in the process's local zone
    return (
        spark.table("marts.orders")
        .where(
            F.col("person_id").isNotNull()
            & ~F.col("is_fully_refunded")
            & (F.col("ordered_at") <= F.lit(cutoff))
        )
        .select("person_id", "ordered_at", F.col("net_amount").cast("double").alias("net_amount"))
    )


def _replace(spark: SparkSession, table: str, frame: DataFrame) -> None:
    spark.sql("create database if not exists marts")
    frame.write.mode("overwrite").format("parquet").saveAsTable(table)


def _append_row(spark: SparkSession, table: str, row: dict[str, Any]) -> int:
    """Append one row by column name (sen.clv.store.append_row): columns the table lacks are added, the
    table is rewritten (a few rows: one per fit). Returns the row count."""
    import pyarrow as pa

    from sen.clv.store import FIT_TEXT_COLUMNS

    fields = []
    for key, value in row.items():
        if value is None:
            kind = (
                pa.bool_()
                if key.endswith("_converged")
                else pa.string()
                if key in FIT_TEXT_COLUMNS
                else pa.float64()
            )
        elif isinstance(value, bool):
            kind = pa.bool_()
        elif isinstance(value, int):
            kind = pa.int64()
        elif isinstance(value, float):
            kind = pa.float64()
        elif isinstance(value, datetime):
            kind = pa.timestamp("us", tz="UTC")
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
            row = {**row, key: value}
        else:
            kind = pa.string()
            row = {**row, key: str(value)}
        fields.append(pa.field(key, kind))
    new = spark.createDataFrame(pa.Table.from_pylist([row], schema=pa.schema(fields)))
    spark.sql("create database if not exists marts")
    if _table_exists(spark, table):
        old = spark.table(table).localCheckpoint(eager=True)
        new = old.unionByName(new, allowMissingColumns=True)
    new = new.localCheckpoint(eager=True)  # the old rows are read before the table is overwritten
    new.write.mode("overwrite").format("parquet").saveAsTable(table)
    return new.count()


def clv_step(
    as_of: datetime,
    horizon: int,
    rate: float,
    timezone: str,
    min_repeat_buyers: int,
    dagster_run_id: str,
) -> dict[str, Any] | tuple[str, str]:
    """Fit and score on Spark, write marts.customer_clv and append marts.clv_model_fits (as the DuckDB asset)."""
    from pyspark.sql import functions as F

    from sen.clv.spark import customer_clv_spark, fit_and_score_spark
    from sen.engines.spark import spark_session

    with spark_session(Settings.from_env()) as spark:
        orders = _orders(spark, as_of)
        try:
            scores, record = fit_and_score_spark(
                orders,
                as_of,
                horizon_months=horizon,
                annual_discount_rate=rate,
                timezone=timezone,
                min_repeat_buyers=min_repeat_buyers,
            )
        except ValueError as exc:
            return ("error", f"CLV fit on marts.orders failed: {exc}")
        fit_id = str(uuid.uuid4())
        table = customer_clv_spark(scores, horizon, rate, as_of, fit_id).localCheckpoint(eager=True)
        numeric = [
            f.name
            for f in table.schema.fields
            if f.dataType.typeName() in ("double", "float") and f.name != "expected_purchases_12m"
        ]
        finite = table.agg(
            *[
                F.sum(
                    (F.isnan(F.col(c)) | F.col(c).isNull() | (F.abs(F.col(c)) == float("inf"))).cast("long")
                ).alias(c)
                for c in numeric
            ]
        ).first()
        bad = {c: int(finite[c]) for c in numeric if finite[c]}
        if bad:
            # A NaN CLV would silently drop people from tiers and audiences: stop instead.
            return ("error", f"CLV scores are not finite (column: rows): {bad}")
        _replace(spark, "marts.customer_clv", table)
        fit_row = {
            "fit_id": fit_id,
            "fitted_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
            "calibration_end": as_of.astimezone(UTC).replace(tzinfo=None),
            "dagster_run_id": dagster_run_id,
            **record,
        }
        n_fits = _append_row(spark, "marts.clv_model_fits", fit_row)
        erased = None
        if _table_exists(spark, "intermediate.int_erased_persons"):
            erased = (
                spark.table("marts.customer_clv")
                .join(
                    spark.table("intermediate.int_erased_persons").select("person_id"),
                    "person_id",
                    "left_semi",
                )
                .count()
            )

        def counts(column: str) -> dict[str, int]:
            rows = table.groupBy(F.coalesce(F.col(column), F.lit("none")).alias("v")).count().collect()
            return {r["v"]: int(r["count"]) for r in rows}

        totals = table.agg(
            F.count("*").alias("n"), F.sum("clv").alias("clv"), F.sum("expected_purchases_horizon").alias("p")
        ).first()
        return {
            "rows": int(totals["n"]),
            "total_clv": float(totals["clv"] or 0.0),
            "total_expected_purchases": float(totals["p"] or 0.0),
            "churn_risk": counts("churn_risk"),
            "clv_tier": counts("clv_tier"),
            "fallback_reason": counts("fallback_reason"),
            "record": record,
            "fit_row": fit_row,
            "n_fits": n_fits,
            "erased_scored": erased,
        }


def backtest_step(
    as_of: datetime, horizon: int, timezone: str, min_repeat_buyers: int
) -> dict[str, Any] | tuple[str, str]:
    """The CLV backtest on Spark (sen.clv.spark.backtest_spark), written to marts.clv_backtest."""
    import pyarrow as pa

    from sen.clv.spark import backtest_spark
    from sen.engines.spark import spark_session

    with spark_session(Settings.from_env()) as spark:
        try:
            per_person, summary, by_frequency, png = backtest_spark(
                _orders(spark, as_of),
                as_of,
                horizon_months=horizon,
                timezone=timezone,
                min_repeat_buyers=min_repeat_buyers,
            )
        except ValueError as exc:
            return ("error", f"CLV backtest on marts.orders failed: {exc}")
        table = per_person.copy()
        table["fallback_reason"] = (
            table["fallback_reason"].astype(object).where(table["fallback_reason"].notna(), None)
        )
        # The library reports bounds as wall time of the business zone; the warehouse holds UTC.
        for bound in ("calibration_end", "holdout_end"):
            summary[bound] = (
                pd.Timestamp(summary[bound]).tz_localize(timezone).tz_convert("UTC").tz_localize(None)
            )
            table[bound] = summary[bound].tz_localize("UTC")  # aware: read as UTC whatever the local zone
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        # All-empty text columns have no Arrow type Spark takes.
        arrow = arrow.cast(
            pa.schema(
                [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in arrow.schema]
            )
        )
        _replace(spark, "marts.clv_backtest", spark.createDataFrame(arrow))
    return {"rows": len(table), "summary": summary, "by_frequency": by_frequency, "png": png}


# ---------------------------------------------------------------- serving


def serving_step() -> dict[str, Any] | tuple[str, str]:
    """Publish the BI-facing tables of the Spark catalog as Parquet (sen.engines.spark_serving)."""
    import time

    import pyarrow.parquet as pq

    from sen.engines.spark import spark_session
    from sen.engines.spark_serving import NothingToPublish, publish_parquet, tables_to_publish

    settings = Settings.from_env()
    started = time.perf_counter()
    with spark_session(settings) as spark:
        try:
            link = publish_parquet(spark, settings.serving_path)
        except NothingToPublish as exc:
            return ("error", str(exc))
        published = tables_to_publish(spark)
    # Row counts from the written files' footers, not another pass over the tables.
    tables = {
        f"{schema}.{name}": pq.read_metadata(link / schema / f"{name}.parquet").num_rows
        for schema, name in published
    }
    return {
        "link": str(link),
        "version": link.resolve().name,
        "tables": tables,
        "seconds": round(time.perf_counter() - started, 2),
    }
