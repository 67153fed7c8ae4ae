"""The DbtProject of the code location, in the dbt target folder the run uses.

The target folder holds the manifest the dbt assets are built from, the partial parse every dbt step starts
from, and the steps' own folders. The command line builds the project in a folder of its warehouse
(orchestration/dbt/target.py); `dagster dev` and tests use DBT_TARGET_PATH (dbt's own variable) if set, else
dbt_project/target.
"""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

from sen.settings import DBT_PROJECT_DIR, Settings

DEFAULT_TARGET = DBT_PROJECT_DIR / "target"


def build_dbt_project(target: Path | None = None) -> DbtProject:
    """The project reading and writing its dbt files in ``target`` (default: see the module docstring)."""
    target = target or Settings.from_env().dbt_target_path or DEFAULT_TARGET
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=target)
