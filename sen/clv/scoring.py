"""Row-wise CLV scoring: a pure function of a fitted ``ClvModel`` and summary columns (numpy in, numpy out).

Discounted CLV over H months with annual discount rate D (monthly rate d = (1 + D)^(1/12) - 1):
    CLV = E[value] * sum_{m=1..H} (E[Y(m L)] - E[Y((m-1) L)]) / (1 + d)^m
where E[Y(t)] is the expected number of purchases in (T, T + t], L is one month (365.25/12 days) and each
month's purchases are discounted from the end of that month. CLV is in the currency of net_amount (revenue,
not margin).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sen.clv import bgnbd, gamma_gamma, heuristic
from sen.clv.model import ClvModel
from sen.clv.units import months_to_unit
from sen.clv.validation import FloatArray, check_monetary, check_rft

# Per-customer fallback reasons, most important first; a customer gets the first that applies.
REASON_HEURISTIC_FIT = "heuristic_fit"
REASON_NON_POSITIVE_SPEND = "non_positive_spend"
REASON_HEURISTIC_SPEND = "heuristic_spend_fit"
REASON_FIRST_PURCHASE_TODAY = "first_purchase_today"
REASON_NO_REPEAT = "no_repeat_purchases"
FALLBACK_REASONS = (
    REASON_HEURISTIC_FIT,
    REASON_NON_POSITIVE_SPEND,
    REASON_HEURISTIC_SPEND,
    REASON_FIRST_PURCHASE_TODAY,
    REASON_NO_REPEAT,
)


def monthly_discount_rate(annual_discount_rate: float) -> float:
    if not annual_discount_rate > -1.0:
        raise ValueError(f"annual_discount_rate must be > -1, got {annual_discount_rate}")
    return (1.0 + annual_discount_rate) ** (1.0 / 12.0) - 1.0


def expected_purchases(
    model: ClvModel, t: float | FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    """Expected purchases in (T, T + t] under the model's purchase part (t in the model's time unit)."""
    if model.purchase_model == "bgnbd" and model.bgnbd is not None:
        return bgnbd.expected_purchases(model.bgnbd, t, x, t_x, age)
    return heuristic.expected_purchases(model.heuristic, t, x, t_x, age)


def probability_alive(model: ClvModel, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
    if model.purchase_model == "bgnbd" and model.bgnbd is not None:
        return bgnbd.probability_alive(model.bgnbd, x, t_x, age)
    return heuristic.probability_alive(model.heuristic, x, t_x, age)


def expected_average_value(
    model: ClvModel, x: FloatArray, monetary: FloatArray, first_value: FloatArray | None = None
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Expected value per future purchase, and the mask of customers valued at 0 for non-positive spend.

    Customers whose repeat purchases average 0, or single buyers whose first purchase was worth <= 0, are valued
    at 0 (their purchases are still predicted). Single buyers otherwise get the population mean p*gamma/(q-1).
    """
    if model.spend_model == "gamma_gamma" and model.gamma_gamma is not None:
        value = gamma_gamma.expected_average_value(model.gamma_gamma, x, monetary)
    else:
        value = heuristic.expected_average_value(model.heuristic, x, monetary)
    zero = (x > 0) & (monetary <= 0)
    if first_value is not None:
        zero |= (x == 0) & (first_value <= 0)
    return np.where(zero, 0.0, value), zero


def fallback_reasons(
    model: ClvModel, x: FloatArray, age: FloatArray, non_positive: npt.NDArray[np.bool_]
) -> npt.NDArray[np.object_]:
    """One reason per customer (None where the fitted models applied as is); see FALLBACK_REASONS."""
    reasons = np.full(len(x), None, dtype=object)
    # Assigned least important first so the more important reason overwrites.
    reasons[x == 0] = REASON_NO_REPEAT
    reasons[(x == 0) & (age == 0)] = REASON_FIRST_PURCHASE_TODAY
    if model.spend_model != "gamma_gamma":
        reasons[:] = REASON_HEURISTIC_SPEND
    reasons[non_positive] = REASON_NON_POSITIVE_SPEND
    if model.purchase_model != "bgnbd":
        reasons[:] = REASON_HEURISTIC_FIT
    return reasons


def score(
    model: ClvModel,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary: npt.ArrayLike,
    first_value: npt.ArrayLike | None = None,
    *,
    horizon_months: int = 12,
    annual_discount_rate: float = 0.1,
) -> dict[str, np.ndarray]:
    """Score customers whose summary columns are in ``model.time_unit``.

    Returns arrays: expected_purchases_horizon, p_alive, expected_avg_value, clv, fallback_reason.
    """
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ValueError(f"horizon_months must be a whole number >= 1, got {horizon_months}")
    x, t_x, age = check_rft(frequency, recency, T)
    m = check_monetary(monetary, len(x))
    first = check_monetary(first_value, len(x), "first_value") if first_value is not None else None
    month = months_to_unit(1.0, model.time_unit)
    d = monthly_discount_rate(annual_discount_rate)

    horizons = [k * month for k in range(int(horizon_months) + 1)]
    if model.purchase_model == "bgnbd" and model.bgnbd is not None:
        curve = bgnbd.expected_purchases_curve(model.bgnbd, horizons, x, t_x, age)
    else:
        curve = (heuristic.expected_purchases(model.heuristic, h, x, t_x, age) for h in horizons)
    # Month k's purchases are discounted from the end of month k; only two curve points are held at a time.
    previous = next(curve)
    discounted = np.zeros(len(x))
    for k, cumulative in enumerate(curve, start=1):
        discounted += (cumulative - previous) / (1.0 + d) ** k
        previous = cumulative
    value, non_positive = expected_average_value(model, x, m, first)
    return {
        "expected_purchases_horizon": previous,
        "p_alive": probability_alive(model, x, t_x, age),
        "expected_avg_value": value,
        "clv": value * discounted,
        "fallback_reason": fallback_reasons(model, x, age, non_positive),
    }
