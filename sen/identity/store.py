"""Output tables of identity resolution (schema `identity` by default) and how they are written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from sen.identity.config import IdentityConfig
from sen.identity.graph import IdentityGraph, quote

# The current person of every identifier, by key: numbers only, so 10M rows write in a fraction of a second
# (strings live once, in the key registry and in `persons`; dates in the node table). A row changes only when
# its person or cut does, so reruns rewrite little.
ASSIGNMENTS_DDL = """
    identifier_key bigint not null,  -- the identifier's key in the key registry (int_identifier_keys)
    person_key bigint not null,      -- the person's row in `persons`
    cut_reason varchar               -- why this identifier's links were not used: degree_limit,
                                     -- junk_by_behaviour, weak_identifier_shared (it belongs to no one)
"""
# identifier_persons.cut_reason by code (1, 2, 3).
CUT_REASONS = ("degree_limit", "junk_by_behaviour", "weak_identifier_shared")
# Person ids by key: 0, 1, 2...; appended on reruns, rewritten without unused ids when the map is rewritten.
PERSONS_DDL = """
    person_key bigint not null,
    person_id varchar not null
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
    reason varchar not null, -- blocklisted | degree_limit | cap_exceeded | junk_by_behaviour | weak_identifier_shared
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
    duration_s double not null,
    nodes_junk_cut bigint,
    nodes_weak_shared bigint,
    edges_cut_junk bigint,
    edges_cut_weak bigint
"""
# Columns added to identity_runs after its first release: added to older tables on the next run.
RUNS_ADDED = ("nodes_junk_cut", "nodes_weak_shared", "edges_cut_junk", "edges_cut_weak")
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
    for column in RUNS_ADDED:
        conn.execute(f"alter table {schema}.identity_runs add column if not exists {column} bigint")


MAP_VIEW = "identifier_person_map"


def person_map_view_sql(config: IdentityConfig) -> str:
    """The person map as every mart reads it: the assignments with the identifier strings of the key registry,
    the person ids, and the first/last seen dates of the node table (none for an identifier that only an
    edge names), all joined on integers."""
    schema = config.output_schema
    return f"""
        create or replace view {schema}.{MAP_VIEW} as
        select
            k.identifier_type, k.identifier_value, p.person_id, n.first_seen_at, n.last_seen_at, a.cut_reason,
            a.identifier_key
        from {schema}.identifier_persons as a
        inner join {schema}.persons as p on p.person_key = a.person_key
        inner join {config.keys_table} as k on k.identifier_key = a.identifier_key
        left join {config.nodes_table} as n on n.identifier_key = a.identifier_key
    """


def _assignment_rows(
    graph: IdentityGraph,
    person_key: np.ndarray,
    cut: np.ndarray,
    rows: np.ndarray | None,
    key_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> pa.Table:
    """identifier_persons rows for the node positions `rows`, or for every node when None (no copies).
    `key_of` turns the picked person_key values into the keys written (persons' keys with gaps)."""

    def pick(values: np.ndarray) -> np.ndarray:
        return values if rows is None else values[rows]

    keys = pick(person_key) if key_of is None else key_of(pick(person_key))
    cut_rows = pick(cut)
    n = len(cut_rows)
    # cut: 0 for none, else 1 + the position of the reason in CUT_REASONS (a bool array: degree_limit).
    reasons = (
        pa.DictionaryArray.from_arrays(
            pa.array(np.maximum(cut_rows.astype(np.int8), 1) - 1, mask=cut_rows == 0), list(CUT_REASONS)
        )
        if cut_rows.any()
        else pa.nulls(n, pa.string())
    )
    return pa.table(
        {
            "identifier_key": pa.array(pick(graph.identifier_key)),
            "person_key": pa.array(keys.astype(np.int64, copy=False)),
            "cut_reason": reasons,
        }
    )


def _insert(conn: duckdb.DuckDBPyConnection, target: str, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    name = "_sen_rows"
    conn.register(name, table)
    try:
        columns = ", ".join(table.column_names)
        conn.execute(f"insert into {target} ({columns}) select {columns} from {name}")
    finally:
        conn.unregister(name)


def _drop_earlier_layout(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Maps written before the key registry were a table of strings; the view takes its name."""
    found = conn.execute(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, MAP_VIEW],
    ).fetchall()
    if found and found[0][0] == "BASE TABLE":
        conn.execute(f"drop table {schema}.{MAP_VIEW}")


def replace_person_map(
    conn: duckdb.DuckDBPyConnection,
    config: IdentityConfig,
    graph: IdentityGraph,
    person_ids: pa.Array,
    node_person: np.ndarray,
    cut: np.ndarray,
) -> int:
    """Rewrite identifier_persons and persons: node_person[i] is node i's index into person_ids (-1: not
    mapped). Person ids no node holds are left out and the others renumbered 0, 1, 2... Returns the rows."""
    schema = config.output_schema
    everyone = bool((node_person >= 0).all())
    mapped = None if everyone else np.flatnonzero(node_person >= 0)
    used = np.zeros(len(person_ids), dtype=bool)
    used[node_person if mapped is None else node_person[mapped]] = True
    if used.all():  # a first run: every id is held, keys stay as they are
        person_key, kept = node_person, person_ids
    else:
        new_key = np.cumsum(used) - 1
        person_key = np.where(node_person >= 0, new_key[np.maximum(node_person, 0)], -1)
        kept = person_ids.filter(pa.array(used))
    _drop_earlier_layout(conn, schema)
    conn.execute(f"create or replace table {schema}.identifier_persons ({ASSIGNMENTS_DDL})")
    conn.execute(f"create or replace table {schema}.persons ({PERSONS_DDL})")
    _insert(conn, f"{schema}.identifier_persons", _assignment_rows(graph, person_key, cut, mapped))
    _insert(
        conn,
        f"{schema}.persons",
        pa.table({"person_key": pa.array(np.arange(len(kept), dtype=np.int64)), "person_id": kept}),
    )
    conn.execute(person_map_view_sql(config))
    return len(node_person) if mapped is None else len(mapped)


# Above this share of changed rows (or of person ids no identifier holds any more), rewriting the map is cheaper
# than deleting and inserting rows.
REWRITE_SHARE = 0.3


@dataclass(frozen=True)
class MapWrite:
    """How the person map was written: whole, or only the rows that changed."""

    rewritten: bool
    rows_deleted: int
    rows_inserted: int


def write_person_map(
    conn: duckdb.DuckDBPyConnection,
    config: IdentityConfig,
    graph: IdentityGraph,
    person_ids: pa.Array,
    node_person: np.ndarray,
    cut: np.ndarray,
) -> MapWrite:
    """Bring the person map (identifier_persons, persons, the identifier_person_map view) up to date;
    node_person[i] is node i's index into person_ids (-1: not mapped).

    person_ids starts with the previous persons in key order, so a node keeps its row when its index equals
    its previous one and its cut is unchanged. Only the other rows are deleted and inserted, new persons
    appended and previous persons that no identifier holds any more (merged, split off, removed) deleted,
    which leaves gaps in the person keys; a first run, a large change or a map that does not line up is
    rewritten whole (keys 0..n-1 again).
    """
    schema = config.output_schema
    previous = graph.previous
    mapped = node_person >= 0

    def rewrite() -> MapWrite:
        return MapWrite(True, 0, replace_person_map(conn, config, graph, person_ids, node_person, cut))

    if not previous.exists or not previous.unique:
        return rewrite()
    held = np.zeros(len(person_ids), dtype=bool)
    held[node_person[mapped]] = True
    if len(person_ids) - int(held.sum()) > REWRITE_SHARE * max(len(person_ids), 1):
        return rewrite()
    kept = mapped & (node_person == previous.person) & ((cut > 0) == previous.cut)
    stale = np.concatenate([previous.rowid[(previous.rowid >= 0) & ~kept], previous.orphan_rowids])
    changed = np.flatnonzero(mapped & ~kept)
    if len(stale) + len(changed) > REWRITE_SHARE * max(graph.n_nodes, 1):
        return rewrite()
    target = f"{schema}.identifier_persons"
    if len(stale):
        conn.register("_sen_stale", pa.table({"rid": pa.array(stale, pa.int64())}))
        try:
            deleted = conn.execute(
                f"delete from {target} where rowid in (select rid from _sen_stale)"
            ).fetchall()[0][0]
        finally:
            conn.unregister("_sen_stale")
        if deleted != len(stale):  # the map changed since it was read: start over
            return rewrite()
    n_ids, n_previous = len(person_ids), len(previous.person_ids)
    _insert(
        conn,
        target,
        _assignment_rows(graph, node_person, cut, changed, lambda index: previous.key_of(index, n_ids)),
    )
    # Previous persons nobody holds now: their row goes (else they would stay in `persons`, and be taken
    # for a person removed on every later run). The history keeps what happened to them.
    gone = np.flatnonzero(~held[:n_previous])
    if len(gone):
        conn.register("_sen_gone", pa.table({"k": pa.array(previous.key_of(gone, n_ids), pa.int64())}))
        try:
            conn.execute(f"delete from {schema}.persons where person_key in (select k from _sen_gone)")
        finally:
            conn.unregister("_sen_gone")
    if n_ids > n_previous:
        first = previous.next_key()
        _insert(
            conn,
            f"{schema}.persons",
            pa.table(
                {
                    "person_key": pa.array(np.arange(first, first + n_ids - n_previous, dtype=np.int64)),
                    "person_id": person_ids.slice(n_previous),
                }
            ),
        )
    conn.execute(person_map_view_sql(config))
    return MapWrite(False, len(stale), len(changed))


def append_created(
    conn: duckdb.DuckDBPyConnection, schema: str, person_ids: pa.Array, run_id: str, occurred_at: datetime
) -> None:
    """History rows for new persons: constants come from SQL, only the ids cross from Arrow. The run id and
    time are written as literals: as parameters they cost a tenth of a second more per million rows."""
    if len(person_ids) == 0:
        return
    conn.register("_sen_created", pa.table({"person_id": person_ids}))
    try:
        conn.execute(
            f"insert into {schema}.person_id_history select person_id, 'created', null, {quote(run_id)}, "
            f"{quote(occurred_at.isoformat(sep=' '))}::timestamp from _sen_created"
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
