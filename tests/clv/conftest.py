"""CDNOW fixtures (see tests/fixtures/cdnow/README.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

CDNOW_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_orders() -> pd.DataFrame:
    """The CDNOW 1/10 transaction log as an orders table (person_id, ordered_at, net_amount)."""
    raw = pd.read_csv(
        CDNOW_DIR / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "person_id", "date", "n_cds", "net_amount"],
        dtype={"date": str},
    )
    return pd.DataFrame(
        {
            "person_id": raw["person_id"],
            "ordered_at": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "net_amount": raw["net_amount"].astype(float),
        }
    )


@pytest.fixture(scope="session")
def cdnow_summary() -> pd.DataFrame:
    """The published calibration summary in weeks: ID, x, t_x, T, zbar."""
    return pd.read_csv(CDNOW_DIR / "cdnow_customers_summary_with_transactions.csv")
