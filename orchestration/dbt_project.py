"""The one DbtProject object of the code location."""

from __future__ import annotations

from dagster_dbt import DbtProject

from sen.config import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# `dagster dev` re-parses the project on start; CLI runs and tests rely on `dbt parse` having run
# (the set-up commands and the test fixtures do it).
dbt_project.prepare_if_dev()
