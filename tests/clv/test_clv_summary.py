"""Building the per-customer summary from an orders table, and rejecting bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sen.clv.summary import build_summary


def _orders(rows: list[tuple[object, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["person_id", "ordered_at", "net_amount"]).assign(
        ordered_at=lambda d: pd.to_datetime(d["ordered_at"])
    )


def test_same_day_orders_merge_and_first_purchase_is_excluded_from_monetary() -> None:
    orders = _orders(
        [
            ("a", "2024-01-01 09:00", 100.0),  # first occasion: excluded from monetary
            ("a", "2024-01-11 10:00", 20.0),
            ("a", "2024-01-11 18:30", 30.0),  # same day: one occasion worth 50
            ("a", "2024-01-31 12:00", 10.0),
            ("b", "2024-01-21 08:00", 40.0),
        ]
    )
    summary = build_summary(orders, "2024-02-10").set_index("person_id")
    a = summary.loc["a"]
    assert (a["frequency"], a["recency"], a["T"]) == (2, 30.0, 40.0)
    assert a["monetary"] == pytest.approx(30.0)  # (50 + 10) / 2
    assert a["first_value"] == 100.0
    b = summary.loc["b"]
    assert (b["frequency"], b["recency"], b["T"], b["monetary"], b["first_value"]) == (
        0,
        0.0,
        20.0,
        0.0,
        40.0,
    )
    weeks = build_summary(orders, "2024-02-10", time_unit="weeks").set_index("person_id")
    assert weeks.loc["a", "T"] == pytest.approx(40 / 7)


def test_orders_after_as_of_are_ignored_and_a_purchase_today_has_age_zero() -> None:
    orders = _orders(
        [
            ("a", "2024-03-01 08:00", 10.0),
            ("a", "2024-03-01 20:00", 10.0),  # later than as_of: not yet happened
            ("c", "2024-03-05 00:00", 10.0),  # only future orders: not a customer yet
        ]
    )
    summary = build_summary(orders, "2024-03-01 12:00")
    assert summary["person_id"].tolist() == ["a"]
    assert (summary.loc[0, "T"], summary.loc[0, "first_value"]) == (0.0, 10.0)


def test_negative_occasions_are_valued_at_zero_but_still_counted() -> None:
    orders = _orders(
        [
            ("a", "2024-01-01", 50.0),
            ("a", "2024-01-05", -80.0),  # a return bigger than that day's purchases
            ("a", "2024-01-09", 30.0),
        ]
    )
    row = build_summary(orders, "2024-01-10").iloc[0]
    assert row["frequency"] == 2
    assert row["monetary"] == pytest.approx(15.0)  # (0 + 30) / 2


def test_calendar_days_follow_the_requested_timezone() -> None:
    # 17:30 UTC and 23:00 UTC on 1 Jan are 00:30 and 06:00 on 2 Jan in Ho Chi Minh City (UTC+7).
    orders = pd.DataFrame(
        {
            "person_id": ["a", "a", "a"],
            "ordered_at": pd.to_datetime(
                ["2024-01-01T10:00:00Z", "2024-01-01T17:30:00Z", "2024-01-01T23:00:00Z"]
            ),
            "net_amount": [10.0, 20.0, 30.0],
        }
    )
    as_of = pd.Timestamp("2024-01-03T00:00:00Z")
    in_utc = build_summary(orders, as_of).iloc[0]
    assert (in_utc["frequency"], in_utc["T"]) == (0, 2.0)
    local = build_summary(orders, as_of, timezone="Asia/Ho_Chi_Minh").iloc[0]
    assert (local["frequency"], local["recency"], local["T"], local["monetary"]) == (1, 1.0, 2.0, 50.0)
    # ISO strings with offsets are accepted too; a naive as-of is read as UTC (as CDP_AS_OF is).
    as_text = orders.assign(
        ordered_at=["2024-01-01T17:00:00+07:00", "2024-01-02T00:30:00+07:00", "2024-01-02T06:00:00+07:00"]
    )
    text_summary = build_summary(as_text, "2024-01-03 07:00", timezone="Asia/Ho_Chi_Minh").iloc[0]
    assert (text_summary["frequency"], text_summary["T"]) == (1, 2.0)
    # Without a timezone, aware orders keep their own zone: 2 Jan 00:30 +07:00 is after 1 Jan 20:00 UTC.
    cut = build_summary(as_text.assign(ordered_at=pd.to_datetime(as_text["ordered_at"])), "2024-01-01 20:00")
    assert (cut.loc[0, "frequency"], cut.loc[0, "T"]) == (1, 1.0)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("person_id", None, r"orders row 1: person_id is missing"),
        ("ordered_at", "not a date", r"orders row 1: ordered_at 'not a date' is not a timestamp"),
        ("net_amount", np.nan, r"orders row 1: net_amount nan is not a finite number"),
        ("net_amount", "12,5", r"orders row 1: net_amount '12,5' is not a finite number"),
    ],
)
def test_bad_rows_are_reported_with_row_and_field(column: str, value: object, message: str) -> None:
    orders = pd.DataFrame(
        {"person_id": ["a", "b"], "ordered_at": ["2024-01-01", "2024-01-02"], "net_amount": [1.0, 2.0]},
        dtype=object,
    )
    orders.loc[1, column] = value
    with pytest.raises(ValueError, match=message):
        build_summary(orders, "2024-02-01")


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['net_amount'\]"):
        build_summary(pd.DataFrame({"person_id": [1], "ordered_at": ["2024-01-01"]}), "2024-02-01")
