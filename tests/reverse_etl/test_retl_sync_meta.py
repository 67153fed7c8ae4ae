"""The sync engine against the Meta stand-in: diffs, modes, faults, rejections, dry runs."""

from __future__ import annotations

import hashlib

import duckdb
import pytest
from retl_helpers import make_audience

from reverse_etl.engine import SyncHooks, run_sync
from reverse_etl.errors import SyncRunError
from reverse_etl.testing.server import Fault
from reverse_etl.testing.standins import MetaStandin


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def expected_emails(conn: duckdb.DuckDBPyConnection, table: str = "audience_test") -> set[str]:
    return {h(e.strip().lower()) for (e,) in conn.execute(f"SELECT email FROM {table}").fetchall()}


def test_first_sync_sends_everyone_hashed(warehouse, meta: MetaStandin, meta_sync) -> None:
    make_audience(warehouse, 120)
    result = run_sync(warehouse, meta_sync())
    assert (result.status, result.added, result.sent_rows, result.rejected) == ("success", 120, 120, 0)
    assert meta.members("EMAIL") == expected_emails(warehouse)
    # national-format phones went through phonenumbers: 0912000000 -> 84912000000 (no '+', no leading 0)
    assert h("84912000000") in meta.members("PHONE")
    assert h("nguyễn") in meta.members("FN")
    assert result.requests == 3  # 120 rows in batches of 50
    row = warehouse.execute(
        "SELECT status, added, changed, removed, rejected, sent_rows FROM sync.sync_runs WHERE run_id = ?",
        [result.run_id],
    ).fetchone()
    assert row == ("success", 120, 0, 0, 0, 120)


def test_resync_without_change_sends_nothing(warehouse, meta: MetaStandin, meta_sync) -> None:
    make_audience(warehouse, 80)
    run_sync(warehouse, meta_sync())
    before = len(meta.log)
    result = run_sync(warehouse, meta_sync())
    assert (result.added, result.changed, result.removed, result.unchanged) == (0, 0, 0, 80)
    assert result.sent_rows == 0 and result.requests == 0
    assert len(meta.log) == before


@pytest.mark.parametrize("source", ["table", "view"])
def test_one_percent_change_sends_only_changed_rows(
    warehouse, meta: MetaStandin, meta_sync, source: str
) -> None:
    # tables and views take the same diff (a join on the row hash carrying the source's columns)
    make_audience(warehouse, 1000)
    model = "audience_test"
    if source == "view":
        warehouse.execute("CREATE VIEW audience_view AS SELECT * FROM audience_test")
        model = "audience_view"
    run_sync(warehouse, meta_sync(model=model, destination={"batch_size": 5000}))
    warehouse.execute(
        "UPDATE audience_test SET email = 'changed.' || person_id || '@example.com' WHERE person_id <= 'p000004'"
    )
    warehouse.execute("DELETE FROM audience_test WHERE person_id BETWEEN 'p000500' AND 'p000502'")
    make_audience(warehouse, 2, table="newcomers", start=5000)
    warehouse.execute("INSERT INTO audience_test SELECT * FROM newcomers")
    result = run_sync(warehouse, meta_sync(model=model, destination={"batch_size": 5000}))
    assert (result.added, result.changed, result.removed) == (2, 5, 3)
    # 3 removed + 5 old versions out, 2 added + 5 new versions in; the removals first (they are sent
    # while the additions are still being planned, and the additions wait for their answer)
    assert result.sent_rows == 15
    assert [m for m, _, _ in meta.log[-2:]] == ["DELETE", "POST"]
    assert meta.members("EMAIL") == expected_emails(warehouse)
    # state holds exactly one row per member, with the hash of what was sent
    state = warehouse.execute(
        'SELECT count(*), count(DISTINCT __pk), count(DISTINCT f_EMAIL) FROM sync."state__meta_test"'
    ).fetchone()
    assert state == (999, 999, 999)
    # digests are stored as their 32 bytes
    sent = 'SELECT lower(hex(f_EMAIL)) FROM sync."state__meta_test"'
    assert {r[0] for r in warehouse.execute(sent).fetchall()} == expected_emails(warehouse)
    again = run_sync(warehouse, meta_sync(model=model, destination={"batch_size": 5000}))
    assert (again.added, again.changed, again.removed, again.sent_rows) == (0, 0, 0, 0)


def test_state_written_by_an_earlier_version_is_converted_in_place(
    warehouse, meta: MetaStandin, meta_sync
) -> None:
    """Earlier versions stored digests as hex text; the next run converts them and diffs as usual."""
    make_audience(warehouse, 30)
    run_sync(warehouse, meta_sync())
    state = 'sync."state__meta_test"'
    warehouse.execute(f"ALTER TABLE {state} ALTER COLUMN f_EMAIL TYPE VARCHAR USING lower(hex(f_EMAIL))")
    warehouse.execute("UPDATE audience_test SET email = 'moved@example.com' WHERE person_id = 'p000002'")
    result = run_sync(warehouse, meta_sync())
    assert (result.changed, result.sent_rows) == (1, 2)  # the old address out, the new one in
    kind = warehouse.execute(f"SELECT typeof(f_EMAIL) FROM {state} LIMIT 1").fetchone()[0]
    assert kind == "BLOB"
    assert meta.members("EMAIL") == expected_emails(warehouse)


def test_erasure_and_consent_withdrawal_remove_people_next_run(
    warehouse, meta: MetaStandin, meta_sync
) -> None:
    make_audience(warehouse, 30)
    run_sync(warehouse, meta_sync())
    erased = warehouse.execute(
        "SELECT email FROM audience_test WHERE person_id IN ('p000003', 'p000007')"
    ).fetchall()
    # the audience model drops erased / unconsented people; the sync must take them out of Meta
    warehouse.execute("DELETE FROM audience_test WHERE person_id IN ('p000003', 'p000007')")
    result = run_sync(warehouse, meta_sync())
    assert result.removed == 2
    members = meta.members("EMAIL")
    assert not {h(e.lower()) for (e,) in erased} & members
    assert members == expected_emails(warehouse)
    state = warehouse.execute(
        "SELECT count(*) FROM sync.\"state__meta_test\" WHERE __pk IN ('p000003', 'p000007')"
    )
    assert state.fetchone()[0] == 0  # their identifiers are gone from sync state too


def test_dry_run_records_plan_and_sends_nothing(warehouse, meta: MetaStandin, meta_sync) -> None:
    make_audience(warehouse, 10)
    result = run_sync(warehouse, meta_sync(), dry_run=True)
    assert result.dry_run and result.added == 10 and result.sent_rows == 0
    assert meta.log == []
    planned = warehouse.execute(
        "SELECT operation, count(*) FROM sync.dry_run_plans WHERE run_id = ? GROUP BY 1", [result.run_id]
    ).fetchall()
    assert planned == [("add", 10)]
    # nothing was committed: the real run still sends everyone
    assert run_sync(warehouse, meta_sync()).sent_rows == 10


def test_invalid_identifiers_are_rejected_before_sending_and_retried(
    warehouse, meta: MetaStandin, meta_sync
) -> None:
    make_audience(warehouse, 5)
    warehouse.execute(
        "UPDATE audience_test SET email = 'not-an-email', phone = '12' WHERE person_id = 'p000002'"
    )
    warehouse.execute(
        "INSERT INTO audience_test SELECT * REPLACE ('p000001' AS person_id) FROM audience_test WHERE person_id = 'p000001'"
    )
    result = run_sync(warehouse, meta_sync())
    assert result.status == "success" and result.sent_rows == 3
    rejections = dict(
        warehouse.execute(
            "SELECT primary_key, reason FROM sync.sync_rejections WHERE run_id = ? ORDER BY 1",
            [result.run_id],
        ).fetchall()
    )
    assert rejections["p000002"] == "no valid identifier: EMAIL invalid, PHONE invalid"
    assert rejections["p000001"] == "duplicate primary key (2 rows)"
    # once fixed, the next run sends the row and marks the old rejection resolved
    warehouse.execute("UPDATE audience_test SET email = 'fixed@example.com' WHERE person_id = 'p000002'")
    again = run_sync(warehouse, meta_sync())
    assert h("fixed@example.com") in meta.members("EMAIL")
    resolved = warehouse.execute(
        "SELECT resolved_run_id FROM sync.sync_rejections WHERE primary_key = 'p000002' AND run_id = ?",
        [result.run_id],
    ).fetchone()[0]
    assert resolved == again.run_id


def test_destination_refusal_is_recorded_per_row(warehouse, meta: MetaStandin, meta_sync) -> None:
    make_audience(warehouse, 20)
    bad = h("user.4@example.com")
    meta.refuse[bad] = "Invalid hashed email"
    result = run_sync(warehouse, meta_sync())
    assert result.status == "success"
    row = warehouse.execute(
        "SELECT primary_key, stage, reason FROM sync.sync_rejections WHERE run_id = ?", [result.run_id]
    ).fetchone()
    assert row == ("p000004", "destination", "meta: invalid entry (Invalid hashed email)")
    assert len(meta.members("EMAIL")) == 19
    # not committed: the next run retries exactly that row
    meta.refuse.clear()
    again = run_sync(warehouse, meta_sync())
    assert again.sent_rows == 1 and bad in meta.members("EMAIL")


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status_code(429, retry_after=0.05, count=2),
        MetaStandin.throttle(4),
        MetaStandin.throttle(17),
        MetaStandin.throttle(80003, count=2),
        Fault.status_code(400, body={"error": {"code": 2, "message": "Service temporarily unavailable"}}),
        Fault.status_code(500),
        Fault.status_code(503, count=3),
        Fault.timeout(0.6),
        Fault.drop_after(count=2),
        Fault.drop_before(),
    ],
    ids=[
        "429",
        "code4",
        "code17",
        "code80003",
        "code2",
        "500",
        "503",
        "timeout",
        "drop_after",
        "drop_before",
    ],
)
def test_faults_are_retried_to_the_right_final_state(
    warehouse, meta: MetaStandin, meta_sync, fault: Fault
) -> None:
    make_audience(warehouse, 100)
    run_sync(warehouse, meta_sync())
    warehouse.execute("DELETE FROM audience_test WHERE person_id < 'p000010'")
    make_audience(warehouse, 60, table="newcomers", start=100)
    warehouse.execute("INSERT INTO audience_test SELECT * FROM newcomers")
    meta.inject(fault)
    result = run_sync(warehouse, meta_sync(destination={"timeout_s": 0.3}))
    assert result.status == "success"
    assert result.retries >= 1
    assert meta.pending_faults() == 0
    assert meta.members("EMAIL") == expected_emails(warehouse)
    assert run_sync(warehouse, meta_sync()).sent_rows == 0  # nothing left over


def test_retry_after_is_honoured(warehouse, meta: MetaStandin, meta_sync) -> None:
    import time

    make_audience(warehouse, 10)
    meta.inject(Fault.status_code(429, retry_after=0.4))
    start = time.monotonic()
    run_sync(warehouse, meta_sync())
    assert time.monotonic() - start >= 0.4


def test_fatal_error_fails_run_but_keeps_acknowledged_batches(
    warehouse, meta: MetaStandin, meta_sync
) -> None:
    make_audience(warehouse, 150)
    # batches 1-2 succeed, batch 3 meets a bad-token error that no retry fixes
    meta.inject(
        Fault.hook(lambda req: None, count=2),  # two clean requests first
        Fault.status_code(400, body={"error": {"code": 190, "message": "bad token"}}),
    )
    with pytest.raises(SyncRunError, match="meta error code 190"):
        run_sync(warehouse, meta_sync())
    run = warehouse.execute("SELECT status, error FROM sync.sync_runs").fetchone()
    assert run[0] == "failed" and "190" in run[1]
    assert warehouse.execute('SELECT count(*) FROM sync."state__meta_test"').fetchone()[0] == 100
    result = run_sync(warehouse, meta_sync())
    assert result.sent_rows == 50
    assert meta.members("EMAIL") == expected_emails(warehouse)


@pytest.mark.parametrize("commit_every", [1, 10])
def test_crash_between_send_and_commit_then_rerun(
    warehouse, meta: MetaStandin, meta_sync, commit_every
) -> None:
    make_audience(warehouse, 200)

    class Crash(Exception):
        pass

    def crash(group: str, index: int) -> None:
        if index == 2:
            raise Crash("simulated crash after the destination applied batch 3")

    cfg = meta_sync(destination={"commit_every_batches": commit_every, "max_in_flight": 1})
    with pytest.raises(SyncRunError):
        run_sync(warehouse, cfg, hooks=SyncHooks(before_commit=crash))
    committed = warehouse.execute('SELECT count(*) FROM sync."state__meta_test"').fetchone()[0]
    # batch by batch: batches 1-2 are committed; grouped: the whole group's transaction rolled back
    assert committed == (100 if commit_every == 1 else 0)
    result = run_sync(warehouse, cfg)
    assert result.sent_rows == 200 - committed  # unacknowledged batches again (harmless: a set)
    assert meta.members("EMAIL") == expected_emails(warehouse)


def test_state_written_ahead_is_kept_only_when_the_destination_accepts_every_row(
    warehouse, meta: MetaStandin, meta_sync
) -> None:
    """A run whose last group is one batch writes that batch's state while the request is in flight; a
    failed request, a crash before the commit or a refused row must leave no trace of it."""
    make_audience(warehouse, 20)
    state = 'SELECT count(*) FROM sync."state__meta_test"'
    meta.inject(Fault.status_code(400, body={"error": {"code": 190, "message": "bad token"}}))
    with pytest.raises(SyncRunError):
        run_sync(warehouse, meta_sync())
    assert warehouse.execute(state).fetchone()[0] == 0

    def crash(group: str, index: int) -> None:
        raise RuntimeError("simulated crash after the answer, before the commit")

    with pytest.raises(SyncRunError):
        run_sync(warehouse, meta_sync(), hooks=SyncHooks(before_commit=crash))
    assert warehouse.execute(state).fetchone()[0] == 0

    meta.refuse[h("user.7@example.com")] = "Invalid hashed email"
    result = run_sync(warehouse, meta_sync())
    assert (result.status, result.sent_rows, result.rejected) == ("success", 20, 1)
    # 19 rows written by this run; the refused one keeps the row the crashed run left in flight (Meta
    # accepted it then, so it stays in state as possibly delivered and is removed if the person leaves)
    this_run = f"{state} WHERE __run_id = '{result.run_id}'"
    assert warehouse.execute(this_run).fetchone()[0] == 19
    assert warehouse.execute(state).fetchone()[0] == 20
    meta.refuse.clear()
    assert run_sync(warehouse, meta_sync()).sent_rows == 1
    assert warehouse.execute(state).fetchone()[0] == 20
    assert meta.members("EMAIL") == expected_emails(warehouse)


def test_replace_mode_uses_one_session(warehouse, meta: MetaStandin, meta_sync) -> None:
    make_audience(warehouse, 120)
    meta.seed("6100000000001", "EMAIL", {h("someone.else@example.com")})
    result = run_sync(warehouse, meta_sync(mode="replace"))
    assert result.sent_rows == 120
    assert [p for _, p, _ in meta.log] == ["/v27.0/6100000000001/usersreplace"] * 3
    assert meta.members("EMAIL") == expected_emails(warehouse)  # replace-all drops the outsider
    assert run_sync(warehouse, meta_sync(mode="replace")).requests == 0
    warehouse.execute("DELETE FROM audience_test WHERE person_id = 'p000001'")
    assert run_sync(warehouse, meta_sync(mode="replace")).sent_rows == 119
    assert meta.members("EMAIL") == expected_emails(warehouse)


def test_upsert_mode_never_removes(warehouse, meta: MetaStandin, meta_sync) -> None:
    make_audience(warehouse, 10)
    run_sync(warehouse, meta_sync(mode="upsert"))
    warehouse.execute("DELETE FROM audience_test WHERE person_id = 'p000001'")
    result = run_sync(warehouse, meta_sync(mode="upsert"))
    assert result.removed == 1 and result.sent_rows == 0
    assert len(meta.members("EMAIL")) == 10


def test_duplicated_keys_are_refused_only_where_they_would_be_sent(
    warehouse, meta: MetaStandin, meta_sync
) -> None:
    make_audience(warehouse, 5)
    run_sync(warehouse, meta_sync())
    dup = "INSERT INTO audience_test SELECT * REPLACE ({email} AS email) FROM audience_test WHERE person_id = 'p000003'"
    warehouse.execute(dup.format(email="email"))  # an identical copy of an unchanged row: harmless
    quiet = run_sync(warehouse, meta_sync())
    assert (quiet.rejected, quiet.sent_rows, quiet.removed) == (0, 0, 0)
    warehouse.execute(
        "DELETE FROM audience_test WHERE person_id = 'p000003' AND rowid = (SELECT max(rowid) FROM audience_test)"
    )
    warehouse.execute(dup.format(email="'other@example.com'"))  # two different versions of one person
    loud = run_sync(warehouse, meta_sync())
    assert (loud.rejected, loud.sent_rows) == (2, 0)  # both rows of the key
    assert h("user.3@example.com") in meta.members("EMAIL")  # the last good version stays at the destination
    assert h("other@example.com") not in meta.members("EMAIL")


def test_meta_mirror_removes_only_what_it_created(warehouse, meta: MetaStandin, meta_sync) -> None:
    # another sync already keeps p000001..p000003 in the same audience
    make_audience(warehouse, 4, table="audience_other", start=1)
    other = meta_sync(name="meta_other", model="audience_other")
    run_sync(warehouse, other)
    make_audience(warehouse, 10)
    mirror = meta_sync(name="meta_mirror", mode="mirror")
    run_sync(warehouse, mirror)
    created = dict(
        warehouse.execute('SELECT __pk, __created_by_sync FROM sync."state__meta_mirror"').fetchall()
    )
    assert [pk for pk, c in sorted(created.items()) if not c] == ["p000001", "p000002", "p000003", "p000004"]

    # everyone leaves the mirror's audience: only what it created is taken out of the Meta audience
    warehouse.execute("DELETE FROM audience_test WHERE person_id <> 'p000000'")
    warehouse.execute("UPDATE audience_test SET email = 'moved.0@example.com'")  # a changed identifier
    result = run_sync(warehouse, mirror)
    assert result.status == "success" and result.removed == 9
    assert meta.members("EMAIL") == {h(f"user.{i}@example.com") for i in range(1, 5)} | {
        h("moved.0@example.com")
    }
    # the other sync's members are still its own to remove
    warehouse.execute("DELETE FROM audience_other")
    run_sync(warehouse, other)
    assert meta.members("EMAIL") == {h("moved.0@example.com")}


def test_meta_mirror_never_removes_an_identifier_another_sync_now_holds(
    warehouse, meta: MetaStandin, meta_sync
) -> None:
    make_audience(warehouse, 3)
    mirror = meta_sync(name="meta_mirror", mode="mirror")
    run_sync(warehouse, mirror)  # created all three
    make_audience(warehouse, 1, table="audience_other", start=2)
    run_sync(warehouse, meta_sync(name="meta_other", model="audience_other"))  # p000002 added again later
    warehouse.execute("DELETE FROM audience_test")
    assert run_sync(warehouse, mirror).removed == 3
    assert meta.members("EMAIL") == {h("user.2@example.com")}
