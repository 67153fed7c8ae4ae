"""Dagster resources. Paths come from environment variables shared with dbt (see sen.config)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from sen import config


class Warehouse(dg.ConfigurableResource):
    """The embedded DuckDB warehouse. One writer at a time: connections are opened per step and closed."""

    path: str = ""  # empty = CDP_WAREHOUSE or the default file

    def resolved_path(self) -> str:
        return self.path or str(config.warehouse_path())

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = duckdb.connect(self.resolved_path(), read_only=read_only)
        try:
            conn.execute("set TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()
