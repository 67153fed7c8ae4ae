"""CLV on Spark: the same fit and scores as sen.clv.pipeline.fit_and_score, with the orders kept on the cluster.

- the per-customer summary (purchase occasions, frequency / recency / T / monetary) is a group-by on the cluster;
- the fit reads that summary's five numeric columns on the driver: one row per customer, the small part (20M
  customers are 800 MB of float64; a cluster samples it with ``fit_sample`` if the driver is smaller);
- scoring runs row-wise on the executors (``mapInArrow``) with the same vectorized functions
  (sen.clv.scoring.score, sen.clv.bands.churn_risk); the CLV tier needs every customer's rank, one sort.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from sen.clv import scoring
from sen.clv.bands import ChurnRules, ClvTiers, churn_risk
from sen.clv.model import DEFAULT_MIN_REPEAT_BUYERS, ClvModel, fit_clv_model
from sen.clv.orders import Timestampish
from sen.clv.pipeline import SCORE_COLUMNS, backtest_outputs
from sen.clv.units import DAYS_PER_UNIT

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_SCORED_SCHEMA = (
    "person_id string, frequency double, recency double, T double, monetary double, "
    "expected_purchases_horizon double, p_alive double, expected_avg_value double, clv double, "
    "churn_risk string, fallback_reason string"
)


def _local_end(as_of: Timestampish, timezone: str | None) -> pd.Timestamp:
    """as_of as naive wall time in the orders' frame (Spark timestamps are instants, shown in UTC)."""
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert(timezone or "UTC").tz_localize(None)


def summary_spark(orders: DataFrame, as_of: Timestampish, *, timezone: str | None = None) -> DataFrame:
    """sen.clv.summary.build_summary on the cluster (times in days): person_id, frequency, recency, T, monetary,
    first_value. orders: person_id, ordered_at (timestamp), net_amount."""
    from pyspark.sql import functions as F

    missing = [c for c in ("person_id", "ordered_at", "net_amount") if c not in orders.columns]
    if missing:
        raise ValueError(f"orders table is missing column(s) {missing}; it has {orders.columns}")
    bad = orders.where(
        F.col("person_id").isNull()
        | F.col("ordered_at").isNull()
        | F.col("net_amount").isNull()
        | F.isnan(F.col("net_amount").cast("double"))
    ).limit(1)
    for row in bad.collect():
        raise ValueError(f"orders row {row.asDict()}: person_id, ordered_at or net_amount is missing")
    end = _local_end(as_of, timezone)
    local = F.from_utc_timestamp(F.col("ordered_at"), timezone) if timezone else F.col("ordered_at")
    occasions = (
        orders.select("person_id", local.alias("at"), F.col("net_amount").cast("double").alias("amount"))
        .where(F.col("at") <= F.lit(end.to_pydatetime()))
        .groupBy("person_id", F.to_date("at").alias("day"))
        .agg(F.greatest(F.sum("amount"), F.lit(0.0)).alias("value"))
    )
    per_person = occasions.groupBy("person_id").agg(
        F.min("day").alias("first_day"),
        F.max("day").alias("last_day"),
        F.count("*").alias("n"),
        F.sum("value").alias("total"),
        F.min_by("value", "day").alias("first_value"),
    )
    as_of_day = F.lit(end.normalize().date())
    frequency = (F.col("n") - 1).cast("long")
    repeat_total = F.greatest(F.col("total") - F.col("first_value"), F.lit(0.0))
    return per_person.select(
        "person_id",
        frequency.alias("frequency"),
        F.datediff("last_day", "first_day").cast("double").alias("recency"),
        F.datediff(as_of_day, "first_day").cast("double").alias("T"),
        F.when(frequency > 0, repeat_total / frequency).otherwise(F.lit(0.0)).alias("monetary"),
        "first_value",
    )


def fit_spark(summary: DataFrame, *, min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS) -> ClvModel:
    """The model fitted on the summary's numeric columns, collected to the driver (one row per customer)."""
    table = summary.select("person_id", "frequency", "recency", "T", "monetary", "first_value").toArrow()
    # In person_id order, as the pandas path fits: the likelihood's sums then add up in the same order.
    table = table.sort_by("person_id")
    cols = {c: table.column(c).to_numpy().astype(np.float64) for c in table.column_names if c != "person_id"}
    if len(cols["frequency"]) == 0:
        raise ValueError("no customer has an order at or before as_of: nothing to fit CLV on")
    return fit_clv_model(
        cols["frequency"],
        cols["recency"],
        cols["T"],
        cols["monetary"],
        cols["first_value"],
        time_unit="days",
        min_repeat_buyers=min_repeat_buyers,
    )


def score_spark(
    summary: DataFrame,
    model: ClvModel,
    *,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.1,
    churn_rules: ChurnRules | None = None,
    tiers: ClvTiers | None = None,
) -> DataFrame:
    """SCORE_COLUMNS per customer: scoring.score and churn_risk per Arrow batch on the executors, the tier by
    rank (CLV descending, then person_id, as sen.clv.bands.clv_tier)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    unit_days = DAYS_PER_UNIT["days"]

    def score_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            col = {c: batch.column(c).to_numpy(zero_copy_only=False) for c in batch.schema.names}
            x = col["frequency"].astype(np.float64)
            out = scoring.score(
                model,
                x,
                col["recency"],
                col["T"],
                col["monetary"],
                col["first_value"],
                horizon_months=horizon_months,
                annual_discount_rate=annual_discount_rate,
            )
            risk = churn_risk(out["p_alive"], x, (col["T"] - col["recency"]) * unit_days, churn_rules)
            yield pa.RecordBatch.from_pydict(
                {
                    "person_id": batch.column("person_id").cast(pa.string()),
                    "frequency": pa.array(x),
                    "recency": batch.column("recency"),
                    "T": batch.column("T"),
                    "monetary": batch.column("monetary"),
                    **{
                        name: pa.array(out[name], pa.float64())
                        for name in ("expected_purchases_horizon", "p_alive", "expected_avg_value", "clv")
                    },
                    "churn_risk": pa.array(list(risk), pa.string()),
                    "fallback_reason": pa.array(list(out["fallback_reason"]), pa.string()),
                }
            )

    scored = summary.select(
        F.col("person_id").cast("string").alias("person_id"),
        F.col("frequency").cast("double"),
        "recency",
        "T",
        "monetary",
        "first_value",
    ).mapInArrow(score_batches, _SCORED_SCHEMA)
    tiers = tiers or ClvTiers()
    # One global order (a single partition): n and every rank must be known; 20M rows sort on one executor.
    n = F.count(F.lit(1)).over(Window.partitionBy(F.lit(0)))
    rank = F.row_number().over(Window.orderBy(F.desc("clv"), F.asc("person_id")))
    tier = F.lit(tiers.rest)
    for label, share in reversed(tiers.tiers):
        tier = F.when(
            F.col("_rank") <= F.floor(F.col("_n") * F.lit(share) + F.lit(1e-9)), F.lit(label)
        ).otherwise(tier)
    return (
        scored.withColumn("_rank", rank)
        .withColumn("_n", n)
        .withColumn("clv_tier", tier)
        .select(*SCORE_COLUMNS)
    )


def fit_and_score_spark(
    orders: DataFrame,
    as_of: Timestampish,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.1,
    *,
    timezone: str | None = None,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    churn_rules: ChurnRules | None = None,
    tiers: ClvTiers | None = None,
) -> tuple[DataFrame, dict[str, object]]:
    """sen.clv.pipeline.fit_and_score on Spark: (scores DataFrame with SCORE_COLUMNS, fit record)."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    summary = summary_spark(orders, as_of, timezone=timezone).localCheckpoint(eager=True)
    model = fit_spark(summary, min_repeat_buyers=min_repeat_buyers)
    fitted = time.perf_counter()
    scores = score_spark(
        summary,
        model,
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
        churn_rules=churn_rules,
        tiers=tiers,
    ).localCheckpoint(eager=True)
    totals = scores.agg(F.sum("clv").alias("clv"), F.sum("expected_purchases_horizon").alias("p")).first()
    end = _local_end(as_of, timezone)
    local = F.from_utc_timestamp(F.col("ordered_at"), timezone) if timezone else F.col("ordered_at")
    n_orders = orders.where(local <= F.lit(end.to_pydatetime())).count()
    record = model.to_record()
    record.update(
        {
            "as_of": pd.Timestamp(as_of).isoformat(),
            "horizon_months": int(horizon_months),
            "annual_discount_rate": float(annual_discount_rate),
            "timezone": timezone,
            "n_orders_used": int(n_orders),
            "total_clv": float(totals["clv"] or 0.0),
            "total_expected_purchases": float(totals["p"] or 0.0),
            "fit_seconds": round(fitted - started, 3),
            "score_seconds": round(time.perf_counter() - fitted, 3),
        }
    )
    return scores, record


def customer_clv_spark(
    scores: DataFrame, horizon_months: int, discount_rate: float, as_of: Timestampish, fit_id: str
) -> DataFrame:
    """The marts.customer_clv layout (sen.clv.store.customer_clv_table) on the cluster."""
    from pyspark.sql import functions as F

    columns = []
    for name in SCORE_COLUMNS:
        if name == "frequency":  # a count: bigint, as the pandas path writes it
            columns.append(F.col(name).cast("long").alias(name))
        else:
            columns.append(F.col(name))
        if name == "expected_purchases_horizon":
            # The interface name is for the default 12-month horizon; other horizons leave it empty.
            twelve = F.col(name) if horizon_months == 12 else F.lit(None).cast("double")
            columns.append(twelve.alias("expected_purchases_12m"))
    # Aware: PySpark reads a naive datetime in the process's local zone.
    as_of_utc = pd.Timestamp(as_of)
    as_of_utc = as_of_utc.tz_convert("UTC") if as_of_utc.tzinfo else as_of_utc.tz_localize("UTC")
    return scores.select(
        *columns,
        F.lit(int(horizon_months)).cast("long").alias("horizon_months"),
        F.lit(float(discount_rate)).cast("double").alias("annual_discount_rate"),
        F.lit(as_of_utc.to_pydatetime()).cast("timestamp").alias("as_of"),
        F.lit(fit_id).alias("fit_id"),
    )


def _occasions(orders: DataFrame, timezone: str | None, end: pd.Timestamp, start: pd.Timestamp | None):
    """Purchase occasions (sen.clv.orders.purchase_occasions) with start < local time <= end."""
    from pyspark.sql import functions as F

    local = F.from_utc_timestamp(F.col("ordered_at"), timezone) if timezone else F.col("ordered_at")
    frame = orders.select("person_id", local.alias("at"), F.col("net_amount").cast("double").alias("amount"))
    keep = F.col("at") <= F.lit(end.to_pydatetime())
    if start is not None:
        keep = keep & (F.col("at") > F.lit(start.to_pydatetime()))
    return (
        frame.where(keep)
        .groupBy("person_id", F.to_date("at").alias("day"))
        .agg(F.greatest(F.sum("amount"), F.lit(0.0)).alias("value"))
    )


def backtest_spark(
    orders: DataFrame,
    as_of: Timestampish,
    horizon_months: int = 12,
    *,
    timezone: str | None = None,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
) -> tuple[pd.DataFrame, dict[str, object], pd.DataFrame, bytes]:
    """sen.clv.pipeline.backtest on Spark: the calibration summary and the holdout occasions are group-bys on the
    cluster; the driver gets one row per customer of each (the small part) and runs the same backtest."""
    from pyspark.sql import functions as F

    from sen.clv.backtest import backtest_from_summaries

    calibration = pd.Timestamp(as_of) - pd.DateOffset(months=horizon_months)
    cal_end, holdout_end = _local_end(calibration, timezone), _local_end(as_of, timezone)
    if holdout_end <= cal_end:
        raise ValueError(f"holdout end {holdout_end} must be after calibration end {cal_end}")
    cal = (
        summary_spark(orders, calibration, timezone=timezone)
        .select("person_id", "frequency", "recency", "T", "monetary", "first_value")
        .toPandas()
        .sort_values("person_id", kind="stable")
        .reset_index(drop=True)
    )
    cal["frequency"] = cal["frequency"].astype("int64")
    actual = (
        _occasions(orders, timezone, holdout_end, cal_end)
        .groupBy("person_id")
        .agg(F.count("*").alias("size"), F.sum("value").alias("sum"))
        .toPandas()
        .set_index("person_id")
    )
    actual["size"] = actual["size"].astype("int64")
    result = backtest_from_summaries(cal, actual, cal_end, holdout_end, min_repeat_buyers=min_repeat_buyers)
    return backtest_outputs(result, as_of)
