"""Calibration / holdout backtest: fit on orders up to a split date, predict the holdout, compare with actuals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sen.clv import scoring
from sen.clv.model import DEFAULT_MIN_REPEAT_BUYERS, ClvModel, fit_clv_model
from sen.clv.orders import OrderFrame, purchase_occasions
from sen.clv.summary import summarise_occasions

# Calibration frequencies 0..TOP_BUCKET-1 get their own row, the rest share "TOP_BUCKET+".
TOP_BUCKET = 7


@dataclass(frozen=True)
class BacktestResult:
    model: ClvModel
    per_person: pd.DataFrame
    summary: dict[str, object]
    by_frequency: pd.DataFrame


def _pct_error(predicted: float, actual: float) -> float | None:
    return None if actual == 0 else 100.0 * (predicted - actual) / actual


def run_backtest(
    frame: OrderFrame,
    calibration_end: pd.Timestamp,
    holdout_end: pd.Timestamp,
    *,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
) -> BacktestResult:
    """Backtest on wall-time bounds (see ``OrderFrame.local``); times in days.

    Customers are those with an occasion on or before ``calibration_end``; people whose first order falls in
    the holdout are counted in the summary but not scored (the model predicts existing customers).
    Holdout values use the same occasion definition as the calibration (same-day merge, clipped at 0).
    """
    if holdout_end <= calibration_end:
        raise ValueError(f"holdout end {holdout_end} must be after calibration end {calibration_end}")
    cal = summarise_occasions(purchase_occasions(frame, calibration_end), calibration_end.normalize())
    hold = purchase_occasions(frame, holdout_end, start_exclusive=calibration_end)
    actual = hold.groupby("person_id", sort=False, observed=True)["value"].agg(["size", "sum"])
    return backtest_from_summaries(
        cal, actual, calibration_end, holdout_end, min_repeat_buyers=min_repeat_buyers
    )


def backtest_from_summaries(
    cal: pd.DataFrame,
    actual: pd.DataFrame,
    calibration_end: pd.Timestamp,
    holdout_end: pd.Timestamp,
    *,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
) -> BacktestResult:
    """The backtest from its two per-customer inputs, however they were computed (pandas here, Spark in
    sen.clv.spark): ``cal``, the calibration summary in person_id order (summarise_occasions), and ``actual``,
    the holdout occasions per person (index person_id, columns size and sum)."""
    model = fit_clv_model(
        cal["frequency"],
        cal["recency"],
        cal["T"],
        cal["monetary"],
        cal["first_value"],
        time_unit="days",
        min_repeat_buyers=min_repeat_buyers,
    )
    holdout_days = float((holdout_end.normalize() - calibration_end.normalize()).days)
    x = cal["frequency"].to_numpy(dtype=np.float64)
    t_x = cal["recency"].to_numpy(dtype=np.float64)
    age = cal["T"].to_numpy(dtype=np.float64)
    m = cal["monetary"].to_numpy(dtype=np.float64)
    first = cal["first_value"].to_numpy(dtype=np.float64)
    predicted = scoring.expected_purchases(model, holdout_days, x, t_x, age)
    value, non_positive = scoring.expected_average_value(model, x, m, first)

    known = actual.index.isin(cal["person_id"])
    actual_known = actual.loc[known].reindex(cal["person_id"], fill_value=0)

    per_person = cal[["person_id", "frequency", "recency", "T", "monetary"]].copy()
    per_person["predicted_purchases"] = predicted
    per_person["actual_purchases"] = actual_known["size"].to_numpy(dtype=np.int64)
    per_person["predicted_revenue"] = predicted * value
    per_person["actual_revenue"] = actual_known["sum"].to_numpy(dtype=np.float64)
    per_person["fallback_reason"] = scoring.fallback_reasons(model, x, age, non_positive)

    pred_p = float(per_person["predicted_purchases"].sum())
    act_p = float(per_person["actual_purchases"].sum())
    pred_r = float(per_person["predicted_revenue"].sum())
    act_r = float(per_person["actual_revenue"].sum())
    summary: dict[str, object] = {
        "calibration_end": calibration_end.isoformat(),
        "holdout_end": holdout_end.isoformat(),
        "holdout_days": holdout_days,
        "fit_status": model.fit_status,
        "n_customers": len(per_person),
        "predicted_purchases": pred_p,
        "actual_purchases": act_p,
        "purchases_error_pct": _pct_error(pred_p, act_p),
        "predicted_revenue": pred_r,
        "actual_revenue": act_r,
        "revenue_error_pct": _pct_error(pred_r, act_r),
        "mae_purchases": float(
            np.abs(per_person["predicted_purchases"] - per_person["actual_purchases"]).mean()
        )
        if len(per_person)
        else None,
        "mae_revenue": float(np.abs(per_person["predicted_revenue"] - per_person["actual_revenue"]).mean())
        if len(per_person)
        else None,
        "n_new_customers_in_holdout": int((~known).sum()),
        "new_customers_holdout_revenue": float(actual.loc[~known, "sum"].sum()),
    }
    return BacktestResult(
        model=model, per_person=per_person, summary=summary, by_frequency=by_frequency(per_person)
    )


def by_frequency(per_person: pd.DataFrame) -> pd.DataFrame:
    """Mean predicted vs actual holdout purchases and revenue per calibration frequency (0..6, 7+)."""
    bucket = per_person["frequency"].clip(upper=TOP_BUCKET).to_numpy()
    grouped = per_person.assign(bucket=bucket).groupby("bucket", sort=True)
    table = grouped.agg(
        n_customers=("person_id", "size"),
        predicted_purchases_mean=("predicted_purchases", "mean"),
        actual_purchases_mean=("actual_purchases", "mean"),
        predicted_revenue_mean=("predicted_revenue", "mean"),
        actual_revenue_mean=("actual_revenue", "mean"),
    ).reset_index()
    labels = [f"{b}+" if b == TOP_BUCKET else str(b) for b in table["bucket"]]
    table.insert(0, "calibration_frequency", labels)
    return table.drop(columns="bucket")
