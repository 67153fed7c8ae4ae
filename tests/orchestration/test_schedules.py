"""Schedules and sensors: the nightly full build, the new-files sensor (each file triggers once, only its
sources and what is downstream of them), and the run-failure record."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.assets.ingestion import build_ingestion_asset
from orchestration.checks.raw_quality import build_raw_quality_check
from orchestration.resources import RunClock, Warehouse
from orchestration.schedules import daily_schedule, sen_all_job
from orchestration.sensors import (
    changed_files,
    failures_log_path,
    new_data_files,
    record_run_failures,
    scan_data_files,
)
from sen.contracts import load_contract

SOURCES = load_contract().sources


@dg.asset(key=["staging", "stg_orders"], deps=[dg.AssetKey(["raw", "orders"])])
def stg_orders() -> None:
    """Stands in for the dbt models downstream of raw.orders."""


@dg.asset(
    key=["intermediate", "int_events_daily"],
    deps=[dg.AssetKey(["raw", "events"])],
    partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC"),
)
def int_events_daily() -> None:
    """Stands in for a daily-partitioned asset added to the graph (Sen's own assets are not partitioned)."""


def small_defs(tmp_path: Path, partitioned: bool = False) -> dg.Definitions:
    extra = [build_ingestion_asset(SOURCES["events"]), int_events_daily] if partitioned else []
    return dg.Definitions(
        assets=[
            build_ingestion_asset(SOURCES["orders"]),
            build_ingestion_asset(SOURCES["stores"]),
            stg_orders,
            *extra,
        ],
        asset_checks=[build_raw_quality_check(SOURCES["orders"]), build_raw_quality_check(SOURCES["stores"])],
        jobs=[sen_all_job],
        sensors=[new_data_files, record_run_failures],
        schedules=[daily_schedule],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(tmp_path / "wh.duckdb"))},
    )


def put(data_dir: Path, relative: str, text: str, age_seconds: float = 120) -> Path:
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def tick(defs: dg.Definitions, cursor: str | None, instance: dg.DagsterInstance):
    context = dg.build_sensor_context(
        cursor=cursor, repository_def=defs.get_repository_def(), instance=instance
    )
    return new_data_files.evaluate_tick(context), context.cursor


@pytest.fixture
def env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CDP_DATA_DIR", str(data))
    monkeypatch.setenv("CDP_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.delenv("CDP_SENSOR_SETTLE_SECONDS", raising=False)
    return data


def test_daily_schedule_builds_everything_at_two_in_vietnam():
    assert daily_schedule.cron_schedule == "0 2 * * *"
    assert daily_schedule.execution_timezone == "Asia/Ho_Chi_Minh"
    assert daily_schedule.job_name == "sen_all"
    assert daily_schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # unless CDP_AUTOMATION=on


def test_schedule_runs_the_last_complete_day_when_the_graph_is_partitioned(tmp_path, monkeypatch):
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    fired = datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # 2026-11-22 19:00 UTC
    with dg.instance_for_test() as instance:
        plain = dg.build_schedule_context(
            instance, fired, repository_def=small_defs(tmp_path).get_repository_def()
        )
        (request,) = daily_schedule.evaluate_tick(plain).run_requests
        assert request.partition_key is None and request.tags["sen/warehouse"] == "write"
        repo = small_defs(tmp_path, partitioned=True).get_repository_def()
        (request,) = daily_schedule.evaluate_tick(
            dg.build_schedule_context(instance, fired, repository_def=repo)
        ).run_requests
        assert request.partition_key == "2026-11-21"
        monkeypatch.setenv("CDP_AS_OF", "2026-06-01T00:00:00Z")  # a fixed reference time wins
        (request,) = daily_schedule.evaluate_tick(
            dg.build_schedule_context(instance, fired, repository_def=repo)
        ).run_requests
        assert request.partition_key == "2026-05-31"


def test_sen_all_job_selects_every_asset_and_check(tmp_path):
    defs = small_defs(tmp_path)
    job = defs.resolve_job_def("sen_all")
    assert job.asset_layer.selected_asset_keys == set(defs.resolve_asset_graph().get_all_asset_keys())
    assert (
        dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), "contract")
        in job.asset_layer.asset_graph.asset_check_keys
    )
    assert job.tags["sen/warehouse"] == "write"


def test_new_files_trigger_once_with_their_sources_and_downstream(tmp_path, env):
    defs = small_defs(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    put(env, "orders/2026-06-01.csv", "order_id\nA\n")
    put(env, "orders/_notes.txt", "ignored")
    put(env, "unknown_source/x.csv", "ignored")

    result, cursor = tick(defs, None, instance)
    (request,) = result.run_requests
    assert set(request.asset_selection) == {
        dg.AssetKey(["raw", "orders"]),
        dg.AssetKey(["staging", "stg_orders"]),
    }
    assert {(k.asset_key.path[1], k.name) for k in request.asset_check_keys} == {
        ("orders", "contract"),
        ("orders", "health"),
    }
    assert request.tags["sen/sources"] == "orders" and request.tags["sen/trigger"] == "new_data_files"
    assert json.loads(cursor).keys() == {"orders/2026-06-01.csv"}

    again, same_cursor = tick(defs, cursor, instance)
    assert not again.run_requests and "no new or changed files" in again.skip_message
    assert same_cursor == cursor

    # A retried tick (cursor not saved) asks for the same run key, which Dagster launches only once.
    retried, _ = tick(defs, None, instance)
    assert retried.run_requests[0].run_key == request.run_key

    put(env, "stores/stores.csv", "store_id,name\nS1,One\n")
    put(env, "orders/2026-06-01.csv", "order_id\nA\nB\n")  # changed in place
    changed, cursor = tick(defs, cursor, instance)
    (request2,) = changed.run_requests
    assert request2.run_key != request.run_key
    assert request2.tags["sen/sources"] == "orders,stores"
    assert dg.AssetKey(["raw", "stores"]) in request2.asset_selection


def test_new_event_files_run_with_a_partition_key(tmp_path, env, monkeypatch):
    monkeypatch.setenv("CDP_AS_OF", "2026-06-01T00:00:00Z")
    defs = small_defs(tmp_path, partitioned=True)
    put(env, "events/2026-05-31.jsonl", "{}\n")
    result, cursor = tick(defs, None, dg.DagsterInstance.ephemeral())
    (request,) = result.run_requests
    assert request.partition_key == "2026-05-31"
    assert dg.AssetKey(["intermediate", "int_events_daily"]) in request.asset_selection
    put(env, "stores/stores.csv", "store_id,name\n")
    result, _ = tick(defs, cursor, dg.DagsterInstance.ephemeral())
    assert result.run_requests[0].partition_key is None  # nothing partitioned downstream of stores


def test_files_still_being_written_wait_for_the_next_tick(tmp_path, env):
    defs = small_defs(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    put(env, "stores/stores.csv", "store_id,name\n", age_seconds=1)  # modified a second ago
    result, cursor = tick(defs, None, instance)
    assert not result.run_requests and json.loads(cursor) == {}
    settled = scan_data_files(env, now=time.time() + 60, settle=30)
    assert list(settled) == ["stores/stores.csv"]


def test_changed_files_compares_fingerprints():
    assert changed_files({"a": "1:1", "b": "2:2"}, {"a": "1:1", "b": "2:3", "c": "5:5"}) == ["b", "c"]


def test_failed_run_is_appended_to_the_failures_log(tmp_path, env, monkeypatch):
    log = tmp_path / "ops" / "failures.jsonl"
    monkeypatch.setenv("CDP_RUN_FAILURES_LOG", str(log))
    assert failures_log_path() == log

    @dg.asset
    def explodes() -> None:
        raise RuntimeError("boom: upstream export missing")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([explodes], instance=instance, raise_on_error=False)
    assert not result.success
    failure = (
        instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        .records[0]
        .event_log_entry.dagster_event
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="record_run_failures",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
    ).for_run_failure()
    record_run_failures(context)
    (line,) = log.read_text().splitlines()
    record = json.loads(line)
    assert record["run_id"] == result.run_id and record["failed_steps"] == ["explodes"]
    assert record["trigger"] == "manual" and record["message"]
