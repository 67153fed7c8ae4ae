"""The dbt target folder of a main-job run: one per warehouse file, under dbt_project/target/warehouses/.

dbt reuses a parse (partial parsing) only when the project, the --vars and the profile (here the warehouse
path) are unchanged. In the shared dbt_project/target, any other dbt command (a test session, `make parse`,
a build on another warehouse) rewrites partial_parse.msgpack between the steps of a run, and every dbt step
then parses the whole project again. A folder per warehouse is written by one run at a time (DuckDB allows
one writer per file), so the run's own `dbt parse` serves all its dbt steps.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from sen.settings import DBT_PROJECT_DIR

TARGETS_DIR = DBT_PROJECT_DIR / "target" / "warehouses"
# dagster-dbt names the folder of a dbt step "<op name>-<run id[:7]>-<random[:7]>".
STEP_FOLDER = re.compile(r"^[A-Za-z0-9_]+-[0-9a-f]{7}-[0-9a-f]{7}$")


def dbt_target_dir(warehouse: Path) -> Path:
    """The target folder of runs on ``warehouse``: readable name, unique by the absolute path."""
    resolved = warehouse.expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", resolved.stem)
    return TARGETS_DIR / f"{stem}-{digest}"


def remove_step_folders(target: Path) -> int:
    """Delete the per-step folders of earlier runs (logs, artifacts, a copy of the parse each); returns how
    many. The folders of the last run stay until the next one, for reading its dbt logs."""
    if not target.is_dir():
        return 0
    removed = 0
    for child in target.iterdir():
        if child.is_dir() and STEP_FOLDER.match(child.name):
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    return removed
