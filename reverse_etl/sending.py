"""Batches in flight: sending a batch destination's removals and additions, committing what each
acknowledgement covers, and writing a file destination's file.

Batch destinations are idempotent (set membership, upserts), so a batch whose acknowledgement was not
committed is simply resent by the next run (at-least-once).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from reverse_etl import in_flight
from reverse_etl.destinations.base import Batch, BatchDestination, BatchOutcome, FileDestination
from reverse_etl.errors import AmbiguousDeliveryError, DestinationError
from reverse_etl.plan import PLAN, PlanSummary, q
from reverse_etl.run_state import Run, SyncHooks, Tx, execute
from reverse_etl.secrets import get_logger

log = get_logger("reverse_etl.engine")
COMMIT_INTERVAL_S = 5.0  # acknowledged batches are committed at least this often


def send_batches(
    run: Run,
    client: BatchDestination,
    summary: PlanSummary,
    hooks: SyncHooks | None,
    removals: GroupSender | None = None,
) -> None:
    """Send every batch, removals first (so a shared identifier ends up present).

    The two groups overlap where order allows: the removals may already be in flight (`removals`,
    started while the additions were planned), the additions' first payload is built while the last
    removal request is in flight, and the removals' acknowledgements are written while the first
    addition request is. Additions are still sent only once every removal was acknowledged."""
    replace = run.cfg.mode == "replace"
    rejected_all = run.rejected_all
    senders = [
        removals
        if group == "remove" and removals is not None
        else GroupSender(run, client, summary, group, hooks, rejected_all)
        for group in ("remove", "add")
        if (summary.batches or {}).get(group)
    ]
    previous_flush: Callable[[], None] | None = None
    for i, sender in enumerate(senders):
        following = senders[i + 1] if i + 1 < len(senders) else None
        sender.run(following, previous_flush)
        previous_flush = sender.flush if following is not None else None
    if replace and (summary.batches or {}).get("add"):
        # every ingest acknowledged (and, for Google, its request status read) before removeAll: see
        # GroupSender.run, whose end_group() does both in that order
        run.commit_replace(rejected_all)
    elif replace and summary.removed and not summary.source_rows:
        # the audience is now empty: nothing to send, but the destination must be emptied
        if client.replace_with_nothing():
            run.commit_replace({})
        else:
            log.warning("sync %s: audience is empty; %s cannot replace with nothing", run.cfg.name, client)


def write_file(run: Run, client: FileDestination) -> None:
    """A file destination: the run's added, changed and removed rows in one file, then their state."""
    cols = ", ".join(f"p.{q('f_' + f)} AS {q(f)}" for f in run.cfg.mapping)
    select = (
        f"SELECT CASE WHEN p.__group = 'remove' THEN 'remove' ELSE p.__op END AS _sen_op, "
        f"p.__pk AS {q(run.cfg.primary_key)}, {cols} FROM {PLAN} p "
        f"WHERE p.__group IN ('add', 'remove') AND p.__reject IS NULL ORDER BY p.__group DESC, p.__pk"
    )
    n = execute(run.conn, f"SELECT count(*) FROM ({select})").fetchone()[0]
    if not n:
        return
    run.result.output_file = client.write(run.conn, select, run.result.run_id, None)
    run.result.sent_rows += int(n)
    for group in ("remove", "add"):
        run.commit_batch(group, 0, BatchOutcome())


def _as_expected(outcome: BatchOutcome, expected: BatchOutcome) -> bool:
    """Would the outcome write the same state as the expected one?"""
    return not outcome.rejected and not expected.rejected and outcome.created == expected.created


def abandon(senders: list[GroupSender]) -> None:
    """Of a failed run: wait for the requests in flight, commit nothing (see GroupSender.abandon)."""
    for sender in senders:
        sender.abandon()


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


class GroupSender:
    """Sends one group of batches (removals or additions) and commits the acknowledgements.

    Up to `lanes` batches are in flight: lane i sends batches i, i+lanes, ... in order in its own thread
    (and, for Meta, its own session) while this thread builds the next payloads in SQL. Acknowledged
    batches are committed together every `commit_every_batches` batches or COMMIT_INTERVAL_S seconds:
    fewer, larger transactions halve the cost of writing state. The group's rows were recorded in
    sync."in_flight__<sync>" before the first request (reverse_etl/in_flight.py), so a crash that loses
    uncommitted acknowledgements leaves them as possibly delivered: the next run resends or removes them.
    """

    def __init__(
        self,
        run: Run,
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
        self.refused: list[int] = []  # batches the destination definitely did not apply
        self.failure: BaseException | None = None
        self.last_flush = time.monotonic()
        self.sessions: list[Any] | None = None
        self.prefetched: tuple[Batch, Any] | None = None  # the first batch, built ahead by prefetch()
        self.executors: list[ThreadPoolExecutor] = []
        self.written_ahead: tuple[int, BatchOutcome] | None = None  # see _write_ahead()
        self.pending: deque[tuple[Batch, Any, Future]] = deque()
        self.next_index = 0
        # durably, before any request of the group: a crash after the destination applied a batch and
        # before its acknowledgement was committed then leaves a record the next run reconciles
        in_flight.record(run.conn, run.cfg, group, run.result.run_id)
        run.in_flight = True

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
        execute(self.run_.conn, "BEGIN TRANSACTION")
        try:
            self.run_.apply_batches(self.group, [batch.index], expected, ops)
        except BaseException:
            execute(self.run_.conn, "ROLLBACK")
            raise
        self.written_ahead = (batch.index, expected)

    def _drop_write_ahead(self) -> None:
        if self.written_ahead is not None:
            self.written_ahead = None
            execute(self.run_.conn, "ROLLBACK")

    def run(
        self, following: GroupSender | None = None, previous_flush: Callable[[], None] | None = None
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
        # an asynchronous destination's verdict on what it acknowledged (Google: request status)
        late = self.client.confirm(self.group)
        if late.rejected or late.unattributed_invalid:
            self.flush()  # the group's last acknowledgements first, then take the failed rows back out
            self.run_.take_back(self.group, late)
        self.client.end_group(self.group, self.op)

    def _settle(self, batch: Batch, prepared: Any, future: Future) -> None:
        try:
            answer = future.result()
        except BaseException as exc:  # remember the first failure, still commit the other batches
            self.failure = self.failure or exc
            if isinstance(exc, DestinationError) and not isinstance(exc, AmbiguousDeliveryError):
                self.refused.append(batch.index)  # an answer refusing the request: nothing was applied
            return
        outcome = self.client.finish(batch, prepared, answer)
        result = self.run_.result
        result.sent_rows += outcome.sent_rows
        result.unattributed_invalid += outcome.unattributed_invalid
        self.acked.append((batch, outcome))
        if len(self.acked) >= self.commit_every or time.monotonic() - self.last_flush >= COMMIT_INTERVAL_S:
            self.flush()

    def _settle_refused(self) -> None:
        """Refused batches are not in flight any more (ambiguous failures stay: possibly delivered)."""
        if self.refused:
            in_flight.settle(self.run_.conn, self.run_.cfg, self.group, self.refused)
            self.refused = []

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
                    execute(run.conn, "ROLLBACK")
                    raise
                execute(run.conn, "COMMIT")
                if hooks and hooks.after_commit:
                    hooks.after_commit(self.group, index)
                self.acked.clear()
                self._settle_refused()
                return
            self._drop_write_ahead()
        self._settle_refused()
        if not self.acked:
            return
        with Tx(run.conn):
            if hooks and hooks.before_commit:
                for batch, _ in self.acked:
                    hooks.before_commit(batch.group, batch.index)
            indexes = [batch.index for batch, _ in self.acked]
            merged = _merge_outcomes([outcome for _, outcome in self.acked])
            if self.replace:
                self.rejected_all.update(merged.rejected)
                run.record_destination_rejections(self.group, indexes, merged.rejected)
            else:
                ops: dict[str, int] = {}
                for index in indexes:
                    for op, n in (self.summary.ops or {}).get((self.group, index), {}).items():
                        ops[op] = ops.get(op, 0) + n
                run.apply_batches(self.group, indexes, merged, ops)
        if hooks and hooks.after_commit:
            for batch, _ in self.acked:
                hooks.after_commit(batch.group, batch.index)
        self.acked.clear()
