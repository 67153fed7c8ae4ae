"""Graph behaviour of identity resolution: long chains, shared devices, junk, caps."""

from __future__ import annotations

import random
from hashlib import md5

import duckdb
import pytest

from sen.identity import IdentityConfig, load_identity_config, resolve_identities
from sen.identity.graph import blocked_keys_sql, blocked_sql
from tests.identity.conftest import T0, day, person_map, register_keys, write_graph


def resolve(conn: duckdb.DuckDBPyConnection, config: IdentityConfig | None = None, at=T0):
    return resolve_identities(conn, config or load_identity_config(), at)


def test_chain_longer_than_100_hops_is_one_person(conn: duckdb.DuckDBPyConnection) -> None:
    # Cookie rotations: each anonymous id is linked to the next one; a customer id at one end, an email at
    # the other. Ids increase along the chain, the worst case for min-label propagation.
    chain = [("anonymous_id", f"a{i:04d}") for i in range(150)]
    records = [[chain[i], chain[i + 1]] for i in range(len(chain) - 1)]
    records += [[("customer_id", "C1"), chain[0]], [chain[-1], ("email", "lan@shop.vn")]]
    write_graph(conn, records)
    stats = resolve(conn)
    people = person_map(conn)
    assert len(set(people.values())) == 1
    assert len(people) == 152
    assert stats.components == 1
    assert stats.largest_component == 152


def test_kiosk_device_does_not_merge_shoppers_and_the_cut_is_audited(conn: duckdb.DuckDBPyConnection) -> None:
    records = [
        [("customer_id", f"C{i}"), ("email", f"u{i}@shop.vn"), ("device_id", "kiosk-1")] for i in range(30)
    ]
    write_graph(conn, records)
    stats = resolve(conn)
    people = person_map(conn)
    shoppers = {people[("customer_id", f"C{i}")] for i in range(30)}
    assert len(shoppers) == 30
    for i in range(30):
        assert people[("email", f"u{i}@shop.vn")] == people[("customer_id", f"C{i}")]
    kiosk_person = people[("device_id", "kiosk-1")]
    assert kiosk_person not in shoppers  # an anonymous profile of its own
    cuts = conn.sql(
        'select identifier_type, identifier_value, reason, degree, "limit", related_identifier_type '
        "from identity.identity_cuts"
    ).fetchall()
    assert cuts == [("device_id", "kiosk-1", "degree_limit", 30, 1, "customer_id")]
    assert conn.sql(
        "select cut_reason from identity.identifier_person_map where identifier_value = 'kiosk-1'"
    ).fetchall() == [("degree_limit",)]
    assert stats.nodes_degree_cut == 1
    assert stats.edges_cut_degree == 60


def test_household_laptop_keeps_two_people(conn: duckdb.DuckDBPyConnection) -> None:
    laptop = ("anonymous_id", "laptop-1")
    write_graph(
        conn,
        [
            [("customer_id", "HUSBAND"), ("email", "anh@shop.vn"), laptop],
            [("customer_id", "WIFE"), ("email", "binh@shop.vn"), laptop],
        ],
    )
    resolve(conn)
    people = person_map(conn)
    assert people[("customer_id", "HUSBAND")] == people[("email", "anh@shop.vn")]
    assert people[("customer_id", "WIFE")] == people[("email", "binh@shop.vn")]
    assert people[("customer_id", "HUSBAND")] != people[("customer_id", "WIFE")]
    assert people[laptop] not in {people[("customer_id", "HUSBAND")], people[("customer_id", "WIFE")]}


def test_a_browser_used_by_one_person_still_links(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(
        conn, [[("anonymous_id", "b1"), ("customer_id", "C1")], [("anonymous_id", "b1"), ("email", "x@y.vn")]]
    )
    resolve(conn)
    assert len(set(person_map(conn).values())) == 1


def test_junk_identifiers_are_dropped_and_audited(conn: duckdb.DuckDBPyConnection) -> None:
    records = [
        [
            ("customer_id", f"C{i}"),
            ("anonymous_id", "undefined"),
            ("email", "test@test.com"),
            ("phone", "+84000000000"),
        ]
        for i in range(5)
    ]
    write_graph(conn, records)
    stats = resolve(conn)
    people = person_map(conn)
    assert set(people) == {("customer_id", f"C{i}") for i in range(5)}
    assert len(set(people.values())) == 5
    blocked = conn.sql(
        "select identifier_type, identifier_value from identity.identity_cuts where reason = 'blocklisted' order by 1"
    ).fetchall()
    assert blocked == [("anonymous_id", "undefined"), ("email", "test@test.com"), ("phone", "+84000000000")]
    assert stats.nodes_blocklisted == 3


def test_blocklist_query_in_two_steps_matches_the_rule_per_type(conn: duckdb.DuckDBPyConnection) -> None:
    # The large-table query first keeps every value on any list, then applies each type's own list: a value
    # blocked for one type only must stay for the others.
    values = [
        ("push_token", "DENIED"),  # push_token's own list
        ("anonymous_id", "denied"),  # on push_token's list only: kept
        ("email", "test@test.com"),  # email's own list
        ("anonymous_id", "test@test.com"),  # kept
        ("customer_id", "Guest"),  # any type
        ("phone", "+84000000000"),  # phone pattern
        ("anonymous_id", "+84000000000"),  # kept: the pattern is phone's
        ("email", "x@shop.example.com"),  # email pattern
        ("email", "a@shop.vn"),
    ]
    write_graph(conn, [[v] for v in values])
    config = load_identity_config()
    nodes = config.nodes_table
    expected = {("push_token", "DENIED"), ("email", "test@test.com"), ("customer_id", "Guest"),
                ("phone", "+84000000000"), ("email", "x@shop.example.com")}  # fmt: skip
    by_rule = conn.sql(
        f"select identifier_type, identifier_value from {nodes} "
        f"where {blocked_sql(config, 'identifier_type', 'identifier_value')}"
    ).fetchall()
    two_steps = conn.sql(
        f"select identifier_type, identifier_value from {nodes} "
        f"where identifier_key in (select k from ({blocked_keys_sql(config, nodes)}))"
    ).fetchall()
    assert set(by_rule) == set(two_steps) == expected


def test_cap_keeps_the_oldest_emails_and_audits_the_rest(conn: duckdb.DuckDBPyConnection) -> None:
    records = [[("customer_id", "C1"), ("email", f"e{i}@shop.vn")] for i in range(5)]
    write_graph(conn, records, seen_at=[day(i) for i in range(5)])
    stats = resolve(conn)
    people = person_map(conn)
    person = people[("customer_id", "C1")]
    kept = sorted(v for (t, v), p in people.items() if t == "email" and p == person)
    assert kept == ["e0@shop.vn", "e1@shop.vn", "e2@shop.vn"]
    assert len({people[("email", "e3@shop.vn")], people[("email", "e4@shop.vn")], person}) == 3
    cuts = conn.sql(
        'select related_identifier_value, degree, "limit" from identity.identity_cuts '
        "where reason = 'cap_exceeded' order by 1"
    ).fetchall()
    assert cuts == [("e3@shop.vn", 4, 3), ("e4@shop.vn", 4, 3)]
    assert stats.edges_cut_cap == 2


def test_edge_endpoint_missing_from_nodes_is_added(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[("customer_id", "C1"), ("email", "a@shop.vn")]])
    edges = [
        (("email", "a@shop.vn"), ("phone", "+84912345678")),
        (("email", "z@shop.vn"), ("anonymous_id", "zz")),
    ]
    keys = register_keys(conn, [i for pair in edges for i in pair])
    conn.executemany(
        "insert into intermediate.int_identity_edges values "
        "(?, ?, ?, ?, ?, ?, 'test', timestamp '2025-01-02', timestamp '2025-01-02', 1)",
        [(keys[a], keys[b], *a, *b) for a, b in edges],
    )
    stats = resolve(conn)
    people = person_map(conn)
    assert people[("phone", "+84912345678")] == people[("customer_id", "C1")]
    assert (
        people[("email", "z@shop.vn")]
        == people[("anonymous_id", "zz")]
        == "p_" + md5(b"email:z@shop.vn").hexdigest()[:16]
    )
    assert stats.nodes == 5


def test_components_match_a_reference_union_find(conn: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(7)
    ids = [("anonymous_id", f"n{i}") for i in range(400)]
    records = [rng.sample(ids, 2) for _ in range(300)]
    write_graph(conn, records, extra_nodes=ids)
    resolve(conn)
    parent = {i: i for i in ids}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in records:
        parent[find(a)] = find(b)
    people = person_map(conn)
    expected = {frozenset(i for i in ids if find(i) == root) for root in {find(i) for i in ids}}
    got: dict[str, set] = {}
    for ident, person in people.items():
        got.setdefault(person, set()).add(ident)
    assert {frozenset(v) for v in got.values()} == expected


def test_junk_identifiers_in_a_random_graph_join_nobody(conn: duckdb.DuckDBPyConnection) -> None:
    # Components are first computed on every link, junk included, then taken apart again: the result must be
    # the partition of the links that do not touch junk, and junk must leave the map.
    rng = random.Random(11)
    ids = [("anonymous_id", f"n{i}") for i in range(300)]
    junk = [("anonymous_id", "undefined"), ("anonymous_id", "null"), ("email", "test@test.com")]
    records = [rng.sample(ids, 2) + ([rng.choice(junk)] if rng.random() < 0.4 else []) for _ in range(200)]
    write_graph(conn, records, extra_nodes=ids)
    stats = resolve(conn)
    parent = {i: i for i in ids}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b, *_ in records:
        parent[find(a)] = find(b)
    people = person_map(conn)
    assert not set(junk) & set(people)
    expected = {frozenset(i for i in ids if find(i) == root) for root in {find(i) for i in ids}}
    got: dict[str, set] = {}
    for ident, person in people.items():
        got.setdefault(person, set()).add(ident)
    assert {frozenset(v) for v in got.values()} == expected
    assert stats.nodes_blocklisted == 3
    assert stats.components == len(expected)


def test_identifier_without_a_key_is_a_clear_error(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[("customer_id", "C1"), ("email", "a@shop.vn")]])
    conn.execute("update intermediate.int_identity_edges set key_b = null")
    with pytest.raises(ValueError, match="int_identity_edges: 1 edge ends have no key"):
        resolve(conn)
    conn.execute(
        "update intermediate.int_identity_nodes set identifier_key = null where identifier_type = 'email'"
    )
    with pytest.raises(ValueError, match="int_identity_nodes: 1 rows have no identifier_key"):
        resolve(conn)


def test_unknown_identifier_type_is_a_clear_error(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[("customer_id", "C1"), ("fax", "123")]])
    with pytest.raises(ValueError, match="'fax' \\(1 rows\\)"):
        resolve(conn)


def test_missing_input_table_is_a_clear_error(conn: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="intermediate.int_identity_nodes does not exist"):
        resolve(conn)


def test_node_view_and_duplicate_node_rows_are_accepted(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[("customer_id", "C1"), ("email", "a@shop.vn")], [("customer_id", "C2")]])
    conn.execute("alter table intermediate.int_identity_nodes rename to nodes_base")
    conn.execute(
        "create view intermediate.int_identity_nodes as "
        "select * from intermediate.nodes_base union all select * from intermediate.nodes_base"
    )
    stats = resolve(conn)
    people = person_map(conn)
    assert len(people) == 3
    assert people[("customer_id", "C1")] == people[("email", "a@shop.vn")] != people[("customer_id", "C2")]
    assert stats.nodes == 3
    assert conn.sql("select count(*) from duckdb_tables() where temporary").fetchall() == [(0,)]
