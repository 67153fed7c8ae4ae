"""Identity resolution on Spark gives the DuckDB path's persons, ids, history and audit, on graphs built here.

One graph holds every case as disjoint parts (a Spark run costs seconds per job on a small box): a 150-hop cookie
chain, a star of 60 cookies, a kiosk over the degree limit, household laptops and shared cookies (the
weak-identifier rule, with ties), a value junk by behaviour, a component over the customer-id cap, blocklisted
values, an edge naming an identifier missing from the node table. A second run changes it: a merge (the older
id survives), a split, a removed person.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import duckdb
import pytest

from sen.identity import load_identity_config, resolve_identities
from sen.identity.config import IdentityConfig
from tests.identity.conftest import T0, day, write_graph

pytestmark = pytest.mark.spark


def C(p: str, i: object) -> tuple[str, str]:
    return ("customer_id", f"{p}C{i}")


def E(p: str, i: object) -> tuple[str, str]:
    return ("email", f"{p}e{i}@shop.vn")


def P(i: int) -> tuple[str, str]:
    return ("phone", f"+8490{i:07d}")


def graph(second_run: bool) -> tuple[list, list[datetime], list]:
    records: list[list[tuple[str, str]]] = []
    seen: list[datetime] = []

    def add(record: list[tuple[str, str]], at: datetime = T0) -> None:
        records.append(record)
        seen.append(at)

    # A 150-hop chain with keys increasing along it, an account at one end and an email at the other.
    chain = [("anonymous_id", f"ch{i:04d}") for i in range(150)]
    for i in range(len(chain) - 1):
        add([chain[i], chain[i + 1]])
    add([C("ch", 1), chain[0]])
    add([chain[-1], E("ch", 1)])
    # A star: 60 cookies around one account.
    for i in range(60):
        add([C("st", 1), ("anonymous_id", f"st{i:03d}")], day(i % 7))
    # A busy kiosk: over the degree limit, audited.
    for i in range(12):
        add([C("ki", i), E("ki", i), ("device_id", "kiosk-1")], day(i))
    # Household laptops and cookies: the weak-identifier rule, with a tie on the last sighting.
    add([C("hh", 1), E("hh", 1), ("device_id", "hh-laptop")])
    add([E("hh", 2), P(2), ("device_id", "hh-laptop")])
    add([C("gu", 1), E("gu", 1), ("device_id", "gu-laptop"), ("anonymous_id", "gu-cookie")], day(1))
    add([E("gu", 2), P(3), ("device_id", "gu-laptop"), ("anonymous_id", "gu-cookie")], day(3))
    add([C("th", 1), E("th", 1), ("device_id", "th-laptop")], day(1))
    add([E("th", 2), P(4), ("device_id", "th-laptop")], day(2))
    add([E("th", 3), P(5), ("device_id", "th-laptop")], day(3))
    rot = [("anonymous_id", f"ro{i:03d}") for i in range(40)]
    for i in range(len(rot) - 1):
        add([rot[i], rot[i + 1]])
    add([C("ro", 1), E("ro", 1), rot[0]])
    add([rot[-1], E("ro", 2)])
    # A value three unrelated accounts typed: junk by behaviour.
    fake = ("email", "khongcomail@yahoo.com")
    for i in range(3):
        add([C("jk", i), P(10 + i), fake])
    # Four accounts chained by shared emails and a phone: over the customer-id cap of 3.
    add([C("cap", 1), E("cap", 1)], day(1))
    add([C("cap", 2), E("cap", 1)], day(2))
    add([C("cap", 2), P(20)], day(3))
    add([C("cap", 3), P(20)], day(4))
    add([C("cap", 3), E("cap", 3)], day(5))
    add([C("cap", 4), E("cap", 3)], day(6))
    # Blocklisted values never link.
    add([C("bl", 1), ("email", "test@test.com")])
    add([C("bl", 2), ("email", "test@test.com")])
    add([C("bl", 3), ("phone", "+84100000")])
    # Plain persons; the second run merges, splits and removes some of them.
    add([C("pl", 1), E("pl", 1), P(30)], day(1))
    add([C("pl", 2), E("pl", 2)], day(2))
    extra: list[tuple[str, str]] = []
    if second_run:
        add([C("pl", 3), E("pl", 3)], day(3))  # P(31) leaves pl3: split
        extra.append(P(31))
        add([C("pl", 2), E("pl", 1)], day(9))  # joins persons pl1 and pl2: merge, the older id survives
        add([C("new", 1), E("new", 1)], day(9))
    else:
        add([C("pl", 3), E("pl", 3), P(31)], day(3))
        add([C("gone", 1), E("gone", 1)], day(1))  # absent from the second run: removed
    return records, seen, extra


def write_inputs(conn: duckdb.DuckDBPyConnection, second_run: bool) -> None:
    records, seen, extra = graph(second_run)
    write_graph(conn, records, seen, extra_nodes=extra)
    # Node rows in key order (the order the Spark path breaks ties in), minus one identifier only an edge names.
    conn.execute(
        "create or replace table intermediate.int_identity_nodes as select * from intermediate.int_identity_nodes "
        f"where not (identifier_type = 'phone' and identifier_value = '{P(30)[1]}') order by identifier_key"
    )


def copy_to_spark(conn: duckdb.DuckDBPyConnection, spark, database: str) -> None:
    spark.sql(f"create database if not exists {database}")
    for name in ("int_identity_nodes", "int_identity_edges", "int_identifier_keys"):
        frame = conn.sql(
            f"select * exclude (sources) from intermediate.{name}"
            if name == "int_identity_nodes"
            else f"select * from intermediate.{name}"
        ).to_arrow_table()
        spark.createDataFrame(frame.to_pandas()).write.mode("overwrite").format("parquet").saveAsTable(
            f"{database}.{name}"
        )


def config_for(database: str, output: str) -> IdentityConfig:
    return load_identity_config().model_copy(
        update={
            "nodes_table": f"{database}.int_identity_nodes",
            "edges_table": f"{database}.int_identity_edges",
            "keys_table": f"{database}.int_identifier_keys",
            "output_schema": output,
        }
    )


def spark_rows(spark, sql: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.sql(sql).collect())


def duck_rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(conn.sql(sql).fetchall())


MAP = "select identifier_type, identifier_value, person_id, cut_reason from {s}.identifier_person_map"
EVENTS = "select person_id, event, related_person_id from {s}.person_id_history where run_id = '{run}'"
CUTS = (
    'select identifier_type, identifier_value, reason, degree, "limit", related_identifier_type, '
    "related_identifier_value, detail from {s}.identity_cuts where run_id = '{run}'"
)


def comparable(stats) -> dict:
    row = dataclasses.asdict(stats)
    for volatile in ("run_id", "duration_s", "config_fingerprint"):  # fingerprint: other table names
        row.pop(volatile)
    return row


def test_spark_identity_equals_duckdb_on_every_case_and_across_runs(spark, tmp_path) -> None:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    for run, at in ((False, day(10)), (True, day(20))):
        write_inputs(conn, second_run=run)
        duck = resolve_identities(conn, config_for("intermediate", "identity"), at)
        copy_to_spark(conn, spark, "t_in")
        timings: dict = {}
        from sen.identity.spark import resolve_identities_spark

        sp = resolve_identities_spark(spark, config_for("t_in", "t_identity"), at, timings=timings)
        duck_map = duck_rows(conn, MAP.format(s="identity"))
        spark_map = spark_rows(spark, MAP.format(s="t_identity").replace('"', "`"))
        assert spark_map == duck_map
        assert spark_rows(spark, EVENTS.format(s="t_identity", run=sp.run_id)) == duck_rows(
            conn, EVENTS.format(s="identity", run=duck.run_id)
        )
        assert spark_rows(spark, CUTS.format(s="t_identity", run=sp.run_id).replace('"', "`")) == duck_rows(
            conn, CUTS.format(s="identity", run=duck.run_id)
        )
        assert comparable(sp) == comparable(duck)
        # Every case is present, so equality is not vacuous.
        assert sp.nodes_blocklisted == 2 and sp.nodes_degree_cut == 1 and sp.nodes_junk_cut == 1
        assert sp.nodes_weak_shared >= 3 and sp.edges_cut_cap >= 1
        assert timings["components_rounds"]["rounds"] <= 20  # a 150-hop chain, not 150 rounds
    assert sp.persons_merged == 1 and sp.persons_split == 1 and sp.persons_removed == 1
    people = {(t, v): p for t, v, p, _ in spark_map}
    assert people[C("ch", 1)] == people[E("ch", 1)]  # the chain is one person
    conn.close()
