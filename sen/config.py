"""Runtime settings shared by ingestion, dbt, identity, CLV and syncs.

Everything comes from environment variables so that Dagster, dbt and the CLI see the same values:

- ``CDP_DATA_DIR``: the input folder, one sub-folder per source (default: the committed sample).
- ``CDP_WAREHOUSE``: the DuckDB file (default: ``warehouse/sen.duckdb``, git-ignored).
- ``CDP_AS_OF``: the reference timestamp of every time-relative computation (default: now, UTC).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data_samples" / "sample"
DEFAULT_WAREHOUSE = REPO_ROOT / "warehouse" / "sen.duckdb"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


def data_dir() -> Path:
    return Path(os.environ.get("CDP_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()


def warehouse_path() -> Path:
    """Absolute path of the DuckDB file; dbt reads the same variable (relative paths would differ by cwd)."""
    path = Path(os.environ.get("CDP_WAREHOUSE") or DEFAULT_WAREHOUSE).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def parse_as_of(value: str) -> datetime:
    """Parse a CDP_AS_OF value: a date (midnight UTC) or an ISO timestamp (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"CDP_AS_OF={value!r} is not an ISO date or timestamp (e.g. 2026-11-20 or 2026-11-20T18:00:00Z)"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_of() -> datetime:
    raw = os.environ.get("CDP_AS_OF")
    return parse_as_of(raw) if raw else datetime.now(UTC).replace(microsecond=0)


def as_of_sql_literal() -> str:
    """The reference time as the string dbt receives in ``--vars`` (UTC, no offset)."""
    return as_of().strftime("%Y-%m-%d %H:%M:%S")
