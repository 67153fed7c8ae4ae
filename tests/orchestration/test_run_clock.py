"""Every step of a Dagster run sees one reference time (the RunClock resource), however the run was launched."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from orchestration.resources import RunClock, Warehouse
from orchestration.run_clock import AS_OF_TAG, as_of_tag


@dg.asset
def first_step(warehouse: Warehouse, run_clock: RunClock) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"as_of": run_clock.as_of().isoformat()})


@dg.asset(deps=[first_step])
def later_step(warehouse: Warehouse, run_clock: RunClock) -> dg.MaterializeResult:
    import time

    time.sleep(1.1)  # a later step must not get a later "now"
    return dg.MaterializeResult(metadata={"as_of": run_clock.as_of().isoformat()})


def run_as_ofs(tmp_path, tags: dict[str, str] | None = None) -> tuple[str, str, datetime]:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [first_step, later_step],
        resources={"run_clock": RunClock(), "warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
        instance=instance,
        tags=tags,
    )
    created = instance.get_run_record_by_id(result.run_id).create_timestamp
    values = [
        m.metadata["as_of"].value
        for m in result.asset_materializations_for_node("first_step")
        + result.asset_materializations_for_node("later_step")
    ]
    return values[0], values[1], created


def test_a_run_without_a_reference_time_uses_its_creation_time_in_every_step(tmp_path, monkeypatch):
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    monkeypatch.setenv("CDP_DATA_DIR", str(tmp_path))  # a data folder that declares no as-of
    first, later, created = run_as_ofs(tmp_path)
    assert first == later == created.astimezone(UTC).replace(microsecond=0).isoformat()


def test_a_scheduled_run_uses_the_time_in_its_tag(tmp_path, monkeypatch):
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    first, later, _ = run_as_ofs(tmp_path, as_of_tag(datetime(2026, 11, 20, 19, 0, tzinfo=UTC)))
    assert first == later == "2026-11-20T19:00:00+00:00"


def test_the_operators_reference_time_wins_over_the_tag(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_AS_OF", "2026-11-21T00:00:00")
    first, later, _ = run_as_ofs(tmp_path, {AS_OF_TAG: "2030-01-01T00:00:00+00:00"})
    assert first == later == "2026-11-21T00:00:00+00:00"


@pytest.mark.parametrize("moment", ["2026-11-20T19:00:00+00:00", "2026-11-21T02:00:00+07:00"])
def test_two_runs_in_one_process_each_pin_their_own_time(tmp_path, monkeypatch, moment):
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    run_as_ofs(tmp_path, {AS_OF_TAG: "2026-01-01T00:00:00+00:00"})
    first, later, _ = run_as_ofs(tmp_path, {AS_OF_TAG: moment})
    assert first == later == datetime.fromisoformat(moment).astimezone(UTC).isoformat()


def test_the_run_clock_leaves_the_environment_alone(tmp_path, monkeypatch):
    import os

    monkeypatch.delenv("CDP_AS_OF", raising=False)
    run_as_ofs(tmp_path, as_of_tag(datetime(2026, 11, 20, 19, 0, tzinfo=UTC)))
    assert "CDP_AS_OF" not in os.environ


def test_a_data_folder_that_declares_its_as_of_pins_an_untagged_run(tmp_path, monkeypatch):
    # The committed sample is as of 2026-11-21 (data_samples/sample/dataset.yml): a UI run on it sees its carts
    # and 30-day windows instead of the weeks since.
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    monkeypatch.delenv("CDP_DATA_DIR", raising=False)
    first, later, _ = run_as_ofs(tmp_path)
    assert first == later == "2026-11-21T00:00:00+00:00"


def test_the_samples_declared_as_of_is_the_generators():
    import json

    import yaml

    from sen.settings import DEFAULT_DATA_DIR

    declared = yaml.safe_load((DEFAULT_DATA_DIR / "dataset.yml").read_text(encoding="utf-8"))["as_of"]
    manifest = json.loads(
        (DEFAULT_DATA_DIR.parent / "ground_truth" / "manifest.json").read_text(encoding="utf-8")
    )
    assert declared.replace("Z", "") == manifest["as_of"].replace("Z", "").replace("+00:00", "")
