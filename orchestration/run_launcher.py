"""Dagster's default run launcher, plus a health check so run monitoring fails a run whose process died.

The shipped instance (orchestration/dagster.yaml) runs one warehouse writer at a time. A run whose worker
process dies (killed, out of memory, machine restart) stays STARTED in Dagster's storage, so every later
writer run would wait in the queue forever. Dagster's run monitoring daemon fails such runs, but only with
a run launcher that can tell a dead worker from a live one, and the DefaultRunLauncher cannot
(``supports_check_run_worker_health`` is False): with it, monitoring only applies timeouts.

The run worker records its process id in the run's event log ("Started process for run (pid: N)"); the
launcher launches it on this machine, so the check is whether that process still exists. A dead worker is
reported FAILED; the daemon then marks the run failed and the queue moves on (the warehouse lock of the
dead run went away with its process, sen/warehouse_lock.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (exited, not yet reaped by its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        # the state follows the command name in parentheses: "<pid> (<comm>) <state> ..."
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (macOS): kill(0) is all there is
        return True
    return state not in ("Z", "X")


def run_worker_pid(instance, run_id: str) -> int | None:
    """The pid of the run's worker process, from the newest engine event that records one."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, ascending=False, limit=50
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event is not None else None
        pid = data.metadata.get("pid") if data is not None and data.metadata else None
        if pid is not None:
            try:
                return int(pid.value)
            except (TypeError, ValueError):
                continue
    return None


class SenRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose run workers (local processes) can be health-checked by run monitoring."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = run_worker_pid(self._instance, run.run_id)
        if pid is None:
            # Not recorded (yet): the daemon fails any status but RUNNING/SUCCESS, so do not guess "dead";
            # the instance's max_runtime_seconds still bounds such a run.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run worker has not recorded its pid")
        if pid_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the run worker process (pid {pid}) is gone while the run is STARTED"
        )
