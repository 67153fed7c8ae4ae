"""Validation of an orders table and its reduction to purchase occasions.

Input columns: person_id, ordered_at (timestamp), net_amount (number). A purchase occasion is a
(person, calendar day) with at least one order; same-day orders are merged and their amounts summed, and an
occasion worth less than 0 (returns exceeding purchases that day) is valued at 0 but still counted, as the
paper counts $0 purchases.

Calendar days: with ``timezone`` given, timestamps are converted to that zone first (naive ones are read as
UTC); without it, tz-aware timestamps keep their own zone and naive ones are used as they are. The as-of
timestamp is brought into the same frame; a naive as-of is read as UTC unless the orders are naive too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("person_id", "ordered_at", "net_amount")

Timestampish = str | date | datetime | pd.Timestamp


def _first_label(frame: pd.DataFrame, mask: pd.Series) -> object:
    return frame.index[np.flatnonzero(mask.to_numpy())[0]]


@dataclass(frozen=True)
class OrderFrame:
    """Validated orders with ``ordered_at`` as naive wall time in one frame, plus how to map instants into it."""

    orders: pd.DataFrame
    source_tz: object  # tz of the input timestamps, None if naive
    timezone: str | None

    def local(self, value: Timestampish) -> pd.Timestamp:
        """A timestamp in the same naive wall-time frame as ``orders.ordered_at``."""
        ts = pd.Timestamp(value)
        if ts is pd.NaT:
            raise ValueError(f"as-of value {value!r} is not a timestamp")
        target = self.timezone or self.source_tz
        if target is None:  # naive orders: aware instants are read in UTC
            return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
        if ts.tzinfo is None:  # a naive as-of is UTC, as CDP_AS_OF is
            ts = ts.tz_localize("UTC")
        return ts.tz_convert(target).tz_localize(None)


def load_orders(orders: pd.DataFrame, *, timezone: str | None = None) -> OrderFrame:
    """Check the three columns; raise ValueError naming the row (index label) and field of the first bad value."""
    missing = [c for c in REQUIRED_COLUMNS if c not in orders.columns]
    if missing:
        raise ValueError(f"orders table is missing column(s) {missing}; it has {list(orders.columns)}")
    frame = orders.loc[:, list(REQUIRED_COLUMNS)]

    if frame["person_id"].isna().any():
        raise ValueError(
            f"orders row {_first_label(frame, frame['person_id'].isna())!r}: person_id is missing"
        )

    raw_ts = frame["ordered_at"]
    if isinstance(raw_ts.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(raw_ts):
        ts = raw_ts
    else:
        ts = pd.to_datetime(raw_ts, errors="coerce", utc=True, format="ISO8601")
    if ts.isna().any():
        label = _first_label(frame, ts.isna())
        raise ValueError(f"orders row {label!r}: ordered_at {raw_ts.loc[label]!r} is not a timestamp")

    amount = pd.to_numeric(frame["net_amount"], errors="coerce").astype("float64")
    bad_amount = ~np.isfinite(amount.to_numpy())
    if bad_amount.any():
        label = frame.index[np.flatnonzero(bad_amount)[0]]
        raise ValueError(
            f"orders row {label!r}: net_amount {frame['net_amount'].loc[label]!r} is not a finite number"
        )

    source_tz = ts.dt.tz
    if timezone is not None:
        ts = (ts if source_tz is not None else ts.dt.tz_localize("UTC")).dt.tz_convert(timezone)
    if ts.dt.tz is not None:
        ts = ts.dt.tz_localize(None)
    clean = pd.DataFrame(
        {
            "person_id": frame["person_id"].to_numpy(),
            "ordered_at": ts.to_numpy(),
            "net_amount": amount.to_numpy(),
        }
    )
    return OrderFrame(orders=clean, source_tz=source_tz, timezone=timezone)


def purchase_occasions(
    frame: OrderFrame, end: pd.Timestamp, start_exclusive: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Occasions from orders with start_exclusive < ordered_at <= end (wall time): person_id, day, value."""
    orders = frame.orders
    keep = orders["ordered_at"] <= end
    if start_exclusive is not None:
        keep &= orders["ordered_at"] > start_exclusive
    sub = orders.loc[keep]
    occ = (
        sub.assign(day=sub["ordered_at"].dt.normalize())
        .groupby(["person_id", "day"], sort=True, observed=True)["net_amount"]
        .sum()
        .clip(lower=0.0)
        .rename("value")
        .reset_index()
    )
    return occ
