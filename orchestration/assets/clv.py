"""Predictive CLV as Dagster assets: marts.orders in, marts.customer_clv / clv_model_fits / clv_backtest out.

The model (BG/NBD purchases + Gamma-Gamma spend, fallbacks, bands, tiers) lives in ``sen.clv``; these assets only
read the warehouse, call ``sen.clv.pipeline`` and write the results back. Only orders at or before CDP_AS_OF are
used. Horizon and discount rate come from the run config, else CDP_CLV_HORIZON_MONTHS / CDP_CLV_DISCOUNT_RATE,
else 12 months and 10 % a year. See docs/customer_value.md.
"""

import base64
import math
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from pydantic import Field

from orchestration.resources import Warehouse
from sen import config
from sen.clv import pipeline
from sen.clv.model import DEFAULT_MIN_REPEAT_BUYERS

VALUE_GROUP = "marts"  # the tables live in the marts schema, next to the dbt marts
ORDERS_KEY = dg.AssetKey(["marts", "orders"])
CUSTOMER_CLV_KEY = dg.AssetKey(["marts", "customer_clv"])
MODEL_FITS_KEY = dg.AssetKey(["marts", "clv_model_fits"])
BACKTEST_KEY = dg.AssetKey(["marts", "clv_backtest"])

HORIZON_ENV = "CDP_CLV_HORIZON_MONTHS"
DISCOUNT_ENV = "CDP_CLV_DISCOUNT_RATE"
DEFAULT_HORIZON_MONTHS = 12
DEFAULT_DISCOUNT_RATE = 0.1
# Purchase occasions are calendar days of the business (same-day orders are one occasion), as in marts.orders.
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"

# Fit-record fields that hold text; other empty fields are numbers (the parameters of a model not fitted).
FIT_TEXT_COLUMNS = frozenset(
    {
        "fit_id",
        "dagster_run_id",
        "fit_status",
        "purchase_model",
        "spend_model",
        "time_unit",
        "notes",
        "as_of",
        "timezone",
    }
)
# Purchases: orders of known persons that were not refunded in full (marts.orders already drops cancelled,
# voided, test and erased orders).
ORDERS_SQL = """
    select person_id, ordered_at, cast(net_amount as double) as net_amount
    from marts.orders
    where person_id is not null
      and not is_fully_refunded
      and ordered_at <= ?
"""


def _env_number(name: str, cast: type[int] | type[float]) -> int | float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return cast(raw)
    except ValueError as exc:
        raise dg.Failure(description=f"{name}={raw!r} is not a valid {cast.__name__}") from exc


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
    timezone: str = Field(
        default=DEFAULT_TIMEZONE, description="Time zone whose calendar days are occasions."
    )

    def horizon(self) -> int:
        value = self.horizon_months
        if value is None:
            value = _env_number(HORIZON_ENV, int)
        value = DEFAULT_HORIZON_MONTHS if value is None else value
        if value < 1:
            raise dg.Failure(description=f"CLV horizon must be at least 1 month, got {value}")
        return int(value)

    def discount_rate(self) -> float:
        value = self.annual_discount_rate
        if value is None:
            value = _env_number(DISCOUNT_ENV, float)
        value = DEFAULT_DISCOUNT_RATE if value is None else value
        if not (math.isfinite(value) and value > -1.0):
            raise dg.Failure(description=f"CLV annual discount rate must be a number > -1, got {value}")
        return float(value)


def read_orders(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> pd.DataFrame:
    """Purchases at or before ``as_of`` (naive UTC in the warehouse)."""
    cutoff = as_of.astimezone(UTC).replace(tzinfo=None)
    return conn.execute(ORDERS_SQL, [cutoff]).df()


def typed_select(
    conn: duckdb.DuckDBPyConnection, relation: str, types: Mapping[str, str] | None = None
) -> str:
    """A select list casting every column of ``relation``: to ``types[column]`` if given, else to its inferred
    type, and all-null columns (pandas cannot tell their type) to VARCHAR rather than DuckDB's NULL type."""
    types = types or {}
    described = conn.execute(f"select column_name, column_type from (describe {relation})").fetchall()
    parts = []
    for column, inferred in described:
        target = types.get(column) or ("VARCHAR" if inferred.strip('"') == "NULL" else inferred)
        parts.append(f'cast("{column}" as {target}) as "{column}"')
    return ", ".join(parts)


def replace_table(
    conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, types: Mapping[str, str] | None = None
) -> None:
    """Swap ``marts.<table>`` for ``frame`` in one transaction, so readers never see a half-written table."""
    conn.execute("create schema if not exists marts")
    conn.register("_frame", frame)
    try:
        select = typed_select(conn, "_frame", types)
        conn.execute("begin transaction")
        conn.execute(f'create or replace table marts."{table}" as select {select} from _frame')
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    finally:
        conn.unregister("_frame")


def fit_row_types(row: Mapping[str, Any]) -> dict[str, str]:
    """Column types for the empty values of a fit row (heuristic fits leave the model parameters empty)."""
    types = {}
    for key, value in row.items():
        if value is None:
            if key.endswith("_converged"):
                types[key] = "BOOLEAN"
            elif key in FIT_TEXT_COLUMNS:
                types[key] = "VARCHAR"
            else:
                types[key] = "DOUBLE"
    return types


def append_row(conn: duckdb.DuckDBPyConnection, table: str, row: Mapping[str, Any]) -> int:
    """Append one row by column name, adding columns the table does not have yet; returns the row count."""
    frame = pd.DataFrame([dict(row)])
    conn.execute("create schema if not exists marts")
    conn.register("_row", frame)
    try:
        select = typed_select(conn, "_row", fit_row_types(row))
        conn.execute(f"create or replace temp view _typed_row as select {select} from _row")
        exists = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = ?",
            [table],
        ).fetchall()[0][0]
        if not exists:
            conn.execute(f'create table marts."{table}" as select * from _typed_row')
        else:
            have = {
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = ?",
                    [table],
                ).fetchall()
            }
            types = dict(
                conn.execute("select column_name, column_type from (describe _typed_row)").fetchall()
            )
            for column in frame.columns:
                if column not in have:
                    conn.execute(f'alter table marts."{table}" add column "{column}" {types[column]}')
            conn.execute(f'insert into marts."{table}" by name select * from _typed_row')
        return int(conn.execute(f'select count(*) from marts."{table}"').fetchall()[0][0])
    finally:
        conn.execute("drop view if exists _typed_row")
        conn.unregister("_row")


def count_erased_scored(conn: duckdb.DuckDBPyConnection) -> int | None:
    """Scored persons with an erasure request; None when the erasure list does not exist (no identity run yet)."""
    exists = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'intermediate' and table_name = 'int_erased_persons'"
    ).fetchall()[0][0]
    if not exists:
        return None
    return int(
        conn.execute(
            "select count(*) from marts.customer_clv where person_id in "
            "(select person_id from intermediate.int_erased_persons)"
        ).fetchall()[0][0]
    )


def _non_finite_columns(frame: pd.DataFrame) -> dict[str, int]:
    out = {}
    for column in frame.select_dtypes(include="number").columns:
        bad = int((~np.isfinite(frame[column].to_numpy(dtype=np.float64))).sum())
        if bad:
            out[column] = bad
    return out


def customer_clv_table(
    scores: pd.DataFrame, horizon_months: int, discount_rate: float, as_of: datetime, fit_id: str
) -> pd.DataFrame:
    """The marts.customer_clv layout: library scores plus the settings that produced them."""
    table = scores.copy()
    # The interface name is for the default 12-month horizon; other horizons leave it empty rather than mislabel.
    table.insert(
        table.columns.get_loc("expected_purchases_horizon") + 1,
        "expected_purchases_12m",
        table["expected_purchases_horizon"] if horizon_months == 12 else np.nan,
    )
    table["fallback_reason"] = (
        table["fallback_reason"].astype(object).where(table["fallback_reason"].notna(), None)
    )
    table["horizon_months"] = horizon_months
    table["annual_discount_rate"] = discount_rate
    table["as_of"] = as_of.astimezone(UTC).replace(tzinfo=None)
    table["fit_id"] = fit_id
    return table


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
            kinds={"python", "duckdb"},
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
            kinds={"python", "duckdb"},
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
def clv_fit_and_score(context: dg.AssetExecutionContext, config: ClvConfig, warehouse: Warehouse):
    as_of = config_as_of()
    horizon, rate = config.horizon(), config.discount_rate()
    with warehouse.connect() as conn:
        orders = read_orders(conn, as_of)
        try:
            scores, record = pipeline.fit_and_score(
                orders,
                as_of,
                horizon_months=horizon,
                annual_discount_rate=rate,
                timezone=config.timezone,
                min_repeat_buyers=config.min_repeat_buyers,
            )
        except ValueError as exc:
            raise dg.Failure(description=f"CLV fit on marts.orders failed: {exc}") from exc
        fit_id = str(uuid.uuid4())
        table = customer_clv_table(scores, horizon, rate, as_of, fit_id)
        bad = _non_finite_columns(table.drop(columns=["expected_purchases_12m"]))
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


def config_as_of() -> datetime:
    try:
        return config.as_of()
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from exc


def _local_to_utc(value: object, timezone: str) -> pd.Timestamp:
    return pd.Timestamp(value).tz_localize(timezone).tz_convert("UTC").tz_localize(None)


def markdown_table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=",.2f")


@dg.asset(
    key=BACKTEST_KEY,
    deps=[ORDERS_KEY],
    group_name=VALUE_GROUP,
    kinds={"python", "duckdb"},
    description=(
        "Calibration/holdout backtest of the CLV model: fit on orders up to as_of minus the horizon, predict the "
        "holdout, compare with what happened. One row per calibration customer; the summary is in the metadata."
    ),
)
def clv_backtest(
    context: dg.AssetExecutionContext, config: ClvConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    as_of = config_as_of()
    horizon = config.horizon()
    with warehouse.connect() as conn:
        orders = read_orders(conn, as_of)
        try:
            per_person, summary, by_frequency, png = pipeline.backtest(
                orders,
                as_of,
                horizon_months=horizon,
                timezone=config.timezone,
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
            summary[bound] = _local_to_utc(summary[bound], config.timezone)
            table[bound] = summary[bound]
        replace_table(conn, "clv_backtest", table)

    image = base64.b64encode(png).decode("ascii")
    context.log.info(
        f"CLV backtest: predicted {summary['predicted_purchases']:.0f} vs actual {summary['actual_purchases']:.0f} "
        f"holdout purchases ({summary['n_customers']} customers)"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            **{k: _metadata_value(v) for k, v in summary.items()},
            "horizon_months": horizon,
            "by_calibration_frequency": dg.MetadataValue.md(markdown_table(by_frequency)),
            "plot": dg.MetadataValue.md(f"![plot](data:image/png;base64,{image})"),
        }
    )


clv_assets = [clv_fit_and_score, clv_backtest]
