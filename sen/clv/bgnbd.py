"""BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Per customer: x repeat purchase occasions, t_x the time of the last one, T the time since the first purchase,
all measured from the first purchase in one time unit. While alive a customer buys at rate lambda
~ Gamma(r, alpha); after each repeat purchase they drop out with probability p ~ Beta(a, b).

Fitting is maximum likelihood over log-parameters with an analytic gradient (L-BFGS-B, Nelder-Mead polish
if needed). Scoring functions are pure numpy/scipy.special on columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from sen.clv.units import TimeUnit, check_unit, unit_factor
from sen.clv.validation import FloatArray, check_rft

# Bounds of the log-parameters: wide enough for any real data set, narrow enough that exp() stays finite.
_LOG_BOUND = 25.0
# Distance kept from the removable singularities a = 1 and a + b + x - 1 = 0 of the closed form.
_SINGULARITY_EPS = 1e-7


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters in ``time_unit``; the fit metadata are None for hand-made parameters."""

    r: float
    alpha: float
    a: float
    b: float
    time_unit: TimeUnit = "days"
    log_likelihood: float | None = None
    n_customers: int | None = None
    converged: bool | None = None

    def in_unit(self, unit: str) -> BgNbdParams:
        """The same model with time in ``unit``: alpha scales with time, r, a and b do not.

        The log-likelihood also changes with the unit (by -sum(x) * log(factor)), so it is recomputed only
        by refitting; here it is dropped when the unit changes.
        """
        check_unit(unit)
        if unit == self.time_unit:
            return self
        factor = unit_factor(self.time_unit, unit)
        return replace(self, alpha=self.alpha * factor, time_unit=unit, log_likelihood=None)

    def as_dict(self) -> dict[str, object]:
        return {
            "r": self.r,
            "alpha": self.alpha,
            "a": self.a,
            "b": self.b,
            "time_unit": self.time_unit,
            "log_likelihood": self.log_likelihood,
            "n_customers": self.n_customers,
            "converged": self.converged,
        }


def log_likelihood(
    params: BgNbdParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """Per-customer log-likelihood (FHL 2005 eq. 6), in the parameters' time unit."""
    x, t_x, age = check_rft(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_at = np.log(alpha + age)
    log_atx = np.log(alpha + t_x)
    base = (
        gammaln(r + x) - gammaln(r) + r * math.log(alpha) + betaln(a, b + x) - betaln(a, b) - (r + x) * log_at
    )
    return base + np.logaddexp(0.0, _log_dropout_ratio(r, a, b, x, log_at, log_atx))


def _log_dropout_ratio(
    r: float, a: float, b: float, x: FloatArray, log_at: FloatArray, log_atx: FloatArray
) -> FloatArray:
    """log of (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x))^(r + x); -inf when x = 0.

    It is the log-odds of "dropped out after the last purchase" against "still alive": the second term of the
    likelihood over the first, and P(alive) = 1 / (1 + exp(D)).
    """
    repeat = x > 0
    safe_bx = np.where(repeat, b + x - 1.0, 1.0)
    d = math.log(a) - np.log(safe_bx) + (r + x) * (log_at - log_atx)
    return np.where(repeat, d, -np.inf)


def probability_alive(
    params: BgNbdParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """P(alive at T | x, t_x, T). Equal to 1 when x = 0: in BG/NBD dropout happens only after a repeat purchase."""
    x, t_x, age = check_rft(frequency, recency, T)
    d = _log_dropout_ratio(
        params.r, params.a, params.b, x, np.log(params.alpha + age), np.log(params.alpha + t_x)
    )
    return expit(-d)


def _nudged(params: BgNbdParams) -> tuple[float, float, float, float]:
    """Move a and a+b-1 off their removable singularities; the change is far below estimation error."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) < _SINGULARITY_EPS:
        a = 1.0 + math.copysign(_SINGULARITY_EPS, a - 1.0 or 1.0)
    if abs(a + b - 1.0) < _SINGULARITY_EPS:
        b = 1.0 - a + _SINGULARITY_EPS
    return r, alpha, a, b


def expected_purchases(
    params: BgNbdParams, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """E[number of purchases in (T, T + t] | x, t_x, T] (FHL 2005 eq. 10); t broadcasts against the columns.

    The Gauss hypergeometric term is evaluated after Euler's transformation,
    ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
        = ((alpha+T)/(alpha+T+t))^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),  z = t / (alpha+T+t),
    whose first two parameters do not grow with x, so the series stays short and accurate for heavy buyers.
    """
    return next(expected_purchases_curve(params, [t], frequency, recency, T))


def expected_purchases_curve(
    params: BgNbdParams,
    horizons: Sequence[npt.ArrayLike],
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> Iterator[FloatArray]:
    """``expected_purchases`` at each of ``horizons`` in turn, validating the columns and computing P(alive) once.

    Yields one array per horizon, so a caller can keep only the latest (memory stays flat for long curves).
    """
    x, t_x, age = check_rft(frequency, recency, T)
    r, alpha, a, b = _nudged(params)
    # P(alive) times the constant in front of the bracket of eq. 10.
    log_at = np.log(alpha + age)
    scale = (
        (a + b + x - 1.0) / (a - 1.0) * expit(-_log_dropout_ratio(r, a, b, x, log_at, np.log(alpha + t_x)))
    )
    checked = [np.asarray(t, dtype=np.float64) for t in horizons]
    if any(np.any(~np.isfinite(h)) or np.any(h < 0) for h in checked):
        raise ValueError("the prediction horizon t must be finite and >= 0")
    # The bracket depends on (x, T) only: with whole-day ages there are far fewer pairs than customers, so the
    # hypergeometric function runs once per pair (when the horizon is a scalar).
    age_u, age_code = np.unique(age, return_inverse=True)
    pair_u, pair_code = np.unique(x.astype(np.int64) * len(age_u) + age_code, return_inverse=True)
    x_p = (pair_u // len(age_u)).astype(np.float64)
    age_p = age_u[pair_u % len(age_u)]

    def bracket(horizon: FloatArray, xs: FloatArray, ages: FloatArray) -> FloatArray:
        log_ratio = np.log(alpha + ages) - np.log(alpha + ages + horizon)
        hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + xs - 1.0, horizon / (alpha + ages + horizon))
        return 1.0 - np.exp((a - 1.0) * log_ratio) * hyp

    def curve() -> Iterator[FloatArray]:
        for horizon in checked:
            if horizon.ndim == 0:
                values = bracket(horizon, x_p, age_p)[pair_code]
            else:
                values = bracket(horizon, x, age)
            yield np.maximum(scale * values, 0.0)

    return curve()


def expected_purchases_new_customer(params: BgNbdParams, t: npt.ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases within t of a first purchase, for a customer not yet observed."""
    horizon = np.atleast_1d(np.asarray(t, dtype=np.float64))
    zeros = np.zeros_like(horizon)
    return expected_purchases(params, horizon, zeros, zeros, zeros)


def _dot(u: FloatArray, v: FloatArray) -> float:
    # einsum, not BLAS: threaded BLAS dot products stall badly when the cores are shared.
    return float(np.einsum("i,i->", u, v))


class _CompressedData:
    """The summary reduced to what the likelihood needs.

    Customers without a repeat purchase contribute terms in T only, so they collapse to counts per distinct T.
    Repeat buyers keep one row each, with x, T and t_x replaced by indices into their distinct values (few for
    x; a few thousand for whole-day T and t_x), so special functions run on small arrays and only gathers and
    elementwise arithmetic touch every repeat buyer.
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, age: FloatArray, scale: float) -> None:
        self.n = len(x)
        self.xu, x_counts = np.unique(x, return_counts=True)
        self.x_counts = x_counts.astype(np.float64)
        zero = x == 0
        self.T0u, T0_counts = np.unique(age[zero] / scale, return_counts=True)
        self.T0_counts = T0_counts.astype(np.float64)
        rep = ~zero
        self.x_rep = x[rep]
        self.xru, self.xri = np.unique(self.x_rep, return_inverse=True)
        self.Tu, self.Ti = np.unique(age[rep] / scale, return_inverse=True)
        self.tu, self.ti = np.unique(t_x[rep] / scale, return_inverse=True)


def _negll_and_grad(theta: FloatArray, data: _CompressedData) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(theta)
    n = data.n
    xu, counts = data.xu, data.x_counts
    log_alpha = math.log(alpha)

    # Terms in x only (all customers), once per distinct x.
    ll = _dot(counts, gammaln(r + xu) - gammaln(r) + betaln(a, b + xu) - betaln(a, b)) + n * r * log_alpha
    g_r = _dot(counts, digamma(r + xu) - digamma(r)) + n * log_alpha
    g_alpha = n * r / alpha
    g_a = _dot(counts, digamma(a + b) - digamma(a + b + xu))
    g_b = _dot(counts, digamma(b + xu) - digamma(a + b + xu) - digamma(b) + digamma(a + b))

    # Customers without a repeat purchase: -r log(alpha + T), per distinct T.
    log_aT0 = np.log(alpha + data.T0u)
    ll -= r * _dot(data.T0_counts, log_aT0)
    g_r -= _dot(data.T0_counts, log_aT0)
    g_alpha -= r * _dot(data.T0_counts, 1.0 / (alpha + data.T0u))

    # Repeat buyers: -(r+x) log(alpha+T) + log(1 + exp(D)), D the log-odds of having dropped out after t_x.
    log_aT = np.log(alpha + data.Tu)[data.Ti]
    log_atx = np.log(alpha + data.tu)[data.ti]
    inv_bx = (1.0 / (b + data.xru - 1.0))[data.xri]
    rx = r + data.x_rep
    d = (math.log(a) - np.log(b + data.xru - 1.0))[data.xri] + rx * (log_aT - log_atx)
    ll += float(np.logaddexp(0.0, d).sum()) - _dot(rx, log_aT)
    w3 = expit(d)  # weight of the "dropped out after t_x" term of the likelihood
    w2 = 1.0 - w3
    g_r -= _dot(w2, log_aT) + _dot(w3, log_atx)
    inv_aT = (1.0 / (alpha + data.Tu))[data.Ti]
    inv_atx = (1.0 / (alpha + data.tu))[data.ti]
    g_alpha -= _dot(rx, w2 * inv_aT + w3 * inv_atx)
    g_a += float(w3.sum()) / a
    g_b -= _dot(w3, inv_bx)

    grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
    if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
        return math.inf, np.zeros(4)
    return -ll / n, -grad / n


def _minimise(theta0: FloatArray, data: _CompressedData) -> tuple[FloatArray, bool]:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 4
    options = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
    res = minimize(
        _negll_and_grad, theta0, args=(data,), jac=True, method="L-BFGS-B", bounds=bounds, options=options
    )
    theta = res.x
    if not _is_stationary(theta, data):
        # L-BFGS-B can stop early on a flat ridge; a derivative-free polish then a second run settles it.
        nm = minimize(
            lambda th: _negll_and_grad(th, data)[0],
            theta,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-9, "fatol": 1e-14, "maxiter": 4000},
        )
        res = minimize(
            _negll_and_grad, nm.x, args=(data,), jac=True, method="L-BFGS-B", bounds=bounds, options=options
        )
        theta = res.x
    return theta, _is_stationary(theta, data)


def _is_stationary(theta: FloatArray, data: _CompressedData) -> bool:
    value, grad = _negll_and_grad(theta, data)
    at_bound = np.abs(theta) >= _LOG_BOUND - 1e-6
    # A parameter pinned at a bound is a limiting model (e.g. no dropout), not a failure, if the rest is flat.
    return bool(np.isfinite(value) and np.all(np.abs(grad[~at_bound]) < 1e-5))


def fit_bgnbd(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike, time_unit: str = "days"
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD fit on a per-customer summary measured in ``time_unit``.

    Time is rescaled by the mean age inside the optimiser so the starting point and tolerances do not depend
    on the unit; alpha is scaled back and the log-likelihood is reported in ``time_unit``.
    """
    unit = check_unit(time_unit)
    x, t_x, age = check_rft(frequency, recency, T)
    if len(x) == 0:
        raise ValueError("cannot fit BG/NBD on an empty summary")
    if not np.any(x > 0):
        raise ValueError("cannot fit BG/NBD: no customer has a repeat purchase")
    scale = float(age.mean()) if age.mean() > 0 else 1.0
    data = _CompressedData(x, t_x, age, scale)
    theta, converged = _minimise(np.zeros(4), data)
    r, alpha_scaled, a, b = (float(v) for v in np.exp(theta))
    params = BgNbdParams(r=r, alpha=alpha_scaled * scale, a=a, b=b, time_unit=unit)
    ll = float(log_likelihood(params, x, t_x, age).sum())
    return replace(params, log_likelihood=ll, n_customers=len(x), converged=converged and math.isfinite(ll))
