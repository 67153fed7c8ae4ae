"""Paths and the reference time for commands run outside Dagster, read from `sen.settings.Settings`.

Every ``CDP_*`` variable is read in `sen.settings` (README.md, "Configuration"). These helpers serve the
command-line entry points (``python -m sen.identity``, ``python -m sen.quality``...). A Dagster run takes
its reference time from the run clock resource (orchestration/run_clock.py) and passes it on explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sen.settings import (
    DBT_PROJECT_DIR,
    DEFAULT_DATA_DIR,
    DEFAULT_WAREHOUSE,
    REPO_ROOT,
    Settings,
    as_of_sql_literal,
    parse_as_of,
)

__all__ = [
    "DBT_PROJECT_DIR",
    "DEFAULT_DATA_DIR",
    "DEFAULT_WAREHOUSE",
    "REPO_ROOT",
    "Settings",
    "as_of",
    "as_of_sql_literal",
    "data_dir",
    "parse_as_of",
    "warehouse_path",
]


def data_dir() -> Path:
    return Settings.from_env().data_dir


def warehouse_path() -> Path:
    """Absolute path of the DuckDB file; dbt reads the same variable (relative paths would differ by cwd)."""
    path = Settings.from_env().warehouse
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def as_of() -> datetime:
    """CDP_AS_OF, else now (UTC, whole seconds): the reference time of a command run on its own."""
    return Settings.from_env().as_of or datetime.now(UTC).replace(microsecond=0)
