"""Seeded simulation from BG/NBD + Gamma-Gamma, for benchmarks and model checks.

Each customer draws lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b) and J ~ Geometric(p), the repeat purchase
after which they drop out. Purchases arrive as a Poisson(lambda) process; the first J are observed. Given
N arrivals in (0, T], the x-th arrival time is T * Beta(x, N - x + 1) (uniform order statistics), so the
summary is drawn without generating every transaction. Spend: nu ~ Gamma(q, rate gamma), each purchase
value ~ Gamma(p, rate nu), so the mean of x values ~ Gamma(p x, rate nu x).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from sen.clv.bgnbd import BgNbdParams
from sen.clv.gamma_gamma import GammaGammaParams


def simulate_summary(
    n: int,
    bg: BgNbdParams,
    gg: GammaGammaParams,
    *,
    max_age: float,
    holdout: float = 0.0,
    seed: int = 0,
    whole_ages: bool = True,
) -> pd.DataFrame:
    """n customers with ages T uniform on [0, max_age] (whole units if ``whole_ages``), times in bg.time_unit.

    Columns: frequency, recency, T, monetary (mean repeat value, 0 if none), first_value, spend_rate (nu) and
    holdout_purchases (purchases in (T, T + holdout]).
    """
    rng = np.random.default_rng(seed)
    age = (
        rng.integers(0, int(max_age) + 1, n).astype(np.float64) if whole_ages else rng.uniform(0, max_age, n)
    )
    lam = rng.gamma(bg.r, 1.0 / bg.alpha, n)
    drop_p = np.clip(rng.beta(bg.a, bg.b, n), 1e-12, 1.0)
    dropout_after = rng.geometric(drop_p)
    arrivals = rng.poisson(lam * age)
    x = np.minimum(arrivals, dropout_after)
    repeat = x > 0
    t_x = np.zeros(n)
    t_x[repeat] = age[repeat] * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    alive = arrivals < dropout_after
    later = rng.poisson(lam * holdout) if holdout > 0 else np.zeros(n, dtype=np.int64)
    holdout_purchases = np.where(alive, np.minimum(later, dropout_after - arrivals), 0)

    nu = rng.gamma(gg.q, 1.0 / gg.gamma, n)
    monetary = np.zeros(n)
    monetary[repeat] = rng.gamma(gg.p * x[repeat], 1.0 / (nu[repeat] * x[repeat]))
    first_value = rng.gamma(gg.p, 1.0 / nu)
    return pd.DataFrame(
        {
            "person_id": np.arange(n, dtype=np.int64),
            "frequency": x.astype(np.int64),
            "recency": t_x,
            "T": age,
            "monetary": monetary,
            "first_value": first_value,
            "spend_rate": nu,
            "holdout_purchases": holdout_purchases.astype(np.int64),
        }
    )


def simulate_orders(
    summary: pd.DataFrame, as_of: str | pd.Timestamp, gg: GammaGammaParams, *, seed: int = 0
) -> pd.DataFrame:
    """Order rows (person_id, ordered_at, net_amount) consistent with a simulated summary in days.

    The first order is T days before ``as_of``'s date, the last repeat order at t_x, the other x - 1 uniform
    in between; each is at a random time of its day, so pass an as-of at the end of that day. Orders landing
    on the same day merge into one occasion when summarised, as in real data.
    """
    rng = np.random.default_rng(seed)
    x = summary["frequency"].to_numpy(dtype=np.int64)
    t_x = summary["recency"].to_numpy(dtype=np.float64)
    age = summary["T"].to_numpy(dtype=np.float64)
    nu = summary["spend_rate"].to_numpy(dtype=np.float64)
    n = len(x)

    owner = np.repeat(np.arange(n), x)
    offsets = rng.uniform(0.0, 1.0, len(owner)) * t_x[owner]
    last_of_each = np.cumsum(x)[x > 0] - 1  # rows of each customer's x-th repeat purchase
    offsets[last_of_each] = t_x[x > 0]
    person = np.concatenate([np.arange(n), owner])
    day_offset = np.concatenate([np.zeros(n), np.floor(offsets)])
    first_day = pd.Timestamp(as_of).normalize() - pd.to_timedelta(age, unit="D")
    seconds = rng.uniform(0, 86_399, len(person))
    ordered_at = (
        first_day.to_numpy()[person]
        + pd.to_timedelta(day_offset, unit="D").to_numpy()
        + pd.to_timedelta(seconds, unit="s").to_numpy()
    )
    amounts: npt.NDArray[np.float64] = rng.gamma(gg.p, 1.0 / nu[person])
    return pd.DataFrame(
        {
            "person_id": summary["person_id"].to_numpy()[person],
            "ordered_at": ordered_at,
            "net_amount": np.round(amounts, 2),
        }
    )
