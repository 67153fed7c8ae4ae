"""Entry points for orchestration: orders table in, CLV scores / backtest out (pandas only, no I/O).

orders_df columns: person_id, ordered_at (timestamp), net_amount (float). Times in the outputs are in days.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from sen.clv import scoring
from sen.clv.backtest import run_backtest
from sen.clv.bands import ChurnRules, ClvTiers, churn_risk, clv_tier
from sen.clv.model import DEFAULT_MIN_REPEAT_BUYERS, fit_clv_model
from sen.clv.orders import Timestampish, load_orders, purchase_occasions
from sen.clv.plot import backtest_png
from sen.clv.summary import summarise_occasions

SCORE_COLUMNS = (
    "person_id",
    "frequency",
    "recency",
    "T",
    "monetary",
    "expected_purchases_horizon",
    "p_alive",
    "expected_avg_value",
    "clv",
    "churn_risk",
    "clv_tier",
    "fallback_reason",
)


def fit_and_score(
    orders_df: pd.DataFrame,
    as_of: Timestampish,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.1,
    *,
    timezone: str | None = None,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    churn_rules: ChurnRules | None = None,
    tiers: ClvTiers | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Fit on every order at or before ``as_of`` and score each person who has one.

    Returns (scores_df with SCORE_COLUMNS, one row per person; fit_record, a flat dict for ``clv_model_fits``).
    """
    started = time.perf_counter()
    frame = load_orders(orders_df, timezone=timezone)
    end = frame.local(as_of)
    summary = summarise_occasions(purchase_occasions(frame, end), end.normalize(), "days")
    cols = {
        c: summary[c].to_numpy(dtype=np.float64)
        for c in ("frequency", "recency", "T", "monetary", "first_value")
    }
    model = fit_clv_model(
        cols["frequency"],
        cols["recency"],
        cols["T"],
        cols["monetary"],
        cols["first_value"],
        time_unit="days",
        min_repeat_buyers=min_repeat_buyers,
    )
    fitted = time.perf_counter()
    scores = scoring.score(
        model,
        cols["frequency"],
        cols["recency"],
        cols["T"],
        cols["monetary"],
        cols["first_value"],
        horizon_months=horizon_months,
        annual_discount_rate=annual_discount_rate,
    )
    out = summary[["person_id", "frequency", "recency", "T", "monetary"]].copy()
    for name in ("expected_purchases_horizon", "p_alive", "expected_avg_value", "clv"):
        out[name] = scores[name]
    out["churn_risk"] = churn_risk(
        scores["p_alive"], cols["frequency"], cols["T"] - cols["recency"], churn_rules
    )
    out["clv_tier"] = clv_tier(scores["clv"], out["person_id"].to_numpy(), tiers)
    out["fallback_reason"] = scores["fallback_reason"]
    finished = time.perf_counter()

    record = model.to_record()
    record.update(
        {
            "as_of": pd.Timestamp(as_of).isoformat(),
            "horizon_months": int(horizon_months),
            "annual_discount_rate": float(annual_discount_rate),
            "timezone": timezone,
            "n_orders_used": int((frame.orders["ordered_at"] <= end).sum()),
            "total_clv": float(out["clv"].sum()),
            "total_expected_purchases": float(out["expected_purchases_horizon"].sum()),
            "fit_seconds": round(fitted - started, 3),
            "score_seconds": round(finished - fitted, 3),
        }
    )
    return out.loc[:, list(SCORE_COLUMNS)], record


def backtest(
    orders_df: pd.DataFrame,
    as_of: Timestampish,
    horizon_months: int = 12,
    *,
    calibration_end: Timestampish | None = None,
    timezone: str | None = None,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
) -> tuple[pd.DataFrame, dict[str, object], pd.DataFrame, bytes]:
    """Fit on orders up to ``calibration_end`` (default: as_of minus horizon_months), predict to ``as_of``.

    Returns (per_person_df, summary_dict, by_frequency_df, png_bytes).
    """
    frame = load_orders(orders_df, timezone=timezone)
    cal_input = (
        calibration_end
        if calibration_end is not None
        else pd.Timestamp(as_of) - pd.DateOffset(months=horizon_months)
    )
    result = run_backtest(
        frame, frame.local(cal_input), frame.local(as_of), min_repeat_buyers=min_repeat_buyers
    )
    return backtest_outputs(result, as_of)


def backtest_outputs(result, as_of) -> tuple:
    """A backtest's tables, its summary stamped with the as-of time and its chart (DuckDB and Spark paths)."""
    summary = dict(result.summary)
    summary["as_of"] = pd.Timestamp(as_of).isoformat()
    png = backtest_png(
        result.by_frequency,
        title=f"Holdout {summary['holdout_days']:.0f} days: predicted vs actual purchases",
    )
    return result.per_person, summary, result.by_frequency, png
