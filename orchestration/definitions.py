"""The Dagster code location: every asset, check, schedule and sensor of Sen, assembled in one place.

`defs` is loaded lazily (by `dagster dev`, `dagster asset materialize -m orchestration.definitions`, tests):
the dbt assets read the manifest of the dbt target folder when they are built. The command line builds its
own with `build_definitions(target)`, in the target folder of its warehouse (orchestration/cli.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtProject

from orchestration.assets.clv import clv_assets
from orchestration.assets.identity import identity_assets, identity_checks
from orchestration.assets.ingestion import ingestion_assets
from orchestration.assets.privacy import build_erasure_asset
from orchestration.assets.serving import build_serving_asset
from orchestration.assets.syncs import build_sync_assets, build_sync_schedules, sync_runs_spec
from orchestration.checks import raw_quality_checks
from orchestration.checks.freshness import freshness_job, freshness_schedule, raw_freshness_checks
from orchestration.dbt import engine as dbt_engine
from orchestration.dbt.assets import build_dbt_assets
from orchestration.dbt.project import build_dbt_project, parse_and_publish
from orchestration.dbt.rebuild_job import rebuild_events
from orchestration.dbt.resource import SenDbtCliResource
from orchestration.live import live_jobs, live_sensors
from orchestration.resources import RunClock, Warehouse, warehouse_locked_in_process_executor
from orchestration.schedules import jobs, schedules
from orchestration.sensors import sensors
from sen.settings import REPO_ROOT, Settings

SYNC_DIR = REPO_ROOT / "reverse_etl" / "syncs"


def _warehouse_path() -> Path:
    return Settings.from_env().warehouse


def build_definitions(dbt_target: Path | None = None) -> dg.Definitions:
    """Every definition, the dbt ones from the manifest in ``dbt_target`` (default: DBT_TARGET_PATH, else
    dbt_project/target)."""
    project = build_dbt_project(dbt_target)
    # One asset per sync YAML, downstream of its audience model (and so of every blocking check upstream).
    sync_assets = build_sync_assets(SYNC_DIR, _warehouse_path)
    all_assets = [
        *ingestion_assets,
        *build_dbt_assets(project),
        *identity_assets,
        *clv_assets,
        *sync_assets,
        sync_runs_spec(sync_assets),
    ]
    # Last: its upstream is every marts/audiences/identity-KPI asset defined above.
    serving_asset = build_serving_asset(all_assets)
    # After every step that reads or copies person data (syncs included). Serving may publish before or after
    # it: the erasure step rewrites the serving file and every kept Parquet version itself.
    all_assets += [build_erasure_asset(all_assets), serving_asset]
    return dg.Definitions(
        assets=all_assets,
        asset_checks=[*raw_quality_checks, raw_freshness_checks, *identity_checks],
        jobs=[*jobs, freshness_job, rebuild_events, *live_jobs],
        schedules=[*schedules, freshness_schedule, *build_sync_schedules(SYNC_DIR)],
        sensors=[*sensors, *live_sensors],
        resources={
            "warehouse": Warehouse(),
            "run_clock": RunClock(),
            "dbt": SenDbtCliResource(
                project_dir=project,
                profiles_dir=str(project.profiles_dir),
                target_dir=str(project.project_dir / project.target_path),
                # The dbt installed beside this interpreter, so a venv works without being activated;
                # on Spark, sen-dbt and the profile's `spark` target (orchestration/dbt/engine.py).
                dbt_executable=dbt_engine.dbt_executable(),
                target=dbt_engine.dbt_target(),
            ),
        },
        # DuckDB allows one writer per file: steps run one after another in one process, and a writing run
        # holds the warehouse's writer lock throughout (orchestration/resources.py).
        executor=warehouse_locked_in_process_executor,
    )


def prepare_manifest(project: DbtProject) -> None:
    """`dbt parse` when the manifest is missing (a fresh clone) or under `dagster dev` (models may have changed).

    Run with the dbt beside this interpreter: dagster-dbt's own `prepare_if_dev()` runs `dbt` from PATH, which
    a shell without the activated venv does not have.
    """
    manifest = Path(project.manifest_path)
    if manifest.exists() and not os.environ.get("DAGSTER_IS_DEV_CLI"):
        return
    target = Path(project.project_dir) / project.target_path
    # Parsed aside and published by renames: runs reading this folder never meet a half-written manifest.
    completed = parse_and_publish(target, Path(sys.executable).parent / "dbt", dbt_engine.dbt_target_args())
    if completed.returncode != 0 or not manifest.exists():
        raise RuntimeError(
            f"`dbt parse` in {project.project_dir} failed (exit code {completed.returncode}), so the dbt assets "
            f"cannot be loaded:\n{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
        )


@dg.definitions
def defs() -> dg.Definitions:
    project = build_dbt_project()
    prepare_manifest(project)
    return build_definitions(project.project_dir / project.target_path)
