"""Run one sync: diff in the warehouse, send in batches, commit only what the destination acknowledged.

Guarantees (see docs/reverse_etl.md for the per-destination table):
- State (sync."state__<name>") changes only in the same transaction that records a batch's
  acknowledgement, so a crash at any point and a rerun converge on the right destination content:
  unacknowledged rows are simply still in the next diff.
- Audience/list/webhook operations are idempotent (set membership, upserts), so resending an
  unacknowledged batch is harmless (at-least-once).
- Messages (FCM, Zalo) are not: an intent is written to sync.message_outbox before the request leaves;
  an intent whose outcome was lost is never resent under at-most-once (the default), and is resent
  with the same dedup key (Zalo tracking_id) under at-least-once.
- Rejected rows are recorded with a reason in sync.sync_rejections and, never having entered state,
  are retried by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from reverse_etl.config import SyncConfig, load_sync
from reverse_etl.destinations.base import (
    Batch,
    BatchDestination,
    BatchOutcome,
    Destination,
    FileDestination,
    MessageDestination,
    MessageOutcome,
)
from reverse_etl.errors import DestinationError, RetryableError, SyncRunError
from reverse_etl.http import RequestStats
from reverse_etl.plan import (
    PLAN,
    PlanSummary,
    build_plan,
    check_columns,
    drop_plan,
    q,
    resolve_relation,
    state_digest_fields,
)
from reverse_etl.result import SyncResult
from reverse_etl.secrets import get_logger, redact
from reverse_etl.state_schema import SCHEMA, ensure_schema, ensure_state_table, to_state

log = get_logger("reverse_etl.engine")
COMMIT_INTERVAL_S = 5.0  # acknowledged batches are committed at least this often


@dataclass
class SyncHooks:
    """Test seams: called around each batch commit (e.g. to simulate a crash at an exact point)."""

    before_commit: Callable[[str, int], None] | None = None
    after_commit: Callable[[str, int], None] | None = None


def reference_now(now: datetime | None = None) -> datetime:
    """`now`, else CDP_AS_OF, else the wall clock; naive UTC as stored in the warehouse."""
    if now is None:
        as_of = os.environ.get("CDP_AS_OF")
        now = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC)
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
    """
    cfg = sync_config if isinstance(sync_config, SyncConfig) else load_sync(sync_config)
    own = not isinstance(conn_or_path, duckdb.DuckDBPyConnection)
    conn = duckdb.connect(str(conn_or_path)) if own else conn_or_path
    dry = dry_run or cfg.dry_run or os.environ.get("CDP_SYNC_DRY_RUN", "").lower() in ("1", "true", "yes")
    started = reference_now(now)
    t0 = time.monotonic()
    result = SyncResult(
        run_id=uuid.uuid4().hex,
        sync_name=cfg.name,
        destination=cfg.destination.type,
        mode=cfg.mode,
        dry_run=dry,
        started_at=started,
    )
    stats = RequestStats()
    client: Destination | None = None
    early: list[_GroupSender] = []  # removals sent while the additions are planned
    failure: BaseException | None = None
    try:
        conn.execute("SET enable_progress_bar = false")
        ensure_schema(conn)
        # a run still 'running' was killed: DuckDB allows one writer, so it cannot be in progress
        conn.execute(
            f"UPDATE {SCHEMA}.sync_runs SET status = 'interrupted' WHERE sync_name = ? AND status = 'running'",
            [cfg.name],
        )
        _insert_run(conn, result)
        run = _Run(conn, cfg, result, started, fixed=now is not None or bool(os.environ.get("CDP_AS_OF")))
        relation = resolve_relation(conn, cfg)
        check_columns(conn, cfg, relation)
        run.state = ensure_state_table(conn, cfg.name, cfg.fields, state_digest_fields(cfg))
        if not dry:
            client = cfg.destination.build_client(stats, cfg.name)  # reads secrets: fail before planning
            client.sync_mode = cfg.mode

        def send_removals_early(partial: PlanSummary) -> None:
            # removals go out while the additions are planned (they are sent first in any case)
            if isinstance(client, BatchDestination) and cfg.mode != "replace":
                sender = _GroupSender(run, client, partial, "remove", hooks, run.rejected_all)
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
            _register(conn, cfg, run.state, started)
            skipped = (summary.ops or {}).get(("skip", -1), {})
            if skipped:
                run.commit_skipped()
            if isinstance(client, BatchDestination):
                run.send_batches(client, summary, hooks, early[0] if early else None)
            elif isinstance(client, MessageDestination):
                run.send_messages(client, summary, hooks)
            elif isinstance(client, FileDestination):
                run.write_file(client)
            run.resolve_earlier_rejections()
        result.status = "success"
    except Exception as exc:  # recorded, then re-raised as SyncRunError
        failure = exc
        _abandon(early)
        result.status = "failed"
        result.error = redact(f"{type(exc).__name__}: {exc}")[:2000]
        _rollback_quietly(conn)
        log.error("sync %s failed: %s", cfg.name, result.error)
    finally:
        result.duration_s = time.monotonic() - t0
        result.finished_at = started + timedelta(seconds=result.duration_s)
        result.requests, result.retries = stats.requests, stats.retries
        try:
            _finish_run(conn, result)
            drop_plan(conn)
        finally:
            if client is not None:
                client.close()
            if own:
                conn.close()
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


def _as_expected(outcome: BatchOutcome, expected: BatchOutcome) -> bool:
    """Would the outcome write the same state as the expected one?"""
    return not outcome.rejected and not expected.rejected and outcome.created == expected.created


def _abandon(senders: list[_GroupSender]) -> None:
    for sender in senders:
        sender.abandon()


# ---------------------------------------------------------------------------- run bookkeeping


def _insert_run(conn: duckdb.DuckDBPyConnection, r: SyncResult) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.sync_runs (run_id, sync_name, destination, mode, dry_run, status, started_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [r.run_id, r.sync_name, r.destination, r.mode, r.dry_run, r.status, r.started_at],
    )


def _finish_run(conn: duckdb.DuckDBPyConnection, r: SyncResult) -> None:
    conn.execute(
        f"""UPDATE {SCHEMA}.sync_runs SET status = ?, finished_at = ?, duration_s = ?, source_rows = ?,
            added = ?, changed = ?, removed = ?, unchanged = ?, rejected = ?, sent_rows = ?, requests = ?,
            retries = ?, unattributed_invalid = ?, error = ? WHERE run_id = ?""",
        [
            r.status,
            r.finished_at,
            r.duration_s,
            r.source_rows,
            r.added,
            r.changed,
            r.removed,
            r.unchanged,
            r.rejected,
            r.sent_rows,
            r.requests,
            r.retries,
            r.unattributed_invalid,
            r.error,
            r.run_id,
        ],
    )


def _register(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, state: str, now: datetime) -> None:
    """Record which destination object the sync writes to (other syncs sharing it read this);
    `updated_at` is when that registration last changed."""
    entry = (cfg.destination.type, cfg.fingerprint(), state, cfg.destination.destination_key())
    current = conn.execute(
        f"SELECT destination, fingerprint, state_table, destination_key FROM {SCHEMA}.sync_registry "
        "WHERE sync_name = ?",
        [cfg.name],
    ).fetchone()
    if current == entry:
        return
    conn.execute(
        f"""INSERT OR REPLACE INTO {SCHEMA}.sync_registry
            (sync_name, destination, fingerprint, state_table, updated_at, destination_key)
        VALUES (?, ?, ?, ?, ?, ?)""",
        [cfg.name, cfg.destination.type, cfg.fingerprint(), state, now, cfg.destination.destination_key()],
    )


def _rollback_quietly(conn: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # no transaction may be open
        conn.execute("ROLLBACK")


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _x(conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
    """execute() that passes only the named parameters the statement uses (DuckDB rejects extras)."""
    if isinstance(params, dict):
        used = set(_PARAM.findall(sql))
        params = {k: v for k, v in params.items() if k in used}
    return conn.execute(sql, params) if params is not None else conn.execute(sql)


# rows of the acknowledged batches $batches (contiguous in practice: the range lets DuckDB skip row groups)
_IN_BATCHES = "p.__batch BETWEEN $batch_lo AND $batch_hi AND list_contains($batches, p.__batch)"


def _batch_params(indexes: list[int]) -> dict[str, Any]:
    return {"batches": indexes, "batch_lo": min(indexes), "batch_hi": max(indexes)}


def _merge_outcomes(outcomes: list[BatchOutcome]) -> BatchOutcome:
    """One outcome for several batches (keys are unique across batches)."""
    merged = BatchOutcome()
    for o in outcomes:
        merged.rejected.update(o.rejected)
        if o.created is not None:
            merged.created = {**(merged.created or {}), **o.created}
        merged.sent_rows += o.sent_rows
        merged.unattributed_invalid += o.unattributed_invalid
    return merged


class _Tx:
    """BEGIN ... COMMIT, rolled back on error (DuckDB connections autocommit otherwise)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        _x(self.conn, "BEGIN TRANSACTION")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        _x(self.conn, "COMMIT" if exc_type is None else "ROLLBACK")


class _Run:
    """The warehouse side of one run: rejections, state commits, ledger."""

    def __init__(
        self, conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, result: SyncResult, now: datetime, fixed: bool
    ) -> None:
        self.conn = conn
        self.fixed_clock = fixed
        self.cfg = cfg
        self.result = result
        self.now = now
        self.state = ""
        self.rejected_all: dict[str, str] = {}  # destination refusals of a replace-all run
        f_cols = [q("f_" + f) for f in cfg.mapping]
        self._f_list = ", ".join(f_cols)
        # the plan's values as the state columns store them (digests as bytes)
        digests = state_digest_fields(cfg)
        self._f_values = ", ".join(to_state(f"p.{q('f_' + f)}", f in digests) for f in cfg.mapping)

    # ------------------------------------------------------------------ planning results
    def apply_summary(self, s: PlanSummary) -> None:
        r = self.result
        r.source_rows, r.added, r.changed, r.removed, r.unchanged = (
            s.source_rows,
            s.added,
            s.changed,
            s.removed,
            s.unchanged,
        )
        r.rejected = s.rejected

    def record_validation_rejections(self) -> None:
        args = [self.result.run_id, self.cfg.name, self.now]
        _x(
            self.conn,
            f"""INSERT INTO {SCHEMA}.sync_rejections
            SELECT $1, $2, __pk, __op, 'validation', __reject, $3, NULL FROM {PLAN} WHERE __reject IS NOT NULL""",
            args,
        )
        _x(
            self.conn,
            f"""INSERT INTO {SCHEMA}.sync_rejections
            SELECT $1, $2, __pk, 'key', 'validation', reason, $3, NULL FROM __sen_badpk""",
            args,
        )

    def record_dry_run(self) -> None:
        _x(
            self.conn,
            f"""INSERT INTO {SCHEMA}.dry_run_plans
            SELECT ?, ?, __pk, CASE WHEN __group = 'skip' THEN __op || ' (state only)' ELSE __op END, __reject
            FROM {PLAN}""",
            [self.result.run_id, self.cfg.name],
        )

    def commit_skipped(self) -> None:
        """State-only changes that send nothing (left the audience in upsert mode, changes in insert mode...)."""
        with _Tx(self.conn) as c:
            _x(
                c,
                f"DELETE FROM {self.state} WHERE __pk IN "
                f"(SELECT __pk FROM {PLAN} WHERE __group = 'skip' AND __op = 'remove')",
            )
            skipped = f"FROM {PLAN} p WHERE p.__group = 'skip' AND p.__op = 'change'"
            _x(c, f"DELETE FROM {self.state} WHERE __pk IN (SELECT p.__pk {skipped})")
            _x(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self._f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash, p.__prev_created, $now, $run, {self._f_values}
                {skipped}""",
                {"now": self.now, "run": self.result.run_id},
            )

    # ------------------------------------------------------------------ batch destinations
    def send_batches(
        self,
        client: BatchDestination,
        summary: PlanSummary,
        hooks: SyncHooks | None,
        removals: _GroupSender | None = None,
    ) -> None:
        """Send every batch, removals first (so a shared identifier ends up present).

        The two groups overlap where order allows: the removals may already be in flight (`removals`,
        started while the additions were planned), the additions' first payload is built while the last
        removal request is in flight, and the removals' acknowledgements are written while the first
        addition request is. Additions are still sent only once every removal was acknowledged."""
        replace = self.cfg.mode == "replace"
        rejected_all = self.rejected_all
        senders = [
            removals
            if group == "remove" and removals is not None
            else _GroupSender(self, client, summary, group, hooks, rejected_all)
            for group in ("remove", "add")
            if (summary.batches or {}).get(group)
        ]
        previous_flush: Callable[[], None] | None = None
        for i, sender in enumerate(senders):
            following = senders[i + 1] if i + 1 < len(senders) else None
            sender.run(following, previous_flush)
            previous_flush = sender.flush if following is not None else None
        if replace and (summary.batches or {}).get("add"):
            self._commit_replace(rejected_all)
        elif replace and summary.removed and not summary.source_rows:
            # the audience is now empty: nothing to send, but the destination must be emptied
            if client.replace_with_nothing():
                self._commit_replace({})
            else:
                log.warning(
                    "sync %s: audience is empty; %s cannot replace with nothing", self.cfg.name, client
                )

    def _record_destination_rejections(
        self, group: str, indexes: list[int], rejected: dict[str, str]
    ) -> None:
        if not rejected:
            return
        self.result.rejected += len(rejected)
        pks, reasons = list(rejected), [redact(v) for v in rejected.values()]
        _x(
            self.conn,
            f"""INSERT INTO {SCHEMA}.sync_rejections
            SELECT $run, $name, p.__pk, p.__op, 'destination', r.reason, $now, NULL
            FROM (SELECT unnest($pks) AS pk, unnest($reasons) AS reason) r
            JOIN {PLAN} p ON p.__pk = r.pk AND p.__group = $group AND {_IN_BATCHES}""",
            {
                "run": self.result.run_id,
                "name": self.cfg.name,
                "now": self.now,
                "pks": pks,
                "reasons": reasons,
                "group": group,
                **_batch_params(indexes),
            },
        )

    def _commit_batch(
        self, group: str, index: int, outcome: BatchOutcome, ops: dict[str, int] | None = None
    ) -> None:
        """Record what the destination acknowledged for one batch, in one transaction."""
        with _Tx(self.conn):
            self._apply_batches(group, [index], outcome, ops)

    def _apply_batches(
        self, group: str, indexes: list[int], outcome: BatchOutcome, ops: dict[str, int] | None = None
    ) -> None:
        """Write acknowledged batches: state, destination rejections, ledger (caller holds the transaction).

        `outcome` merges the batches' outcomes; `ops` (rows per operation in them) lets statements with
        nothing to do be skipped. One statement per kind for all the batches: statements, not rows, are
        what a commit costs."""
        ops = ops if ops is not None else {"add": 1, "change": 1, "remove": 1}
        params: dict[str, Any] = {
            "group": group,
            "rejected": list(outcome.rejected) or [""],
            "now": self.now,
            "run": self.result.run_id,
            **_batch_params(indexes),
        }
        in_batch = (
            f"p.__group = $group AND {_IN_BATCHES} AND p.__reject IS NULL "
            "AND NOT list_contains($rejected, p.__pk)"
        )
        c = self.conn
        self._record_destination_rejections(group, indexes, outcome.rejected)
        if group == "remove":
            if ops.get("remove"):
                # by the superseded row's 64-bit hash (it covers the key): an integer column, not the
                # million text keys. Only a hash collision could delete another row: then it is resent.
                _x(
                    c,
                    f"DELETE FROM {self.state} WHERE __row_hash IN "
                    f"(SELECT p.__prev_hash FROM {PLAN} p WHERE {in_batch} AND p.__op = 'remove')",
                    params,
                )
            return
        if outcome.created:
            # joined, not list_contains per row: a flush can carry 100,000 keys
            created_expr = "cr.created"
            created_join = (
                "LEFT JOIN (SELECT unnest($known) AS pk, unnest($created) AS created) cr ON cr.pk = p.__pk"
            )
            params["known"] = list(outcome.created)
            params["created"] = list(outcome.created.values())
        else:
            created_expr, created_join = "CAST(NULL AS BOOLEAN)", ""
        if ops.get("change"):
            # delete + insert: far cheaper in DuckDB than an UPDATE joined against the whole state
            _x(
                c,
                f"DELETE FROM {self.state} WHERE __row_hash IN "
                f"(SELECT p.__prev_hash FROM {PLAN} p WHERE {in_batch} AND p.__op = 'change')",
                params,
            )
        written = [op for op in ("add", "change") if ops.get(op)]
        if written:
            # one insert for the new and the changed rows (a changed row keeps its created flag)
            _x(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self._f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash,
                       CASE WHEN p.__op = 'change' THEN coalesce(p.__prev_created, {created_expr})
                            ELSE {created_expr} END,
                       $now, $run, {self._f_values}
                FROM {PLAN} p {created_join}
                WHERE {in_batch} AND p.__op IN ({", ".join(f"'{op}'" for op in written)})""",
                params,
            )
        if ops.get("add") and self.cfg.ledger_channel is not None:
            self._ledger_from_plan(f"{in_batch} AND p.__op = 'add'", params, delivery="acknowledged")

    def _commit_replace(self, rejected: dict[str, str]) -> None:
        with _Tx(self.conn) as c:
            _x(c, f"DELETE FROM {self.state}")
            _x(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self._f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash, NULL, $now, $run, {self._f_values}
                FROM {PLAN} p WHERE p.__group = 'add' AND p.__reject IS NULL
                  AND NOT list_contains($rejected, p.__pk)""",
                {"now": self.now, "run": self.result.run_id, "rejected": list(rejected) or [""]},
            )

    def _ledger_from_plan(self, where: str, params: dict[str, Any], *, delivery: str) -> None:
        """Contacts caused by acknowledged adds (a list or tool that messages new members)."""
        _x(
            self.conn,
            f"""INSERT INTO {SCHEMA}.contact_ledger
            SELECT p.__person_id, $channel, $campaign, $dest, $name, $sent_at, $run, NULL, $delivery
            FROM {PLAN} p WHERE {where}""",
            {
                **params,
                "channel": self.cfg.ledger_channel,
                "campaign": self.cfg.campaign,
                "dest": self.cfg.destination.type,
                "name": self.cfg.name,
                "sent_at": self._sent_now(),
                "delivery": delivery,
            },
        )

    def _sent_now(self) -> datetime:
        """A fixed reference time (tests, CDP_AS_OF replays) as is; otherwise the real send time."""
        return self.now if self.fixed_clock else datetime.now(UTC).replace(tzinfo=None)

    # ------------------------------------------------------------------ file destinations
    def write_file(self, client: FileDestination) -> None:
        cols = ", ".join(f"p.{q('f_' + f)} AS {q(f)}" for f in self.cfg.mapping)
        select = (
            f"SELECT CASE WHEN p.__group = 'remove' THEN 'remove' ELSE p.__op END AS _sen_op, "
            f"p.__pk AS {q(self.cfg.primary_key)}, {cols} FROM {PLAN} p "
            f"WHERE p.__group IN ('add', 'remove') AND p.__reject IS NULL ORDER BY p.__group DESC, p.__pk"
        )
        n = _x(self.conn, f"SELECT count(*) FROM ({select})").fetchone()[0]
        if not n:
            return
        self.result.output_file = client.write(self.conn, select, self.result.run_id, None)
        self.result.sent_rows += int(n)
        for group in ("remove", "add"):
            self._commit_batch(group, 0, BatchOutcome())

    # ------------------------------------------------------------------ message destinations
    def send_messages(
        self, client: MessageDestination, summary: PlanSummary, hooks: SyncHooks | None
    ) -> None:
        reuse = self._recover_intents(client)
        n = (summary.batches or {}).get("add", 0)
        total = (summary.to_send or {}).get("add", 0)
        workers = max(1, min(self.cfg.destination.effective_batch_size(), 64))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sen-{self.cfg.name}") as pool:
            for index in range(n):
                batch = Batch(self.conn, PLAN, "add", index, n, total, self.cfg.fields, "send")
                rows = batch.rows()
                if not rows:
                    continue
                keys = {r["__pk"]: reuse.pop(r["__pk"], None) or self._message_key(r["__pk"]) for r in rows}
                self._record_intents(rows, keys)
                futures = [pool.submit(client.send_message, r, keys[r["__pk"]]) for r in rows]
                outcomes: list[MessageOutcome] = []
                fatal: BaseException | None = None
                for fut in futures:
                    try:
                        outcomes.append(fut.result())
                    except (RetryableError, DestinationError) as exc:
                        # not delivered (or, at-least-once, maybe): keep/let go of the intent, stop the run
                        status = "pending" if client.delivery == "at_least_once" else "failed"
                        outcomes.append(MessageOutcome(status, reason=redact(str(exc))[:300]))  # type: ignore[arg-type]
                        fatal = fatal or exc
                if hooks and hooks.before_commit:
                    hooks.before_commit("add", index)
                self._commit_messages(rows, keys, outcomes)
                if hooks and hooks.after_commit:
                    hooks.after_commit("add", index)
                if fatal is not None:
                    raise fatal
        self._abandon_intents(reuse)

    def _message_key(self, pk: str) -> str:
        return hashlib.sha256(f"{self.cfg.name}\x1f{self.result.run_id}\x1f{pk}".encode()).hexdigest()[:32]

    def _recover_intents(self, client: MessageDestination) -> dict[str, str]:
        """Intents left 'pending' by an interrupted run. At-most-once: settle them as sent-unconfirmed
        (never resend). At-least-once: return their keys so the same message key is sent again."""
        outbox = f"{SCHEMA}.message_outbox"
        pending = _x(
            self.conn,
            f"SELECT primary_key, message_key FROM {outbox} WHERE sync_name = ? AND status = 'pending'",
            [self.cfg.name],
        ).fetchall()
        if not pending:
            return {}
        if client.delivery == "at_least_once":
            return {pk: key for pk, key in pending}
        keys = [k for _, k in pending]
        params = {"keys": keys, "now": self.now, "run": self.result.run_id, "name": self.cfg.name}
        with _Tx(self.conn) as c:
            self._ledger_from_outbox("list_contains($keys, o.message_key)", params)
            _x(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self._f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash, NULL, $now, $run, {self._f_values}
                FROM {PLAN} p JOIN {outbox} o ON o.primary_key = p.__pk AND o.sync_name = $name
                WHERE list_contains($keys, o.message_key) AND p.__group = 'add' AND p.__op = 'add'""",
                params,
            )
            _x(
                c,
                f"""DELETE FROM {PLAN} WHERE __group = 'add' AND __pk IN
                (SELECT primary_key FROM {outbox} WHERE sync_name = $name AND list_contains($keys, message_key))""",
                params,
            )
            _x(
                c,
                f"""UPDATE {outbox} SET status = 'unknown', updated_at = $now,
                    detail = 'outcome lost in an interrupted run; not resent (at-most-once)'
                WHERE sync_name = $name AND list_contains($keys, message_key)""",
                params,
            )
        return {}

    def _abandon_intents(self, leftover: dict[str, str]) -> None:
        """At-least-once intents whose person no longer qualifies: settle them as sent-unconfirmed."""
        if not leftover:
            return
        params = {
            "keys": list(leftover.values()),
            "now": self.now,
            "run": self.result.run_id,
            "name": self.cfg.name,
        }
        with _Tx(self.conn) as c:
            self._ledger_from_outbox("list_contains($keys, o.message_key)", params)
            _x(
                c,
                f"""UPDATE {SCHEMA}.message_outbox SET status = 'unknown', updated_at = $now,
                    detail = 'outcome lost; person left the audience before a resend'
                WHERE sync_name = $name AND list_contains($keys, message_key)""",
                params,
            )

    def _ledger_from_outbox(self, where: str, params: dict[str, Any]) -> None:
        dest = self.cfg.destination
        _x(
            self.conn,
            f"""INSERT INTO {SCHEMA}.contact_ledger
            SELECT o.person_id, '{self.cfg.ledger_channel}', $campaign, '{dest.type}', o.sync_name, o.created_at,
                   o.run_id, o.message_key, 'unconfirmed'
            FROM {SCHEMA}.message_outbox o WHERE o.sync_name = $name AND {where}""",
            {**params, "campaign": self.cfg.campaign},
        )

    def _record_intents(self, rows: list[dict[str, Any]], keys: dict[str, str]) -> None:
        """Written (and committed) before any request of the batch leaves this process."""
        pks = [r["__pk"] for r in rows]
        with _Tx(self.conn) as c:
            _x(
                c,
                f"DELETE FROM {SCHEMA}.message_outbox WHERE sync_name = $name AND list_contains($keys, message_key)",
                {"name": self.cfg.name, "keys": [keys[p] for p in pks]},
            )
            _x(
                c,
                f"""INSERT INTO {SCHEMA}.message_outbox
                SELECT $name, k.key, k.pk, k.person, $run, 'pending', $now, $now, NULL, NULL
                FROM (SELECT unnest($keys) AS key, unnest($pks) AS pk, unnest($persons) AS person) k""",
                {
                    "name": self.cfg.name,
                    "run": self.result.run_id,
                    "now": self.now,
                    "keys": [keys[p] for p in pks],
                    "pks": pks,
                    "persons": [r["__person_id"] for r in rows],
                },
            )

    def _commit_messages(
        self, rows: list[dict[str, Any]], keys: dict[str, str], outcomes: list[MessageOutcome]
    ) -> None:
        dest = self.cfg.destination
        sent_now = self._sent_now()
        outcome_rows = [
            (keys[r["__pk"]], r["__pk"], o.status, o.message_id, o.reason and redact(o.reason))
            for r, o in zip(rows, outcomes, strict=True)
        ]
        delivered = [pk for _, pk, status, _, _ in outcome_rows if status in ("sent", "unknown")]
        with _Tx(self.conn) as c:
            _x(
                c,
                f"""UPDATE {SCHEMA}.message_outbox SET status = o.status, updated_at = $now,
                    destination_message_id = o.msg_id, detail = o.detail
                FROM (SELECT unnest($keys) AS key, unnest($statuses) AS status, unnest($ids) AS msg_id,
                             unnest($details) AS detail) o
                WHERE message_outbox.sync_name = $name AND message_outbox.message_key = o.key""",
                {
                    "now": self.now,
                    "name": self.cfg.name,
                    "keys": [x[0] for x in outcome_rows],
                    "statuses": [x[2] for x in outcome_rows],
                    "ids": [x[3] for x in outcome_rows],
                    "details": [x[4] for x in outcome_rows],
                },
            )
            if delivered:
                _x(
                    c,
                    f"""INSERT INTO {self.state}
                        (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self._f_list})
                    SELECT p.__pk, p.__person_id, p.__row_hash, NULL, $now, $run, {self._f_values}
                    FROM {PLAN} p WHERE p.__group = 'add' AND list_contains($pks, p.__pk)""",
                    {"now": self.now, "run": self.result.run_id, "pks": delivered},
                )
                _x(
                    c,
                    f"""INSERT INTO {SCHEMA}.contact_ledger
                    SELECT o.person_id, '{self.cfg.ledger_channel}', $campaign, '{dest.type}', $name, $sent_at, $run,
                           o.message_key, CASE o.status WHEN 'sent' THEN 'acknowledged' ELSE 'unconfirmed' END
                    FROM {SCHEMA}.message_outbox o
                    WHERE o.sync_name = $name AND list_contains($keys, o.message_key)
                      AND o.status IN ('sent', 'unknown')""",
                    {
                        "campaign": self.cfg.campaign,
                        "name": self.cfg.name,
                        "sent_at": sent_now,
                        "run": self.result.run_id,
                        "keys": [keys[p] for p in delivered],
                    },
                )
            refused = [
                (pk, reason or status)
                for _, pk, status, _, reason in outcome_rows
                if status in ("rejected", "failed")
            ]
            if refused:
                self.result.rejected += len(refused)
                _x(
                    c,
                    f"""INSERT INTO {SCHEMA}.sync_rejections
                    SELECT $run, $name, unnest($pks), 'message', 'destination', unnest($reasons), $now, NULL""",
                    {
                        "run": self.result.run_id,
                        "name": self.cfg.name,
                        "now": self.now,
                        "pks": [p for p, _ in refused],
                        "reasons": [r for _, r in refused],
                    },
                )
            dead = [o.dead_token for o in outcomes if o.dead_token]
            if dead:
                _x(
                    c,
                    f"INSERT INTO {SCHEMA}.dead_push_tokens SELECT unnest($tokens), $now, $name",
                    {"tokens": dead, "now": self.now, "name": self.cfg.name},
                )
        self.result.sent_rows += sum(1 for o in outcomes if o.status in ("sent", "unknown"))

    # ------------------------------------------------------------------ after sending
    def resolve_earlier_rejections(self) -> None:
        """Mark earlier rejections as resolved once their row made it (added/changed now, or removed)."""
        _x(
            self.conn,
            f"""UPDATE {SCHEMA}.sync_rejections SET resolved_run_id = $run
            WHERE sync_name = $name AND resolved_run_id IS NULL AND run_id <> $run AND (
                (operation IN ('remove') AND primary_key NOT IN (SELECT __pk FROM {self.state}))
                OR (operation NOT IN ('remove', 'remove_old')
                    AND primary_key IN (SELECT __pk FROM {self.state} WHERE __run_id = $run)))""",
            {"run": self.result.run_id, "name": self.cfg.name},
        )


class _GroupSender:
    """Sends one group of batches (removals or additions) and commits the acknowledgements.

    Up to `lanes` batches are in flight: lane i sends batches i, i+lanes, ... in order in its own thread
    (and, for Meta, its own session) while this thread builds the next payloads in SQL. Acknowledged
    batches are committed together every `commit_every_batches` batches or COMMIT_INTERVAL_S seconds:
    fewer, larger transactions halve the cost of writing state, and a crash loses at most those
    acknowledgements, whose batches the next run resends (harmless: batch destinations are idempotent).
    """

    def __init__(
        self,
        run: _Run,
        client: BatchDestination,
        summary: PlanSummary,
        group: str,
        hooks: SyncHooks | None,
        rejected_all: dict[str, str],
    ) -> None:
        self.run_ = run
        self.client = client
        self.summary = summary
        self.group = group
        self.hooks = hooks
        self.rejected_all = rejected_all
        self.replace = run.cfg.mode == "replace"
        self.op = "remove" if group == "remove" else ("replace" if self.replace else "upsert")
        self.count = (summary.batches or {})[group]
        self.total = (summary.to_send or {})[group]
        self.lanes = min(client.lanes(self.op), self.count)
        self.commit_every = run.cfg.destination.commit_every_batches
        self.acked: list[tuple[Batch, BatchOutcome]] = []
        self.failure: BaseException | None = None
        self.last_flush = time.monotonic()
        self.sessions: list[Any] | None = None
        self.prefetched: tuple[Batch, Any] | None = None  # the first batch, built ahead by prefetch()
        self.executors: list[ThreadPoolExecutor] = []
        self.written_ahead: tuple[int, BatchOutcome] | None = None  # see _write_ahead()
        self.pending: deque[tuple[Batch, Any, Future]] = deque()
        self.next_index = 0

    def _batch(self, index: int) -> Batch:
        return Batch(
            self.run_.conn,
            PLAN,
            self.group,
            index,
            self.count,
            self.total,
            self.run_.cfg.fields,
            self.op,
            self.lanes,
        )

    def prefetch(self) -> None:
        """Begin the group and build its first payload (no request is sent)."""
        self.sessions = self.client.begin_group(self.group, self.total, self.count, self.lanes)
        batch = self._batch(0)
        self.prefetched = (batch, self.client.prepare(batch, self.sessions[batch.lane]))

    def _begin(self) -> None:
        if self.executors:
            return
        if self.sessions is None:
            self.sessions = self.client.begin_group(self.group, self.total, self.count, self.lanes)
        name = self.run_.cfg.name
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sen-{name}-lane{i}")
            for i in range(self.lanes)
        ]

    def _send_next(self) -> None:
        """Build the next batch's payload and hand it to its lane."""
        index = self.next_index
        self.next_index += 1
        if index == 0 and self.prefetched is not None:
            batch, prepared = self.prefetched
        else:
            batch = self._batch(index)
            prepared = self.client.prepare(batch, self.sessions[batch.lane])  # type: ignore[index]
        future = self.executors[batch.lane].submit(self.client.transmit, prepared)
        self.pending.append((batch, prepared, future))

    def start(self) -> None:
        """Put one batch per lane in flight and return (the caller goes on planning the other group)."""
        self._begin()
        try:
            while self.next_index < min(self.count, self.lanes):
                self._send_next()
        except BaseException:
            self.abandon()
            raise

    def abandon(self) -> None:
        """Wait for the requests in flight and drop their answers: nothing is committed, so the next run
        sends those batches again (harmless: batch destinations are idempotent)."""
        for executor in self.executors:
            executor.shutdown(wait=True)
        self.pending.clear()
        self._drop_write_ahead()

    def _write_ahead(self) -> None:
        """While a run's last request is in flight, write the state it will commit, in a transaction left
        open: the answer then costs only a COMMIT. If the answer differs from the expected one (a row
        refused, a failure), the write is rolled back and the normal commit runs."""
        batch, prepared, _ = self.pending[-1]
        expected = self.client.expected_outcome(batch, prepared)
        if expected is None:
            return
        ops = (self.summary.ops or {}).get((self.group, batch.index), {})
        _x(self.run_.conn, "BEGIN TRANSACTION")
        try:
            self.run_._apply_batches(self.group, [batch.index], expected, ops)
        except BaseException:
            _x(self.run_.conn, "ROLLBACK")
            raise
        self.written_ahead = (batch.index, expected)

    def _drop_write_ahead(self) -> None:
        if self.written_ahead is not None:
            self.written_ahead = None
            _x(self.run_.conn, "ROLLBACK")

    def run(
        self, following: _GroupSender | None = None, previous_flush: Callable[[], None] | None = None
    ) -> None:
        """Send the group (or the rest of it, after `start`). `following` (the next group) gets its first
        payload built while this group's last requests are in flight, and then commits this group's
        last acknowledgements (`previous_flush` on its own run) while its own first request is in flight."""
        self._begin()
        pending = self.pending
        try:
            while self.next_index < self.count and self.failure is None:
                self._send_next()
                if previous_flush is not None:
                    flush, previous_flush = previous_flush, None
                    flush()
                if following is None and self.count == 1 and not self.replace:
                    self._write_ahead()
                while len(pending) > 2 * self.lanes - 1 or (pending and pending[0][2].done()):
                    self._settle(*pending.popleft())
            if following is not None and self.failure is None:
                following.prefetch()
            while pending:
                self._settle(*pending.popleft())
        finally:
            for executor in self.executors:
                executor.shutdown(wait=True)
            if previous_flush is not None:
                previous_flush()
            if following is None or self.failure is not None:
                self.flush()
        if self.failure is not None:
            raise self.failure
        self.client.end_group(self.group, self.op)

    def _settle(self, batch: Batch, prepared: Any, future: Future) -> None:
        try:
            answer = future.result()
        except BaseException as exc:  # remember the first failure, still commit the other batches
            self.failure = self.failure or exc
            return
        outcome = self.client.finish(batch, prepared, answer)
        result = self.run_.result
        result.sent_rows += outcome.sent_rows
        result.unattributed_invalid += outcome.unattributed_invalid
        self.acked.append((batch, outcome))
        if len(self.acked) >= self.commit_every or time.monotonic() - self.last_flush >= COMMIT_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Commit every acknowledged batch not yet committed, in one transaction."""
        self.last_flush = time.monotonic()
        hooks, run = self.hooks, self.run_
        if self.written_ahead is not None:
            index, expected = self.written_ahead
            if [b.index for b, _ in self.acked] == [index] and _as_expected(self.acked[0][1], expected):
                self.written_ahead = None
                try:
                    if hooks and hooks.before_commit:
                        hooks.before_commit(self.group, index)
                except BaseException:
                    _x(run.conn, "ROLLBACK")
                    raise
                _x(run.conn, "COMMIT")
                if hooks and hooks.after_commit:
                    hooks.after_commit(self.group, index)
                self.acked.clear()
                return
            self._drop_write_ahead()
        if not self.acked:
            return
        with _Tx(run.conn):
            if hooks and hooks.before_commit:
                for batch, _ in self.acked:
                    hooks.before_commit(batch.group, batch.index)
            indexes = [batch.index for batch, _ in self.acked]
            merged = _merge_outcomes([outcome for _, outcome in self.acked])
            if self.replace:
                self.rejected_all.update(merged.rejected)
                run._record_destination_rejections(self.group, indexes, merged.rejected)
            else:
                ops: dict[str, int] = {}
                for index in indexes:
                    for op, n in (self.summary.ops or {}).get((self.group, index), {}).items():
                        ops[op] = ops.get(op, 0) + n
                run._apply_batches(self.group, indexes, merged, ops)
        if hooks and hooks.after_commit:
            for batch, _ in self.acked:
                hooks.after_commit(batch.group, batch.index)
        self.acked.clear()
