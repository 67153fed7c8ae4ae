"""Dagster resources shared by the assets: the warehouse and the run clock (dbt's is in orchestration/dbt),
and the executor that holds the warehouse's writer lock for a whole writing run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.executor.in_process import InProcessExecutor

from orchestration.run_clock import RunClock
from sen.settings import Settings
from sen.warehouse_lock import WarehouseBusy, connect_for_writing, warehouse_lock

__all__ = ["RunClock", "Warehouse", "WAREHOUSE_WRITE_TAG", "warehouse_locked_in_process_executor"]

WAREHOUSE_WRITE_TAG = ("sen/warehouse", "write")


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
        # A reader that opened the file between two steps of the build is waited for, not fatal.
        conn = connect_for_writing(
            Path(self.resolved_path()), Settings.from_env().warehouse_reader_wait, read_only=read_only
        )
        try:
            conn.execute("set TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()


def writes_warehouse(tags: dict[str, str]) -> bool:
    return tags.get(WAREHOUSE_WRITE_TAG[0]) == WAREHOUSE_WRITE_TAG[1]


class WarehouseLockedExecutor(InProcessExecutor):
    """Dagster's in-process executor; a run tagged sen/warehouse=write holds the warehouse's writer lock
    (sen/warehouse_lock.py) from its first step to its last, so a command-line build cannot slip in between
    two steps, and the run waits CDP_WAREHOUSE_LOCK_WAIT seconds, then fails naming the holder, if one is
    already writing. The instance's run queue keeps Dagster's own writer runs to one at a time."""

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        run = plan_context.dagster_run
        if not writes_warehouse(run.tags):
            yield from super().execute(plan_context, execution_plan)
            return
        settings = Settings.from_env()
        plan_context.log.info(f"Taking the writer lock of {settings.warehouse}")
        with ExitStack() as held:
            try:
                held.enter_context(
                    warehouse_lock(
                        settings.warehouse,
                        run_id=run.run_id,
                        command=f"Dagster run of {run.job_name}",
                        wait=settings.warehouse_lock_wait,
                        log=plan_context.log.info,
                    )
                )
            except WarehouseBusy as busy:
                raise dg.Failure(description=str(busy)) from None
            yield from super().execute(plan_context, execution_plan)


def _create_executor(init_context: dg.InitExecutorContext) -> WarehouseLockedExecutor:
    inner = dg.in_process_executor.executor_creation_fn(init_context)  # its config: retries, markers...
    assert isinstance(inner, InProcessExecutor)
    return WarehouseLockedExecutor(
        retries=inner.retries,
        step_dependency_config=inner.step_dependency_config,
        marker_to_close=inner.marker_to_close,
    )


warehouse_locked_in_process_executor = dg.ExecutorDefinition(
    name="in_process",
    config_schema=dg.in_process_executor.config_schema,
    executor_creation_fn=_create_executor,
    description="The in-process executor, holding the warehouse writer lock for runs tagged sen/warehouse=write.",
)
