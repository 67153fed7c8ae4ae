"""A small DuckDB warehouse with a synthetic marts.orders table for the CLV assets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

AS_OF = "2026-06-30T12:00:00Z"


def synthetic_orders(
    n_people: int, seed: int = 7, start: str = "2023-01-01", days: int = 1270
) -> pd.DataFrame:
    """Buyers who purchase at Poisson times and may drop out after each purchase (BG/NBD-like), in VND."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    rows = []
    for p in range(n_people):
        rate = rng.gamma(1.2, 1 / 70)  # purchases per day
        drop = rng.beta(1.0, 4.0)
        spend = rng.gamma(4.0, 150_000)
        t = float(rng.integers(0, days))
        n = 0
        while t < days:
            n += 1
            amount = round(float(rng.gamma(4.0, spend / 4.0)), 2)
            rows.append((f"P{p:05d}", f"SO{p:05d}{n:03d}", t0 + pd.Timedelta(days=t), amount))
            if rng.random() < drop:
                break
            t += rng.exponential(1 / rate) + 1
    orders = pd.DataFrame(rows, columns=["person_id", "order_id", "ordered_at", "net_amount"])
    orders["ordered_at"] = orders["ordered_at"].dt.floor("s")
    orders["is_fully_refunded"] = False
    return orders


def write_orders(path: Path, orders: pd.DataFrame) -> None:
    conn = duckdb.connect(str(path))
    try:
        conn.execute("create schema if not exists marts")
        conn.register("_orders", orders)
        conn.execute(
            """create or replace table marts.orders as
               select order_id, person_id, ordered_at, cast(net_amount as decimal(18, 2)) as net_amount,
                      is_fully_refunded
               from _orders"""
        )
    finally:
        conn.close()


@pytest.fixture(scope="session")
def make_orders() -> Callable[..., pd.DataFrame]:
    return synthetic_orders


@pytest.fixture(scope="session")
def orders() -> pd.DataFrame:
    return synthetic_orders(1500)


@pytest.fixture
def warehouse_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[pd.DataFrame], Path]:
    """Write the given orders to a fresh DuckDB file and point CDP_AS_OF at the test reference time."""
    monkeypatch.setenv("CDP_AS_OF", AS_OF)
    monkeypatch.delenv("CDP_CLV_HORIZON_MONTHS", raising=False)
    monkeypatch.delenv("CDP_CLV_DISCOUNT_RATE", raising=False)

    def make(orders: pd.DataFrame) -> Path:
        path = tmp_path / "w.duckdb"
        write_orders(path, orders)
        return path

    return make
