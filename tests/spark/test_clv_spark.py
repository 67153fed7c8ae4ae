"""CLV on Spark scores every customer as sen.clv.pipeline.fit_and_score does (within 1e-9 relative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sen.clv import pipeline
from sen.clv.bgnbd import BgNbdParams
from sen.clv.gamma_gamma import GammaGammaParams
from sen.clv.model import fit_clv_model
from sen.clv.simulate import simulate_orders, simulate_summary
from sen.clv.summary import build_summary

pytestmark = pytest.mark.spark

AS_OF = "2025-06-30 23:59:59"


def orders() -> pd.DataFrame:
    bg = BgNbdParams(r=0.25, alpha=30.0, a=0.8, b=2.5, time_unit="days")
    gg = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    summary = simulate_summary(3000, bg, gg, max_age=365, seed=21)
    frame = simulate_orders(summary, AS_OF, gg, seed=22)
    frame["person_id"] = "p_" + frame["person_id"].astype(str)
    # Returns: a negative order (an occasion below 0 is valued at 0) and orders after as_of (left out).
    extra = pd.DataFrame(
        {
            "person_id": ["p_0", "p_1", "p_2"],
            "ordered_at": pd.to_datetime(["2025-06-29 10:00", "2025-07-02 10:00", "2025-06-30 23:00"]),
            "net_amount": [-5000.0, 120.0, 30.0],
        }
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    frame["ordered_at"] = frame["ordered_at"].dt.floor("us")  # Spark keeps microseconds
    return frame


FLOATS = (
    "frequency",
    "recency",
    "T",
    "monetary",
    "expected_purchases_horizon",
    "p_alive",
    "expected_avg_value",
    "clv",
)


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(person_id=frame["person_id"].astype(str))
    return frame.sort_values("person_id").reset_index(drop=True)


@pytest.mark.parametrize("timezone", [None, "Asia/Ho_Chi_Minh"])
def test_spark_clv_equals_the_pandas_path(spark, timezone) -> None:
    from sen.clv.spark import fit_and_score_spark, score_spark, summary_spark

    frame = orders()
    expected, expected_record = pipeline.fit_and_score(frame, AS_OF, timezone=timezone)
    assert expected_record["fit_status"] == "mle"  # the fitted models, not the fallback
    expected = sorted_frame(expected)
    orders_spark = spark.createDataFrame(frame)

    # Row-wise scoring on the executors, with the model the pandas path fitted: equal within 1e-9.
    summary = build_summary(frame, AS_OF, timezone=timezone)
    model = fit_clv_model(
        *(summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary", "first_value")),
        time_unit="days",
    )
    spark_summary = summary_spark(orders_spark, AS_OF, timezone=timezone)
    got = sorted_frame(score_spark(spark_summary, model).toPandas())
    assert len(got) == len(expected) > 2900
    assert list(got.columns) == list(expected.columns)
    assert (got["person_id"] == expected["person_id"]).all()
    for column in FLOATS:
        np.testing.assert_allclose(
            got[column].to_numpy(float),
            expected[column].to_numpy(float),
            rtol=1e-9,
            atol=1e-12,
            err_msg=column,
        )
    for column in ("churn_risk", "clv_tier", "fallback_reason"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert set(got["clv_tier"]) == {"top_1pct", "top_10pct", "top_50pct", "rest"}

    # End to end (the fit on the summary Spark built): the summaries' sums may differ in the last bit (another
    # summation order), which moves the optimiser's stopping point by ~1e-8 relative, not more.
    scores, record = fit_and_score_spark(orders_spark, AS_OF, timezone=timezone)
    got = sorted_frame(scores.toPandas())
    np.testing.assert_allclose(
        got["clv"].to_numpy(float), expected["clv"].to_numpy(float), rtol=1e-6, atol=1e-9
    )
    for key in ("n_customers", "n_repeat_buyers", "n_orders_used"):
        assert record[key] == expected_record[key], key
    for key in ("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_gamma"):
        assert record[key] == pytest.approx(expected_record[key], rel=1e-6), key


@pytest.mark.parametrize("timezone", [None, "Asia/Ho_Chi_Minh"])
def test_spark_backtest_equals_the_pandas_path(spark, timezone) -> None:
    """The backtest's per-customer inputs built on the cluster give the pandas path's backtest."""
    from sen.clv.spark import backtest_spark

    frame = orders()
    expected, expected_summary, expected_buckets, _ = pipeline.backtest(frame, AS_OF, 6, timezone=timezone)
    got, summary, buckets, png = backtest_spark(spark.createDataFrame(frame), AS_OF, 6, timezone=timezone)
    assert png.startswith(b"\x89PNG")
    expected, got = sorted_frame(expected), sorted_frame(got)
    assert list(got.columns) == list(expected.columns) and len(got) == len(expected) > 1000
    assert (got["person_id"] == expected["person_id"]).all()
    assert got["actual_purchases"].tolist() == expected["actual_purchases"].tolist()
    for column in ("frequency", "recency", "T", "monetary", "predicted_purchases", "actual_revenue"):
        np.testing.assert_allclose(
            got[column].to_numpy(float),
            expected[column].to_numpy(float),
            rtol=1e-6,
            atol=1e-9,
            err_msg=column,
        )
    for key in (
        "n_customers",
        "n_new_customers_in_holdout",
        "holdout_days",
        "calibration_end",
        "holdout_end",
    ):
        assert summary[key] == expected_summary[key], key
    assert summary["actual_revenue"] == pytest.approx(expected_summary["actual_revenue"], rel=1e-9)
    assert buckets["n_customers"].tolist() == expected_buckets["n_customers"].tolist()
