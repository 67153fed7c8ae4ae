"""Message destinations (FCM, Zalo): the message outbox and the contact ledger it feeds.

Messages are not idempotent: an intent is written to sync.message_outbox and committed before its request
leaves. An intent whose outcome was lost is never resent under at-most-once (the default): it is settled
as sent-unconfirmed and counted in the contact ledger, which frequency caps read. Under at-least-once it
is resent with the same message key (Zalo tracking_id, FCM `sen_message_key`).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reverse_etl.destinations.base import Batch, MessageDestination, MessageOutcome
from reverse_etl.errors import DestinationError, RetryableError
from reverse_etl.plan import PLAN, PlanSummary
from reverse_etl.run_state import Run, SyncHooks, Tx, execute
from reverse_etl.secrets import redact
from reverse_etl.state_schema import SCHEMA


class MessageSender:
    """Sends one run's messages through a message destination."""

    def __init__(self, run: Run, client: MessageDestination, hooks: SyncHooks | None) -> None:
        self.run = run
        self.client = client
        self.hooks = hooks

    def send(self, summary: PlanSummary) -> None:
        """Send the planned additions batch by batch: intents committed before the requests leave,
        outcomes (state, ledger, rejections, dead tokens) committed once the batch is answered."""
        client, hooks = self.client, self.hooks
        reuse = self._recover_intents(client)
        n = (summary.batches or {}).get("add", 0)
        total = (summary.to_send or {}).get("add", 0)
        workers = max(1, min(self.run.cfg.destination.effective_batch_size(), 64))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sen-{self.run.cfg.name}") as pool:
            for index in range(n):
                batch = Batch(self.run.conn, PLAN, "add", index, n, total, self.run.cfg.fields, "send")
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
        # send_once: the key is an idempotency key, so its message key is too (the same Zalo tracking_id / FCM
        # sen_message_key whichever run sends it); else one per run, as a person may be messaged again later.
        run = "" if self.run.cfg.send_once else self.run.result.run_id
        return hashlib.sha256(f"{self.run.cfg.name}\x1f{run}\x1f{pk}".encode()).hexdigest()[:32]

    def _recover_intents(self, client: MessageDestination) -> dict[str, str]:
        """Intents left 'pending' by an interrupted run. At-most-once: settle them as sent-unconfirmed
        (never resend). At-least-once: return their keys so the same message key is sent again."""
        outbox = f"{SCHEMA}.message_outbox"
        pending = execute(
            self.run.conn,
            f"SELECT primary_key, message_key FROM {outbox} WHERE sync_name = ? AND status = 'pending'",
            [self.run.cfg.name],
        ).fetchall()
        if not pending:
            return {}
        if client.delivery == "at_least_once":
            return {pk: key for pk, key in pending}
        keys = [k for _, k in pending]
        params = {"keys": keys, "now": self.run.now, "run": self.run.result.run_id, "name": self.run.cfg.name}
        with Tx(self.run.conn) as c:
            self._ledger_from_outbox("list_contains($keys, o.message_key)", params)
            execute(
                c,
                f"""INSERT INTO {self.run.state}
                    (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self.run.f_list})
                SELECT p.__pk, p.__person_id, p.__row_hash, NULL, $now, $run, {self.run.f_values}
                FROM {PLAN} p JOIN {outbox} o ON o.primary_key = p.__pk AND o.sync_name = $name
                WHERE list_contains($keys, o.message_key) AND p.__group = 'add' AND p.__op = 'add'""",
                params,
            )
            execute(
                c,
                f"""DELETE FROM {PLAN} WHERE __group = 'add' AND __pk IN
                (SELECT primary_key FROM {outbox} WHERE sync_name = $name AND list_contains($keys, message_key))""",
                params,
            )
            execute(
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
            "now": self.run.now,
            "run": self.run.result.run_id,
            "name": self.run.cfg.name,
        }
        with Tx(self.run.conn) as c:
            self._ledger_from_outbox("list_contains($keys, o.message_key)", params)
            execute(
                c,
                f"""UPDATE {SCHEMA}.message_outbox SET status = 'unknown', updated_at = $now,
                    detail = 'outcome lost; person left the audience before a resend'
                WHERE sync_name = $name AND list_contains($keys, message_key)""",
                params,
            )

    def _ledger_from_outbox(self, where: str, params: dict[str, Any]) -> None:
        dest = self.run.cfg.destination
        execute(
            self.run.conn,
            f"""INSERT INTO {SCHEMA}.contact_ledger
            SELECT o.person_id, '{self.run.cfg.ledger_channel}', $campaign, '{dest.type}', o.sync_name, o.created_at,
                   o.run_id, o.message_key, 'unconfirmed'
            FROM {SCHEMA}.message_outbox o WHERE o.sync_name = $name AND {where}""",
            {**params, "campaign": self.run.cfg.campaign},
        )

    def _record_intents(self, rows: list[dict[str, Any]], keys: dict[str, str]) -> None:
        """Written (and committed) before any request of the batch leaves this process."""
        pks = [r["__pk"] for r in rows]
        with Tx(self.run.conn) as c:
            execute(
                c,
                f"DELETE FROM {SCHEMA}.message_outbox WHERE sync_name = $name AND list_contains($keys, message_key)",
                {"name": self.run.cfg.name, "keys": [keys[p] for p in pks]},
            )
            execute(
                c,
                f"""INSERT INTO {SCHEMA}.message_outbox
                SELECT $name, k.key, k.pk, k.person, $run, 'pending', $now, $now, NULL, NULL
                FROM (SELECT unnest($keys) AS key, unnest($pks) AS pk, unnest($persons) AS person) k""",
                {
                    "name": self.run.cfg.name,
                    "run": self.run.result.run_id,
                    "now": self.run.now,
                    "keys": [keys[p] for p in pks],
                    "pks": pks,
                    "persons": [r["__person_id"] for r in rows],
                },
            )

    def _commit_messages(
        self, rows: list[dict[str, Any]], keys: dict[str, str], outcomes: list[MessageOutcome]
    ) -> None:
        dest = self.run.cfg.destination
        sent_now = self.run.sent_now()
        outcome_rows = [
            (keys[r["__pk"]], r["__pk"], o.status, o.message_id, o.reason and redact(o.reason))
            for r, o in zip(rows, outcomes, strict=True)
        ]
        delivered = [pk for _, pk, status, _, _ in outcome_rows if status in ("sent", "unknown")]
        with Tx(self.run.conn) as c:
            execute(
                c,
                f"""UPDATE {SCHEMA}.message_outbox SET status = o.status, updated_at = $now,
                    destination_message_id = o.msg_id, detail = o.detail
                FROM (SELECT unnest($keys) AS key, unnest($statuses) AS status, unnest($ids) AS msg_id,
                             unnest($details) AS detail) o
                WHERE message_outbox.sync_name = $name AND message_outbox.message_key = o.key""",
                {
                    "now": self.run.now,
                    "name": self.run.cfg.name,
                    "keys": [x[0] for x in outcome_rows],
                    "statuses": [x[2] for x in outcome_rows],
                    "ids": [x[3] for x in outcome_rows],
                    "details": [x[4] for x in outcome_rows],
                },
            )
            if delivered:
                execute(
                    c,
                    f"""INSERT INTO {self.run.state}
                        (__pk, __person_id, __row_hash, __created_by_sync, __synced_at, __run_id, {self.run.f_list})
                    SELECT p.__pk, p.__person_id, p.__row_hash, NULL, $now, $run, {self.run.f_values}
                    FROM {PLAN} p WHERE p.__group = 'add' AND list_contains($pks, p.__pk)""",
                    {"now": self.run.now, "run": self.run.result.run_id, "pks": delivered},
                )
                execute(
                    c,
                    f"""INSERT INTO {SCHEMA}.contact_ledger
                    SELECT o.person_id, '{self.run.cfg.ledger_channel}', $campaign, '{dest.type}', $name, $sent_at, $run,
                           o.message_key, CASE o.status WHEN 'sent' THEN 'acknowledged' ELSE 'unconfirmed' END
                    FROM {SCHEMA}.message_outbox o
                    WHERE o.sync_name = $name AND list_contains($keys, o.message_key)
                      AND o.status IN ('sent', 'unknown')""",
                    {
                        "campaign": self.run.cfg.campaign,
                        "name": self.run.cfg.name,
                        "sent_at": sent_now,
                        "run": self.run.result.run_id,
                        "keys": [keys[p] for p in delivered],
                    },
                )
            refused = [
                (pk, reason or status)
                for _, pk, status, _, reason in outcome_rows
                if status in ("rejected", "failed")
            ]
            if refused:
                self.run.result.rejected += len(refused)
                execute(
                    c,
                    f"""INSERT INTO {SCHEMA}.sync_rejections
                    SELECT $run, $name, unnest($pks), 'message', 'destination', unnest($reasons), $now, NULL""",
                    {
                        "run": self.run.result.run_id,
                        "name": self.run.cfg.name,
                        "now": self.run.now,
                        "pks": [p for p, _ in refused],
                        "reasons": [r for _, r in refused],
                    },
                )
            dead = [o.dead_token for o in outcomes if o.dead_token]
            if dead:
                execute(
                    c,
                    f"INSERT INTO {SCHEMA}.dead_push_tokens SELECT unnest($tokens), $now, $name",
                    {"tokens": dead, "now": self.run.now, "name": self.run.cfg.name},
                )
        self.run.result.sent_rows += sum(1 for o in outcomes if o.status in ("sent", "unknown"))
