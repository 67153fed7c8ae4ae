"""Phones of ranges the phonenumbers metadata does not list yet are kept and flagged, not dropped."""

from __future__ import annotations

import pandas as pd

from sen.normalize import (
    UNLISTED_RANGE,
    flag_counts,
    normalize_phone,
    normalize_series,
    phone_flag,
    reset_rejection_counts,
)


def test_new_vietnamese_mobile_range_is_kept_and_flagged() -> None:
    # +84 890-895: assigned mobile ranges that phonenumbers 9.0 does not list as valid.
    for raw in ["0890 007 541", "84890007541", "+84 890 007 541"]:
        assert normalize_phone(raw) == "+84890007541"
        assert phone_flag(raw) == UNLISTED_RANGE
    assert phone_flag("0912 345 678") is None


def test_wrong_lengths_and_other_countries_are_still_dropped() -> None:
    assert normalize_phone("089000754") is None  # a digit short
    assert (
        normalize_phone("650-253-0000") is None
    )  # not a Vietnamese number; not kept as some other country's


def test_flagged_phones_are_counted_per_row() -> None:
    reset_rejection_counts()
    normalize_series(pd.Series(["0895 123 456", "0895 123 456", "0912 345 678", None]), "phone")
    assert flag_counts() == {("phone", UNLISTED_RANGE): 2}


def test_phone_flag_in_sql() -> None:
    import duckdb

    from sen.normalize import register_udfs

    conn = duckdb.connect()
    register_udfs(conn)
    rows = conn.execute(
        "select sen_normalize_phone(v, 'VN'), sen_phone_flag(v, 'VN') "
        "from (values ('0890 007 541'), ('0912 345 678'), (null)) t(v)"
    ).fetchall()
    assert rows == [("+84890007541", "unlisted_range"), ("+84912345678", None), (None, None)]


def test_a_number_typed_with_its_country_code_is_kept_in_that_countrys_ranges() -> None:
    # '+65 8006 9874': the length of a Singapore mobile, a range the metadata does not list; the '+' names
    # the country, so it is kept and flagged like a new Vietnamese range (an account's only phone: dropping
    # it let a household member's phone join the account through their shared laptop).
    assert normalize_phone("+65-8006-9874") == "+6580069874"
    assert phone_flag("+65 8006 9874") == UNLISTED_RANGE
    assert normalize_phone("+65 8006") is None  # too short for any Singapore number
