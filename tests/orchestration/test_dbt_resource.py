"""The dbt steps' cost cuts keep their escape hatches: JSON artifacts on request, and the in-process adapter
skip tied to the dagster-dbt method it replaces."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource

from orchestration.dbt.assets import DbtBuildConfig, build_args
from orchestration.dbt.project import build_dbt_project
from orchestration.dbt.resource import SenDbtCliResource
from sen.settings import parse_as_of

AS_OF = parse_as_of("2026-11-21")


def test_dbt_writes_no_json_artifacts_unless_asked(monkeypatch):
    monkeypatch.delenv("CDP_DBT_ARTIFACTS", raising=False)
    assert "--no-write-json" in build_args(DbtBuildConfig(), AS_OF)
    monkeypatch.setenv("CDP_DBT_ARTIFACTS", "1")
    args = build_args(DbtBuildConfig(full_refresh=True), AS_OF)
    assert "--no-write-json" not in args and "--full-refresh" in args


def test_no_in_process_adapter_is_created():
    # The override must shadow a method dagster-dbt still calls: an upgrade that renames it fails here.
    assert callable(getattr(DbtCliResource, "_initialize_dbt_core_adapter", None))
    dbt_project = build_dbt_project()
    resource = SenDbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(dbt_project.profiles_dir),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
    assert resource._initialize_dbt_core_adapter(["build"]) is None
