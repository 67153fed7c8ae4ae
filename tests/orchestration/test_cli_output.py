"""What the command line prints: the as-of and where it came from, quarantine counts, a stale-as-of warning,
and a short log instead of Dagster's DEBUG stream."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import dagster as dg
import duckdb

from orchestration.cli import as_of_origin, print_summary, run_as_of
from orchestration.cli_log import ConciseFilter, concise_console
from sen.settings import DEFAULT_DATA_DIR, Settings


def test_the_demo_runs_as_of_the_samples_own_date_and_says_so(monkeypatch, tmp_path):
    settings = Settings.from_env({"CDP_DATA_DIR": str(DEFAULT_DATA_DIR)})
    assert run_as_of(settings) == datetime(2026, 11, 21, tzinfo=UTC)
    assert "dataset.yml" in as_of_origin(settings)
    # A user's folder without dataset.yml runs as of now; CDP_AS_OF always wins.
    assert run_as_of(Settings.from_env({"CDP_DATA_DIR": str(tmp_path)})).date() == datetime.now(UTC).date()
    pinned = Settings.from_env({"CDP_DATA_DIR": str(DEFAULT_DATA_DIR), "CDP_AS_OF": "2026-10-01"})
    assert run_as_of(pinned) == datetime(2026, 10, 1, tzinfo=UTC) and as_of_origin(pinned) == "CDP_AS_OF"


def warehouse_with_orders(tmp_path, newest: str):
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema marts")
        conn.execute(f"create table marts.orders as select timestamp '{newest}' as ordered_at")
    return path


def test_the_summary_counts_quarantined_rows_per_source(tmp_path, capsys):
    path = warehouse_with_orders(tmp_path, "2026-11-20 10:00:00")
    settings = Settings.from_env({"CDP_WAREHOUSE": str(path), "CDP_DATA_DIR": str(tmp_path)})
    ingested = {
        "orders": {"rows_in": 1000, "rows_loaded": 990, "rows_quarantined": 10},
        "stores": {"rows_in": 5, "rows_loaded": 5, "rows_quarantined": 0},
    }
    print_summary(settings, datetime(2026, 11, 21, tzinfo=UTC), 1.0, True, True, ingested)
    out = capsys.readouterr().out
    orders_line = next(line for line in out.splitlines() if "raw.orders" in line)
    assert "990" in orders_line and "10" in orders_line and "raw._quarantine" in orders_line
    assert "quarantined in total: 10 row(s)" in out
    assert "WARNING" not in out


def test_an_as_of_far_past_the_newest_data_warns(tmp_path, capsys):
    path = warehouse_with_orders(tmp_path, "2026-11-20 10:00:00")
    settings = Settings.from_env({"CDP_WAREHOUSE": str(path), "CDP_DATA_DIR": str(tmp_path)})
    print_summary(settings, datetime(2026, 12, 7, tzinfo=UTC), 1.0, True, True, {})
    out = capsys.readouterr().out
    assert "WARNING: the as-of 2026-12-07T00:00:00+00:00 is 16 days after the newest order or event" in out
    assert "CDP_AS_OF=2026-11-21" in out


def test_the_build_log_is_concise(tmp_path, capsys):
    @dg.asset
    def one(context) -> None:
        context.log.info("A dbt subsetted execution is being performed. Overriding default dbt selection ...")
        context.log.info("loaded 10 rows")

    @dg.asset(deps=[one])
    def two(context) -> None:
        context.log.warning("2 rows quarantined")

    job = dg.Definitions(assets=[one, two]).resolve_implicit_global_asset_job_def()
    job = job.with_logger_defs({"console": concise_console})  # as orchestration/cli.py does
    run_config = {"loggers": {"console": {}}}
    assert job.execute_in_process(run_config=run_config, instance=dg.DagsterInstance.ephemeral()).success
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert any(line.endswith("one: loaded 10 rows") for line in lines), lines
    assert any("WARNING two: 2 rows quarantined" in line for line in lines)
    assert not any("DEBUG" in line or "subsetted" in line or "STEP_OUTPUT" in line for line in lines)
    assert len(lines) <= 6, lines  # two steps started, two messages, a warning: no event stream


def test_the_filter_keeps_failures():
    record = logging.LogRecord("x", logging.ERROR, "", 0, "boom", None, None)
    assert ConciseFilter().filter(record)
