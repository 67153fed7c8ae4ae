"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).

A customer's purchase values are Gamma(p, nu) with the rate nu ~ Gamma(q, gamma) across customers, so the
average value zbar of x repeat purchases has the marginal density
    f(zbar | p, q, gamma, x) = Gamma(px + q) / (Gamma(px) Gamma(q)) * gamma^q zbar^(px-1) x^(px) / (gamma + x zbar)^(px+q).
It is fitted on repeat buyers only (x > 0, zbar > 0): the first purchase is excluded from zbar, as in the paper.
Values are in the currency of the input; gamma scales with the currency unit, p and q do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from sen.clv.validation import FloatArray, as_float_column, check_monetary

_LOG_BOUND = 25.0


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters; the fit metadata are None for hand-made parameters."""

    p: float
    q: float
    gamma: float
    log_likelihood: float | None = None
    n_customers: int | None = None
    converged: bool | None = None

    @property
    def population_mean(self) -> float:
        """E[Z] = p * gamma / (q - 1): the expected purchase value of a customer with no repeat purchases."""
        if self.q <= 1.0:
            return math.inf
        return self.p * self.gamma / (self.q - 1.0)

    def as_dict(self) -> dict[str, object]:
        return {
            "p": self.p,
            "q": self.q,
            "gamma": self.gamma,
            "log_likelihood": self.log_likelihood,
            "n_customers": self.n_customers,
            "converged": self.converged,
            "population_mean": self.population_mean,
        }


def _repeat_columns(frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = as_float_column(frequency, "frequency")
    m = check_monetary(monetary, len(x))
    if np.any((x < 0) | (x != np.floor(x))):
        row = int(np.flatnonzero((x < 0) | (x != np.floor(x)))[0])
        raise ValueError(f"row {row}: frequency must be a non-negative whole number ({x[row]:g})")
    return x, m


def log_likelihood(params: GammaGammaParams, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> FloatArray:
    """Per-customer log-density of the average repeat value; only defined where frequency > 0 and monetary > 0."""
    x, m = _repeat_columns(frequency, monetary)
    if np.any((x <= 0) | (m <= 0)):
        raise ValueError("the Gamma-Gamma likelihood needs frequency > 0 and monetary > 0 on every row")
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * math.log(g)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + x * m)
    )


def _negll_and_grad(
    theta: FloatArray, x: FloatArray, m: FloatArray, log_xm: FloatArray
) -> tuple[float, FloatArray]:
    p, q, g = np.exp(theta)
    px = p * x
    log_gxm = np.log(g + x * m)
    ll = float(
        np.sum(gammaln(px + q) - gammaln(px) + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * log_gxm)
        + len(x) * (q * math.log(g) - gammaln(q))
    )
    psi_pq = digamma(px + q)
    g_p = x @ (psi_pq - digamma(px) + log_xm - log_gxm)
    g_q = np.sum(psi_pq - log_gxm) + len(x) * (math.log(g) - digamma(q))
    g_g = len(x) * q / g - np.sum((px + q) / (g + x * m))
    grad = np.array([g_p * p, g_q * q, g_g * g])
    if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
        return math.inf, np.zeros(3)
    n = len(x)
    return -ll / n, -grad / n


def fit_gamma_gamma(frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> GammaGammaParams:
    """Maximum-likelihood fit on the rows with frequency > 0 and monetary > 0 (other rows are ignored).

    Values are divided by their mean inside the optimiser so the start and tolerances do not depend on the
    currency; gamma is scaled back.
    """
    x, m = _repeat_columns(frequency, monetary)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) < 2:
        raise ValueError(f"cannot fit Gamma-Gamma on {len(x)} repeat buyers with positive spend")
    scale = float(m.mean())
    ms = m / scale
    log_xm = np.log(x * ms)
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 3
    options = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
    theta0 = np.array([0.0, math.log(2.0), 0.0])  # q > 1 at the start so the mean spend is finite
    res = minimize(
        _negll_and_grad,
        theta0,
        args=(x, ms, log_xm),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options=options,
    )
    theta = res.x
    if not _is_stationary(theta, x, ms, log_xm):
        nm = minimize(
            lambda th: _negll_and_grad(th, x, ms, log_xm)[0],
            theta,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-9, "fatol": 1e-14, "maxiter": 4000},
        )
        res = minimize(
            _negll_and_grad,
            nm.x,
            args=(x, ms, log_xm),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options=options,
        )
        theta = res.x
    p, q, g_scaled = (float(v) for v in np.exp(theta))
    params = GammaGammaParams(p=p, q=q, gamma=g_scaled * scale)
    ll = float(log_likelihood(params, x, m).sum())
    converged = _is_stationary(theta, x, ms, log_xm) and math.isfinite(ll)
    return replace(params, log_likelihood=ll, n_customers=len(x), converged=converged)


def _is_stationary(theta: FloatArray, x: FloatArray, m: FloatArray, log_xm: FloatArray) -> bool:
    value, grad = _negll_and_grad(theta, x, m, log_xm)
    at_bound = np.abs(theta) >= _LOG_BOUND - 1e-6
    return bool(np.isfinite(value) and np.all(np.abs(grad[~at_bound]) < 1e-5))


def expected_average_value(
    params: GammaGammaParams, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> FloatArray:
    """E[Z | x, zbar] = (p (gamma + x zbar)) / (p x + q - 1): the customer's mean shrunk to the population mean.

    With x = 0 this is the population mean p gamma / (q - 1). Requires q > 1 (checked by the caller's fallback).
    """
    x, m = _repeat_columns(frequency, monetary)
    if params.q <= 1.0:
        raise ValueError(f"Gamma-Gamma q = {params.q:g} <= 1: the mean spend is not finite")
    zbar = np.where(x > 0, m, 0.0)
    return params.p * (params.gamma + x * zbar) / (params.p * x + params.q - 1.0)
