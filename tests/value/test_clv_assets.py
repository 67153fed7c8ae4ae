"""The CLV Dagster assets on a small DuckDB warehouse: scores, fit log, fallbacks, backtest metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.assets.clv import (
    BACKTEST_KEY,
    CUSTOMER_CLV_KEY,
    MODEL_FITS_KEY,
    clv_assets,
    clv_backtest,
    clv_fit_and_score,
)
from orchestration.resources import RunClock, Warehouse

NUMERIC = [
    "frequency",
    "recency",
    "T",
    "monetary",
    "expected_purchases_horizon",
    "p_alive",
    "expected_avg_value",
    "clv",
]


def run(assets: list, path: Path, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(path))},
        run_config=run_config or {},
        raise_on_error=True,
    )


def materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert len(events) == 1
    return events[0].materialization.metadata


def query(path: Path, sql: str) -> pd.DataFrame:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute(sql).df()
    finally:
        conn.close()


def test_scores_every_buyer_once_with_finite_values(warehouse_with, orders):
    # A buyer whose only order comes after as-of, and one whose only order was refunded, are not customers yet.
    extra = pd.DataFrame(
        {
            "person_id": ["FUTURE", "REFUNDED"],
            "order_id": ["SOF", "SOR"],
            "ordered_at": [pd.Timestamp("2026-07-02"), pd.Timestamp("2026-01-05")],
            "net_amount": [500_000.0, 0.0],
            "is_fully_refunded": [False, True],
        }
    )
    path = warehouse_with(pd.concat([orders, extra], ignore_index=True))
    result = run([clv_fit_and_score], path)

    clv = query(path, "select * from marts.customer_clv")
    expected = set(orders.loc[orders["ordered_at"] <= pd.Timestamp("2026-06-30 12:00"), "person_id"])
    assert set(clv["person_id"]) == expected
    assert clv["person_id"].is_unique
    assert np.isfinite(clv[NUMERIC].to_numpy(dtype=float)).all()
    assert (clv["clv"] >= 0).all() and clv["p_alive"].between(0, 1).all()
    assert set(clv["churn_risk"]) <= {"low", "medium", "high"}
    assert set(clv["clv_tier"]) == {"top_1pct", "top_10pct", "top_50pct", "rest"}
    # The default horizon fills the interface's 12-month column.
    assert (clv["expected_purchases_12m"] == clv["expected_purchases_horizon"]).all()
    # Enough repeat buyers: the probabilistic models apply; single buyers are flagged, not dropped.
    fit = query(path, "select * from marts.clv_model_fits")
    assert fit.loc[0, "fit_status"] == "mle"
    singles = clv["frequency"] == 0
    assert singles.any()
    assert set(clv.loc[singles, "fallback_reason"]) <= {"no_repeat_purchases", "first_purchase_today"}
    assert clv.loc[~singles, "fallback_reason"].isna().all()
    checks = result.get_asset_check_evaluations()
    assert {c.check_name: c.passed for c in checks} == {"scores_are_finite": True, "no_erased_persons": True}


def test_each_run_appends_one_fit_row_also_in_metadata(warehouse_with, orders):
    path = warehouse_with(orders)
    first = run([clv_fit_and_score], path)
    run([clv_fit_and_score], path)

    fits = query(path, "select * from marts.clv_model_fits order by fitted_at")
    assert len(fits) == 2
    assert fits["fit_id"].is_unique
    row = fits.iloc[0]
    assert row["time_unit"] == "days"
    assert row["n_customers"] == len(query(path, "select * from marts.customer_clv"))
    assert row["bgnbd_r"] > 0 and row["bgnbd_alpha"] > 0 and np.isfinite(row["bgnbd_log_likelihood"])
    assert row["calibration_end"] == pd.Timestamp("2026-06-30 12:00")
    # The scores point at the fit that produced them.
    assert set(query(path, "select distinct fit_id from marts.customer_clv")["fit_id"]) == {
        fits.iloc[1]["fit_id"]
    }

    fit_meta = materialization(first, MODEL_FITS_KEY)
    assert fit_meta["fit/bgnbd_r"].value == pytest.approx(row["bgnbd_r"])
    assert fit_meta["dagster/row_count"].value == 1


def test_thin_data_falls_back_to_heuristics_without_nan(warehouse_with, make_orders):
    path = warehouse_with(make_orders(12, seed=3))
    run([clv_fit_and_score], path)

    clv = query(path, "select * from marts.customer_clv")
    assert len(clv) > 0
    assert np.isfinite(clv[NUMERIC].to_numpy(dtype=float)).all()
    assert set(clv["fallback_reason"]) == {"heuristic_fit"}
    fit = query(path, "select fit_status, notes from marts.clv_model_fits")
    assert fit.loc[0, "fit_status"] == "heuristic"
    assert "repeat buyers" in fit.loc[0, "notes"]


def test_horizon_and_discount_rate_from_config_and_environment(warehouse_with, orders, monkeypatch):
    path = warehouse_with(orders)
    run([clv_fit_and_score], path)
    base = query(path, "select person_id, clv, expected_purchases_horizon from marts.customer_clv order by 1")

    monkeypatch.setenv("CDP_CLV_HORIZON_MONTHS", "6")
    run([clv_fit_and_score], path)
    six = query(path, "select * from marts.customer_clv order by person_id")
    assert (six["horizon_months"] == 6).all()
    assert six["expected_purchases_12m"].isna().all()  # not mislabelled as 12 months
    assert (six["expected_purchases_horizon"] <= base["expected_purchases_horizon"] + 1e-9).all()
    assert six["expected_purchases_horizon"].sum() < base["expected_purchases_horizon"].sum()

    # Run config wins over the environment; a higher discount rate lowers CLV.
    config = {"ops": {"clv_fit_and_score": {"config": {"horizon_months": 12, "annual_discount_rate": 0.5}}}}
    run([clv_fit_and_score], path, config)
    steep = query(path, "select * from marts.customer_clv order by person_id")
    assert (steep["horizon_months"] == 12).all() and (steep["annual_discount_rate"] == 0.5).all()
    assert steep["clv"].sum() < base["clv"].sum()


def test_invalid_environment_value_fails_with_its_name(warehouse_with, orders, monkeypatch):
    path = warehouse_with(orders)
    monkeypatch.setenv("CDP_CLV_DISCOUNT_RATE", "ten percent")
    result = dg.materialize(
        [clv_fit_and_score],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(path))},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "CDP_CLV_DISCOUNT_RATE" in str(failure)


def test_backtest_table_and_summary_metadata(warehouse_with, orders):
    path = warehouse_with(orders)
    result = run([clv_backtest], path)

    table = query(path, "select * from marts.clv_backtest")
    # Calibration ends 12 months before as-of: only people who bought by then are scored.
    cal_end = pd.Timestamp("2025-06-30 12:00")
    assert set(table["person_id"]) == set(orders.loc[orders["ordered_at"] <= cal_end, "person_id"])
    assert np.isfinite(table[["predicted_purchases", "predicted_revenue"]].to_numpy(dtype=float)).all()
    assert (table["calibration_end"] == cal_end).all()  # stored as naive UTC like every timestamp

    meta = materialization(result, BACKTEST_KEY)
    for key in (
        "predicted_purchases",
        "actual_purchases",
        "predicted_revenue",
        "actual_revenue",
        "mae_purchases",
    ):
        assert key in meta
    assert meta["actual_purchases"].value == pytest.approx(float(table["actual_purchases"].sum()))
    assert "| calibration_frequency" in meta["by_calibration_frequency"].value
    assert meta["plot"].value.startswith("![plot](data:image/png;base64,iVBORw0KGgo")
    # On data drawn from the model family the aggregate holdout error stays moderate.
    assert abs(meta["purchases_error_pct"].value) < 25


def test_assets_are_exposed_with_their_keys():
    keys = {key for asset in clv_assets for key in asset.keys}
    assert keys == {CUSTOMER_CLV_KEY, MODEL_FITS_KEY, BACKTEST_KEY}
    for asset in clv_assets:
        for key in asset.keys:
            assert dg.AssetKey(["marts", "orders"]) in {d.asset_key for d in asset.get_asset_spec(key).deps}


def test_erasure_check_flags_a_scored_erased_person(warehouse_with, orders):
    path = warehouse_with(orders)
    conn = duckdb.connect(str(path))
    try:
        conn.execute("create schema intermediate")
        conn.execute("create table intermediate.int_erased_persons as select 'P00001' as person_id")
    finally:
        conn.close()
    result = dg.materialize(
        [clv_fit_and_score],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(path))},
        raise_on_error=False,
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["no_erased_persons"].passed is False
    assert checks["no_erased_persons"].metadata["erased_persons_scored"].value == 1


def test_no_orders_gives_typed_empty_tables_and_later_fits_append(warehouse_with, orders):
    path = warehouse_with(orders.head(0))
    run(clv_assets, path)
    types = dict(query(path, "select column_name, column_type from (describe marts.customer_clv)").values)
    assert (
        types["person_id"] == "VARCHAR" and types["fallback_reason"] == "VARCHAR" and types["clv"] == "DOUBLE"
    )
    assert len(query(path, "select * from marts.customer_clv")) == 0
    assert len(query(path, "select * from marts.clv_backtest")) == 0

    # The first fit had no parameters; a later real fit still appends its numbers to the same table.
    conn = duckdb.connect(str(path))
    try:
        conn.register("_orders", orders)
        conn.execute("insert into marts.orders by name select * from _orders")
    finally:
        conn.close()
    run([clv_fit_and_score], path)
    fits = query(
        path, "select fit_status, bgnbd_r, notes from marts.clv_model_fits order by fitted_at, fit_status"
    )
    assert sorted(fits["fit_status"]) == ["heuristic", "mle"]
    assert fits["bgnbd_r"].notna().sum() == 1
