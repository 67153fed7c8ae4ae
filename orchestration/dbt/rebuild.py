"""Rebuild the event-sized dbt models from raw in load-time batches (docs/incremental.md).

A one-statement full refresh parses, deduplicates and normalizes the whole event history at once; DuckDB spills
what does not fit in memory, and at tens of millions of events that is more temporary disk than a laptop has
(at 50 million events with 14 GB of memory, `stg_tracking__events` stopped at the 56 GB spill limit). This
command does the same rebuild in batches of loads, in the order they were loaded:

1. a full refresh of the event staging models and the identifier occurrences, capped at the last load of the
   first batch (var loaded_until);
2. an incremental run of those per further batch, capped at its last load, then an uncapped one for anything
   loaded after the last cut: exactly the runs that would have happened had the loads arrived in those batches;
3. one full refresh of the identity graph (int_identity_nodes, int_identity_edges) over all occurrences: it
   reads each occurrence once, and its memory is known to fit (14 GB at 50 million events).

Batches are cut where raw.events, by far the largest source, reaches k/N of its rows. The result equals a
one-statement full refresh; the next `build` then starts from it with its usual incremental run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.dbt.engine import dbt_executable, dbt_target_args
from orchestration.dbt.target import dbt_target_dir
from sen.settings import DBT_PROJECT_DIR, Settings, as_of_sql_literal

EVENT_SIZED = "tag:event_sized"
IDENTITY_GRAPH = ("int_identity_nodes", "int_identity_edges")
# The tables that selection builds (a test keeps this list in step with the models' tags).
EVENT_SIZED_TABLES = (
    "staging.stg_tracking__events",
    "staging.stg_esp__email_events",
    "staging.stg_ads__touchpoints",
    "intermediate.int_identifier_occurrences",
    "intermediate.int_identifier_keys",
    "intermediate.int_identity_nodes",
    "intermediate.int_identity_edges",
)


@dataclass(frozen=True)
class Batch:
    loaded_until: str | None  # UTC timestamp text with microseconds; None: no cap (the last run)
    events: int  # rows of raw.events loaded up to the cap (all of them for the last run)


def plan_batches(conn: duckdb.DuckDBPyConnection, batches: int) -> list[Batch]:
    """Load-time cuts splitting raw.events into `batches` parts of about equal rows, then the uncapped run."""
    if batches < 1:
        raise ValueError(f"--batches must be at least 1, got {batches}")
    try:
        loads = conn.execute(
            """select strftime(_loaded_at at time zone 'UTC', '%Y-%m-%d %H:%M:%S.%f'), count(*)
               from raw.events group by 1 order by 1"""
        ).fetchall()
    except duckdb.CatalogException as error:
        raise RuntimeError(
            "the warehouse has no raw.events: load the sources first (python -m orchestration.cli build)"
        ) from error
    total = sum(n for _, n in loads)
    plan: list[Batch] = []
    seen = 0
    for loaded_at, n in loads:
        seen += n
        # cut once this load completes the next k/N share (a load is never split)
        if len(plan) < batches - 1 and seen * batches >= total * (len(plan) + 1):
            plan.append(Batch(loaded_at, seen))
    plan.append(Batch(None, total))
    return plan


def _dbt(args: list[str], dbt_vars: dict[str, str], warehouse: Path) -> None:
    command = [
        dbt_executable(),
        *args,
        *dbt_target_args(),
        "--vars",
        json.dumps(dbt_vars),
        "--target-path",
        str(dbt_target_dir(warehouse)),
    ]
    # The child's environment only: dbt's profile reads the warehouse path from it.
    env = {**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env)
    if completed.returncode != 0:
        raise RuntimeError(
            f"`dbt {' '.join(args)}` failed (exit code {completed.returncode}); its log is above"
        )


def rebuild_event_models(
    batches: int, as_of: datetime, warehouse: Path | None = None
) -> list[tuple[str, float]]:
    """Run the batched rebuild at reference time ``as_of`` on ``warehouse`` (default: CDP_WAREHOUSE); returns
    each step and its seconds. Raises RuntimeError on a failed run."""
    warehouse = warehouse or Settings.from_env().warehouse
    if not warehouse.exists():
        raise RuntimeError(f"no warehouse at {warehouse}: build it first (python -m orchestration.cli build)")
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        plan = plan_batches(conn, batches)
    base_vars = {"as_of": as_of_sql_literal(as_of), **Settings.from_env().dbt_business_vars()}
    batched = ["--select", EVENT_SIZED, "--exclude", *IDENTITY_GRAPH]
    done: list[tuple[str, float]] = []

    def step(label: str, args: list[str], dbt_vars: dict[str, str]) -> None:
        started = time.perf_counter()
        _dbt(args, dbt_vars, warehouse)
        done.append((label, time.perf_counter() - started))
        print(f"{label} in {done[-1][1]:.1f} s", flush=True)

    for i, batch in enumerate(plan):
        cap = {"loaded_until": batch.loaded_until} if batch.loaded_until else {}
        until = f"loaded up to {batch.loaded_until} UTC" if batch.loaded_until else "everything loaded"
        step(
            f"batch {i + 1}/{len(plan)}: {until} ({batch.events:,} raw events)",
            ["run", *batched, *(["--full-refresh"] if i == 0 else [])],
            {**base_vars, **cap},
        )
    step("identity graph: full refresh", ["run", "--select", *IDENTITY_GRAPH, "--full-refresh"], base_vars)
    _dbt(["test", "--select", EVENT_SIZED], base_vars, warehouse)
    return done
