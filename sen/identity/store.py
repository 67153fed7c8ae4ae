"""Output tables of identity resolution (schema `identity` by default) and how they are written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from sen.identity.graph import IdentityGraph

# Replaced on every run: the current person of every identifier.
PERSON_MAP_DDL = """
    identifier_type varchar not null,
    identifier_value varchar not null,
    person_id varchar not null,
    first_seen_at timestamp,
    last_seen_at timestamp,
    cut_reason varchar       -- 'degree_limit' when this identifier's links were not used
"""
# Appended: every person created, merged into another, split off another, or removed.
HISTORY_DDL = """
    person_id varchar not null,
    event varchar not null,  -- created | merged | split | removed
    related_person_id varchar, -- merged: the surviving person; split: the person it split from
    run_id varchar not null,
    occurred_at timestamp not null
"""
# Appended: every identifier dropped or link cut by a guard, with the reason.
CUTS_DDL = """
    run_id varchar not null,
    identifier_type varchar not null,
    identifier_value varchar not null,
    reason varchar not null, -- blocklisted | degree_limit | cap_exceeded
    degree bigint,           -- degree_limit: distinct neighbours of the type; cap_exceeded: identifiers the person would hold
    "limit" bigint,
    related_identifier_type varchar,  -- cap_exceeded: the other end of the link that was cut
    related_identifier_value varchar,
    detail varchar not null
"""
# Appended: one row per run, read by the cluster-size alarm.
RUNS_DDL = """
    run_id varchar not null,
    run_at timestamp not null,
    config_fingerprint varchar not null,
    nodes bigint not null,
    nodes_blocklisted bigint not null,
    nodes_degree_cut bigint not null,
    edges bigint not null,
    edges_cut bigint not null,
    edges_cut_blocklist bigint not null,
    edges_cut_degree bigint not null,
    edges_cut_cap bigint not null,
    components bigint not null,
    largest_component bigint not null,
    merged_share double not null,
    persons_created bigint not null,
    persons_merged bigint not null,
    persons_split bigint not null,
    persons_removed bigint not null,
    duration_s double not null
"""
TABLES = {
    "person_id_history": HISTORY_DDL,
    "identity_cuts": CUTS_DDL,
    "identity_runs": RUNS_DDL,
}


@contextmanager
def fast_string_writes(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Skip DuckDB's DICT_FSST string compression while writing millions of random-looking ids.

    Its analysis is the slowest part of writing such columns (about 5x the rest) and saves little on
    hashes and ids. The setting is database-wide, so the previous value is restored right after.
    """
    previous = conn.sql("select current_setting('disabled_compression_methods')").fetchall()[0][0] or ""
    methods = {m.strip() for m in previous.split(",") if m.strip()} | {"dict_fsst"}
    conn.execute(f"set disabled_compression_methods = '{','.join(sorted(methods))}'")
    try:
        yield
    finally:
        conn.execute(f"set disabled_compression_methods = '{previous}'")


def ensure_tables(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    conn.execute(f"create schema if not exists {schema}")
    for name, ddl in TABLES.items():
        conn.execute(f"create table if not exists {schema}.{name} ({ddl})")


def replace_person_map(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    graph: IdentityGraph,
    person_ids: pa.Array,
    labels: np.ndarray,
    cut: np.ndarray,
) -> None:
    """Write one row per mapped node: labels[i] is node i's index into person_ids (-1: not mapped).

    Node strings stay in DuckDB: the node table is joined by position with an Arrow table of person ids
    (dictionary-encoded, so no string is copied per row); a rowid check guards the row order.
    """
    target = f"{schema}.identifier_person_map"
    conn.execute(f"create or replace table {target} ({PERSON_MAP_DDL})")
    _insert_rows(conn, target, graph, person_ids, labels, cut)


def _insert_rows(
    conn: duckdb.DuckDBPyConnection,
    target: str,
    graph: IdentityGraph,
    person_ids: pa.Array,
    labels: np.ndarray,
    cut: np.ndarray,
    *,
    into_empty: bool = True,
) -> None:
    """Insert the rows of nodes with labels[i] >= 0 into `target`.

    Into an empty table, all base nodes are joined by position; otherwise (a few changed rows), the rows
    are joined by rowid.
    """
    reasons = pa.array(["degree_limit"], pa.string())

    def assignment(rows: slice | np.ndarray) -> pa.Table:
        part = labels[rows]
        return pa.table(
            {
                "person_id": pa.DictionaryArray.from_arrays(
                    pa.array(part.astype(np.int32), mask=part < 0), person_ids
                ),
                "cut_reason": pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(len(part), dtype=np.int8), mask=~cut[rows]), reasons
                ),
            }
        )

    name = "_sen_person_assignment"
    columns = """n.identifier_type, n.identifier_value, a.person_id::varchar, n.first_seen_at, n.last_seen_at,
                 a.cut_reason::varchar"""
    if not into_empty:
        rows = np.flatnonzero(labels[: graph.n_base] >= 0)
        if len(rows):
            conn.register(name, assignment(rows).append_column("rid", pa.array(graph.base_rowid[rows])))
            try:
                conn.execute(
                    f"insert into {target} select {columns} "
                    f"from {graph.base_relation} n join {name} a on n.rowid = a.rid"
                )
            finally:
                conn.unregister(name)
        _insert_extra(conn, target, graph, assignment)
        return
    base = assignment(slice(0, graph.n_base)).append_column("rid", pa.array(graph.base_rowid))
    expected = int((labels[: graph.n_base] >= 0).sum())
    conn.register(name, base)
    try:
        # Joining by position needs no hash table; rows whose rowid differs (the scan order was not the
        # rowid order) are left out, counted, and then the whole map is written with a rowid join instead.
        inserted = conn.execute(
            f"""
            insert into {target}
            select {columns}
            from {graph.base_relation} n positional join {name} a
            where a.person_id is not null and n.rowid = a.rid
            """
        ).fetchall()[0][0]
        if inserted != expected:
            conn.execute(f"delete from {target}")
            conn.execute(
                f"""
                insert into {target}
                select {columns}
                from {graph.base_relation} n join {name} a on n.rowid = a.rid
                where a.person_id is not null
                """
            )
    finally:
        conn.unregister(name)
    _insert_extra(conn, target, graph, assignment)


def _insert_extra(
    conn: duckdb.DuckDBPyConnection,
    target: str,
    graph: IdentityGraph,
    assignment: Callable[[slice], pa.Table],
) -> None:
    """Rows of the nodes that only the edge table named (their strings are held in graph.extra_nodes)."""
    name = "_sen_person_assignment"
    if graph.extra_nodes.num_rows:
        extra = assignment(slice(graph.n_base, graph.n_nodes))
        table = graph.extra_nodes.append_column("person_id", extra.column("person_id"))
        table = table.append_column("cut_reason", extra.column("cut_reason"))
        conn.register(name, table)
        try:
            conn.execute(
                f"""
                insert into {target}
                select identifier_type, identifier_value, person_id::varchar, first_seen_at, last_seen_at,
                       cut_reason::varchar
                from {name} where person_id is not null
                """
            )
        finally:
            conn.unregister(name)


# Above this share of changed rows, rewriting the map is cheaper than deleting and inserting rows.
REWRITE_SHARE = 0.3


@dataclass(frozen=True)
class MapWrite:
    """How identifier_person_map was written: whole, or only the rows that changed."""

    rewritten: bool
    rows_deleted: int
    rows_inserted: int


def write_person_map(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    graph: IdentityGraph,
    person_ids: pa.Array,
    labels: np.ndarray,
    cut: np.ndarray,
) -> MapWrite:
    """Bring identifier_person_map up to date; labels[i] is node i's index into person_ids (-1: not mapped).

    person_ids starts with the previous map's ids in the order of graph.previous.person_ids, so a node keeps
    its row when its index equals its previous one and its dates and cut are unchanged. Only the other rows
    are deleted and inserted; a first run, a large change or a map that does not line up is rewritten whole.
    """
    previous = graph.previous
    mapped = labels >= 0
    if not previous.exists or not previous.unique:
        replace_person_map(conn, schema, graph, person_ids, labels, cut)
        return MapWrite(True, 0, int(mapped.sum()))
    kept = mapped & (labels == previous.person) & previous.same_row & (cut == previous.cut)
    stale = np.concatenate([previous.rowid[(previous.rowid >= 0) & ~kept], previous.orphan_rowids])
    changed = mapped & ~kept
    n_changed = int(changed.sum())
    if len(stale) + n_changed > REWRITE_SHARE * max(graph.n_nodes, 1):
        replace_person_map(conn, schema, graph, person_ids, labels, cut)
        return MapWrite(True, 0, int(mapped.sum()))
    target = f"{schema}.identifier_person_map"
    if len(stale):
        conn.register("_sen_stale", pa.table({"rid": pa.array(stale, pa.int64())}))
        try:
            deleted = conn.execute(
                f"delete from {target} where rowid in (select rid from _sen_stale)"
            ).fetchall()[0][0]
        finally:
            conn.unregister("_sen_stale")
        if deleted != len(stale):  # the map changed since it was read: start over
            replace_person_map(conn, schema, graph, person_ids, labels, cut)
            return MapWrite(True, 0, int(mapped.sum()))
    if n_changed:
        _insert_rows(conn, target, graph, person_ids, np.where(changed, labels, -1), cut, into_empty=False)
    return MapWrite(False, len(stale), n_changed)


def append_created(
    conn: duckdb.DuckDBPyConnection, schema: str, person_ids: pa.Array, run_id: str, occurred_at: object
) -> None:
    """History rows for new persons: constants come from SQL, only the ids cross from Arrow."""
    if len(person_ids) == 0:
        return
    conn.register("_sen_created", pa.table({"person_id": person_ids}))
    try:
        conn.execute(
            f"insert into {schema}.person_id_history select person_id, 'created', null, ?, ? from _sen_created",
            [run_id, occurred_at],
        )
    finally:
        conn.unregister("_sen_created")


def append(conn: duckdb.DuckDBPyConnection, schema: str, name: str, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    conn.register("_sen_append", table)
    try:
        columns = ", ".join(f'"{c}"' for c in table.column_names)
        conn.execute(f"insert into {schema}.{name} ({columns}) select {columns} from _sen_append")
    finally:
        conn.unregister("_sen_append")
