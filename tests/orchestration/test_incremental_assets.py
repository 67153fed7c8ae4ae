"""The Dagster side of incremental runs: two dbt blocks, no partitions ("Materialize all" in the UI starts a
run at once), the window passed to dbt (the last complete day before the as-of, or a backfill's days), the
full-refresh flag."""

import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from orchestration.dbt.partitions import main_run_day, run_window_vars, window_vars
from sen.config import parse_as_of

EVENT_SIZED = {
    dg.AssetKey(["staging", "stg_tracking__events"]),
    dg.AssetKey(["staging", "stg_esp__email_events"]),
    dg.AssetKey(["staging", "stg_ads__touchpoints"]),
    dg.AssetKey(["intermediate", "int_identifier_occurrences"]),
    dg.AssetKey(["intermediate", "int_identifier_keys"]),
    dg.AssetKey(["intermediate", "int_identity_nodes"]),
    dg.AssetKey(["intermediate", "int_identity_edges"]),
}


@pytest.fixture(scope="module")
def dbt_blocks(dbt_manifest):
    from orchestration.dbt.assets import build_dbt_assets
    from orchestration.dbt.project import build_dbt_project

    sen_dbt_incremental, sen_dbt_models = build_dbt_assets(build_dbt_project())
    return sen_dbt_incremental, sen_dbt_models


def test_event_sized_models_form_their_own_block(dbt_blocks, dbt_manifest):
    incremental, others = dbt_blocks
    assert set(incremental.keys) == EVENT_SIZED
    assert not set(incremental.keys) & set(others.keys)
    # Not partitioned: the UI's "Materialize all" would otherwise open a partition dialog with none chosen.
    assert incremental.partitions_def is None and others.partitions_def is None
    # Every dbt model is in exactly one block.
    manifest = json.loads(dbt_manifest.read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    blocks = {k.path[-1] for k in [*incremental.keys, *others.keys]}
    assert models <= blocks


def test_tagged_models_are_incremental_with_a_unique_key(dbt_manifest):
    manifest = json.loads(dbt_manifest.read_text())
    tagged = [n for n in manifest["nodes"].values() if "event_sized" in n.get("tags", [])]
    assert {n["name"] for n in tagged} == {k.path[-1] for k in EVENT_SIZED}
    for node in tagged:
        config = node["config"]
        assert config["materialized"] == "incremental", node["name"]
        # Rows replaced by key, or (the key registry) only appended and never rebuilt.
        append_only = config["incremental_strategy"] == "append" and config["full_refresh"] is False
        assert config["unique_key"] or append_only, node["name"]
        assert config["on_schema_change"] == "fail", node["name"]


def test_the_whole_graph_stays_connected_through_the_incremental_block(dbt_manifest):
    from orchestration.definitions import defs as load_defs

    defs = load_defs()
    graph = defs.resolve_asset_graph()
    occurrences = graph.get(dg.AssetKey(["intermediate", "int_identifier_occurrences"]))
    assert dg.AssetKey(["staging", "stg_tracking__events"]) in occurrences.parent_keys
    assert dg.AssetKey(["intermediate", "int_identity_nodes"]) in occurrences.child_keys
    # The edges run after the nodes, which read them as they were before the run.
    edges = graph.get(dg.AssetKey(["intermediate", "int_identity_edges"]))
    assert dg.AssetKey(["intermediate", "int_identity_nodes"]) in edges.parent_keys
    # The identity step reads the graph.
    assert any(key.path[0] != "intermediate" for key in edges.child_keys)
    events = graph.get(dg.AssetKey(["staging", "stg_tracking__events"]))
    assert dg.AssetKey(["raw", "events"]) in events.parent_keys
    # The main job holds every asset and needs no partition.
    assert defs.resolve_implicit_global_asset_job_def().partitions_def is None


def test_a_run_recomputes_the_last_complete_day_before_its_as_of():
    assert run_window_vars(parse_as_of("2026-11-21")) == {"min_date": "2026-11-20", "max_date": "2026-11-21"}


def test_a_backfill_is_one_window_of_the_days_given():
    window = run_window_vars(parse_as_of("2026-11-21"), "2026-09-01", "2026-09-30")
    assert window == {"min_date": "2026-09-01", "max_date": "2026-10-01"}
    assert run_window_vars(parse_as_of("2026-11-21"), "2026-09-01", "2026-09-01") == {
        "min_date": "2026-09-01",
        "max_date": "2026-09-02",
    }


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-09-01", "", "needs both window_start and window_end"),
        ("2026-09-30", "2026-09-01", "window_end 2026-09-01 is before window_start 2026-09-30"),
        ("2026-9-1x", "2026-09-30", "window_start='2026-9-1x' is not an ISO date"),
    ],
)
def test_a_bad_backfill_window_is_refused_by_name(start, end, message):
    with pytest.raises(ValueError, match=message):
        run_window_vars(parse_as_of("2026-11-21"), start, end)


def test_the_dbt_blocks_take_the_backfill_window_from_their_run_config():
    from orchestration.dbt.assets import DbtBuildConfig

    as_of = parse_as_of("2026-11-21")
    assert DbtBuildConfig().window(as_of) == {"min_date": "2026-11-20", "max_date": "2026-11-21"}
    config = DbtBuildConfig(window_start="2026-09-01", window_end="2026-09-30")
    assert config.window(as_of) == {"min_date": "2026-09-01", "max_date": "2026-10-01"}


def test_window_vars_refuse_an_empty_window():
    day = datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="empty processing window"):
        window_vars(day, day)


@pytest.mark.parametrize(
    ("as_of", "day"),
    [
        ("2026-11-21", "2026-11-20"),  # midnight: the day that just ended
        ("2026-11-21T18:30:00", "2026-11-20"),  # during the day: the last complete one
        ("2026-11-21T01:00:00+07:00", "2026-11-19"),  # 18:00 UTC the day before
        ("1998-07-01", "1998-06-30"),  # a backtest on a 1997 history: nothing refuses it
        ("2030-01-01", "2029-12-31"),  # an as-of after the wall clock too
    ],
)
def test_the_main_job_runs_the_last_complete_day(as_of, day):
    assert main_run_day(parse_as_of(as_of)).isoformat() == day
    assert run_window_vars(parse_as_of(as_of))["min_date"] == day


def test_full_refresh_is_one_flag(monkeypatch, dbt_manifest):
    from orchestration.dbt.assets import DbtBuildConfig, build_args

    as_of = parse_as_of("2026-11-21")
    monkeypatch.delenv("CDP_FULL_REFRESH", raising=False)
    window = {"min_date": "2026-11-20", "max_date": "2026-11-21"}
    args = build_args(DbtBuildConfig(), as_of, window)
    assert args[:2] == ["build", "--vars"] and "--full-refresh" not in args
    assert json.loads(args[2]) == {
        "as_of": "2026-11-21 00:00:00",
        "business_timezone": "Asia/Ho_Chi_Minh",
        "default_currency": "VND",
        **window,
    }
    assert "--full-refresh" in build_args(DbtBuildConfig(full_refresh=True), as_of)
    monkeypatch.setenv("CDP_FULL_REFRESH", "1")
    assert "--full-refresh" in build_args(DbtBuildConfig(), as_of)


def test_dbt_gets_the_reference_time_in_utc():
    from orchestration.dbt.partitions import dbt_vars

    # An offset is honoured: 07:00 in Vietnam is midnight UTC, the frame of the warehouse.
    assert json.loads(dbt_vars(parse_as_of("2026-11-21T07:00:00+07:00"))) == {
        "as_of": "2026-11-21 00:00:00",
        "business_timezone": "Asia/Ho_Chi_Minh",
        "default_currency": "VND",
    }


def test_dbt_gets_the_business_time_zone_and_currency_from_the_settings(monkeypatch):
    from orchestration.dbt.partitions import dbt_vars

    monkeypatch.setenv("CDP_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("CDP_CURRENCY", "eur")
    passed = json.loads(dbt_vars(parse_as_of("2026-11-21")))
    assert passed["business_timezone"] == "Europe/Paris" and passed["default_currency"] == "EUR"
