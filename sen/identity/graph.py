"""Read the identifier graph from DuckDB into integer arrays.

Only numbers cross into Python: every identifier carries its integer key from the key registry
(int_identifier_keys, assigned by dbt), nodes by `identifier_key` and edges by `key_a` / `key_b`. Node i is the
i-th row the node query returns; a dense array turns keys into node positions (a pandas hash table when the keys
are too sparse for one). Strings are read by key only for the rows that need them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sen.identity.config import IdentityConfig
from sen.normalize import active_blocklist

# Ordering key of a node: type rank (3 bits) | seconds since 2000 (32 bits: until 2136) | identifier key (28 bits).
_EPOCH_2000 = 946_684_800
_SECONDS_BITS = 32
_KEY_BITS = 28
_UNKNOWN_SECONDS = (1 << _SECONDS_BITS) - 1
NULL_US = np.iinfo(np.int64).min  # a NULL timestamp, read as microseconds
NODE_COLUMNS = ["identifier_key", "identifier_type", "identifier_value", "first_seen_at", "last_seen_at"]
EDGE_COLUMNS = [
    "key_a", "key_b", "id_a_type", "id_a", "id_b_type", "id_b", "first_seen_at", "last_seen_at", "n_records",
]  # fmt: skip
# Keys up to this many times the number of nodes are looked up in a dense array, sparser ones in a hash table.
_DENSE_KEYS = 4


class IdentityInputError(ValueError):
    """The node or edge table is missing or malformed; the message names the table and the problem."""


class KeyIndex:
    """Identifier key -> node position: a dense array when keys are compact (the registry's 1, 2, 3...),
    else pandas' hash table."""

    def __init__(self, keys: np.ndarray) -> None:
        n = len(keys)
        top = int(keys.max()) if n else -1
        self.dense: np.ndarray | None = None
        self.table: pd.Index | None = None
        self.unique = True
        if n and (int(keys.min()) < 0 or top > _DENSE_KEYS * n + 1_000_000):
            self.table = pd.Index(keys, copy=False)
            self.unique = bool(self.table.is_unique)
            return
        positions = np.full(top + 1, -1, dtype=np.int32)
        positions[keys] = np.arange(n, dtype=np.int32)
        # A key held twice fills one slot for two nodes.
        self.unique = int(np.count_nonzero(positions >= 0)) == n
        self.dense = positions

    def get_indexer(self, keys: np.ndarray) -> np.ndarray:
        """Positions of `keys` (int32), -1 for keys that are not nodes."""
        if self.table is not None:
            return self.table.get_indexer(keys).astype(np.int32)
        assert self.dense is not None
        if len(keys) == 0:
            return np.zeros(0, dtype=np.int32)
        if int(keys.min()) >= 0 and int(keys.max()) < len(self.dense):
            return self.dense[keys]
        out = np.full(len(keys), -1, dtype=np.int32)
        inside = (keys >= 0) & (keys < len(self.dense))
        out[inside] = self.dense[keys[inside]]
        return out


@dataclass
class PreviousMap:
    """The previous run's person assignments (identity.identifier_persons), aligned with the current nodes."""

    person: (
        np.ndarray
    )  # int32 per node: index into person_ids (its person key), -1 when the identifier is new
    person_ids: pa.Array  # string: the previous persons, person_ids[k] holding person key k
    rowid: np.ndarray  # int64 per node: its row in the previous assignments, -1 when none
    cut: np.ndarray  # bool per node: that row had a cut_reason
    orphan_rowids: np.ndarray  # rows of the previous assignments whose identifier is no longer a node
    exists: bool  # there was a previous map
    unique: bool  # no identifier had two rows and no person key two ids (else everything is rewritten)
    # The person key of each entry of person_ids, when they are not 0..n-1 (persons no identifier held any
    # more were deleted in place); None: person_ids[k] holds person key k.
    person_keys: np.ndarray | None = None
    # Person (index into person_ids) of each previous row whose identifier is no longer a node.
    orphan_person: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def key_of(self, index: np.ndarray, n_ids: int) -> np.ndarray:
        """Person keys of indexes into a person_ids that starts with these previous persons and goes on with
        n_ids - len(self.person_ids) new ones (keyed after the largest previous key)."""
        if self.person_keys is None:
            return index
        n_prev = len(self.person_ids)
        following = int(self.person_keys[-1]) + 1 if n_prev else 0
        keys = np.concatenate([self.person_keys, np.arange(following, following + n_ids - n_prev)])
        return keys[index]

    def next_key(self) -> int:
        """The person key of the first new person."""
        if self.person_keys is None or not len(self.person_keys):
            return len(self.person_ids)
        return int(self.person_keys[-1]) + 1

    @classmethod
    def empty(cls, n: int, exists: bool = False) -> PreviousMap:
        """No previous row for any of n nodes; the row arrays are only read when a previous map exists."""
        rows = n if exists else 0
        return cls(
            person=np.full(n, -1, dtype=np.int32),
            person_ids=pa.array([], type=pa.string()),
            rowid=np.full(rows, -1, dtype=np.int64),
            cut=np.zeros(rows, dtype=bool),
            orphan_rowids=np.zeros(0, dtype=np.int64),
            exists=exists,
            unique=True,
        )


@dataclass
class IdentityGraph:
    """The identifier graph as arrays. Node i < n_base is the i-th row of `base_relation` as read; later nodes
    are edge ends missing from the node table, held in `extra_nodes`."""

    base_relation: str
    n_base: int
    extra_nodes: pa.Table  # NODE_COLUMNS
    identifier_key: np.ndarray  # int64 registry key of each node
    node_type: np.ndarray  # int8 index into config.all_types
    node_key: np.ndarray  # int64 order (strongest type, oldest, then first registered): names new persons
    src: np.ndarray  # int32 edge ends as node positions, one row per input edge row (duplicates possible)
    dst: np.ndarray
    edges_table: str
    key_index: KeyIndex  # identifier key -> position
    previous: PreviousMap
    # The blocklist flags (bool per node: dropped by the blocklist). The query that finds them reads every
    # identifier string, so load_graph may leave it running in the background: `blocked` waits for it.
    pending_blocked: Callable[[], np.ndarray]
    temp_tables: tuple[str, ...] = ()

    @property
    def n_nodes(self) -> int:
        return len(self.node_type)

    @cached_property
    def blocked(self) -> np.ndarray:
        return self.pending_blocked()

    def first_seen(self, positions: np.ndarray) -> np.ndarray:
        """Seconds since 2000 of first sight (the maximum when unknown), from the node key."""
        return (self.node_key[positions] >> _KEY_BITS) & _UNKNOWN_SECONDS


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _split(qualified: str) -> tuple[str, str]:
    schema, _, name = qualified.rpartition(".")
    return schema or "main", name


def relation_type(conn: duckdb.DuckDBPyConnection, qualified: str) -> str | None:
    """'BASE TABLE', 'VIEW', 'LOCAL TEMPORARY' or None when the relation does not exist."""
    schema, name = _split(qualified)
    rows = conn.execute(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return rows[0][0] if rows else None


def relation_exists(conn: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    return relation_type(conn, qualified) is not None


def _require_columns(conn: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    if not relation_exists(conn, table):
        raise IdentityInputError(f"identity input table {table} does not exist (run the dbt models first)")
    schema, name = _split(table)
    found = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    missing = [c for c in columns if c not in found]
    if missing:
        raise IdentityInputError(f"identity input table {table} lacks columns {missing}")


def _blocklist_rules(config: IdentityConfig) -> tuple[set[str], dict[str, set[str]]]:
    """Exact junk values (lower case): for any type, and per type."""
    bl = config.blocklist
    any_values = {v.strip().lower() for v in bl.any_type}
    typed: dict[str, set[str]] = {t: {v.strip().lower() for v in vs} for t, vs in bl.exact.items()}
    if bl.include_normalization_blocklist:
        normalization = active_blocklist()
        any_values |= set(normalization.common.exact)
        for t, rules in normalization.by_type.items():
            if t in config.all_types:
                typed.setdefault(t, set()).update(rules.exact)
    return any_values, typed


def _spellings(values: set[str]) -> str:
    # Lower, upper and capitalized spellings: avoids lower() on every value of a large table.
    variants = {s for v in values for s in (v, v.upper(), v.capitalize())}
    return ", ".join(quote(v) for v in sorted(variants))


def _pattern_sql(config: IdentityConfig, value_col: str, t: str) -> list[str]:
    return [f"regexp_matches({value_col}, {quote(p)}, 'i')" for p in config.blocklist.patterns.get(t, [])]


def blocked_sql(config: IdentityConfig, type_col: str, value_col: str) -> str:
    """SQL boolean expression: the identifier is junk per the identity blocklist (case-insensitive)."""
    any_values, typed = _blocklist_rules(config)
    # Identifiers arrive trimmed from staging, so '' is the empty value; per-type checks sit in a CASE so
    # that each runs only on rows of its type.
    terms = [f"{value_col} = ''"]
    if any_values:
        terms.append(f"{value_col} in ({_spellings(any_values)})")
    branches = []
    for t in sorted(set(typed) | set(config.blocklist.patterns)):
        checks = [f"{value_col} in ({_spellings(typed[t])})"] if typed.get(t) else []
        checks += _pattern_sql(config, value_col, t)
        if checks:
            branches.append(f"when {quote(t)} then ({' or '.join(checks)})")
    if branches:
        terms.append(f"(case {type_col} {' '.join(branches)} else false end)")
    return "(" + " or ".join(terms) + ")"


def blocked_keys_sql(config: IdentityConfig, relation: str) -> str:
    """identifier_key of the rows of `relation` that blocked_sql() drops, in two steps for large tables.

    DuckDB turns each long IN list into a hash join that probes every row, so blocked_sql() probes 10M
    identifiers four times. The first step probes once, with every exact value of every list (and the patterns
    of each type); the exact rule is then applied to the few candidates. Same result, a third less CPU time.
    """
    any_values, typed = _blocklist_rules(config)
    every_value = any_values.union(*typed.values())
    first = ["identifier_value = ''"]
    if every_value:
        first.append(f"identifier_value in ({_spellings(every_value)})")
    branches = [
        f"when {quote(t)} then ({' or '.join(checks)})"
        for t in sorted(config.blocklist.patterns)
        if (checks := _pattern_sql(config, "identifier_value", t))
    ]
    if branches:
        first.append(f"(case identifier_type {' '.join(branches)} else false end)")
    return f"""
        with candidates as materialized (
            select identifier_key, identifier_type, identifier_value from {relation}
            where {" or ".join(first)}
        )
        select identifier_key as k from candidates
        where {blocked_sql(config, "identifier_type", "identifier_value")}
    """


def _node_query(config: IdentityConfig, relation: str, extra: bool = False) -> str:
    """k (identifier key), type_code (-1: unknown type) and node_key, which holds the first-seen second.

    The type is cast to an ENUM once (DuckDB casts a dictionary-compressed column per distinct value), so
    the rest is integer arithmetic: a CASE over 10M type strings, or the same key built in numpy, cost
    three times more. Node key: type rank (3 bits) | seconds since 2000 (32 bits) | identifier key (low 28
    bits): identifiers of one type first seen in the same second are ordered by registration (keys follow
    (type, value) order within a load), and no identifier string is read here. The blocklist reads the
    strings in a query of its own; `extra` (the few nodes that only edges name) adds the blocked flag and the
    node columns.
    """
    extra_columns = (
        f", {blocked_sql(config, 'identifier_type', 'identifier_value')} as blocked, {', '.join(NODE_COLUMNS)}"
        if extra
        else ""
    )
    types = ", ".join(quote(t) for t in config.all_types)
    ranks = ", ".join(str(config.type_priority.index(t)) for t in config.all_types)
    return f"""
        with coded as (
            select {", ".join(NODE_COLUMNS)}, identifier_key as k,
                   enum_code(try_cast(identifier_type as enum({types}))) as code,
                   coalesce(epoch_us(first_seen_at), {NULL_US}) as first_seen_us
            from {relation}
        )
        select k, coalesce(code::tinyint, -1::tinyint) as type_code,
               (coalesce([{ranks}][code + 1], 7)::bigint << {_SECONDS_BITS + _KEY_BITS})
               | ((case when first_seen_us = {NULL_US} then {_UNKNOWN_SECONDS}
                        else least(greatest(first_seen_us // 1000000 - {_EPOCH_2000}, 0), {_UNKNOWN_SECONDS})
                   end) << {_KEY_BITS})
               | (k & {(1 << _KEY_BITS) - 1}) as node_key{extra_columns}
        from coded
    """


_NUMBERS = ("k", "type_code", "node_key")


def _node_numbers(table: pa.Table, relation: str) -> dict[str, np.ndarray]:
    """The numeric columns of a node query's result as numpy arrays."""
    if table.column("k").null_count:
        raise IdentityInputError(
            f"{relation}: {table.column('k').null_count} rows have no identifier_key "
            "(every identifier needs its key from the key registry; run the dbt models first)"
        )
    out = {c: table.column(c).to_numpy() for c in _NUMBERS}
    if "blocked" in table.column_names:
        out["blocked"] = table.column("blocked").to_numpy(zero_copy_only=False).astype(bool)
    return out


def _blocked_keys(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, relation: str, close: bool = False
) -> np.ndarray:
    try:
        return conn.sql(blocked_keys_sql(config, relation)).to_arrow_table().column("k").to_numpy()
    finally:
        if close:
            conn.close()


def _temp_name(prefix: str) -> str:
    return f"_sen_{prefix}_{uuid.uuid4().hex[:8]}"


def _base_nodes(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, background: Executor
) -> tuple[str, dict[str, np.ndarray], KeyIndex, Callable[[], np.ndarray], list[str]]:
    """The relation whose rows are the nodes, its numeric columns in the order read, and a callable that
    returns the keys the blocklist drops (its query runs on `background`).

    Duplicate rows of one identifier are aggregated (the node model should not have them, but one duplicate
    must not stop the run).
    """
    table = config.nodes_table
    temps: list[str] = []

    def read(relation: str) -> dict[str, np.ndarray]:
        return _node_numbers(conn.sql(_node_query(config, relation)).to_arrow_table(), table)

    relation = table
    arrays = read(relation)
    # The blocklist on a second connection (DuckDB releases the GIL).
    blocked_future = background.submit(_blocked_keys, conn.cursor(), config, relation, close=True)
    index = KeyIndex(arrays["k"])
    if index.unique:
        return relation, arrays, index, blocked_future.result, temps
    blocked_future.result()  # for the old relation: not used
    relation = _temp_name("nodes")
    conn.execute(
        f"""
        create temp table {relation} as
        select identifier_key, identifier_type, identifier_value, min(first_seen_at) as first_seen_at,
               max(last_seen_at) as last_seen_at
        from {table} group by identifier_key, identifier_type, identifier_value
        """
    )
    temps.append(relation)
    arrays = read(relation)
    index = KeyIndex(arrays["k"])
    if not index.unique:
        raise IdentityInputError(f"{table}: two distinct identifiers share an identifier_key")
    blocked_keys = _blocked_keys(conn, config, relation)  # a temp table: only this connection sees it
    return relation, arrays, index, lambda: blocked_keys, temps


def _read_edges(conn: duckdb.DuckDBPyConnection, config: IdentityConfig) -> dict[str, np.ndarray]:
    # Only the two keys: dates and record counts are read later for the few edges that need them.
    # Arrow hands the columns over without a copy (fetchnumpy converts them in Python).
    table = conn.sql(
        f"""
        select key_a as ka, key_b as kb from {config.edges_table}
        """
    ).to_arrow_table()
    missing = table.column("ka").null_count + table.column("kb").null_count
    if missing:
        raise IdentityInputError(
            f"{config.edges_table}: {missing} edge ends have no key (key_a / key_b; every identifier needs its "
            "key from the key registry; run the dbt models first)"
        )
    return {c: table.column(c).to_numpy() for c in ("ka", "kb")}


def edge_details(conn: duckdb.DuckDBPyConnection, graph: IdentityGraph, nodes: np.ndarray) -> pd.DataFrame:
    """Distinct pairs with an end among `nodes`: low, high (positions), first_seen and last_seen (seconds since
    2000), records."""
    name = _temp_name("edge_nodes")
    conn.register(name, pa.table({"k": graph.identifier_key[nodes]}))
    try:
        found = conn.sql(
            f"""
            select key_a as ka, key_b as kb,
                   coalesce(min(epoch(first_seen_at))::bigint - {_EPOCH_2000}, {_UNKNOWN_SECONDS}) as first_seen,
                   coalesce(max(epoch(last_seen_at))::bigint - {_EPOCH_2000}, 0) as last_seen,
                   coalesce(sum(n_records), count(*))::bigint as records
            from {graph.edges_table}
            where key_a in (select k from {name}) or key_b in (select k from {name})
            group by key_a, key_b
            """
        ).to_arrow_table()
        rows = {c: found.column(c).to_numpy() for c in found.column_names}
    finally:
        conn.unregister(name)
    a, b = graph.key_index.get_indexer(rows["ka"]), graph.key_index.get_indexer(rows["kb"])
    frame = pd.DataFrame(
        {
            "low": np.minimum(a, b),
            "high": np.maximum(a, b),
            "first_seen": rows["first_seen"],
            "last_seen": rows["last_seen"],
            "records": rows["records"],
        }
    )
    frame = frame[frame.low != frame.high]
    return frame.groupby(["low", "high"], as_index=False, sort=True).agg(
        first_seen=("first_seen", "min"), last_seen=("last_seen", "max"), records=("records", "sum")
    )


def _missing_endpoint_nodes(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, missing: np.ndarray
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """Edge ends absent from the node table become nodes (strings and numbers), in the order of `missing`."""
    name = _temp_name("missing")
    conn.register(name, pa.table({"k": missing}))
    try:
        relation = f"""(
            select identifier_key, identifier_type, identifier_value, min(first_seen_at) as first_seen_at,
                   max(last_seen_at) as last_seen_at
            from (
                select key_a as identifier_key, id_a_type as identifier_type, id_a as identifier_value,
                       first_seen_at, last_seen_at
                from {config.edges_table} where key_a in (select k from {name})
                union all
                select key_b, id_b_type, id_b, first_seen_at, last_seen_at
                from {config.edges_table} where key_b in (select k from {name})
            ) group by all
        )"""
        both = conn.sql(_node_query(config, relation, extra=True)).to_arrow_table()
    finally:
        conn.unregister(name)
    numbers = _node_numbers(both, config.edges_table)
    if not pd.Index(numbers["k"]).is_unique:
        raise IdentityInputError(f"{config.edges_table}: two distinct identifiers share a key")
    order = pd.Index(numbers["k"]).get_indexer(missing)
    strings = both.select(NODE_COLUMNS)
    return strings.take(pa.array(order)).combine_chunks(), {k: v[order] for k, v in numbers.items()}


def _check_types(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, relation: str, codes: np.ndarray
) -> None:
    if (codes >= 0).all():
        return
    known = ", ".join(quote(t) for t in config.all_types)
    counts = conn.sql(
        f"select identifier_type, count(*) from {relation} where identifier_type not in ({known}) "
        "or identifier_type is null group by all order by 2 desc limit 10"
    ).fetchall()
    listed = ", ".join(f"{t!r} ({n} rows)" for t, n in counts)
    raise IdentityInputError(
        f"{config.nodes_table} has identifier types that the identity config does not know: {listed}; "
        "add them to person_defining_types or linking_types"
    )


def _previous_map(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, index: KeyIndex, n: int
) -> PreviousMap:
    schema = config.output_schema
    assignments, persons = f"{schema}.identifier_persons", f"{schema}.persons"
    if relation_exists(conn, assignments) and relation_exists(conn, persons):
        previous = conn.sql(
            f"select rowid as rid, identifier_key as k, person_key, cut_reason is not null as cut from {assignments}"
        ).to_arrow_table()
        # Written in key order; sorted here only if it is not.
        known = conn.sql(f"select person_key, person_id from {persons}").to_arrow_table()
        keys = known.column("person_key").to_numpy()
        person_ids = known.column("person_id").combine_chunks()
        if len(keys) > 1 and not bool((keys[1:] > keys[:-1]).all()):
            order = np.argsort(keys, kind="stable")
            keys, person_ids = keys[order], person_ids.take(pa.array(order))
        person = previous.column("person_key").to_numpy()
        person_keys = None
        # Keys 0..n-1, or with gaps where persons nobody held any more were deleted in place; a key with two
        # ids was not written by this code: the ids still carry over, everything is rewritten.
        dense = bool((keys == np.arange(len(keys))).all())
        distinct = dense or len(keys) < 2 or bool((keys[1:] > keys[:-1]).all())
        if not dense:
            slot = np.searchsorted(keys, person)  # keys are sorted
            found = (slot >= 0) & (slot < len(keys))
            found[found] = keys[slot[found]] == person[found]
            person = np.where(found, slot, -1)
            person_keys = keys.astype(np.int64)
        dense = distinct
        cut = previous.column("cut").to_numpy(zero_copy_only=False)
    elif relation_type(conn, f"{schema}.identifier_person_map") == "BASE TABLE":
        person_keys = None
        # The earlier layout stored strings in the map: matched to keys once, then rewritten in the new layout.
        previous = conn.sql(
            f"""select -1::bigint as rid, n.identifier_key as k, m.person_id
                from {schema}.identifier_person_map m join {config.nodes_table} n
                  on n.identifier_type = m.identifier_type and n.identifier_value = m.identifier_value"""
        ).to_arrow_table()
        encoded = pc.dictionary_encode(previous.column("person_id")).combine_chunks()
        person_ids, person = encoded.dictionary, encoded.indices.to_numpy()
        dense, cut = False, np.zeros(previous.num_rows, dtype=bool)
    else:
        return PreviousMap.empty(n)
    positions = index.get_indexer(previous.column("k").to_numpy())
    present = (positions >= 0) & (person >= 0)
    rid = previous.column("rid").to_numpy()
    if len(positions) == n and bool(present.all()) and bool((positions == np.arange(n)).all()):
        # The usual rerun: the map was written in node order and still lines up row for row (no scatter).
        return PreviousMap(
            person=person.astype(np.int32),
            person_ids=person_ids,
            rowid=rid,
            cut=np.asarray(cut, dtype=bool),
            orphan_rowids=np.zeros(0, dtype=np.int64),
            exists=True,
            unique=dense,
            person_keys=person_keys,
        )
    at = positions[present]
    result = PreviousMap.empty(n, exists=True)
    result.person_ids = person_ids
    result.person[at] = person[present]
    result.rowid[at] = rid[present]
    result.cut[at] = cut[present]
    result.orphan_rowids = rid[~present]
    result.orphan_person = person[~present & (person >= 0)].astype(np.int64)
    result.person_keys = person_keys
    # No identifier had two rows: every row filled a slot of its own (row ids are never negative).
    result.unique = dense and int(np.count_nonzero(result.rowid >= 0)) == len(at)
    return result


def load_graph(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, background: Executor | None = None
) -> IdentityGraph:
    """Read nodes, edges and the previous run's person assignments into an IdentityGraph.

    With `background`, the blocklist query is left running there (graph.blocked waits for it), so that it
    overlaps the work that does not need it; without, it is done before this returns.
    """
    if background is None:
        with ThreadPoolExecutor(max_workers=1) as pool:
            graph = load_graph(conn, config, pool)
            _ = graph.blocked
            return graph
    _require_columns(conn, config.nodes_table, NODE_COLUMNS)
    _require_columns(conn, config.edges_table, EDGE_COLUMNS)
    # The edges are read on a second connection while the nodes are read and indexed (DuckDB releases the GIL).
    edge_conn = conn.cursor()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            edges_future = pool.submit(_read_edges, edge_conn, config)
            relation, nodes, index, blocked_keys, temps = _base_nodes(conn, config, background)
            edges = edges_future.result()
    finally:
        edge_conn.close()
    src, dst = index.get_indexer(edges["ka"]), index.get_indexer(edges["kb"])
    n_base = len(nodes["k"])
    base_index = index
    _check_types(conn, config, relation, nodes["type_code"])
    extra = pa.table(
        {
            c: pa.array(
                [],
                pa.int64()
                if c == "identifier_key"
                else pa.string()
                if "identifier" in c
                else pa.timestamp("us"),
            )
            for c in NODE_COLUMNS
        }
    )
    extra_blocked = np.zeros(0, dtype=bool)
    if (src < 0).any() or (dst < 0).any():
        missing = pd.unique(np.concatenate([edges["ka"][src < 0], edges["kb"][dst < 0]]))
        extra, numbers = _missing_endpoint_nodes(conn, config, missing)
        if (numbers["type_code"] < 0).any():
            raise IdentityInputError(
                f"{config.edges_table} has identifier types that the identity config does not know: "
                f"{sorted(set(pc.filter(extra.column('identifier_type'), pa.array(numbers['type_code'] < 0)).to_pylist()))}"
            )
        extra_blocked = numbers.pop("blocked")
        nodes = {k: np.concatenate([nodes[k], numbers[k]]) for k in nodes}
        index = KeyIndex(nodes["k"])
        src, dst = index.get_indexer(edges["ka"]), index.get_indexer(edges["kb"])

    def blocked() -> np.ndarray:
        # Base nodes keep their positions when edge-only nodes are appended.
        flags = np.zeros(n_base + len(extra_blocked), dtype=bool)
        keys = blocked_keys()
        if len(keys):
            flags[base_index.get_indexer(keys)] = True
        flags[n_base:] = extra_blocked
        return flags

    type_code = nodes["type_code"].astype(np.int8, copy=False)
    previous = _previous_map(conn, config, index, len(nodes["k"]))
    return IdentityGraph(
        base_relation=relation,
        n_base=n_base,
        extra_nodes=extra,
        identifier_key=nodes["k"],
        node_type=type_code,
        node_key=nodes["node_key"],
        src=src,
        dst=dst,
        edges_table=config.edges_table,
        key_index=index,
        previous=previous,
        pending_blocked=blocked,
        temp_tables=tuple(temps),
    )


PERSON_HASH_SQL = "'p_' || left(md5(identifier_type || ':' || identifier_value), 16)"


def identifiers_at(
    conn: duckdb.DuckDBPyConnection,
    graph: IdentityGraph,
    positions: np.ndarray,
    person_hash: bool = False,
    ordered: bool = True,
) -> pa.Table:
    """identifier_type / identifier_value of the given node positions, in the given order; with
    `person_hash`, also `person_hash`: the person id this identifier would name (see person_ids). With
    ordered=False, the distinct positions in any order, with a `position` column (no reordering copy)."""
    positions = np.asarray(positions, dtype=np.int64)
    columns = ["identifier_type", "identifier_value", *(["person_hash"] if person_hash else [])]
    extra_sql = f", {PERSON_HASH_SQL} as person_hash" if person_hash else ""
    parts: list[pa.Table] = [pa.table({c: pa.array([], pa.string()) for c in columns})]
    found_positions: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    wanted = np.zeros(graph.n_nodes, dtype=bool)
    wanted[positions] = True
    base = np.flatnonzero(wanted[: graph.n_base])
    if len(base):
        name = _temp_name("wanted")
        conn.register(name, pa.table({"k": graph.identifier_key[base]}))
        try:
            found = conn.sql(
                f"""
                select identifier_key as k, identifier_type, identifier_value{extra_sql}
                from {graph.base_relation}
                where identifier_key in (select k from {name})
                """
            ).to_arrow_table()
        finally:
            conn.unregister(name)
        parts.append(found.select(columns))
        found_positions.append(graph.key_index.get_indexer(found.column("k").to_numpy()).astype(np.int64))
    extra = np.flatnonzero(wanted[graph.n_base :]) + graph.n_base
    if len(extra):
        extra_table = graph.extra_nodes.select(["identifier_type", "identifier_value"]).take(
            pa.array(extra - graph.n_base)
        )
        if person_hash:
            name = _temp_name("extra")
            conn.register(name, extra_table)
            try:
                extra_table = conn.sql(f"select *{extra_sql} from {name}").to_arrow_table()
            finally:
                conn.unregister(name)
        parts.append(extra_table)
        found_positions.append(extra)
    table = pa.concat_tables(parts)
    found_at = np.concatenate(found_positions)
    if len(found_at) != int(wanted.sum()) or (found_at < 0).any():
        raise IdentityInputError(f"{graph.base_relation} changed while identity resolution was running")
    if not ordered:
        return table.append_column("position", pa.array(found_at))
    table = table.combine_chunks()
    slot = np.full(graph.n_nodes, -1, dtype=np.int64)
    slot[found_at] = np.arange(table.num_rows)
    return table.take(pa.array(slot[positions]))


def strongest_type_hashes(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, graph: IdentityGraph, close: bool = False
) -> pa.Table:
    """identifier_type, identifier_value, person_hash and position of the identifiers of the strongest type
    (config.type_priority[0]) that had no person in the previous run.

    Run in the background while components are computed: such an identifier names its person whenever its
    component holds no previous person, which is the case for nearly all of them, so after the components
    only the persons named by weaker identifiers still need a lookup (identifiers_at). The registry hands out
    keys in increasing order, so identifiers above the largest key of the previous map are new.
    """
    try:
        mapped = graph.previous.person >= 0
        newest_mapped = int(graph.identifier_key[mapped].max()) if mapped.any() else -1
        found = conn.sql(
            f"""
            select identifier_key as k, identifier_type, identifier_value, {PERSON_HASH_SQL} as person_hash
            from {graph.base_relation}
            where identifier_type = {quote(config.type_priority[0])} and identifier_key > {newest_mapped}
            """
        ).to_arrow_table()
    finally:
        if close:
            conn.close()
    position = graph.key_index.get_indexer(found.column("k").to_numpy()).astype(np.int64)
    new = graph.previous.person[position] < 0
    table = found.drop_columns(["k"]).append_column("position", pa.array(position))
    return table if new.all() else table.filter(pa.array(new))


def drop_temp_tables(conn: duckdb.DuckDBPyConnection, graph: IdentityGraph) -> None:
    for name in graph.temp_tables:
        conn.execute(f"drop table if exists {name}")
