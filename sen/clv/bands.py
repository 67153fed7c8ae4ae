"""Churn-risk bands and CLV tiers: vectorized, deterministic functions of scored columns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from sen.clv.validation import as_float_column


@dataclass(frozen=True)
class ChurnRules:
    """Bands from P(alive) for customers with enough history, from recency for the others.

    P(alive) < high_below -> 'high'; P(alive) > low_above -> 'low'; otherwise 'medium' (bounds inclusive).
    Customers with frequency < min_frequency (by default single buyers, whose BG/NBD P(alive) is always 1)
    are banded by days since their last purchase: > recency_high_days -> 'high', > recency_medium_days ->
    'medium', else 'low'.
    """

    high_below: float = 0.3
    low_above: float = 0.7
    min_frequency: int = 1
    recency_medium_days: float = 90.0
    recency_high_days: float = 180.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.high_below <= self.low_above <= 1.0:
            raise ValueError(
                f"need 0 <= high_below <= low_above <= 1, got {self.high_below}, {self.low_above}"
            )
        if not 0.0 <= self.recency_medium_days <= self.recency_high_days:
            raise ValueError(
                "need 0 <= recency_medium_days <= recency_high_days, got "
                f"{self.recency_medium_days}, {self.recency_high_days}"
            )


def churn_risk(
    p_alive: npt.ArrayLike,
    frequency: npt.ArrayLike,
    days_since_last_purchase: npt.ArrayLike,
    rules: ChurnRules | None = None,
) -> npt.NDArray[np.object_]:
    """'high' / 'medium' / 'low' per customer."""
    rules = rules or ChurnRules()
    p = as_float_column(p_alive, "p_alive")
    x = as_float_column(frequency, "frequency")
    days = as_float_column(days_since_last_purchase, "days_since_last_purchase")
    by_model = np.where(p < rules.high_below, "high", np.where(p > rules.low_above, "low", "medium"))
    by_recency = np.where(
        days > rules.recency_high_days, "high", np.where(days > rules.recency_medium_days, "medium", "low")
    )
    return np.where(x < rules.min_frequency, by_recency, by_model).astype(object)


@dataclass(frozen=True)
class ClvTiers:
    """Tiers by CLV rank, best first: a customer ranked k of n (1-based) gets the first tier with k <= share*n."""

    tiers: tuple[tuple[str, float], ...] = (("top_1pct", 0.01), ("top_10pct", 0.10), ("top_50pct", 0.50))
    rest: str = "rest"

    def __post_init__(self) -> None:
        shares = [share for _, share in self.tiers]
        if any(not 0.0 < s <= 1.0 for s in shares) or shares != sorted(shares):
            raise ValueError(f"tier shares must be increasing and in (0, 1], got {shares}")


def clv_tier(
    clv: npt.ArrayLike, person_ids: npt.ArrayLike, tiers: ClvTiers | None = None
) -> npt.NDArray[np.object_]:
    """Tier per customer; equal CLVs are ordered by person_id (ascending) so the result never depends on row order."""
    tiers = tiers or ClvTiers()
    values = as_float_column(clv, "clv")
    ids = pd.Series(np.asarray(person_ids))
    if len(ids) != len(values):
        raise ValueError(f"clv has {len(values)} rows but person_ids has {len(ids)}")
    if ids.isna().any():
        raise ValueError(f"row {int(np.flatnonzero(ids.isna().to_numpy())[0])}: person_id is missing")
    id_codes, _ = pd.factorize(ids, sort=True)
    order = np.lexsort((id_codes, -values))  # last key is primary: CLV descending, then person_id
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(1, len(values) + 1)
    out = np.full(len(values), tiers.rest, dtype=object)
    n = len(values)
    for label, share in reversed(tiers.tiers):  # narrowest tier written last wins
        out[rank <= math.floor(share * n + 1e-9)] = label
    return out
