"""The warehouse side of one run: its row in sync.sync_runs, its registration, and every write to the
sync's state table, rejections and contact ledger, each in the transaction that records what the
destination acknowledged (see reverse_etl/engine.py for the guarantees this serves).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from reverse_etl import in_flight
from reverse_etl.config import SyncConfig
from reverse_etl.destinations.base import BatchOutcome
from reverse_etl.plan import PLAN, PlanSummary, q, state_digest_fields
from reverse_etl.result import SyncResult
from reverse_etl.secrets import redact
from reverse_etl.state_schema import SCHEMA, to_state


@dataclass
class SyncHooks:
    """Test seams: called around each batch commit (e.g. to simulate a crash at an exact point)."""

    before_commit: Callable[[str, int], None] | None = None
    after_commit: Callable[[str, int], None] | None = None


def mark_interrupted(conn: duckdb.DuckDBPyConnection, sync_name: str) -> None:
    """A run still 'running' was killed: DuckDB allows one writer, so it cannot be in progress."""
    conn.execute(
        f"UPDATE {SCHEMA}.sync_runs SET status = 'interrupted' WHERE sync_name = ? AND status = 'running'",
        [sync_name],
    )


def insert_run(conn: duckdb.DuckDBPyConnection, r: SyncResult) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.sync_runs (run_id, sync_name, destination, mode, dry_run, status, started_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [r.run_id, r.sync_name, r.destination, r.mode, r.dry_run, r.status, r.started_at],
    )


def finish_run(conn: duckdb.DuckDBPyConnection, r: SyncResult) -> None:
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


def register(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, state: str, now: datetime) -> None:
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


def rollback_quietly(conn: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # no transaction may be open
        conn.execute("ROLLBACK")


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def execute(conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
    """execute() that passes only the named parameters the statement uses (DuckDB rejects extras)."""
    if isinstance(params, dict):
        used = set(_PARAM.findall(sql))
        params = {k: v for k, v in params.items() if k in used}
    return conn.execute(sql, params) if params is not None else conn.execute(sql)


# rows of the acknowledged batches $batches (contiguous in practice: the range lets DuckDB skip row groups)
IN_BATCHES = "p.__batch BETWEEN $batch_lo AND $batch_hi AND list_contains($batches, p.__batch)"


def batch_params(indexes: list[int]) -> dict[str, Any]:
    return {"batches": indexes, "batch_lo": min(indexes), "batch_hi": max(indexes)}


class Tx:
    """BEGIN ... COMMIT, rolled back on error (DuckDB connections autocommit otherwise)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        execute(self.conn, "BEGIN TRANSACTION")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        execute(self.conn, "COMMIT" if exc_type is None else "ROLLBACK")


class Run:
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
        self.in_flight = False  # rows recorded in sync."in_flight__<sync>" (see reverse_etl/in_flight.py)
        self.rejected_all: dict[str, str] = {}  # destination refusals of a replace-all run
        f_cols = [q("f_" + f) for f in cfg.mapping]
        self.f_list = ", ".join(f_cols)
        # the plan's values as the state columns store them (digests as bytes)
        digests = state_digest_fields(cfg)
        self.f_values = ", ".join(to_state(f"p.{q('f_' + f)}", f in digests) for f in cfg.mapping)

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
        execute(
            self.conn,
            f"""INSERT INTO {SCHEMA}.sync_rejections
            SELECT $1, $2, __pk, __op, 'validation', __reject, $3, NULL FROM {PLAN} WHERE __reject IS NOT NULL""",
            args,
        )
        execute(
            self.conn,
            f"""INSERT INTO {SCHEMA}.sync_rejections
            SELECT $1, $2, __pk, 'key', 'validation', reason, $3, NULL FROM __sen_badpk""",
            args,
        )

    def record_dry_run(self) -> None:
        execute(
            self.conn,
            f"""INSERT INTO {SCHEMA}.dry_run_plans
            SELECT ?, ?, __pk, CASE WHEN __group = 'skip' THEN __op || ' (state only)' ELSE __op END, __reject
            FROM {PLAN}""",
            [self.result.run_id, self.cfg.name],
        )

    def commit_skipped(self) -> None:
        """State-only changes that send nothing (left the audience in upsert mode, changes in insert mode...)."""
        with Tx(self.conn) as c:
            execute(
                c,
                f"DELETE FROM {self.state} WHERE __pk IN "
                f"(SELECT __pk FROM {PLAN} WHERE __group = 'skip' AND __op = 'remove')",
            )
            skipped = f"FROM {PLAN} p WHERE p.__group = 'skip' AND p.__op = 'change'"
            execute(c, f"DELETE FROM {self.state} WHERE __pk IN (SELECT p.__pk {skipped})")
            execute(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self.f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash, p.__prev_created, $now, $run, {self.f_values}
                {skipped}""",
                {"now": self.now, "run": self.result.run_id},
            )

    def record_destination_rejections(self, group: str, indexes: list[int], rejected: dict[str, str]) -> None:
        if not rejected:
            return
        self.result.rejected += len(rejected)
        pks, reasons = list(rejected), [redact(v) for v in rejected.values()]
        execute(
            self.conn,
            f"""INSERT INTO {SCHEMA}.sync_rejections
            SELECT $run, $name, p.__pk, p.__op, 'destination', r.reason, $now, NULL
            FROM (SELECT unnest($pks) AS pk, unnest($reasons) AS reason) r
            JOIN {PLAN} p ON p.__pk = r.pk AND p.__group = $group AND {IN_BATCHES}""",
            {
                "run": self.result.run_id,
                "name": self.cfg.name,
                "now": self.now,
                "pks": pks,
                "reasons": reasons,
                "group": group,
                **batch_params(indexes),
            },
        )

    def commit_batch(
        self, group: str, index: int, outcome: BatchOutcome, ops: dict[str, int] | None = None
    ) -> None:
        """Record what the destination acknowledged for one batch, in one transaction."""
        with Tx(self.conn):
            self.apply_batches(group, [index], outcome, ops)

    def apply_batches(
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
            **batch_params(indexes),
        }
        in_batch = (
            f"p.__group = $group AND {IN_BATCHES} AND p.__reject IS NULL "
            "AND NOT list_contains($rejected, p.__pk)"
        )
        c = self.conn
        self.record_destination_rejections(group, indexes, outcome.rejected)
        if self.in_flight:
            in_flight.settle(c, self.cfg, group, indexes)
        if group == "remove":
            if ops.get("remove"):
                # by the superseded row's 64-bit hash (it covers the key): an integer column, not the
                # million text keys. Only a hash collision could delete another row: then it is resent.
                execute(
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
            execute(
                c,
                f"DELETE FROM {self.state} WHERE __row_hash IN "
                f"(SELECT p.__prev_hash FROM {PLAN} p WHERE {in_batch} AND p.__op = 'change')",
                params,
            )
        written = [op for op in ("add", "change") if ops.get(op)]
        if written:
            # one insert for the new and the changed rows (a changed row keeps its created flag)
            execute(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self.f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash,
                       CASE WHEN p.__op = 'change' THEN coalesce(p.__prev_created, {created_expr})
                            ELSE {created_expr} END,
                       $now, $run, {self.f_values}
                FROM {PLAN} p {created_join}
                WHERE {in_batch} AND p.__op IN ({", ".join(f"'{op}'" for op in written)})""",
                params,
            )
        if ops.get("add") and self.cfg.ledger_channel is not None:
            self.ledger_from_plan(f"{in_batch} AND p.__op = 'add'", params, delivery="acknowledged")

    def take_back(self, group: str, late: BatchOutcome) -> None:
        """Rows acknowledged, then reported failed by the destination once it processed them: recorded as
        rejections and taken back out of state (an addition is resent by the next run; a removal that did
        not happen keeps its state row, under a hash that makes the next run look at it again)."""
        self.result.unattributed_invalid += late.unattributed_invalid
        if not late.rejected:
            return
        self.result.rejected += len(late.rejected)
        params = {
            "run": self.result.run_id,
            "name": self.cfg.name,
            "now": self.now,
            "group": group,
            "pks": list(late.rejected),
            "reasons": [redact(v) for v in late.rejected.values()],
        }
        failed = "(SELECT unnest($pks) AS pk, unnest($reasons) AS reason) r"
        with Tx(self.conn) as c:
            execute(
                c,
                f"""INSERT INTO {SCHEMA}.sync_rejections
                SELECT $run, $name, p.__pk, p.__op, 'destination', r.reason, $now, NULL
                FROM {failed} JOIN {PLAN} p ON p.__pk = r.pk AND p.__group = $group AND p.__batch IS NOT NULL""",
                params,
            )
            if group == "add":
                execute(
                    c, f"DELETE FROM {self.state} WHERE list_contains($pks, __pk) AND __run_id = $run", params
                )
                return
            execute(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self.f_list})
                SELECT p.__pk, NULL, hash(p.__prev_hash, '{in_flight.DIRTY}'), p.__prev_created, $now, $run,
                       {self.f_values}
                FROM {PLAN} p WHERE p.__group = 'remove' AND p.__op = 'remove' AND list_contains($pks, p.__pk)""",
                params,
            )

    def commit_replace(self, rejected: dict[str, str]) -> None:
        with Tx(self.conn) as c:
            if self.in_flight:
                in_flight.settle(c, self.cfg, "add", None)
            execute(c, f"DELETE FROM {self.state}")
            execute(
                c,
                f"""INSERT INTO {self.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self.f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash, NULL, $now, $run, {self.f_values}
                FROM {PLAN} p WHERE p.__group = 'add' AND p.__reject IS NULL
                  AND NOT list_contains($rejected, p.__pk)""",
                {"now": self.now, "run": self.result.run_id, "rejected": list(rejected) or [""]},
            )

    def ledger_from_plan(self, where: str, params: dict[str, Any], *, delivery: str) -> None:
        """Contacts caused by acknowledged adds (a list or tool that messages new members)."""
        execute(
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
                "sent_at": self.sent_now(),
                "delivery": delivery,
            },
        )

    def sent_now(self) -> datetime:
        """A fixed reference time (tests, CDP_AS_OF replays) as is; otherwise the real send time."""
        return self.now if self.fixed_clock else datetime.now(UTC).replace(tzinfo=None)

    # ------------------------------------------------------------------ after sending
    def resolve_earlier_rejections(self) -> None:
        """Mark earlier rejections as resolved once their row made it (added/changed now, or removed)."""
        execute(
            self.conn,
            f"""UPDATE {SCHEMA}.sync_rejections SET resolved_run_id = $run
            WHERE sync_name = $name AND resolved_run_id IS NULL AND run_id <> $run AND (
                (operation IN ('remove') AND primary_key NOT IN (SELECT __pk FROM {self.state}))
                OR (operation NOT IN ('remove', 'remove_old')
                    AND primary_key IN (SELECT __pk FROM {self.state} WHERE __run_id = $run)))""",
            {"run": self.result.run_id, "name": self.cfg.name},
        )
