"""BG/NBD and Gamma-Gamma: gradients, closed forms against direct integration, units, simulation checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import approx_fprime
from scipy.special import betaln

from sen.clv import bgnbd, gamma_gamma
from sen.clv.bgnbd import BgNbdParams, expected_purchases, expected_purchases_new_customer, probability_alive
from sen.clv.gamma_gamma import GammaGammaParams
from sen.clv.simulate import simulate_summary

TRUE_BG = BgNbdParams(r=0.25, alpha=30.0, a=0.8, b=2.5, time_unit="days")
TRUE_GG = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)


def _expected_by_integration(params: BgNbdParams, t: float, x: int, t_x: float, age: float) -> float:
    """P(alive) * E[(1 - exp(-lambda p t)) / p] over the posterior lambda ~ Gamma(r+x, alpha+T), p ~ Beta(a, b+x)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b

    def integrand(p: float) -> float:
        if p == 0.0:  # limit of the expression below
            return (r + x) * t / (alpha + age)
        return -math.expm1(-(r + x) * math.log1p(p * t / (alpha + age))) / p

    # weight='alg' integrates f(p) * p^(a-1) * (1-p)^(b+x-1) accurately even when a < 1.
    value, _ = quad(integrand, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b + x - 1.0), epsabs=0, epsrel=1e-11)
    alive = probability_alive(params, [x], [t_x], [age])[0]
    return alive * value / math.exp(betaln(a, b + x))


@pytest.mark.parametrize(
    ("params", "x", "t_x", "age", "t"),
    [
        (BgNbdParams(0.243, 4.414, 0.793, 2.426, "weeks"), 2, 30.43, 38.86, 39.0),
        (BgNbdParams(0.243, 4.414, 0.793, 2.426, "weeks"), 0, 0.0, 0.0, 52.0),
        (BgNbdParams(1.5, 60.0, 3.0, 9.0), 150, 700.0, 720.0, 365.0),  # heavy buyer, a > 1
        (BgNbdParams(0.6, 20.0, 1.0, 4.0), 3, 50.0, 400.0, 365.0),  # a = 1: removable singularity
        (BgNbdParams(0.6, 20.0, 0.4, 0.6), 0, 0.0, 30.0, 365.0),  # a + b = 1, x = 0: c = 0
        (BgNbdParams(0.3, 5.0, 0.2, 0.3), 5, 10.0, 2000.0, 3000.0),  # long silence, long horizon
    ],
)
def test_expected_purchases_equals_direct_integration(params, x, t_x, age, t) -> None:
    closed = expected_purchases(params, t, [x], [t_x], [age])[0]
    assert closed == pytest.approx(_expected_by_integration(params, t, x, t_x, age), rel=1e-6)


def test_probability_alive_and_expectations_behave() -> None:
    p = probability_alive(TRUE_BG, [0, 3, 3], [0.0, 100.0, 10.0], [200.0, 200.0, 200.0])
    assert p[0] == 1.0  # no repeat purchase: no dropout opportunity in BG/NBD
    assert 0.0 < p[2] < p[1] < 1.0  # a longer silence since the last purchase lowers P(alive)
    t = np.array([0.0, 30.0, 365.0, 3650.0])
    new = expected_purchases_new_customer(TRUE_BG, t)
    assert new[0] == 0.0 and np.all(np.diff(new) > 0)
    np.testing.assert_allclose(new, expected_purchases(TRUE_BG, t, np.zeros(4), np.zeros(4), np.zeros(4)))


def test_units_convert_alpha_only_and_predictions_do_not_change() -> None:
    weeks = BgNbdParams(0.243, 4.414, 0.793, 2.426, "weeks")
    days = weeks.in_unit("days")
    assert (days.r, days.a, days.b, days.alpha) == (weeks.r, weeks.a, weeks.b, pytest.approx(4.414 * 7))
    in_weeks = expected_purchases(weeks, 39.0, [2], [30.43], [38.86])
    in_days = expected_purchases(days, 39.0 * 7, [2], [30.43 * 7], [38.86 * 7])
    np.testing.assert_allclose(in_days, in_weeks, rtol=1e-12)
    with pytest.raises(ValueError, match="not supported"):
        weeks.in_unit("fortnights")


def test_bgnbd_gradient_matches_finite_differences() -> None:
    data = simulate_summary(3000, TRUE_BG, TRUE_GG, max_age=365, seed=3)
    x, t_x, age = (data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    compressed = bgnbd._CompressedData(x, t_x, age, float(age.mean()))
    for theta in (np.log([0.5, 0.3, 1.5, 2.0]), np.log([2.0, 1.2, 0.4, 0.9])):
        analytic = bgnbd._negll_and_grad(theta, compressed)[1]
        numeric = approx_fprime(theta, lambda th: bgnbd._negll_and_grad(th, compressed)[0], 1e-7)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-7)


def test_gamma_gamma_gradient_matches_finite_differences() -> None:
    data = simulate_summary(3000, TRUE_BG, TRUE_GG, max_age=365, seed=4)
    rep = data[data["frequency"] > 0]
    x = rep["frequency"].to_numpy(dtype=float)
    m = rep["monetary"].to_numpy() / rep["monetary"].mean()
    theta = np.log([3.0, 2.0, 0.7])
    data = gamma_gamma._SpendData(x, m)
    analytic = gamma_gamma._negll_and_grad(theta, data)[1]
    numeric = approx_fprime(theta, lambda th: gamma_gamma._negll_and_grad(th, data)[0], 1e-7)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-7)


def test_fit_recovers_simulated_parameters() -> None:
    data = simulate_summary(40_000, TRUE_BG, TRUE_GG, max_age=730, seed=11)
    bg = bgnbd.fit_bgnbd(data["frequency"], data["recency"], data["T"])
    assert bg.converged
    for name in ("r", "alpha", "a", "b"):
        assert getattr(bg, name) == pytest.approx(getattr(TRUE_BG, name), rel=0.15), name
    gg = gamma_gamma.fit_gamma_gamma(data["frequency"], data["monetary"])
    assert gg.converged
    assert gg.population_mean == pytest.approx(TRUE_GG.population_mean, rel=0.05)
    for name in ("p", "q", "gamma"):
        assert getattr(gg, name) == pytest.approx(getattr(TRUE_GG, name), rel=0.2), name


def test_conditional_expectation_predicts_simulated_holdout() -> None:
    """Summed over customers, E[Y(t) | history] must match purchases simulated after T (within 3 SE)."""
    data = simulate_summary(40_000, TRUE_BG, TRUE_GG, max_age=730, holdout=365.0, seed=5)
    predicted = expected_purchases(TRUE_BG, 365.0, data["frequency"], data["recency"], data["T"])
    actual = data["holdout_purchases"].to_numpy()
    standard_error = actual.std() * math.sqrt(len(actual))
    assert abs(predicted.sum() - actual.sum()) < 3 * standard_error
    # Customers judged more likely alive do buy more afterwards.
    alive = probability_alive(TRUE_BG, data["frequency"], data["recency"], data["T"])
    repeat = data["frequency"].to_numpy() > 0
    assert actual[repeat & (alive > 0.7)].mean() > 3 * actual[repeat & (alive < 0.3)].mean()


def test_gamma_gamma_shrinks_towards_population_mean() -> None:
    value = gamma_gamma.expected_average_value(TRUE_GG, [0, 1, 50], [0.0, 100.0, 100.0])
    assert value[0] == pytest.approx(TRUE_GG.population_mean)  # 30
    assert TRUE_GG.population_mean < value[1] < value[2] < 100.0  # more purchases, more own weight


def test_summary_columns_are_checked() -> None:
    with pytest.raises(ValueError, match="row 1: recency .* must not exceed T"):
        bgnbd.fit_bgnbd([1, 2], [3.0, 9.0], [5.0, 8.0])
    with pytest.raises(ValueError, match="row 0: frequency must be a non-negative whole number"):
        bgnbd.probability_alive(TRUE_BG, [1.5], [1.0], [2.0])
    with pytest.raises(ValueError, match="row 1: field 'T' is not a finite number"):
        bgnbd.fit_bgnbd([0, 0], [0.0, 0.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="no customer has a repeat purchase"):
        bgnbd.fit_bgnbd([0, 0], [0.0, 0.0], [1.0, 2.0])
