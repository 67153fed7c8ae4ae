"""One writer per warehouse, by design: a file lock beside the warehouse file, held for a whole build.

DuckDB lets one process at a time open a file for writing, and a build is many processes (Dagster, each dbt
step, the serving publish) that open and close the file in turn. Without coordination a second build slips
in between two steps of the first and the first build's next dbt step dies on DuckDB's lock. So every
writer takes ``<warehouse>.lock`` first and keeps it until it is done: the command line for its whole run,
a Dagster run tagged ``sen/warehouse=write`` for its whole execution (orchestration/resources.py), a sync
run on a warehouse path for the whole sync (reverse_etl/engine.py). A second
writer waits ``CDP_WAREHOUSE_LOCK_WAIT`` seconds (default 0), then stops with a message naming the holder;
it never touches the warehouse meanwhile. The lock is an OS file lock (flock, through the ``filelock``
library): it goes away with the holder's process, so a killed build leaves no stale lock behind.

Readers are another matter: a process that opens the warehouse itself, even read-only, also makes DuckDB
refuse a writer. BI tools read the published copy (sen/serving.py) instead; a reader that opens the main
file anyway is waited for (``connect_for_writing``: retries with backoff for ``CDP_WAREHOUSE_READER_WAIT``
seconds, announcing who holds the file), never allowed to fail the build at its first refusal.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from filelock import FileLock, Timeout

Log = Callable[[str], None]
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


def holder_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock.json")


@dataclass(frozen=True)
class Holder:
    """Who holds the warehouse lock, written beside it for the writer that has to wait."""

    pid: int
    host: str
    run_id: str
    command: str
    since: str  # ISO time, UTC

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, run {self.run_id} ({self.command}), since {self.since}"


class WarehouseBusy(RuntimeError):
    """Another writer holds the warehouse (or a reader kept it) longer than this writer would wait."""


def read_holder(warehouse: Path) -> Holder | None:
    try:
        return Holder(**json.loads(holder_path(warehouse).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):  # none yet, or being rewritten
        return None


def _write_holder(warehouse: Path, holder: Holder) -> None:
    path = holder_path(warehouse)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(asdict(holder)), encoding="utf-8")
    os.replace(tmp, path)  # a waiting writer reads the old holder or the new one, never half of one


def _busy_message(warehouse: Path, waited: float, writer: str) -> str:
    holder = read_holder(warehouse)
    who = holder.describe() if holder else "a writer that has not recorded itself yet"
    return (
        f"the warehouse {warehouse} is being written by another writer: {who}. "
        f"{'Waited ' + format(waited, '.0f') + ' s; ' if waited else ''}"
        f"this {writer} did not touch the warehouse and leaves the running one alone. Run again when it has "
        "finished, or set CDP_WAREHOUSE_LOCK_WAIT=<seconds> to wait for it."
    )


@contextmanager
def warehouse_lock(
    warehouse: Path,
    *,
    run_id: str,
    command: str,
    wait: float = 0.0,
    log: Log = _stderr,
    writer: str = "build",
) -> Iterator[Holder]:
    """Hold the warehouse's writer lock for the block; raise WarehouseBusy if another writer keeps it more
    than ``wait`` seconds. Reentrant within a process (the command line holds it around a Dagster run that
    takes it too, and a sync asset of that run takes it again). ``writer`` names this writer in messages."""
    warehouse = Path(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    # One instance per lock file in the process, shared by threads: a nested acquisition counts up instead of
    # waiting for itself. Keyed by the absolute path, so a relative and an absolute spelling are one lock.
    lock = FileLock(os.path.abspath(lock_path(warehouse)), is_singleton=True, thread_local=False)
    started = time.monotonic()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if wait <= 0:
            raise WarehouseBusy(_busy_message(warehouse, 0, writer)) from None
        holder = read_holder(warehouse)
        log(
            f"Waiting up to {wait:.0f} s for the warehouse {warehouse}: another writer holds it "
            f"({holder.describe() if holder else 'holder not recorded yet'})."
        )
        try:
            lock.acquire(timeout=wait, poll_interval=0.5)
        except Timeout:
            raise WarehouseBusy(_busy_message(warehouse, time.monotonic() - started, writer)) from None
    outermost = lock.lock_counter == 1
    try:
        if outermost:
            holder = Holder(
                pid=os.getpid(),
                host=socket.gethostname(),
                run_id=run_id,
                command=command,
                since=datetime.now(UTC).replace(microsecond=0).isoformat(),
            )
            _write_holder(warehouse, holder)
        else:
            holder = read_holder(warehouse) or Holder(os.getpid(), socket.gethostname(), run_id, command, "")
        yield holder
    finally:
        if outermost:
            holder_path(warehouse).unlink(missing_ok=True)
        lock.release()


def is_lock_conflict(error: BaseException) -> bool:
    """DuckDB refusing a connection because another process has the file open."""
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def connect_for_writing(
    warehouse: Path,
    wait: float,
    *,
    read_only: bool = False,
    log: Log = _stderr,
    sleep: Callable[[float], None] = time.sleep,
    writer: str = "build",
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retried with backoff while another process (a reader) has the file open.

    Gives up after ``wait`` seconds with WarehouseBusy, whose message carries DuckDB's own words (they name
    the holding process and its pid).
    """
    deadline = time.monotonic() + wait
    delay = BACKOFF_FIRST_SECONDS
    announced = False
    while True:
        try:
            return duckdb.connect(str(warehouse), read_only=read_only)
        except duckdb.IOException as error:
            if not is_lock_conflict(error):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise WarehouseBusy(
                    f"another process keeps the warehouse {warehouse} open, so this {writer} cannot write it "
                    f"(waited {wait:.0f} s, CDP_WAREHOUSE_READER_WAIT): {error}. BI tools and notebooks read "
                    "the published serving copy (docs/serving.md), not the warehouse; close that process, "
                    "or raise CDP_WAREHOUSE_READER_WAIT."
                ) from error
            if not announced:
                log(
                    f"The warehouse {warehouse} is held by another process ({error}); retrying for up to "
                    f"{wait:.0f} s. Readers should open the serving copy instead (docs/serving.md)."
                )
                announced = True
            sleep(min(delay, left))
            delay = min(delay * 2, BACKOFF_MAX_SECONDS)


def wait_for_readers(warehouse: Path, wait: float, log: Log = _stderr) -> None:
    """Return once the build can open the warehouse for writing (see connect_for_writing)."""
    connect_for_writing(warehouse, wait, log=log).close()
