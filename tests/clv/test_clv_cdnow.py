"""Sen's CLV models reproduce the published results on the public CDNOW sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sen.clv import pipeline
from sen.clv.bgnbd import BgNbdParams, expected_purchases, fit_bgnbd
from sen.clv.gamma_gamma import fit_gamma_gamma
from sen.clv.summary import build_summary

CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"
# Fader, Hardie & Lee (2005), CDNOW 1/10 sample, time in weeks.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def test_bgnbd_fit_reproduces_published_parameters(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_bgnbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"], time_unit="weeks")
    assert fit.converged
    assert fit.n_customers == 2357
    assert fit.time_unit == "weeks"
    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(fit, name) == pytest.approx(published, rel=0.01), name
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LL, abs=0.1)


def test_conditional_expectation_matches_paper(cdnow_summary: pd.DataFrame) -> None:
    published = BgNbdParams(**PUBLISHED_BGNBD, time_unit="weeks")
    value = expected_purchases(published, 39.0, [2], [30.43], [38.86])[0]
    assert round(value, 3) == 1.226
    fit = fit_bgnbd(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"], time_unit="weeks")
    assert expected_purchases(fit, 39.0, [2], [30.43], [38.86])[0] == pytest.approx(1.226, rel=0.01)


def test_gamma_gamma_fit_reproduces_published_parameters(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_gamma_gamma(cdnow_summary["x"], cdnow_summary["zbar"])
    assert fit.converged
    assert fit.n_customers == 946
    for name, published in PUBLISHED_GG.items():
        assert getattr(fit, name) == pytest.approx(published, rel=0.01), name


def test_summary_helper_rebuilds_published_summary(
    cdnow_orders: pd.DataFrame, cdnow_summary: pd.DataFrame
) -> None:
    built = build_summary(cdnow_orders, CALIBRATION_END, time_unit="weeks")
    merged = built.merge(cdnow_summary, left_on="person_id", right_on="ID", validate="one_to_one")
    assert len(built) == len(merged) == 2357
    assert (merged["frequency"] == merged["x"]).all()
    # The published file rounds weeks and dollars to 2 decimals.
    np.testing.assert_allclose(merged["recency"], merged["t_x"], atol=0.005)
    np.testing.assert_allclose(merged["T_x"], merged["T_y"], atol=0.005)
    np.testing.assert_allclose(merged["monetary"], merged["zbar"], atol=0.0051)


def test_fit_in_days_from_transaction_log_agrees_with_weeks(cdnow_orders: pd.DataFrame) -> None:
    """The product works in days: r, a, b are unchanged and alpha is 7 times the weekly value."""
    days = build_summary(cdnow_orders, CALIBRATION_END, time_unit="days")
    fit = fit_bgnbd(days["frequency"], days["recency"], days["T"], time_unit="days")
    assert fit.alpha == pytest.approx(PUBLISHED_BGNBD["alpha"] * 7, rel=0.01)
    for name in ("r", "a", "b"):
        assert getattr(fit, name) == pytest.approx(PUBLISHED_BGNBD[name], rel=0.01), name
    gg = fit_gamma_gamma(days["frequency"], days["monetary"])
    for name, published in PUBLISHED_GG.items():
        assert getattr(gg, name) == pytest.approx(published, rel=0.01), name


def test_backtest_matches_published_holdout(cdnow_orders: pd.DataFrame) -> None:
    per_person, summary, by_frequency, png = pipeline.backtest(
        cdnow_orders, HOLDOUT_END, calibration_end=CALIBRATION_END
    )
    assert summary["holdout_days"] == 39 * 7
    assert summary["actual_purchases"] == 1882
    assert summary["predicted_purchases"] == pytest.approx(1653, rel=0.005)
    assert summary["purchases_error_pct"] == pytest.approx(-12.1, abs=0.3)
    assert summary["n_customers"] == len(per_person) == 2357
    assert summary["actual_revenue"] == pytest.approx(per_person["actual_revenue"].sum())
    assert list(by_frequency["calibration_frequency"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert by_frequency["n_customers"].sum() == 2357
    assert by_frequency.loc[0, "n_customers"] == 1411  # customers with no repeat purchase in calibration
    # Means by frequency are ordered as in the paper's figure: heavier past buyers buy more later.
    assert by_frequency["predicted_purchases_mean"].is_monotonic_increasing
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
