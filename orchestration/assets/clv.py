"""Predictive CLV as Dagster assets: marts.orders in, marts.customer_clv / clv_model_fits / clv_backtest out.

The model (BG/NBD purchases + Gamma-Gamma spend, fallbacks, bands, tiers) lives in ``sen.clv`` and its
warehouse IO in ``sen.clv.store``; these assets only wire them to the run. Only orders at or before the run's
reference time (the run clock) are used. Horizon and discount rate come from the run config, else
CDP_CLV_HORIZON_MONTHS / CDP_CLV_DISCOUNT_RATE, else 12 months and 10 % a year. See docs/customer_value.md.
"""

import base64
import math
import uuid
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from orchestration.resources import RunClock, Warehouse
from sen.clv import pipeline
from sen.clv.model import DEFAULT_MIN_REPEAT_BUYERS
from sen.clv.store import (
    append_row,
    count_erased_scored,
    customer_clv_table,
    non_finite_columns,
    read_orders,
    replace_table,
)
from sen.engines.spark_steps import StepError, backtest_step, clv_step, in_child
from sen.settings import Settings

VALUE_GROUP = "marts"  # the tables live in the marts schema, next to the dbt marts
ORDERS_KEY = dg.AssetKey(["marts", "orders"])
CUSTOMER_CLV_KEY = dg.AssetKey(["marts", "customer_clv"])
MODEL_FITS_KEY = dg.AssetKey(["marts", "clv_model_fits"])
BACKTEST_KEY = dg.AssetKey(["marts", "clv_backtest"])

HORIZON_ENV = "CDP_CLV_HORIZON_MONTHS"
DISCOUNT_ENV = "CDP_CLV_DISCOUNT_RATE"
DEFAULT_HORIZON_MONTHS = 12
DEFAULT_DISCOUNT_RATE = 0.1


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:  # a bad CDP_* value, named in the message
        raise dg.Failure(description=str(exc)) from exc


class ClvConfig(dg.Config):
    """Run settings of the CLV assets; unset values fall back to the environment, then to the defaults."""

    horizon_months: int | None = Field(
        default=None, description=f"Months of future purchases valued (env {HORIZON_ENV}, default 12)."
    )
    annual_discount_rate: float | None = Field(
        default=None, description=f"Yearly discount rate of future revenue (env {DISCOUNT_ENV}, default 0.1)."
    )
    min_repeat_buyers: int = Field(
        default=DEFAULT_MIN_REPEAT_BUYERS,
        description="Below this many repeat buyers the probabilistic fit is replaced by heuristics.",
    )
    timezone: str | None = Field(
        default=None,
        description="Time zone whose calendar days are occasions (env CDP_TIMEZONE, default Asia/Ho_Chi_Minh).",
    )

    def business_timezone(self) -> str:
        """Purchase occasions are calendar days of the business (same-day orders are one occasion), the same
        days as marts.orders: CDP_TIMEZONE, which dbt receives too, unless the run config says otherwise."""
        return self.timezone or _settings().timezone

    def horizon(self) -> int:
        value = self.horizon_months
        if value is None:
            value = _settings().clv_horizon_months
        value = DEFAULT_HORIZON_MONTHS if value is None else value
        if value < 1:
            raise dg.Failure(description=f"CLV horizon must be at least 1 month, got {value}")
        return int(value)

    def discount_rate(self) -> float:
        value = self.annual_discount_rate
        if value is None:
            value = _settings().clv_discount_rate
        value = DEFAULT_DISCOUNT_RATE if value is None else value
        if not (math.isfinite(value) and value > -1.0):
            raise dg.Failure(description=f"CLV annual discount rate must be a number > -1, got {value}")
        return float(value)


def _metadata_value(value: object) -> object:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return dg.MetadataValue.text("n/a")
    if isinstance(value, bool | int | float | str):
        return value
    return dg.MetadataValue.text(str(value))


@dg.multi_asset(
    name="clv_fit_and_score",
    specs=[
        dg.AssetSpec(
            CUSTOMER_CLV_KEY,
            deps=[ORDERS_KEY],
            group_name=VALUE_GROUP,
            kinds={"python", "duckdb", "spark"},  # both engines (sen/engines/spark_steps.py)
            description=(
                "Predictive CLV per person with an order: expected purchases and discounted CLV over the horizon "
                "(BG/NBD + Gamma-Gamma, heuristics when data are thin), P(alive), churn risk, CLV tier and the "
                "fallback applied."
            ),
        ),
        dg.AssetSpec(
            MODEL_FITS_KEY,
            deps=[ORDERS_KEY],
            group_name=VALUE_GROUP,
            kinds={"python", "duckdb", "spark"},  # both engines (sen/engines/spark_steps.py)
            description="One row appended per CLV fit: parameters, time unit, log-likelihoods, customers, as-of.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "scores_are_finite", asset=CUSTOMER_CLV_KEY, description="No NaN or infinite score."
        ),
        dg.AssetCheckSpec(
            "no_erased_persons",
            asset=CUSTOMER_CLV_KEY,
            description="No scored person has an erasure request (intermediate.int_erased_persons).",
        ),
    ],
)
def clv_fit_and_score(
    context: dg.AssetExecutionContext, config: ClvConfig, warehouse: Warehouse, run_clock: RunClock
):
    as_of = run_clock.as_of()
    horizon, rate, timezone = config.horizon(), config.discount_rate(), config.business_timezone()
    if _settings().engine == "spark":
        yield from _fit_and_score_on_spark(context, config, as_of, horizon, rate, timezone)
        return
    with warehouse.connect() as conn:
        orders = read_orders(conn, as_of)
        try:
            scores, record = pipeline.fit_and_score(
                orders,
                as_of,
                horizon_months=horizon,
                annual_discount_rate=rate,
                timezone=timezone,
                min_repeat_buyers=config.min_repeat_buyers,
            )
        except ValueError as exc:
            raise dg.Failure(description=f"CLV fit on marts.orders failed: {exc}") from exc
        fit_id = str(uuid.uuid4())
        table = customer_clv_table(scores, horizon, rate, as_of, fit_id)
        bad = non_finite_columns(table.drop(columns=["expected_purchases_12m"]))
        if bad:
            # A NaN CLV would silently drop people from tiers and audiences: stop instead.
            raise dg.Failure(description=f"CLV scores are not finite (column: rows): {bad}")
        replace_table(conn, "customer_clv", table)
        fit_row = {
            "fit_id": fit_id,
            "fitted_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
            "calibration_end": as_of.astimezone(UTC).replace(tzinfo=None),
            "dagster_run_id": context.run.run_id,
            **record,
        }
        n_fits = append_row(conn, "clv_model_fits", fit_row)
        erased_scored = count_erased_scored(conn)

    fallbacks = table["fallback_reason"].fillna("none").value_counts().to_dict()
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CLV_KEY,
        metadata={
            "dagster/row_count": len(table),
            "as_of": as_of.isoformat(),
            "horizon_months": horizon,
            "annual_discount_rate": rate,
            "fit_status": str(record["fit_status"]),
            "total_clv": float(table["clv"].sum()),
            "total_expected_purchases": float(table["expected_purchases_horizon"].sum()),
            "churn_risk": dg.MetadataValue.json(table["churn_risk"].value_counts().to_dict()),
            "clv_tier": dg.MetadataValue.json(table["clv_tier"].value_counts().to_dict()),
            "fallback_reason": dg.MetadataValue.json(fallbacks),
        },
    )
    yield dg.MaterializeResult(
        asset_key=MODEL_FITS_KEY,
        metadata={
            "dagster/row_count": n_fits,
            **{f"fit/{k}": _metadata_value(v) for k, v in fit_row.items() if k != "dagster_run_id"},
        },
    )
    yield dg.AssetCheckResult(
        asset_key=CUSTOMER_CLV_KEY,
        check_name="scores_are_finite",
        passed=not bad,
        metadata={"rows": len(table)},
    )
    yield dg.AssetCheckResult(
        asset_key=CUSTOMER_CLV_KEY,
        check_name="no_erased_persons",
        passed=not erased_scored,
        metadata={
            "erased_persons_scored": erased_scored or 0,
            "erasure_list_found": erased_scored is not None,
        },
    )


def _fit_and_score_on_spark(
    context: dg.AssetExecutionContext,
    config: ClvConfig,
    as_of: datetime,
    horizon: int,
    rate: float,
    timezone: str,
):
    """CDP_ENGINE=spark: the summary and the scores on the cluster, the fit on the driver (sen/clv/spark.py),
    in a child process like every Spark step; the same tables, metadata and checks as on DuckDB."""
    try:
        out = in_child(clv_step, as_of, horizon, rate, timezone, config.min_repeat_buyers, context.run.run_id)
    except StepError as exc:
        raise dg.Failure(description=str(exc)) from exc
    record, fit_row = out["record"], out["fit_row"]
    yield dg.MaterializeResult(
        asset_key=CUSTOMER_CLV_KEY,
        metadata={
            "dagster/row_count": out["rows"],
            "as_of": as_of.isoformat(),
            "horizon_months": horizon,
            "annual_discount_rate": rate,
            "fit_status": str(record["fit_status"]),
            "total_clv": out["total_clv"],
            "total_expected_purchases": out["total_expected_purchases"],
            "churn_risk": dg.MetadataValue.json(out["churn_risk"]),
            "clv_tier": dg.MetadataValue.json(out["clv_tier"]),
            "fallback_reason": dg.MetadataValue.json(out["fallback_reason"]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=MODEL_FITS_KEY,
        metadata={
            "dagster/row_count": out["n_fits"],
            **{f"fit/{k}": _metadata_value(v) for k, v in fit_row.items() if k != "dagster_run_id"},
        },
    )
    # Non-finite scores stop the step in the child (a Failure above), so a written table is finite.
    yield dg.AssetCheckResult(
        asset_key=CUSTOMER_CLV_KEY,
        check_name="scores_are_finite",
        passed=True,
        metadata={"rows": out["rows"]},
    )
    erased = out["erased_scored"]
    yield dg.AssetCheckResult(
        asset_key=CUSTOMER_CLV_KEY,
        check_name="no_erased_persons",
        passed=not erased,
        metadata={"erased_persons_scored": erased or 0, "erasure_list_found": erased is not None},
    )


def _local_to_utc(value: object, timezone: str) -> pd.Timestamp:
    return pd.Timestamp(value).tz_localize(timezone).tz_convert("UTC").tz_localize(None)


def markdown_table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=",.2f")


@dg.asset(
    key=BACKTEST_KEY,
    deps=[ORDERS_KEY],
    group_name=VALUE_GROUP,
    kinds={"python", "duckdb", "spark"},  # both engines (sen/engines/spark_steps.py)
    description=(
        "Calibration/holdout backtest of the CLV model: fit on orders up to as_of minus the horizon, predict the "
        "holdout, compare with what happened. One row per calibration customer; the summary is in the metadata."
    ),
)
def clv_backtest(
    context: dg.AssetExecutionContext, config: ClvConfig, warehouse: Warehouse, run_clock: RunClock
) -> dg.MaterializeResult:
    as_of = run_clock.as_of()
    horizon, timezone = config.horizon(), config.business_timezone()
    if _settings().engine == "spark":
        try:
            out = in_child(backtest_step, as_of, horizon, timezone, config.min_repeat_buyers)
        except StepError as exc:
            raise dg.Failure(description=str(exc)) from exc
        return _backtest_result(
            context, out["rows"], out["summary"], out["by_frequency"], out["png"], horizon
        )
    with warehouse.connect() as conn:
        orders = read_orders(conn, as_of)
        try:
            per_person, summary, by_frequency, png = pipeline.backtest(
                orders,
                as_of,
                horizon_months=horizon,
                timezone=timezone,
                min_repeat_buyers=config.min_repeat_buyers,
            )
        except ValueError as exc:
            raise dg.Failure(description=f"CLV backtest on marts.orders failed: {exc}") from exc
        table = per_person.copy()
        table["fallback_reason"] = (
            table["fallback_reason"].astype(object).where(table["fallback_reason"].notna(), None)
        )
        # The library reports bounds as wall time of the business zone; the warehouse holds naive UTC.
        for bound in ("calibration_end", "holdout_end"):
            summary[bound] = _local_to_utc(summary[bound], timezone)
            table[bound] = summary[bound]
        replace_table(conn, "clv_backtest", table)
    return _backtest_result(context, len(table), summary, by_frequency, png, horizon)


def _backtest_result(
    context: dg.AssetExecutionContext,
    rows: int,
    summary: dict,
    by_frequency: pd.DataFrame,
    png: bytes,
    horizon: int,
) -> dg.MaterializeResult:
    image = base64.b64encode(png).decode("ascii")
    context.log.info(
        f"CLV backtest: predicted {summary['predicted_purchases']:.0f} vs actual {summary['actual_purchases']:.0f} "
        f"holdout purchases ({summary['n_customers']} customers)"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            **{k: _metadata_value(v) for k, v in summary.items()},
            "horizon_months": horizon,
            "by_calibration_frequency": dg.MetadataValue.md(markdown_table(by_frequency)),
            "plot": dg.MetadataValue.md(f"![plot](data:image/png;base64,{image})"),
        }
    )


clv_assets = [clv_fit_and_score, clv_backtest]
