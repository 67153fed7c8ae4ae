"""Scoring: discounted CLV, fallbacks that never produce NaN, and the heuristic mode."""

from __future__ import annotations

import numpy as np
import pytest

from sen.clv.bgnbd import BgNbdParams
from sen.clv.gamma_gamma import GammaGammaParams
from sen.clv.model import fit_clv_model
from sen.clv.scoring import expected_purchases, monthly_discount_rate, score
from sen.clv.simulate import simulate_summary
from sen.clv.units import DAYS_PER_MONTH

TRUE_BG = BgNbdParams(r=0.25, alpha=30.0, a=0.8, b=2.5)
TRUE_GG = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)


@pytest.fixture(scope="module")
def fitted():
    data = simulate_summary(5000, TRUE_BG, TRUE_GG, max_age=730, seed=21)
    model = fit_clv_model(
        data["frequency"], data["recency"], data["T"], data["monetary"], data["first_value"]
    )
    return model, data


def test_clv_is_discounted_monthly_expected_value(fitted) -> None:
    model, data = fitted
    assert model.fit_status == "mle"
    cols = [data[c] for c in ("frequency", "recency", "T", "monetary", "first_value")]
    undiscounted = score(model, *cols, horizon_months=12, annual_discount_rate=0.0)
    np.testing.assert_allclose(
        undiscounted["clv"], undiscounted["expected_avg_value"] * undiscounted["expected_purchases_horizon"]
    )
    discounted = score(model, *cols, horizon_months=12, annual_discount_rate=0.1)
    ratio = discounted["clv"].sum() / undiscounted["clv"].sum()
    # Cash flows fall between month 1 and month 12, so the discount lies between those months' factors.
    assert 1.1 ** (-1.0) < ratio < 1.1 ** (-1.0 / 12.0)
    # By hand for one customer: sum of monthly increments, each discounted from the end of its month.
    x, t_x, age = (data[c].to_numpy(dtype=float)[:1] for c in ("frequency", "recency", "T"))
    d = monthly_discount_rate(0.1)
    cumulative = [expected_purchases(model, k * DAYS_PER_MONTH, x, t_x, age)[0] for k in range(13)]
    by_hand = sum((cumulative[k] - cumulative[k - 1]) / (1 + d) ** k for k in range(1, 13))
    assert discounted["clv"][0] == pytest.approx(discounted["expected_avg_value"][0] * by_hand)
    assert d == pytest.approx(0.007974, abs=1e-6)


def test_fallbacks_never_produce_nan(fitted) -> None:
    model, _ = fitted
    # repeat buyer; single buyer; single purchase today; repeat buyer whose repeat spend is 0; free first order
    x = [3, 0, 0, 2, 0]
    t_x = [100.0, 0.0, 0.0, 50.0, 0.0]
    age = [300.0, 200.0, 0.0, 60.0, 10.0]
    monetary = [40.0, 0.0, 0.0, 0.0, 0.0]
    first = [25.0, 80.0, 30.0, 20.0, 0.0]
    out = score(model, x, t_x, age, monetary, first)
    for name in ("expected_purchases_horizon", "p_alive", "expected_avg_value", "clv"):
        assert np.all(np.isfinite(out[name])), name
    assert list(out["fallback_reason"]) == [
        None,
        "no_repeat_purchases",
        "first_purchase_today",
        "non_positive_spend",
        "non_positive_spend",
    ]
    population_mean = model.gamma_gamma.population_mean
    assert out["expected_avg_value"][1] == pytest.approx(population_mean)  # single buyer: model's prior mean
    assert out["expected_avg_value"][2] == pytest.approx(population_mean)
    assert out["expected_avg_value"][3] == 0.0 and out["clv"][3] == 0.0
    assert out["expected_purchases_horizon"][3] > 0  # purchases are still predicted
    assert out["expected_purchases_horizon"][2] > out["expected_purchases_horizon"][1] > 0  # new vs lapsed


def test_too_few_repeat_buyers_falls_back_to_heuristics() -> None:
    data = simulate_summary(100, TRUE_BG, TRUE_GG, max_age=365, seed=8)
    assert 0 < (data["frequency"] > 0).sum() < 50
    model = fit_clv_model(
        data["frequency"], data["recency"], data["T"], data["monetary"], data["first_value"]
    )
    assert (model.fit_status, model.purchase_model, model.spend_model) == (
        "heuristic",
        "heuristic",
        "heuristic",
    )
    assert model.bgnbd is None and any("repeat buyers < 50" in note for note in model.notes)
    record = model.to_record()
    assert record["fit_status"] == "heuristic" and record["bgnbd_r"] is None
    out = score(model, data["frequency"], data["recency"], data["T"], data["monetary"], data["first_value"])
    assert set(out["fallback_reason"]) == {"heuristic_fit"}
    for name in ("expected_purchases_horizon", "p_alive", "expected_avg_value", "clv"):
        assert np.all(np.isfinite(out[name])), name
    repeat = data["frequency"].to_numpy() > 0
    # Heavier past buyers are expected to buy more; repeat buyers keep their own average spend.
    assert (
        out["expected_purchases_horizon"][repeat].mean() > out["expected_purchases_horizon"][~repeat].mean()
    )
    positive = repeat & (data["monetary"].to_numpy() > 0)
    np.testing.assert_allclose(out["expected_avg_value"][positive], data["monetary"].to_numpy()[positive])


def test_heuristic_rate_is_the_shrunk_own_rate() -> None:
    model = fit_clv_model([2, 0], [100.0, 0.0], [200.0, 200.0], [10.0, 0.0], [10.0, 10.0])
    h = model.heuristic
    assert h.pooled_rate == pytest.approx(2 / 400)
    rate = (2 + h.pooled_rate * 180.0) / (200.0 + 180.0)
    out = score(
        model, [2, 0], [100.0, 0.0], [200.0, 200.0], [10.0, 0.0], [10.0, 10.0], annual_discount_rate=0.0
    )
    assert out["p_alive"][0] == pytest.approx(np.exp(-rate * 100.0))
    assert out["expected_purchases_horizon"][0] == pytest.approx(out["p_alive"][0] * rate * 365.25)


def test_empty_input_scores_nothing() -> None:
    model = fit_clv_model([], [], [], [], [])
    out = score(model, [], [], [], [], [])
    assert model.fit_status == "heuristic" and all(len(v) == 0 for v in out.values())


def test_bad_scoring_arguments_are_rejected(fitted) -> None:
    model, _ = fitted
    with pytest.raises(ValueError, match="horizon_months"):
        score(model, [1], [1.0], [2.0], [1.0], horizon_months=0)
    with pytest.raises(ValueError, match="row 0: monetary must be >= 0"):
        score(model, [1], [1.0], [2.0], [-1.0])
    with pytest.raises(ValueError, match="annual_discount_rate"):
        score(model, [1], [1.0], [2.0], [1.0], annual_discount_rate=-1.0)


def test_a_zero_threshold_still_needs_some_repeat_buyers() -> None:
    model = fit_clv_model([0, 0], [0.0, 0.0], [5.0, 9.0], [0.0, 0.0], [3.0, 4.0], min_repeat_buyers=0)
    assert model.fit_status == "heuristic"
    out = score(model, [0, 0], [0.0, 0.0], [5.0, 9.0], [0.0, 0.0], [3.0, 4.0])
    assert np.all(np.isfinite(out["clv"])) and np.all(out["expected_avg_value"] == 3.5)
