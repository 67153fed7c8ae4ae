"""What the UI's buttons do with the real definitions: "Materialize all" starts one run at once (no partition
to choose, no run config to write); a run on old data warns in its log, not only on the command line; a
segment materialized alone loads its parameters seed first."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest

from orchestration.dbt.assets import parameters_seed_to_load


@pytest.fixture(scope="module")
def real_defs(dbt_manifest) -> dg.Definitions:
    from orchestration.definitions import defs

    return defs()


def test_materialize_all_needs_no_partition_and_no_config(real_defs):
    graph = real_defs.resolve_asset_graph()
    partitioned = [key for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None]
    # The UI opens its partition dialog (with no partition chosen) as soon as one selected asset is partitioned.
    assert partitioned == []
    job = real_defs.resolve_implicit_global_asset_job_def()  # the job behind "Materialize all"
    assert job.partitions_def is None
    assert set(job.asset_layer.selected_asset_keys) == set(graph.get_all_asset_keys()) - {
        key for key in graph.get_all_asset_keys() if not graph.get(key).is_materializable
    }
    # Launched with empty run config, as the UI does when nothing requires config.
    dg.validate_run_config(job, {})
    for name in ("sen_all",):
        named = real_defs.resolve_job_def(name)
        assert named.partitions_def is None
        dg.validate_run_config(named, {})


def test_a_run_on_old_data_warns_in_its_log(tmp_path, monkeypatch):
    from orchestration.assets.serving import build_serving_asset
    from orchestration.resources import RunClock, Warehouse

    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema marts")
        conn.execute("create table marts.orders as select timestamp '2026-11-20 10:00:00' as ordered_at")
    monkeypatch.setenv("CDP_AS_OF", "2026-12-31T00:00:00Z")
    monkeypatch.setenv("CDP_SERVING", str(tmp_path / "serving.duckdb"))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [build_serving_asset([])],
        resources={"warehouse": Warehouse(path=str(warehouse)), "run_clock": RunClock()},
        instance=instance,
    )
    assert result.success
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level == 30 and "newest order or event" in entry.user_message
    ]
    assert len(warnings) == 1
    stated = "2026-12-31T00:00:00+00:00 is 40 days after the newest order or event (2026-11-20 10:00:00 UTC)"
    assert stated in warnings[0]
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["newest_order_or_event"].value == "2026-11-20 10:00:00"
    assert datetime.fromisoformat(metadata["as_of"].value) == datetime(2026, 12, 31, tzinfo=UTC)


SEED = dg.AssetKey(["reference", "segment_parameters"])
SEGMENT = dg.AssetKey(["marts", "seg_recent_buyers"])
OTHER = dg.AssetKey(["marts", "customers"])


@pytest.mark.parametrize(
    ("selected", "loads_seed"),
    [
        ((SEGMENT,), True),  # a segment alone (the UI, --select): its parameters come along
        ((SEGMENT, OTHER), True),
        ((SEGMENT, SEED), False),  # already selected: dbt builds it first
        ((OTHER,), False),  # no segment
    ],
)
def test_a_segment_built_without_its_parameters_loads_them_first(selected, loads_seed):
    assert (parameters_seed_to_load(set(selected), {SEED, SEGMENT, OTHER}) == SEED) is loads_seed
