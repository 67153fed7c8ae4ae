"""Person ids survive reruns, new identifiers, merges and splits; the history says what happened."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from sen.identity import load_identity_config, resolve_identities
from sen.identity import resolve as resolve_module
from tests.identity.conftest import day, events, person_map, write_graph

ALICE = [("customer_id", "C1"), ("email", "alice@shop.vn"), ("phone", "+84912345678")]
BOB = [("customer_id", "C2"), ("email", "bob@shop.vn")]


def resolve(conn: duckdb.DuckDBPyConnection, at):
    return resolve_identities(conn, load_identity_config(), at)


def test_new_person_id_is_derived_from_its_strongest_identifier(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [ALICE])
    resolve(conn, day(0))
    expected = "p_" + hashlib.md5(b"customer_id:C1").hexdigest()[:16]
    assert set(person_map(conn).values()) == {expected}
    assert events(conn) == [(expected, "created", None)]


def test_rerun_on_unchanged_input_changes_no_id(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [ALICE, BOB, [("anonymous_id", "a1")]])
    resolve(conn, day(0))
    before = person_map(conn)
    stats = resolve(conn, day(1))
    assert person_map(conn) == before
    assert (stats.persons_created, stats.persons_merged, stats.persons_split, stats.persons_removed) == (
        0,
        0,
        0,
        0,
    )
    assert conn.sql("select count(*) from identity.identity_runs").fetchall() == [(2,)]


def test_new_identifier_joins_the_existing_person(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [ALICE])
    resolve(conn, day(0))
    alice = person_map(conn)[("customer_id", "C1")]
    # A stronger-looking identifier arrives later: the id must not change.
    write_graph(conn, [ALICE, [("email", "alice@shop.vn"), ("loyalty_card", "LC1"), ("customer_id", "C0")]])
    run = resolve(conn, day(1))
    people = person_map(conn)
    assert people[("loyalty_card", "LC1")] == alice
    assert people[("customer_id", "C0")] == alice
    assert set(people.values()) == {alice}
    assert events(conn, run.run_id) == []


def test_new_customer_id_joining_a_person_keeps_its_id_and_a_new_one_names_a_new_person(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # New identifiers of the strongest type are hashed before components are known; the hash is used only
    # for a component holding no previous person.
    write_graph(conn, [[("anonymous_id", "a1"), ("anonymous_id", "a2")]])
    resolve(conn, day(0))
    visitor = person_map(conn)[("anonymous_id", "a1")]
    write_graph(
        conn,
        [
            [("anonymous_id", "a1"), ("anonymous_id", "a2")],
            [("anonymous_id", "a2"), ("customer_id", "C9")],  # the visitor signs up
            [("customer_id", "C10"), ("email", "new@shop.vn")],  # a new customer
        ],
    )
    run = resolve(conn, day(1))
    people = person_map(conn)
    assert people[("customer_id", "C9")] == people[("anonymous_id", "a1")] == visitor
    new = "p_" + hashlib.md5(b"customer_id:C10").hexdigest()[:16]
    assert people[("email", "new@shop.vn")] == new
    assert events(conn, run.run_id) == [(new, "created", None)]


def test_merge_keeps_the_older_id_and_records_the_other(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [ALICE])
    resolve(conn, day(0))
    alice = person_map(conn)[("customer_id", "C1")]
    # Bob appears later, with more identifiers than Alice: the older id still wins the merge.
    bob_big = [*BOB, ("phone", "+84987654321"), ("anonymous_id", "b1"), ("anonymous_id", "b2")]
    write_graph(conn, [ALICE, bob_big])
    resolve(conn, day(1))
    bob = person_map(conn)[("customer_id", "C2")]
    assert bob != alice
    # An order by Bob's account with Alice's email links them.
    write_graph(conn, [ALICE, bob_big, [("customer_id", "C2"), ("email", "alice@shop.vn")]])
    run = resolve(conn, day(2))
    assert set(person_map(conn).values()) == {alice}
    assert events(conn, run.run_id) == [(bob, "merged", alice)]
    assert run.persons_merged == 1


def test_split_is_recorded_and_the_larger_part_keeps_the_id(conn: duckdb.DuckDBPyConnection) -> None:
    device = ("device_id", "d1")
    write_graph(conn, [ALICE, [("email", "alice@shop.vn"), device]])
    resolve(conn, day(0))
    alice = person_map(conn)[("customer_id", "C1")]
    # The record that linked the device is gone (e.g. deleted at the source).
    write_graph(conn, [ALICE], extra_nodes=[device])
    run = resolve(conn, day(1))
    people = person_map(conn)
    assert people[("customer_id", "C1")] == alice
    assert people[device] != alice
    assert events(conn, run.run_id) == [(people[device], "split", alice)]


def test_split_part_holding_the_naming_identifier_gets_a_fresh_id(conn: duckdb.DuckDBPyConnection) -> None:
    # Alice's id was derived from C1; if C1 splits off alone, the larger part keeps the id and C1 must not
    # be given the same id again.
    write_graph(
        conn,
        [
            [("customer_id", "C1"), ("email", "a@shop.vn")],
            [("email", "a@shop.vn"), ("phone", "+84911111112")],
            [("email", "a@shop.vn"), ("anonymous_id", "x")],
        ],
    )
    resolve(conn, day(0))
    alice = person_map(conn)[("customer_id", "C1")]
    write_graph(
        conn,
        [
            [("email", "a@shop.vn"), ("phone", "+84911111112")],
            [("email", "a@shop.vn"), ("anonymous_id", "x")],
        ],
        extra_nodes=[("customer_id", "C1")],
    )
    run = resolve(conn, day(1))
    people = person_map(conn)
    assert people[("email", "a@shop.vn")] == alice
    assert people[("customer_id", "C1")] == "p_" + hashlib.md5(b"customer_id:C1#1").hexdigest()[:16]
    assert events(conn, run.run_id) == [(people[("customer_id", "C1")], "split", alice)]


def test_person_without_identifiers_left_is_recorded_as_removed(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [ALICE, BOB])
    resolve(conn, day(0))
    bob = person_map(conn)[("customer_id", "C2")]
    write_graph(conn, [ALICE])  # Bob's records erased
    run = resolve(conn, day(1))
    assert events(conn, run.run_id) == [(bob, "removed", None)]


def test_failed_run_leaves_previous_tables_untouched(
    conn: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_graph(conn, [ALICE])
    resolve(conn, day(0))
    before = person_map(conn)
    write_graph(conn, [BOB])
    real_append = resolve_module.append

    def failing_append(connection, schema, name, table):
        if name == "identity_cuts":  # after the person map has been replaced
            raise OSError("disk full")
        real_append(connection, schema, name, table)

    monkeypatch.setattr(resolve_module, "append", failing_append)
    with pytest.raises(OSError, match="disk full"):
        resolve(conn, day(1))
    assert person_map(conn) == before
    assert conn.sql("select count(*) from identity.identity_runs").fetchall() == [(1,)]
    assert conn.sql("select count(*) from identity.person_id_history").fetchall() == [(1,)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_identifiers_shared_by_previous_persons_and_components_are_counted_exactly(seed: int) -> None:
    # Most persons sit alone in one component and are counted without a sort; the rest (split across
    # components, or sharing one) go through the sort. Both must give the exact (person, component) counts.
    from collections import Counter

    import numpy as np

    from sen.identity.person_ids import _shared_counts

    rng = np.random.default_rng(seed)
    n_persons, n_labels = 50, 60
    person = rng.integers(0, n_persons, 400)
    label = person + 5  # everyone in a component of their own...
    moved = rng.random(400) < 0.05  # ...but a few identifiers went elsewhere (splits and merges)
    label[moved] = rng.integers(0, n_labels, int(moved.sum()))
    pair_person, pair_label, pair_count = _shared_counts(person, label, n_persons, n_labels)
    expected = sorted(Counter(zip(person.tolist(), label.tolist(), strict=True)).items())
    got = list(
        zip(zip(pair_person.tolist(), pair_label.tolist(), strict=True), pair_count.tolist(), strict=True)
    )
    assert got == expected
