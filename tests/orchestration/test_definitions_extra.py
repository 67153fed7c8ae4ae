"""The production pieces are registered in the code location: raw checks, the daily schedule, the sensors,
the sen_all job and the serving asset downstream of every mart and audience."""

from __future__ import annotations

import dagster as dg
import pytest

from sen.contracts import load_contract


@pytest.fixture(scope="module")
def defs(dbt_manifest):  # tests/conftest.py parses the dbt project once per session
    from orchestration.definitions import defs

    return defs()


def test_definitions_register_checks_schedules_sensors_and_serving(defs):
    graph = defs.resolve_asset_graph()
    check_keys = graph.asset_check_keys
    for source in load_contract().sources:
        assert dg.AssetCheckKey(dg.AssetKey(["raw", source]), "contract") in check_keys
        assert dg.AssetCheckKey(dg.AssetKey(["raw", source]), "health") in check_keys
    assert defs.resolve_schedule_def("sen_daily").job_name == "sen_all"
    assert defs.resolve_sensor_def("new_data_files").job_name == "sen_all"
    assert defs.resolve_sensor_def("record_run_failures")
    job = defs.resolve_job_def("sen_all")
    assert dg.AssetKey(["serving", "published_marts"]) in job.asset_layer.selected_asset_keys


def test_serving_asset_depends_on_every_mart_and_audience(defs):
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    published = {k for k in keys if k.path[0] in ("marts", "audiences")}
    assert published, "no marts in the dbt manifest"
    upstream = graph.get(dg.AssetKey(["serving", "published_marts"])).parent_keys
    assert published <= upstream
    assert all(k.path[0] in ("marts", "audiences", "identity") for k in upstream)


def test_the_rebuild_job_records_every_event_sized_table(defs, monkeypatch):
    from orchestration.dbt import rebuild

    calls = []

    def fake_rebuild(batches, as_of):
        assert as_of.tzinfo is not None  # the run clock's reference time
        calls.append(batches)
        return [("batch 1/2", 1.5), ("identity graph: full refresh", 2.0)]

    monkeypatch.setattr(rebuild, "rebuild_event_models", fake_rebuild)
    job = defs.resolve_job_def("rebuild_events")
    result = job.execute_in_process(run_config={"ops": {"rebuild_event_models": {"config": {"batches": 3}}}})
    assert result.success and calls == [3]
    recorded = {
        tuple(event.asset_key.path)
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert recorded == {tuple(t.split(".")) for t in rebuild.EVENT_SIZED_TABLES}


def test_a_failed_rebuild_fails_the_job(defs, monkeypatch):
    from orchestration.dbt import rebuild

    def failing(batches, as_of):
        raise RuntimeError("`dbt run` failed (exit code 1); its log is above")

    monkeypatch.setattr(rebuild, "rebuild_event_models", failing)
    result = defs.resolve_job_def("rebuild_events").execute_in_process(raise_on_error=False)
    assert not result.success
