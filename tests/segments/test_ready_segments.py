"""The playbook segments shipped in dbt_project/segments/*.yml, each compiled as generated and run on DuckDB
against a small hand-made set of people: who must be in, who must not."""

from __future__ import annotations

import duckdb
import pytest

from sen.segments.catalog import load_catalog
from sen.segments.compiler import compile_segment
from sen.segments.loader import load_segments
from tests.segments.render import load_parameters, members

PEOPLE = [
    # person_id, is_identified
    ("w_inactive", True), ("w_churn", True), ("w_recent", True), ("w_never", True),
    ("c_in", True), ("c_out", True), ("h_in", True), ("h_old", True), ("r_in", True), ("r_old", True),
    ("l_progress", True), ("l_amount", True), ("l_top", True), ("b_in", True), ("b_out", True),
    ("a_in", True), ("a_new", True), ("cart_2", True), ("cart_ignored", True), ("cart_early", True),
    ("cart_drop", True), ("rep_due", True), ("rep_not", True), ("aff_in", True), ("aff_out", True),
    ("noint_in", True), ("sat", True), ("unhappy", True), ("ticket", True),
    ("known", True), ("anon", False), ("anon_back", False), ("anon_shoes", False), ("anon_old", False),
]  # fmt: skip

TABLES = {
    "customers": (
        "person_id varchar, is_identified boolean",
        [(p, identified) for p, identified in PEOPLE],
    ),
    "customer_value": (
        "person_id varchar, orders integer, recency_days integer",
        [("w_inactive", 2, 200), ("w_churn", 1, 50), ("w_recent", 3, 150), ("h_in", 5, 30), ("h_old", 5, 400)],
    ),
    "customer_segments_value": (
        "person_id varchar, churn_risk varchar, clv_tier varchar, is_high_value_loyal boolean",
        [("w_inactive", "low", "rest", False), ("w_churn", "high", "rest", False), ("w_recent", "low", "rest", False),
         ("c_in", "medium", "top_10pct", False), ("c_out", "high", "top_50pct", False),
         ("h_in", "low", "top_1pct", True), ("h_old", "low", "top_1pct", True)],
    ),
    "orders": (
        "person_id varchar, ordered_at timestamp",
        [("w_recent", "2026-11-11 00:00:00"), ("w_inactive", "2026-05-01 00:00:00"), ("r_in", "2026-11-16 00:00:00"),
         ("r_old", "2026-10-12 00:00:00")],
    ),
    "loyalty_status": (
        "person_id varchar, next_tier varchar, progress double, missing_amount decimal(18, 2)",
        [("l_progress", "gold", 0.85, 900000), ("l_amount", "gold", 0.2, 300000), ("l_top", None, 1.0, None)],
    ),
    "calendar_moments": (
        "person_id varchar, birthday_this_month boolean, anniversary_this_month boolean, membership_years integer",
        [("b_in", True, False, 0), ("b_out", False, False, 0), ("a_in", False, True, 2), ("a_new", False, True, 0)],
    ),
    "cart_abandonment": (
        "person_id varchar, stage integer, ignored_all_reminders boolean, has_low_stock_item boolean, "
        "has_price_drop boolean",
        [("cart_2", 2, False, False, False), ("cart_ignored", 3, True, False, False),
         ("cart_early", None, False, True, True), ("cart_drop", 1, False, False, True)],
    ),
    "replenishment_due": (
        "person_id varchar, sku varchar, is_due boolean, last_bought_at timestamp",
        [("rep_due", "S1", True, "2026-09-01 00:00:00"), ("rep_not", "S1", False, "2026-11-01 00:00:00")],
    ),
    "category_affinity": (
        "person_id varchar, category varchar, is_affine boolean, is_uninterested boolean",
        [("aff_in", "beauty", True, False), ("aff_out", "beauty", False, False), ("aff_out", "shoes", True, False),
         ("noint_in", "electronics", False, True), ("aff_in", "electronics", False, False)],
    ),
    "service_recovery": (
        "person_id varchar, is_dissatisfied boolean, has_open_ticket boolean",
        [("sat", False, False), ("unhappy", True, False), ("ticket", True, True)],
    ),
    "person_events": (
        "person_id varchar, occurred_at timestamp, occurred_date date, event_name varchar, category varchar",
        [("known", "2026-11-16 10:00:00", "2026-11-16", "page", None),
         ("anon", "2026-11-20 10:00:00", "2026-11-20", "page", None),
         ("anon_back", "2026-11-01 10:00:00", "2026-11-01", "page", None),
         ("anon_back", "2026-11-10 10:00:00", "2026-11-10", "page", None),
         ("anon_back", "2026-11-19 10:00:00", "2026-11-19", "page", None),
         ("anon_shoes", "2026-11-18 10:00:00", "2026-11-18", "product_viewed", "shoes"),
         ("anon_shoes", "2026-11-19 10:00:00", "2026-11-19", "product_viewed", "shoes"),
         ("anon_old", "2026-09-01 10:00:00", "2026-09-01", "product_viewed", "shoes")],
    ),
}  # fmt: skip

EXPECTED = {
    # h_old: 400 days since the last order. Not w_recent (ordered 10 days ago), not w_never (no orders).
    "winback_inactive": {"w_inactive", "w_churn", "h_old"},
    "churn_risk_valuable": {"c_in"},
    "high_value_loyal": {"h_in"},
    "recent_buyers": {"r_in", "w_recent"},
    "loyalty_near_next_tier": {"l_progress", "l_amount"},
    "birthday_this_month": {"b_in"},
    "membership_anniversary": {"a_in"},
    "cart_abandoners": {"cart_2", "cart_drop"},
    "cart_abandoners_urgent": {"cart_drop"},
    "cart_retargeting": {"cart_ignored"},
    "replenishment_due": {"rep_due"},
    "affinity_beauty": {"aff_in"},
    "no_interest_electronics": {"noint_in"},
    "dissatisfied_customers": {"unhappy", "ticket"},
    "open_ticket": {"ticket"},
    "known_visitors_30d": {"known"},
    "anonymous_visitors_30d": {"anon", "anon_back", "anon_shoes"},
    "anonymous_returning_visitors": {"anon_back"},
    "anonymous_shoe_browsers": {"anon_shoes"},
}


@pytest.fixture(scope="module")
def compiled():
    catalog = load_catalog()
    return {s.name: compile_segment(s, catalog) for s in load_segments()}


@pytest.fixture(scope="module")
def conn(compiled):
    conn = duckdb.connect()
    conn.execute("create schema fixture")
    for table, (columns, rows) in TABLES.items():
        conn.execute(f"create table fixture.{table} ({columns})")
        if rows:
            placeholders = ", ".join("?" for _ in rows[0])
            conn.executemany(f"insert into fixture.{table} values ({placeholders})", rows)
    load_parameters(conn, list(compiled.values()))
    yield conn
    conn.close()


def test_every_shipped_segment_has_an_expectation(compiled):
    assert set(compiled) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ready_segment_selects_the_right_people(compiled, conn, name):
    assert members(conn, compiled[name]) == EXPECTED[name]
