"""CLV on Spark scores every customer as sen.clv.pipeline.fit_and_score does (within 1e-9 relative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sen.clv import pipeline
from sen.clv.bgnbd import BgNbdParams
from sen.clv.gamma_gamma import GammaGammaParams
from sen.clv.simulate import simulate_orders, simulate_summary

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
    return pd.concat([frame, extra], ignore_index=True)


@pytest.mark.parametrize("timezone", [None, "Asia/Ho_Chi_Minh"])
def test_spark_clv_equals_the_pandas_path(spark, timezone) -> None:
    from sen.clv.spark import fit_and_score_spark

    frame = orders()
    expected, expected_record = pipeline.fit_and_score(frame, AS_OF, timezone=timezone)
    assert expected_record["fit_status"] == "mle"  # the fitted models, not the fallback
    scores, record = fit_and_score_spark(spark.createDataFrame(frame), AS_OF, timezone=timezone)
    got = scores.toPandas().sort_values("person_id").reset_index(drop=True)
    expected = expected.assign(person_id=expected["person_id"].astype(str))
    expected = expected.sort_values("person_id").reset_index(drop=True)
    assert len(got) == len(expected) > 2900
    assert list(got.columns) == list(expected.columns)
    assert (got["person_id"] == expected["person_id"]).all()
    for column in (
        "frequency",
        "recency",
        "T",
        "monetary",
        "expected_purchases_horizon",
        "p_alive",
        "expected_avg_value",
        "clv",
    ):
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
    for key in ("n_customers", "n_repeat_buyers", "n_orders_used"):
        assert record[key] == expected_record[key], key
    assert record["total_clv"] == pytest.approx(expected_record["total_clv"], rel=1e-9)
