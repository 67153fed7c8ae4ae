"""Source freshness: the contract's policies, the check's verdicts, and the checks-only job in Dagster."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from pydantic import ValidationError

from orchestration.assets.ingestion import ingestion_assets
from orchestration.checks.freshness import (
    FRESHNESS_CHECK,
    freshness_job,
    freshness_schedule,
    raw_freshness_checks,
    source_freshness,
)
from orchestration.resources import RunClock, Warehouse
from sen.contracts import Freshness, load_contract
from sen.contracts.render import sources_files

SOURCES = load_contract().sources
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def write_raw(path: Path, loads: dict[str, list[datetime]]) -> None:
    """raw.<source> tables holding only their load times (all the check reads)."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema if not exists raw")
        for source, times in loads.items():
            conn.execute(f'create or replace table raw."{source}" (_loaded_at timestamptz)')
            for loaded_at in times:
                conn.execute(f'insert into raw."{source}" values (?)', [loaded_at])


def test_every_source_has_a_policy_and_the_dbt_sources_file_carries_it():
    tables = {}
    for path in sources_files():  # one dbt sources file per exporting system
        rendered = yaml.safe_load(path.read_text(encoding="utf-8"))["sources"][0]
        assert rendered["config"]["loaded_at_field"] == "_loaded_at"
        tables |= {t["name"]: t for t in rendered["tables"]}
    assert set(tables) == set(SOURCES)
    for name, source in SOURCES.items():
        assert source.freshness.warn_after.delta < source.freshness.error_after.delta, name
        assert tables[name]["config"]["freshness"] == source.freshness.model_dump(), name
    # The nightly exports are overdue after one missed night, not after a week.
    assert SOURCES["events"].freshness.warn_after.delta <= timedelta(hours=36)


def test_a_policy_that_warns_after_it_errors_is_refused():
    with pytest.raises(ValidationError, match="warn_after .* must be shorter than error_after"):
        Freshness.model_validate(
            {"warn_after": {"count": 3, "period": "day"}, "error_after": {"count": 24, "period": "hour"}}
        )


@pytest.mark.parametrize(
    ("hours_ago", "level"),
    [(2, "fresh"), (29, "fresh"), (31, "warn"), (53, "warn"), (55, "error"), (24 * 30, "error")],
)
def test_the_latest_load_decides_the_level(tmp_path, hours_ago, level):
    events = SOURCES["events"]  # daily export: warn after 30 h, error after 54 h
    assert (events.freshness.warn_after.delta, events.freshness.error_after.delta) == (
        timedelta(hours=30),
        timedelta(hours=54),
    )
    warehouse = tmp_path / "w.duckdb"
    # An old load does not hide a recent one: the latest counts.
    write_raw(warehouse, {"events": [NOW - timedelta(days=60), NOW - timedelta(hours=hours_ago)]})
    with duckdb.connect(str(warehouse)) as conn:
        status = source_freshness(conn, events, NOW)
    assert status.level == level
    assert status.age == timedelta(hours=hours_ago)
    assert status.rows == 2


def test_a_source_never_loaded_is_an_error(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    write_raw(warehouse, {"orders": []})
    with duckdb.connect(str(warehouse)) as conn:
        empty = source_freshness(conn, SOURCES["orders"], NOW)
        missing = source_freshness(conn, SOURCES["stores"], NOW)
    assert (empty.level, empty.last_loaded_at) == ("error", None)
    assert missing.level == "error"
    assert "no rows loaded yet" in empty.describe(SOURCES["orders"])


def test_the_freshness_job_fails_the_check_of_a_stale_source_and_passes_the_others(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    now = datetime.now(UTC)
    loads = {name: [now - timedelta(hours=1)] for name in SOURCES}
    loads["orders"] = [now - timedelta(days=3)]  # two nightly exports missed, and more
    loads["products"] = [now - timedelta(days=10)]  # slow-changing: past its 8-day warning only
    write_raw(warehouse, loads)
    defs = dg.Definitions(
        assets=ingestion_assets,
        asset_checks=[raw_freshness_checks],
        jobs=[freshness_job],
        schedules=[freshness_schedule],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(warehouse))},
    )
    result = defs.resolve_job_def("source_freshness").execute_in_process()
    # Checks only: nothing is materialized, and a failed freshness check does not fail the run.
    assert result.success
    assert not result.get_asset_materialization_events()
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(SOURCES)
    assert all(e.check_name == FRESHNESS_CHECK for e in evaluations.values())
    assert not evaluations["orders"].passed
    assert evaluations["orders"].severity == dg.AssetCheckSeverity.ERROR
    assert "overdue (error)" in evaluations["orders"].description
    assert not evaluations["products"].passed
    assert evaluations["products"].severity == dg.AssetCheckSeverity.WARN
    assert all(e.passed for name, e in evaluations.items() if name not in ("orders", "products"))
    assert evaluations["events"].metadata["age_hours"].value == pytest.approx(1, abs=0.1)
