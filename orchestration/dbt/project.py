"""The one DbtProject object of the code location."""

from __future__ import annotations

import os

from dagster_dbt import DbtProject

from sen.config import DBT_PROJECT_DIR

# DBT_TARGET_PATH (dbt's own variable) moves the manifest, the partial parse and the dbt steps' folders
# together: the main job sets it to a folder of its warehouse (orchestration/dbt_target.py).
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target_path=os.environ.get("DBT_TARGET_PATH") or "target",
)
# `dagster dev` re-parses the project on start; CLI runs and tests rely on `dbt parse` having run
# (the set-up commands and the test fixtures do it).
dbt_project.prepare_if_dev()
