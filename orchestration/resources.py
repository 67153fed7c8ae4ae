"""Dagster resources shared by the assets: the warehouse and the run clock (dbt's is in orchestration/dbt)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from orchestration.run_clock import RunClock
from sen.settings import Settings

__all__ = ["RunClock", "Warehouse"]


class Warehouse(dg.ConfigurableResource):
    """The embedded DuckDB warehouse. One writer at a time: connections are opened per step and closed."""

    path: str = ""  # empty = CDP_WAREHOUSE or the default file

    def resolved_path(self) -> str:
        if self.path:
            return self.path
        path = Settings.from_env().warehouse
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = duckdb.connect(self.resolved_path(), read_only=read_only)
        try:
            conn.execute("set TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()
