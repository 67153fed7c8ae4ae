"""The warehouse side of CLV: read the purchases, write scores, fits and backtests (DuckDB, no Dagster here).

The model lives beside it in ``sen.clv``; the Dagster assets (orchestration/assets/clv.py) only call these and
``sen.clv.pipeline``. Tables are written to the ``marts`` schema, next to the dbt marts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

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


def non_finite_columns(frame: pd.DataFrame) -> dict[str, int]:
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
