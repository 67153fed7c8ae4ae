"""Simple heuristics used when the data are too thin for the probabilistic models.

Purchase rate: the customer's own repeat rate shrunk towards the pooled rate,
    rate = (x + pooled_rate * prior_time) / (T + prior_time),
i.e. ``prior_time`` worth of population behaviour is added to every customer (a fixed gamma-Poisson prior).
P(alive): the chance of the observed silence since the last repeat purchase at that rate,
exp(-rate * (T - t_x)), and 1 for customers without a repeat purchase (as in BG/NBD; the churn bands use
recency rules for them). Expected purchases over t: P(alive) * rate * t.
Spend: the customer's own average repeat value, else the mean over repeat buyers, else the mean first value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sen.clv.units import TimeUnit, check_unit, unit_factor
from sen.clv.validation import FloatArray

DEFAULT_PRIOR_DAYS = 180.0


@dataclass(frozen=True)
class HeuristicParams:
    time_unit: TimeUnit
    pooled_rate: float  # repeat purchases per time unit over all customers' observed time
    prior_time: float  # in time_unit
    mean_repeat_value: float  # NaN when no repeat buyer has positive spend
    mean_first_value: float  # NaN when there are no customers
    n_customers: int

    @property
    def fallback_value(self) -> float:
        for value in (self.mean_repeat_value, self.mean_first_value):
            if math.isfinite(value):
                return value
        return 0.0

    def in_unit(self, unit: str) -> HeuristicParams:
        factor = unit_factor(self.time_unit, check_unit(unit))
        return replace(
            self, time_unit=unit, pooled_rate=self.pooled_rate / factor, prior_time=self.prior_time * factor
        )


def fit_heuristic(
    x: FloatArray, age: FloatArray, monetary: FloatArray, first_value: FloatArray | None, time_unit: str
) -> HeuristicParams:
    unit = check_unit(time_unit)
    total_age = float(age.sum())
    buyers = (x > 0) & (monetary > 0)
    return HeuristicParams(
        time_unit=unit,
        pooled_rate=float(x.sum()) / total_age if total_age > 0 else 0.0,
        prior_time=DEFAULT_PRIOR_DAYS * unit_factor("days", unit),
        mean_repeat_value=float(monetary[buyers].mean()) if buyers.any() else math.nan,
        mean_first_value=float(first_value.mean())
        if first_value is not None and len(first_value)
        else math.nan,
        n_customers=len(x),
    )


def purchase_rate(params: HeuristicParams, x: FloatArray, age: FloatArray) -> FloatArray:
    return (x + params.pooled_rate * params.prior_time) / (age + params.prior_time)


def probability_alive(params: HeuristicParams, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
    return np.where(x > 0, np.exp(-purchase_rate(params, x, age) * (age - t_x)), 1.0)


def expected_purchases(
    params: HeuristicParams, t: float | FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    return (
        probability_alive(params, x, t_x, age)
        * purchase_rate(params, x, age)
        * np.asarray(t, dtype=np.float64)
    )


def expected_average_value(params: HeuristicParams, x: FloatArray, monetary: FloatArray) -> FloatArray:
    return np.where((x > 0) & (monetary > 0), monetary, params.fallback_value)
