"""The Python steps of a Spark build (ingestion, identity resolution, CLV, serving) in one worker process.

Spark's embedded Derby metastore admits one JVM at a time, and a JVM started in the Dagster process would keep
it after its session stops, locking out the dbt steps (sen-dbt opens its own session). So the Python steps run
in a worker process that holds one session across consecutive steps (a JVM start costs tens of seconds on a
small box, once per source otherwise), and the worker and its JVM are stopped before a dbt step and at the end
of the run (:func:`release_worker`). Each step returns plain values (metadata) to its Dagster step.

Expected failures (bad input, a fit that cannot run, nothing to publish) come back as :class:`StepError` with
the message of the worker's error; anything else is re-raised as it came.
"""

from __future__ import annotations

import atexit
import multiprocessing
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from sen.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class StepError(RuntimeError):
    """An expected failure of a Spark step, with the worker's message (its class may not survive pickling)."""


_worker: ProcessPoolExecutor | None = None  # in the Dagster process: the worker, while it runs
_session: SparkSession | None = None  # in the worker: its session, while open


def in_child(function: Callable[..., Any], *args: Any) -> Any:
    """function(*args) in the worker process (started on first use, kept until release_worker()); a returned
    ("error", message) raises StepError here."""
    global _worker
    if _worker is None:
        _worker = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        outcome = _worker.submit(function, *args).result()
    except BrokenProcessPool:
        _worker = None  # the worker died (e.g. out of memory): the next step starts a new one
        raise
    if isinstance(outcome, tuple) and len(outcome) == 2 and outcome[0] == "error":
        raise StepError(outcome[1])
    return outcome


def release_worker() -> None:
    """Stop the worker's session, its JVM and the worker, so that the next process can open the metastore."""
    global _worker
    if _worker is None:
        return
    worker, _worker = _worker, None
    try:
        worker.submit(_stop_session).result()
    except (BrokenProcessPool, RuntimeError):
        # Gone already (or shut down at the interpreter's exit), and its JVM with it: the JVM exits when its
        # parent's pipe closes.
        pass
    finally:
        worker.shutdown(wait=True)


atexit.register(release_worker)


def worker_session(settings: Settings | None = None) -> SparkSession:
    """In the worker: the shared session (sen.engines.spark.spark_conf), opened once and kept between steps."""
    global _session
    if _session is None:
        from pyspark.sql import SparkSession

        from sen.engines.spark import spark_conf, use_this_python

        settings = settings or Settings.from_env()
        settings.spark_warehouse_path.mkdir(parents=True, exist_ok=True)
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in spark_conf(settings).items():
            builder = builder.config(key, value)
        _session = builder.getOrCreate()
        use_this_python(_session)
    return _session


def _stop_session() -> None:
    """In the worker: stop the session and wait for its JVM to exit (it holds the Derby metastore's lock)."""
    global _session
    if _session is None:
        return
    from pyspark import SparkContext

    session, _session = _session, None
    gateway = SparkContext._gateway
    session.stop()
    process = getattr(gateway, "proc", None) if gateway is not None else None
    if process is not None:
        gateway.shutdown()
        if process.stdin is not None:
            process.stdin.close()  # the JVM exits when this pipe closes
        process.wait(timeout=120)
    SparkContext._gateway = None
    SparkContext._jvm = None


def _table_exists(spark: SparkSession, table: str) -> bool:
    return bool(spark.catalog.tableExists(table))


# ---------------------------------------------------------------- identity


def identity_step(run_at: datetime) -> dict[str, Any] | tuple[str, str]:
    """resolve_identities_spark on the shared catalog; the run's statistics as metadata."""
    from sen.identity.config import load_identity_config
    from sen.identity.graph import IdentityInputError
    from sen.identity.spark import resolve_identities_spark

    spark = worker_session()
    try:
        stats = resolve_identities_spark(spark, load_identity_config(), run_at=run_at)
    except IdentityInputError as exc:
        return ("error", str(exc))
    return stats.as_metadata()


def cluster_alarm_step() -> tuple[bool, dict[str, Any]]:
    """sen.identity.checks.cluster_alarm on Spark's identity.identity_runs: the last two runs (a few rows) are
    read from the catalog and judged by the same function, in a throw-away DuckDB database."""
    import duckdb

    from sen.identity.checks import cluster_alarm

    columns = ["run_id", "run_at", "largest_component", "merged_share", "components"]
    spark = worker_session()
    runs = None
    if _table_exists(spark, "identity.identity_runs"):
        newest = (
            spark.table("identity.identity_runs")
            .select(*columns)
            .orderBy("run_at", ascending=False)
            .limit(2)
            .toArrow()
        )
        runs = newest.take(list(range(newest.num_rows))[::-1])  # oldest first: row order breaks ties
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

    spark = worker_session()
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

    spark = worker_session()
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
        pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in arrow.schema])
    )
    _replace(spark, "marts.clv_backtest", spark.createDataFrame(arrow))
    return {"rows": len(table), "summary": summary, "by_frequency": by_frequency, "png": png}


# ---------------------------------------------------------------- serving


def serving_step() -> dict[str, Any] | tuple[str, str]:
    """Publish the BI-facing tables of the Spark catalog as Parquet (sen.engines.spark_serving)."""
    import time

    import pyarrow.parquet as pq

    from sen.engines.spark_serving import NothingToPublish, publish_parquet, tables_to_publish

    settings = Settings.from_env()
    started = time.perf_counter()
    spark = worker_session(settings)
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
