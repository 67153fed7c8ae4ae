"""explain-person: identifiers, the records linking any two of them, and the cuts nearby."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main as cli_main
from sen.identity import load_identity_config, resolve_identities
from sen.identity.explain import PersonNotFoundError, explain_person, format_explanation
from tests.identity.conftest import T0, day, person_map, write_graph

C1, E1, P2, E2 = (
    ("customer_id", "C1"),
    ("email", "anh@shop.vn"),
    ("phone", "+84912000002"),
    ("email", "b@shop.vn"),
)
COOKIE, LAPTOP = ("anonymous_id", "cookie-1"), ("device_id", "laptop-1")
# (source, record id, day, identifiers)
RECORDS = [
    ("crm", "C1", 1, [C1, E1]),
    ("events", "ev-1", 2, [C1, COOKIE, LAPTOP]),
    ("orders", "o-9", 4, [E2, P2, LAPTOP]),  # a guest on his laptop, later: the laptop goes with her
    ("events", "ev-2", 3, [COOKIE, C1]),
]


def build(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [r[3] for r in RECORDS], seen_at=[day(r[2]) for r in RECORDS])
    conn.execute(
        "create table intermediate.int_identifier_occurrences (record_source varchar, record_id varchar, "
        "identifier_type varchar, identifier_value varchar, observed_at timestamp)"
    )
    conn.executemany(
        "insert into intermediate.int_identifier_occurrences values (?, ?, ?, ?, ?)",
        [(s, rid, t, v, day(d).replace(tzinfo=None)) for s, rid, d, ids in RECORDS for t, v in ids],
    )
    resolve_identities(conn, load_identity_config(), T0)


def test_explains_every_identifier_with_records_and_nearby_cuts(conn: duckdb.DuckDBPyConnection) -> None:
    build(conn)
    people = person_map(conn)
    person = people[C1]
    assert people[COOKIE] == person and people[LAPTOP] == people[E2] != person
    explanation = explain_person(conn, person)
    held = {(r["identifier_type"], r["identifier_value"]) for r in explanation.identifiers}
    assert held == {C1, E1, COOKIE}
    assert explanation.identifiers[0]["identifier_type"] == "customer_id"  # the naming identifier first
    [hop] = explanation.paths["anonymous_id:cookie-1"]
    assert (hop.a, hop.b) == (C1, COOKIE)
    # Most recent record first.
    assert [(r["source"], r["record_id"]) for r in hop.records] == [("events", "ev-2"), ("events", "ev-1")]
    [(cut)] = explanation.cuts
    assert (cut["reason"], cut["identifier_value"], cut["related_identifier_value"]) == (
        "weak_identifier_shared",
        "laptop-1",
        "b@shop.vn",
    )
    text = format_explanation(explanation)
    assert "events record ev-2" in text and "weak_identifier_shared: device_id:laptop-1" in text


def test_explains_the_link_between_two_identifiers(conn: duckdb.DuckDBPyConnection) -> None:
    build(conn)
    person = person_map(conn)[COOKIE]
    explanation = explain_person(conn, person, between=(E1, COOKIE))
    hops = explanation.paths["anonymous_id:cookie-1"]
    assert [(h.a, h.b) for h in hops] == [(E1, C1), (C1, COOKIE)]
    assert hops[0].records == [
        {"source": "crm", "record_id": "C1", "observed_at": day(1).replace(tzinfo=None)}
    ]
    with pytest.raises(PersonNotFoundError, match="b@shop.vn does not belong"):
        explain_person(conn, person, between=(E1, E2))


def test_unknown_person_is_a_clear_error(conn: duckdb.DuckDBPyConnection) -> None:
    build(conn)
    with pytest.raises(PersonNotFoundError, match="no identifier belongs to person 'p_nope'"):
        explain_person(conn, "p_nope")


def test_orchestration_cli_explain_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(warehouse))
    build(conn)
    person = person_map(conn)[E2]
    conn.close()
    assert cli_main(["explain-person", person, "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert f"person {person}: 3 identifiers" in out
    assert "orders record o-9" in out
    assert cli_main(["explain-person", "p_nope", "--warehouse", str(warehouse)]) == 1
