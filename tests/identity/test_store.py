"""The person map: written correctly when scan order differs from rowid order, updated in place on reruns."""

from __future__ import annotations

import logging

import duckdb
import pytest

from sen.identity import load_identity_config, resolve_identities
from tests.identity.conftest import day, events, person_map, write_graph


def test_map_is_keyed_by_identifier_key_so_a_rebuilt_graph_changes_nothing(
    conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    write_graph(conn, [[("customer_id", f"C{i}"), ("email", f"c{i}@shop.vn")] for i in range(50)])
    resolve_identities(conn, load_identity_config(), day(0))
    before = _full_map(conn)
    assert conn.sql("select count(*) from identity.persons").fetchall() == [(50,)]
    # A full refresh of the graph writes its rows in another order; the keys come from the registry.
    for name in ("int_identity_nodes", "int_identity_edges"):
        conn.execute(
            f"create table intermediate.{name}_copy as select * from intermediate.{name} order by random()"
        )
        conn.execute(f"drop table intermediate.{name}")
        conn.execute(f"alter table intermediate.{name}_copy rename to {name}")
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        run = resolve_identities(conn, load_identity_config(), day(1))
    assert "updated in place, 0 rows deleted, 0 inserted" in caplog.text
    assert _full_map(conn) == before
    assert events(conn, run.run_id) == []


def _full_map(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    return conn.sql(
        "select identifier_type, identifier_value, person_id, first_seen_at, last_seen_at, cut_reason "
        "from identity.identifier_person_map order by all"
    ).fetchall()


def _row_ids(conn: duckdb.DuckDBPyConnection) -> list[tuple[tuple[str, str], int]]:
    """(identifier, row id in identity.identifier_persons) of every mapped identifier."""
    rows = conn.sql(
        """select m.identifier_type, m.identifier_value, a.rowid
           from identity.identifier_person_map m join identity.identifier_persons a using (identifier_key)"""
    ).fetchall()
    return [((t, v), rid) for t, v, rid in rows]


def _rewritten_map(records, seen_at, extra_nodes=()) -> list[tuple]:
    """The map a first run would write for the final graph, with the ids the incremental runs gave."""
    fresh = duckdb.connect()
    try:
        write_graph(fresh, records, seen_at, extra_nodes)
        resolve_identities(fresh, load_identity_config(), day(9))
        return _full_map(fresh)
    finally:
        fresh.close()


def test_rerun_writes_only_changed_map_rows_and_ends_with_the_full_map(
    conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    people = [[("customer_id", f"C{i}"), ("email", f"c{i}@shop.vn")] for i in range(40)]
    write_graph(conn, people, [day(0)] * 40)
    resolve_identities(conn, load_identity_config(), day(0))
    rows_before = dict(_row_ids(conn))

    # One person seen again (last_seen moves), one identifier gone, one new identifier joining person 3.
    changed = [*people[:39], people[0], [("customer_id", "C3"), ("phone", "+84912000003")]]
    seen = [day(0)] * 39 + [day(5), day(5)]
    write_graph(conn, changed, seen)
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        resolve_identities(conn, load_identity_config(), day(5))
    # Deleted: C39 and c39 (gone). Inserted: the new phone. C0, c0 and C3 keep their rows: their person did
    # not change, and the map shows the dates of the graph (last seen now day 5).
    assert "updated in place, 2 rows deleted, 1 inserted" in caplog.text
    after = _full_map(conn)
    assert after == _rewritten_map(changed, seen)
    last_seen = conn.sql(
        "select last_seen_at from identity.identifier_person_map where identifier_value = 'C0'"
    ).fetchall()
    assert last_seen == [(day(5).replace(tzinfo=None),)]
    # Untouched rows were not rewritten: they keep their row ids.
    kept = {k: rid for k, rid in _row_ids(conn) if k[1] in ("C10", "c20@shop.vn")}
    assert kept == {k: rows_before[k] for k in kept} and len(kept) == 2


def test_rerun_on_unchanged_input_writes_no_map_row(
    conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    write_graph(conn, [[("customer_id", "C1"), ("email", "a@shop.vn")], [("anonymous_id", "a1")]])
    resolve_identities(conn, load_identity_config(), day(0))
    before = _full_map(conn)
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        resolve_identities(conn, load_identity_config(), day(1))
    assert "updated in place, 0 rows deleted, 0 inserted" in caplog.text
    assert _full_map(conn) == before


def test_large_change_rewrites_the_map(
    conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    write_graph(conn, [[("customer_id", f"C{i}")] for i in range(10)])
    resolve_identities(conn, load_identity_config(), day(0))
    records = [[("customer_id", f"C{i}"), ("email", f"c{i}@shop.vn")] for i in range(10)]
    write_graph(conn, records)
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        resolve_identities(conn, load_identity_config(), day(1))
    assert "identity map: rewritten" in caplog.text
    assert len(_full_map(conn)) == 20


def test_merge_and_blocked_identifier_update_the_map_in_place(
    conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    people = [[("customer_id", f"C{i}"), ("email", f"c{i}@shop.vn")] for i in range(40)]
    write_graph(conn, [*people, [("anonymous_id", "a1"), ("customer_id", "C5")]])
    resolve_identities(conn, load_identity_config(), day(0))
    before = person_map(conn)
    # C1 and C2 meet through a new phone (one id survives, the other is merged); a1 turns into junk.
    records = [
        *people,
        [("customer_id", "C1"), ("phone", "+84912000001")],
        [("customer_id", "C2"), ("phone", "+84912000001")],
    ]
    write_graph(conn, [*records, [("anonymous_id", "null"), ("customer_id", "C5")]], [day(0)] * 42 + [day(0)])
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        run = resolve_identities(conn, load_identity_config(), day(1))
    assert "updated in place" in caplog.text
    after = person_map(conn)
    two = {before[("customer_id", "C1")], before[("customer_id", "C2")]}
    joined = ("customer_id", "C1"), ("customer_id", "C2"), ("email", "c1@shop.vn"), ("email", "c2@shop.vn")
    survivors = {after[k] for k in [*joined, ("phone", "+84912000001")]}
    assert len(survivors) == 1 and survivors <= two
    (merged,) = two - survivors
    assert (merged, "merged", *survivors) in events(conn, run.run_id)
    # a1 became junk: no row; every other row is as it was.
    assert ("anonymous_id", "null") not in after and ("anonymous_id", "a1") not in after
    untouched = {k: v for k, v in before.items() if k not in joined and k != ("anonymous_id", "a1")}
    assert {k: v for k, v in after.items() if k in untouched} == untouched
    assert len(after) == len(before)  # + the phone, - a1


def test_map_of_an_older_layout_is_rewritten_and_keeps_the_ids(
    conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    write_graph(conn, [[("customer_id", "C1"), ("email", "a@shop.vn")]])
    conn.execute("create schema identity")
    conn.execute(
        "create table identity.identifier_person_map as select * from (values "
        "('customer_id', 'C1', 'p_old'), ('email', 'a@shop.vn', 'p_old')) v(identifier_type, identifier_value, person_id)"
    )
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        resolve_identities(conn, load_identity_config(), day(1))
    assert "identity map: rewritten" in caplog.text
    assert set(person_map(conn).values()) == {"p_old"}
    assert "cut_reason" in {c[0] for c in conn.sql("describe identity.identifier_person_map").fetchall()}
    assert conn.sql(
        "select table_type from information_schema.tables where table_name = 'identifier_person_map'"
    ).fetchall() == [("VIEW",)]


def _stale_persons(conn: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Rows of identity.persons that no identifier holds."""
    return conn.sql(
        """select person_id from identity.persons
           where person_key not in (select person_key from identity.identifier_persons) order by all"""
    ).fetchall()


@pytest.mark.parametrize("change", ["merge", "split", "erasure"])
def test_a_person_gone_in_place_leaves_persons_and_is_not_reported_again(
    conn: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture, change: str
) -> None:
    people = [[("customer_id", f"C{i}"), ("email", f"c{i}@shop.vn")] for i in range(40)]
    link = (
        [("customer_id", "C1"), ("phone", "+84912000001")],
        [("customer_id", "C2"), ("phone", "+84912000001")],
    )
    device = ("device_id", "d1")
    split_first = [*people, [("email", "c3@shop.vn"), device]]
    first = {"merge": people, "split": split_first, "erasure": people}[change]
    write_graph(conn, first)
    resolve_identities(conn, load_identity_config(), day(0))
    before = person_map(conn)
    # merge: C1 and C2 meet through a phone; split: the record linking d1 to C3 is gone; erasure: C4's records.
    second = {
        "merge": ([*people, *link], ()),
        "split": (people, [device]),
        "erasure": ([p for p in people if p[0] != ("customer_id", "C4")], ()),
    }[change]
    write_graph(conn, second[0], extra_nodes=second[1])
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        changed = resolve_identities(conn, load_identity_config(), day(1))
    assert "updated in place" in caplog.text
    assert changed.persons_merged + changed.persons_split + changed.persons_removed == 1
    assert _stale_persons(conn) == []
    after = person_map(conn)
    # Nothing changes on the next runs: no event, no stale person, no row written, ids kept.
    for at in (day(2), day(3)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
            again = resolve_identities(conn, load_identity_config(), at)
        assert events(conn, again.run_id) == []
        assert (again.persons_removed, again.persons_merged, again.persons_split) == (0, 0, 0)
        assert "updated in place, 0 rows deleted, 0 inserted" in caplog.text
        assert _stale_persons(conn) == []
        assert person_map(conn) == after
    # A later change is still written in place (the persons' keys have a gap now) and keeps the other ids.
    write_graph(conn, [*second[0], [("customer_id", "C7"), ("phone", "+84912000007")]], extra_nodes=second[1])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sen.identity.resolve"):
        later = resolve_identities(conn, load_identity_config(), day(4))
    assert "updated in place" in caplog.text
    assert events(conn, later.run_id) == []
    final = person_map(conn)
    assert final[("phone", "+84912000007")] == before[("customer_id", "C7")]
    assert {k: v for k, v in final.items() if k in after} == after
    assert _stale_persons(conn) == []
