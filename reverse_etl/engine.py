"""Run one sync: diff in the warehouse, send in batches, commit only what the destination acknowledged.

Guarantees (see docs/reverse_etl.md for the per-destination table):
- State (sync."state__<name>") changes only in the same transaction that records a batch's
  acknowledgement; what is about to be sent is first recorded durably in sync."in_flight__<name>", and the
  next run folds anything left there into state as possibly delivered (reverse_etl/in_flight.py). So a
  crash at any instant and a rerun converge on exactly the right destination content: an unacknowledged
  addition whose person left meanwhile is removed, one still in the audience is resent.
- Audience/list/webhook operations are idempotent (set membership, upserts), so resending an
  unacknowledged batch is harmless (at-least-once).
- Messages (FCM, Zalo) are not: an intent is written to sync.message_outbox before the request leaves;
  an intent whose outcome was lost is never resent under at-most-once (the default), and is resent
  with the same dedup key (Zalo tracking_id) under at-least-once.
- Rejected rows are recorded with a reason in sync.sync_rejections and, never having entered state,
  are retried by the next run.

This module orchestrates one run; the work is done by run_state.py (the run's rows and every state,
rejection and ledger write), sending.py (batches in flight, file writes) and messages.py (the message
outbox), on the tables defined in state_schema.py.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from reverse_etl import in_flight
from reverse_etl.config import SyncConfig, load_sync
from reverse_etl.destinations.base import BatchDestination, Destination, FileDestination, MessageDestination
from reverse_etl.errors import SyncRunError
from reverse_etl.http import RequestStats
from reverse_etl.messages import MessageSender
from reverse_etl.plan import (
    PlanSummary,
    build_plan,
    check_columns,
    drop_plan,
    resolve_relation,
    state_digest_fields,
)
from reverse_etl.result import SyncResult
from reverse_etl.run_state import (
    Run,
    SyncHooks,
    finish_run,
    insert_run,
    mark_interrupted,
    register,
    rollback_quietly,
)
from reverse_etl.secrets import get_logger, redact
from reverse_etl.sending import GroupSender, abandon, send_batches, write_file
from reverse_etl.state_schema import ensure_schema, ensure_state_table
from sen.settings import Settings
from sen.warehouse_lock import connect_for_writing, warehouse_lock

__all__ = ["SyncHooks", "reference_now", "run_sync"]

log = get_logger("reverse_etl.engine")


def reference_now(now: datetime | None = None) -> datetime:
    """`now`, else CDP_AS_OF, else the wall clock; naive UTC as stored in the warehouse."""
    if now is None:
        now = Settings.from_env().as_of or datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now


def run_sync(
    conn_or_path: duckdb.DuckDBPyConnection | str | Path,
    sync_config: SyncConfig | str | Path,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    raise_on_failure: bool = True,
    hooks: SyncHooks | None = None,
) -> SyncResult:
    """Run one sync and return its result (also written to sync.sync_runs).

    A failed run commits what was acknowledged, records the (redacted) error and raises SyncRunError
    unless `raise_on_failure=False`. `dry_run` (or `dry_run: true` in the YAML, or CDP_SYNC_DRY_RUN=1)
    records the planned diff in sync.dry_run_plans and sends nothing.

    Given a warehouse path, the sync is a writer like a build (sen/warehouse_lock.py): it holds the
    warehouse's writer lock for the whole run (waiting CDP_WAREHOUSE_LOCK_WAIT seconds for a running build,
    then raising WarehouseBusy naming it, before anything is sent or written) and waits
    CDP_WAREHOUSE_READER_WAIT seconds for a reader of the file. Inside a writer Dagster run or a command-line
    build, which hold the lock already, taking it again only counts up. Given a connection, the caller
    coordinates.
    """
    cfg = sync_config if isinstance(sync_config, SyncConfig) else load_sync(sync_config)
    if isinstance(conn_or_path, duckdb.DuckDBPyConnection):
        return _run_sync(conn_or_path, cfg, dry_run, now, raise_on_failure, hooks, uuid.uuid4().hex)
    settings = Settings.from_env()
    warehouse = Path(conn_or_path)
    run_id = uuid.uuid4().hex
    with ExitStack() as held:
        held.enter_context(
            warehouse_lock(
                warehouse,
                run_id=run_id,
                command=f"sync {cfg.name}",
                wait=settings.warehouse_lock_wait,
                log=log.warning,
                writer="sync",
            )
        )
        conn = held.enter_context(
            connect_for_writing(warehouse, settings.warehouse_reader_wait, log=log.warning, writer="sync")
        )
        return _run_sync(conn, cfg, dry_run, now, raise_on_failure, hooks, run_id)


def _run_sync(
    conn: duckdb.DuckDBPyConnection,
    cfg: SyncConfig,
    dry_run: bool,
    now: datetime | None,
    raise_on_failure: bool,
    hooks: SyncHooks | None,
    run_id: str,
) -> SyncResult:
    dry = dry_run or cfg.dry_run or bool(Settings.from_env().sync_dry_run)
    started = reference_now(now)
    t0 = time.monotonic()
    result = SyncResult(
        run_id=run_id,
        sync_name=cfg.name,
        destination=cfg.destination.type,
        mode=cfg.mode,
        dry_run=dry,
        started_at=started,
    )
    stats = RequestStats()
    client: Destination | None = None
    early: list[GroupSender] = []  # removals sent while the additions are planned
    failure: BaseException | None = None
    try:
        conn.execute("SET enable_progress_bar = false")
        ensure_schema(conn)
        mark_interrupted(conn, cfg.name)
        insert_run(conn, result)
        run = Run(conn, cfg, result, started, fixed=now is not None or Settings.from_env().as_of is not None)
        relation = resolve_relation(conn, cfg)
        check_columns(conn, cfg, relation)
        run.state = ensure_state_table(conn, cfg.name, cfg.fields, state_digest_fields(cfg))
        # what a killed or failed run sent without committing: possibly delivered (see in_flight.py)
        reconciled = in_flight.reconcile(conn, cfg, run.state, started, run.sent_now())
        if reconciled:
            log.warning(
                "sync %s: %d rows of an earlier run were in flight; resent or removed now",
                cfg.name,
                reconciled,
            )
        if not dry:
            client = cfg.destination.build_client(stats, cfg.name)  # reads secrets: fail before planning
            client.sync_mode = cfg.mode

        def send_removals_early(partial: PlanSummary) -> None:
            # removals go out while the additions are planned (they are sent first in any case)
            if isinstance(client, BatchDestination) and cfg.mode != "replace":
                sender = GroupSender(run, client, partial, "remove", hooks, run.rejected_all)
                early.append(sender)  # abandoned (its requests awaited, nothing committed) if the run fails
                sender.start()

        summary = build_plan(
            conn,
            cfg,
            relation,
            run.state,
            cfg.destination.effective_batch_size(),
            on_removals=None if dry else send_removals_early,
        )
        run.apply_summary(summary)
        run.record_validation_rejections()
        if dry:
            run.record_dry_run()
        else:
            register(conn, cfg, run.state, started)
            skipped = (summary.ops or {}).get(("skip", -1), {})
            if skipped:
                run.commit_skipped()
            if isinstance(client, BatchDestination):
                send_batches(run, client, summary, hooks, early[0] if early else None)
            elif isinstance(client, MessageDestination):
                MessageSender(run, client, hooks).send(summary)
            elif isinstance(client, FileDestination):
                write_file(run, client)
            run.resolve_earlier_rejections()
            if run.in_flight:
                in_flight.finish(conn, cfg)
        result.status = "success"
    except Exception as exc:  # recorded, then re-raised as SyncRunError
        failure = exc
        abandon(early)
        result.status = "failed"
        result.error = redact(f"{type(exc).__name__}: {exc}")[:2000]
        rollback_quietly(conn)
        log.error("sync %s failed: %s", cfg.name, result.error)
    finally:
        result.duration_s = time.monotonic() - t0
        result.finished_at = started + timedelta(seconds=result.duration_s)
        result.requests, result.retries = stats.requests, stats.retries
        try:
            finish_run(conn, result)
            drop_plan(conn)
        finally:
            if client is not None:
                client.close()
    if failure is not None and raise_on_failure:
        raise SyncRunError(result.error or "sync failed", result) from None
    log.info(
        "sync %s %s: +%d ~%d -%d rejected %d sent %d in %.2fs",
        cfg.name,
        result.status,
        result.added,
        result.changed,
        result.removed,
        result.rejected,
        result.sent_rows,
        result.duration_s,
    )
    return result
