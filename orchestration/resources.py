"""Dagster resources. Paths come from environment variables shared with dbt (see sen.config)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from orchestration.run_clock import pin_run_as_of
from sen import config


class Warehouse(dg.ConfigurableResource):
    """The embedded DuckDB warehouse. One writer at a time: connections are opened per step and closed."""

    path: str = ""  # empty = CDP_WAREHOUSE or the default file

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        pin_run_as_of(context)  # one "now" for every step of the run (orchestration/run_clock.py)

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


class SenDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without its in-process dbt adapter.

    Before each dbt command DbtCliResource loads the dbt project and profile inside the Dagster process and
    registers a dbt adapter (0.6-2 s of CPU per dbt step, 7 steps a run). dagster-dbt uses that adapter only
    for ``fetch_column_metadata()`` / ``fetch_row_counts()``, which Sen does not call, and already runs
    without one when it cannot be created. Sen's dbt steps run dbt as a subprocess either way.
    """

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        pin_run_as_of(context)  # before any step builds its --vars from CDP_AS_OF
        super().setup_for_execution(context)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None
