"""Per-customer RFM summary for BG/NBD and Gamma-Gamma, built from an orders table.

As in Fader, Hardie & Lee: same-day orders form one purchase occasion; frequency = number of repeat occasions
(occasions after the first); recency t_x = time from the first to the last occasion; T = time from the first
occasion to the as-of date; monetary = average value of the repeat occasions (the first is excluded; 0 when
there is none). first_value is the value of the first occasion. Times are whole calendar days divided by the
unit's length in days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sen.clv.orders import OrderFrame, Timestampish, load_orders, purchase_occasions
from sen.clv.units import DAYS_PER_UNIT, check_unit

SUMMARY_COLUMNS = ("person_id", "frequency", "recency", "T", "monetary", "first_value")


def summarise_occasions(
    occasions: pd.DataFrame, as_of_day: pd.Timestamp, time_unit: str = "days"
) -> pd.DataFrame:
    """Summary from occasions sorted by (person_id, day), as returned by ``purchase_occasions``."""
    unit_days = DAYS_PER_UNIT[check_unit(time_unit)]
    grouped = occasions.groupby("person_id", sort=True, observed=True)
    first_day = grouped["day"].min()
    last_day = grouped["day"].max()
    n_occasions = grouped.size()
    total = grouped["value"].sum()
    first_value = grouped["value"].first()  # rows are sorted by day within a person
    frequency = (n_occasions - 1).astype("int64")
    repeat_total = (total - first_value).clip(lower=0.0)  # float error must not make a negative mean
    monetary = np.where(frequency > 0, repeat_total / frequency.where(frequency > 0, 1), 0.0)
    return pd.DataFrame(
        {
            "person_id": first_day.index.to_numpy(),
            "frequency": frequency.to_numpy(),
            "recency": (last_day - first_day).dt.days.to_numpy() / unit_days,
            "T": (as_of_day - first_day).dt.days.to_numpy() / unit_days,
            "monetary": monetary,
            "first_value": first_value.to_numpy(),
        }
    )


def build_summary(
    orders: pd.DataFrame | OrderFrame,
    as_of: Timestampish,
    *,
    time_unit: str = "days",
    timezone: str | None = None,
) -> pd.DataFrame:
    """One row per person with an order at or before ``as_of``: SUMMARY_COLUMNS, times in ``time_unit``."""
    frame = orders if isinstance(orders, OrderFrame) else load_orders(orders, timezone=timezone)
    end = frame.local(as_of)
    occasions = purchase_occasions(frame, end)
    return summarise_occasions(occasions, end.normalize(), time_unit)
