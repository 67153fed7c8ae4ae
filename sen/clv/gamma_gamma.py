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


class _SpendData:
    """Repeat buyers' (x, zbar) with the row sums that do not depend on the parameters precomputed.

    The gamma-function terms depend on x only and are evaluated once per distinct x.
    """

    def __init__(self, x: FloatArray, m: FloatArray) -> None:
        self.n = len(x)
        self.x = x
        self.m = m
        self.xu, counts = np.unique(x, return_counts=True)
        self.x_counts = counts.astype(np.float64)
        self.sum_x_log_xm = _dot(x, np.log(x * m))
        self.sum_log_m = float(np.log(m).sum())


def _dot(u: FloatArray, v: FloatArray) -> float:
    # einsum, not BLAS: threaded BLAS dot products stall badly when the cores are shared.
    return float(np.einsum("i,i->", u, v))


def _negll_and_grad(theta: FloatArray, data: _SpendData) -> tuple[float, FloatArray]:
    p, q, g = np.exp(theta)
    n, x, xu, counts = data.n, data.x, data.xu, data.x_counts
    pxu = p * xu
    gxm = g + x * data.m
    log_gxm = np.log(gxm)
    ll = (
        _dot(counts, gammaln(pxu + q) - gammaln(pxu))
        + p * data.sum_x_log_xm
        - data.sum_log_m
        + n * (q * math.log(g) - gammaln(q))
        - _dot(p * x + q, log_gxm)
    )
    psi_u = digamma(pxu + q)
    g_p = _dot(counts, xu * (psi_u - digamma(pxu))) + data.sum_x_log_xm - _dot(x, log_gxm)
    g_q = _dot(counts, psi_u) - float(log_gxm.sum()) + n * (math.log(g) - digamma(q))
    g_g = n * q / g - float(((p * x + q) / gxm).sum())
    grad = np.array([g_p * p, g_q * q, g_g * g])
    if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
        return math.inf, np.zeros(3)
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
    data = _SpendData(x, m / scale)
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 3
    options = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
    theta0 = np.array([0.0, math.log(2.0), 0.0])  # q > 1 at the start so the mean spend is finite
    res = minimize(
        _negll_and_grad,
        theta0,
        args=(data,),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options=options,
    )
    theta = res.x
    if not _is_stationary(theta, data):
        nm = minimize(
            lambda th: _negll_and_grad(th, data)[0],
            theta,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-9, "fatol": 1e-14, "maxiter": 4000},
        )
        res = minimize(
            _negll_and_grad,
            nm.x,
            args=(data,),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options=options,
        )
        theta = res.x
    p, q, g_scaled = (float(v) for v in np.exp(theta))
    params = GammaGammaParams(p=p, q=q, gamma=g_scaled * scale)
    ll = float(log_likelihood(params, x, m).sum())
    converged = _is_stationary(theta, data) and math.isfinite(ll)
    return replace(params, log_likelihood=ll, n_customers=len(x), converged=converged)


def _is_stationary(theta: FloatArray, data: _SpendData) -> bool:
    value, grad = _negll_and_grad(theta, data)
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
