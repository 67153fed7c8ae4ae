"""What was about to be sent, recorded durably before the request leaves, so a crash at any instant
leaves state exact.

A batch destination may apply a request whose acknowledgement the process never committed (killed after
the answer, or before it; a failed run that dropped answers). Sending a batch again is harmless, but
*forgetting* it is not: a member added that way is absent from state, so when the person later leaves the
audience the diff never removes them. So each group's rows are written to the persistent table
`sync."in_flight__<sync>"` (committed) before its first request, deleted in the transaction that commits
their acknowledgement, and whatever is left when the next run starts is reconciled into state as
*possibly delivered*:

- a pending addition or change enters state with a row hash no source row has, so the diff either resends
  it (still in the audience: an idempotent upsert) or removes it (left the audience);
- a pending removal keeps its state row under such a hash: resent as a removal if still gone, as an upsert
  if the person came back;
- a pending replace marks every state row that way, so the next run replaces the whole audience again.

The reconciled additions are written to the contact ledger as `unconfirmed` (the list may have messaged
them). In `mirror` mode a reconciled addition's `created` flag is unknown (the destination's answer was
lost), so, as for any member the sync cannot prove it created, it is never deleted.
"""

from __future__ import annotations

from typing import Any

import duckdb

from reverse_etl.config import SyncConfig
from reverse_etl.plan import PLAN, q, state_digest_fields
from reverse_etl.state_schema import SCHEMA, state_columns, to_state

# mixed into a reconciled row's hash: no source row hashes to it, so the next diff looks at the row again
DIRTY = "sen:in-flight"


def in_flight_table(sync_name: str) -> str:
    return f'{SCHEMA}."in_flight__{sync_name}"'


def record(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, group: str, run_id: str) -> None:
    """Persist (autocommitted) every row of `group` that is about to be sent, before any request of it."""
    table = in_flight_table(cfg.name)
    cols = "__group, __batch, __op, __pk, __person_id, __row_hash, __prev_created, __prev_hash, " + ", ".join(
        q("f_" + f) for f in cfg.mapping
    )
    select = (
        f"SELECT {cols}, CAST($run AS VARCHAR) AS __sent_by FROM {PLAN} "
        "WHERE __group = $group AND __reject IS NULL AND __batch IS NOT NULL"
    )
    params = {"group": group, "run": run_id}
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} AS {select} LIMIT 0", params)
    conn.execute(f"INSERT INTO {table} BY NAME {select}", params)


def settle(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, group: str, indexes: list[int] | None) -> None:
    """Acknowledged batches are no longer in flight (called inside the commit's transaction);
    `indexes=None`: the whole group."""
    table = in_flight_table(cfg.name)
    if indexes is None:
        conn.execute(f"DELETE FROM {table} WHERE __group = ?", [group])
    else:
        conn.execute(f"DELETE FROM {table} WHERE __group = ? AND list_contains(?, __batch)", [group, indexes])


def finish(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> None:
    """A run that committed everything: drop the (empty) record."""
    table = in_flight_table(cfg.name)
    left = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if _exists(conn, cfg) else 0
    if not left:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _exists(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig) -> bool:
    return bool(state_columns(conn, in_flight_table(cfg.name)))


def reconcile(conn: duckdb.DuckDBPyConnection, cfg: SyncConfig, state: str, now: Any, sent_at: Any) -> int:
    """Fold what an earlier run left in flight into state as possibly delivered (see the module doc), under
    the run id that sent them; returns the number of rows reconciled. One transaction: a crash here leaves the record as it was."""
    table = in_flight_table(cfg.name)
    found = state_columns(conn, table)
    if not found:
        return 0
    digests = state_digest_fields(cfg)
    conn.execute("BEGIN TRANSACTION")
    try:
        n = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        if conn.execute(f"SELECT 1 FROM {table} WHERE __op = 'replace' LIMIT 1").fetchall():
            # a replace was under way: the destination holds some mix of the old and new audience
            conn.execute(f"UPDATE {state} SET __row_hash = hash(__row_hash, '{DIRTY}')")
        conn.execute(
            f"""UPDATE {state} SET __row_hash = hash(__row_hash, '{DIRTY}')
            WHERE __row_hash IN (SELECT __prev_hash FROM {table} WHERE __group = 'remove')"""
        )
        added = f"FROM {table} t WHERE t.__group = 'add'"
        conn.execute(f"DELETE FROM {state} WHERE __pk IN (SELECT t.__pk {added})")
        fields = list(cfg.mapping)
        values = ", ".join(
            to_state(f"t.{q('f_' + f)}", f in digests) if f"f_{f}" in found else "NULL" for f in fields
        )
        conn.execute(
            f"""INSERT INTO {state}
                (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id,
                 {", ".join(q("f_" + f) for f in fields)})
            SELECT t.__pk, t.__person_id, hash(t.__row_hash, '{DIRTY}'),
                   CASE WHEN t.__op = 'change' THEN t.__prev_created END, $now, t.__sent_by, {values}
            {added}""",
            {"now": now},
        )
        if cfg.ledger_channel is not None:
            conn.execute(
                f"""INSERT INTO {SCHEMA}.contact_ledger
                SELECT t.__person_id, $channel, $campaign, $dest, $name, $sent_at, t.__sent_by, NULL, 'unconfirmed'
                {added} AND t.__op = 'add'""",
                {
                    "channel": cfg.ledger_channel,
                    "campaign": cfg.campaign,
                    "dest": cfg.destination.type,
                    "name": cfg.name,
                    "sent_at": sent_at,
                },
            )
        conn.execute(f"DROP TABLE {table}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return n
