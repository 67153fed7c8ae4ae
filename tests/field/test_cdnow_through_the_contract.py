"""CDNOW through the input contract with one amount per order (`total` only), through the whole pipeline:
files -> raw -> dbt -> marts.orders -> CLV. The published BG/NBD, Gamma-Gamma and holdout figures come out.

Fader, Hardie & Lee (2005), CDNOW 1/10 sample (/work/shared/reference/models.md, tests/clv/test_clv_cdnow.py):
calibration to 1997-09-30, holdout weeks 40-78 to 1998-06-30 (9 months), 1,882 actual repeat purchases in the
holdout and about 1,653 predicted. Sen works in days: alpha is 7 times the weekly value, r, a, b unchanged.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from conftest import Build, require_success, run_build
from datasets import write_cdnow_orders

from orchestration.assets.clv import read_orders
from sen.clv import pipeline

pytestmark = pytest.mark.field

# CDP_AS_OF is the end of the holdout; a backtest horizon of 9 months puts the calibration end at 1997-09-30.
AS_OF = "1998-06-30T00:00:00+07:00"
CALIBRATION_END = "1997-09-30T00:00:00+07:00"
PUBLISHED_BGNBD_DAYS = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
TIMEZONE = "Asia/Ho_Chi_Minh"  # the orders source's time zone: naive dates are read there


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory) -> Build:
    workdir = tmp_path_factory.mktemp("cdnow")
    n_orders = write_cdnow_orders(workdir / "data")
    assert n_orders == 6919
    return require_success(
        run_build(
            workdir,
            workdir / "data",
            AS_OF,
            # CDNOW is in dollars: the reporting currency says so (without it the build stops, naming USD).
            env={"CDP_CLV_HORIZON_MONTHS": "9", "CDP_CURRENCY": "USD"},
        )
    )


def test_every_order_is_valued_from_its_total(cdnow: Build) -> None:
    with cdnow.connect() as conn:
        n, net, basis = conn.execute(
            """select count(*), sum(net_amount), list(distinct amount_basis)
               from intermediate.int_orders_unioned"""
        ).fetchone()
        mart_n, mart_net, zero = conn.execute(
            "select count(*), sum(net_amount), count(*) filter (where net_amount = 0) from marts.orders"
        ).fetchone()
    assert (n, basis) == (6919, ["total"])
    # The dollar values of the log, to the cent; 8 rows of the log are $0.
    assert net == mart_net == Decimal("244091.94")
    assert (mart_n, zero) == (6919, 8)


def test_customers_get_a_real_clv(cdnow: Build) -> None:
    with cdnow.connect() as conn:
        fit = conn.execute(
            "select fit_status, purchase_model, spend_model, gg_converged, n_customers from marts.clv_model_fits"
        ).fetchone()
        n, positive, total = conn.execute(
            "select count(*), count(*) filter (where clv > 0), sum(clv) from marts.customer_clv"
        ).fetchone()
    assert fit == ("mle", "bgnbd", "gamma_gamma", True, 2357)
    assert n == 2357
    assert positive >= 2357 - 8  # the 8 customers whose only purchases were $0 are worth 0
    assert total > 10_000


def test_holdout_prediction_matches_the_published_one(cdnow: Build) -> None:
    with cdnow.connect() as conn:
        n, actual, predicted = conn.execute(
            "select count(*), sum(actual_purchases), sum(predicted_purchases) from marts.clv_backtest"
        ).fetchone()
    assert n == 2357
    assert actual == 1882
    assert predicted == pytest.approx(1653, rel=0.005)


def test_calibration_fit_on_the_built_orders_reproduces_published_parameters(cdnow: Build) -> None:
    """The CLV asset's own fit, on marts.orders as the pipeline built them, at the calibration end."""
    with cdnow.connect() as conn:
        orders = read_orders(conn, datetime.fromisoformat(CALIBRATION_END))
    _, record = pipeline.fit_and_score(orders, CALIBRATION_END, timezone=TIMEZONE)
    assert record["n_customers"] == 2357
    for name, published in PUBLISHED_BGNBD_DAYS.items():
        assert record[f"bgnbd_{name}"] == pytest.approx(published, rel=0.01), name
    assert record["gg_n_customers"] == 946
    for name, published in PUBLISHED_GG.items():
        assert record[f"gg_{name}"] == pytest.approx(published, rel=0.01), name
