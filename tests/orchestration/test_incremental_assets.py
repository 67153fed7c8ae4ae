"""The Dagster side of incremental runs: two dbt blocks, daily partitions, the window passed to dbt, the
full-refresh flag and the partition the main job runs."""

import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from orchestration.dbt.partitions import (
    daily_event_partitions,
    main_run_partition_key,
    run_window_vars,
    window_vars,
)
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


def test_event_sized_models_form_the_partitioned_block(dbt_blocks, dbt_manifest):
    incremental, others = dbt_blocks
    assert set(incremental.keys) == EVENT_SIZED
    assert not set(incremental.keys) & set(others.keys)
    assert incremental.partitions_def == daily_event_partitions
    assert incremental.backfill_policy == dg.BackfillPolicy.single_run()
    assert others.partitions_def is None
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


def test_the_whole_graph_stays_connected_through_the_partitioned_block(dbt_manifest):
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
    # The main job holds every asset; it is partitioned because the event-sized block is.
    assert defs.get_implicit_global_asset_job_def().partitions_def == daily_event_partitions


@dg.asset(partitions_def=daily_event_partitions)
def window_probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"vars": dg.MetadataValue.json(run_window_vars(context.run.tags))})


def probe_vars(**kwargs) -> dict:
    result = dg.materialize([window_probe], instance=dg.DagsterInstance.ephemeral(), **kwargs)
    # One step, one materialization per partition of the window: all carry the same vars.
    found = {
        json.dumps(e.materialization.metadata["vars"].data) for e in result.get_asset_materialization_events()
    }
    (only,) = found
    return json.loads(only)


def test_one_partition_is_one_day_of_event_time():
    assert probe_vars(partition_key="2026-11-20") == {"min_date": "2026-11-20", "max_date": "2026-11-21"}


def test_a_backfill_range_is_one_window():
    tags = {
        "dagster/asset_partition_range_start": "2026-09-01",
        "dagster/asset_partition_range_end": "2026-09-30",
    }
    assert probe_vars(tags=tags) == {"min_date": "2026-09-01", "max_date": "2026-10-01"}


def test_an_unpartitioned_run_has_no_window():
    assert run_window_vars({}) == {}


def test_window_vars_refuse_an_empty_window():
    day = datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="empty partition window"):
        window_vars(day, day)


@pytest.mark.parametrize(
    ("as_of", "partition"),
    [
        ("2026-11-21", "2026-11-20"),  # midnight: the day that just ended
        ("2026-11-21T18:30:00", "2026-11-20"),  # during the day: the last complete one
        ("2026-11-21T01:00:00+07:00", "2026-11-19"),  # 18:00 UTC the day before
    ],
)
def test_the_main_job_runs_the_last_complete_day(as_of, partition):
    assert main_run_partition_key(parse_as_of(as_of)) == partition


def test_a_reference_time_before_the_first_partition_is_refused():
    with pytest.raises(ValueError, match="CDP_PARTITIONS_START"):
        main_run_partition_key(parse_as_of("2000-01-01"))


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


def test_partitions_start_at_the_first_day_of_the_data(tmp_path, monkeypatch):
    # A full history from 1997 (CDNOW-like): nothing refuses it, the partitions begin at its first day.
    import duckdb

    from orchestration.dbt.partitions import event_partitions, first_loaded_day, record_first_day

    monkeypatch.delenv("CDP_PARTITIONS_START", raising=False)
    monkeypatch.setenv("CDP_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    assert event_partitions().start.date().isoformat() == "2024-01-01"  # nothing loaded yet
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        conn.execute("create schema raw")
        conn.execute(
            "create table raw.orders as select * from (values ('1997-01-01 10:00:00'), ('1997-03-05T08:00:00+07:00'),"
            " ('not a time'), (null)) t(created_at)"
        )
        first = first_loaded_day(conn, "orders")
    assert first.isoformat() == "1997-01-01"
    record_first_day(first)
    assert event_partitions().get_partition_keys()[0] == "1997-01-01"
    assert main_run_partition_key(parse_as_of("1998-07-01")) == "1998-06-30"
    record_first_day(first.replace(year=2000))  # a later load never moves the start forward
    assert event_partitions().get_partition_keys()[0] == "1997-01-01"
    monkeypatch.setenv("CDP_PARTITIONS_START", "1998-01-01")  # an explicit setting wins
    assert event_partitions().get_partition_keys()[0] == "1998-01-01"
