"""The orchestration entry points: orders in, one score row per person / a backtest out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sen.clv import pipeline


def test_fit_and_score_cdnow(cdnow_orders: pd.DataFrame) -> None:
    scores, record = pipeline.fit_and_score(
        cdnow_orders, "1997-09-30", horizon_months=12, annual_discount_rate=0.1
    )
    assert list(scores.columns) == list(pipeline.SCORE_COLUMNS)
    assert len(scores) == scores["person_id"].nunique() == 2357
    numeric = scores[
        [
            "frequency",
            "recency",
            "T",
            "monetary",
            "expected_purchases_horizon",
            "p_alive",
            "expected_avg_value",
            "clv",
        ]
    ]
    assert numeric.notna().all().all()
    assert ((scores["p_alive"] >= 0) & (scores["p_alive"] <= 1)).all()
    assert record["fit_status"] == "mle" and record["time_unit"] == "days"
    assert record["bgnbd_alpha"] == pytest.approx(4.414 * 7, rel=0.01)
    assert record["gg_n_customers"] == 946
    # CDNOW's repeat spend is nearly independent of frequency, as Gamma-Gamma assumes.
    assert record["spend_frequency_correlation"] == pytest.approx(0.114, abs=0.002)
    assert record["total_clv"] == pytest.approx(scores["clv"].sum())
    # Model rows have no fallback reason; single buyers are flagged.
    repeat = scores["frequency"] > 0
    assert scores.loc[repeat, "fallback_reason"].isna().all()
    assert set(scores.loc[~repeat, "fallback_reason"]) == {"no_repeat_purchases", "non_positive_spend"}
    assert set(scores["churn_risk"]) == {"low", "medium", "high"}
    assert scores["clv_tier"].value_counts()["top_1pct"] == 23  # floor(1% of 2357)
    assert scores.sort_values("clv", ascending=False).iloc[0]["clv_tier"] == "top_1pct"


def test_fit_and_score_on_a_tiny_shop_is_heuristic_and_complete() -> None:
    orders = pd.DataFrame(
        {
            "person_id": ["a", "a", "b", "c", "c"],
            "ordered_at": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-03-01 09:00",
                    "2024-06-30 10:00",
                    "2024-02-01 09:00",
                    "2024-02-15 09:00",
                ]
            ),
            "net_amount": [100.0, 50.0, 20.0, 10.0, -10.0],
        }
    )
    scores, record = pipeline.fit_and_score(orders, "2024-06-30 12:00")
    assert record["fit_status"] == "heuristic" and record["n_customers"] == 3
    assert set(scores["fallback_reason"]) == {"heuristic_fit"}
    assert (
        np.isfinite(scores[["expected_purchases_horizon", "p_alive", "expected_avg_value", "clv"]])
        .all()
        .all()
    )
    c = scores.set_index("person_id").loc["c"]
    assert c["monetary"] == 0.0 and c["clv"] == 0.0 and c["expected_purchases_horizon"] > 0


def test_backtest_default_split_is_as_of_minus_horizon(cdnow_orders: pd.DataFrame) -> None:
    per_person, summary, by_frequency, png = pipeline.backtest(cdnow_orders, "1998-06-30", horizon_months=6)
    assert summary["calibration_end"] == "1997-12-30T00:00:00"
    assert summary["holdout_days"] == 182
    assert summary["actual_purchases"] == per_person["actual_purchases"].sum()
    assert summary["mae_purchases"] == pytest.approx(
        (per_person["predicted_purchases"] - per_person["actual_purchases"]).abs().mean()
    )
    assert by_frequency["n_customers"].sum() == len(per_person)
    assert png[:4] == b"\x89PNG"
