"""The Dagster code location: every asset, check, schedule and sensor of Sen, assembled in one place."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg

from orchestration.assets.clv import clv_assets
from orchestration.assets.dbt import dbt_assets_defs
from orchestration.assets.identity import identity_assets, identity_checks
from orchestration.assets.ingestion import ingestion_assets
from orchestration.checks import raw_quality_checks
from orchestration.checks.freshness import freshness_job, freshness_schedule, raw_freshness_checks
from orchestration.dbt_project import dbt_project
from orchestration.rebuild_job import rebuild_events
from orchestration.resources import SenDbtCliResource, Warehouse
from orchestration.schedules import jobs, schedules
from orchestration.sensors import sensors
from orchestration.serving import build_serving_asset
from reverse_etl.dagster_assets import build_sync_assets, build_sync_schedules
from sen import config

SYNC_DIR = config.REPO_ROOT / "reverse_etl" / "syncs"
# One asset per sync YAML, downstream of its audience model (and so of every blocking check upstream).
sync_assets = build_sync_assets(SYNC_DIR, config.warehouse_path)

all_assets = [*ingestion_assets, *dbt_assets_defs, *identity_assets, *clv_assets, *sync_assets]
# Last: its upstream is every marts/audiences/identity-KPI asset defined above.
all_assets.append(build_serving_asset(all_assets))

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=[*raw_quality_checks, raw_freshness_checks, *identity_checks],
    jobs=[*jobs, freshness_job, rebuild_events],
    schedules=[*schedules, freshness_schedule, *build_sync_schedules(SYNC_DIR)],
    sensors=sensors,
    resources={
        "warehouse": Warehouse(),
        "dbt": SenDbtCliResource(
            project_dir=dbt_project,
            profiles_dir=str(dbt_project.profiles_dir),
            # The dbt installed beside this interpreter, so a venv works without being activated.
            dbt_executable=str(Path(sys.executable).parent / "dbt"),
        ),
    },
    # DuckDB allows one writer per file: steps run one after another in one process.
    executor=dg.in_process_executor,
)
