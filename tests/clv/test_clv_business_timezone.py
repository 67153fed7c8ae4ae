"""CLV day boundaries follow the business time zone setting (CDP_TIMEZONE), the same days as dbt's marts."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.assets.clv import clv_fit_and_score
from orchestration.resources import RunClock, Warehouse

AS_OF = "2026-11-20T23:59:59Z"  # 06:59:59 on 21 Nov in Ho Chi Minh City


def build_clv(tmp_path: Path, monkeypatch, timezone: str | None) -> dict:
    warehouse = tmp_path / f"wh-{timezone or 'default'}.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.orders (person_id varchar, ordered_at timestamp, net_amount decimal(18, 2), "
            "is_fully_refunded boolean)"
        )
        # The first purchase at 10:00 UTC (17:00 the same day in Vietnam), the last at 18:00 UTC on the as-of day.
        conn.execute(
            "insert into marts.orders values ('p1', '2026-11-10 10:00:00', 100, false), "
            "('p1', '2026-11-20 18:00:00', 100, false)"
        )
    monkeypatch.setenv("CDP_AS_OF", AS_OF)
    if timezone:
        monkeypatch.setenv("CDP_TIMEZONE", timezone)
    else:
        monkeypatch.delenv("CDP_TIMEZONE", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = dg.materialize(
        [clv_fit_and_score],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(warehouse))},
    )
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        fit = conn.execute("select timezone from marts.clv_model_fits").fetchone()[0]
        row = conn.execute("select * from marts.customer_clv").df().iloc[0].to_dict()
    return {"timezone": fit, **row}


def test_clv_days_follow_the_timezone_setting(tmp_path, monkeypatch):
    in_utc = build_clv(tmp_path, monkeypatch, "UTC")
    in_vietnam = build_clv(tmp_path, monkeypatch, None)
    assert in_utc["timezone"] == "UTC" and in_vietnam["timezone"] == "Asia/Ho_Chi_Minh"
    # As of 23:59:59 UTC the customer's first purchase is 10 days old in UTC days; in Vietnam it is already the
    # next calendar day there, so the age is 11 days: the setting, not a Dagster run config, decides.
    assert in_utc["T"] == pytest.approx(10.0)
    assert in_vietnam["T"] == pytest.approx(11.0)
