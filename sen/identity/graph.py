"""Read the identifier graph from DuckDB into integer arrays (nodes factorized to int32 positions).

Only numbers cross into Python: DuckDB computes a 64-bit hash of (type, value) per node and per edge end,
and a pandas hash table turns edge ends into node positions. Node i is the row with the i-th smallest rowid
of the node table (its scan order); strings are read back by rowid only for the rows that need them, and the
person map is written by joining the node table by position, with a hash check that the order holds.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sen.identity.config import IdentityConfig
from sen.normalize import active_blocklist

# Ordering key of a node: type rank (3 bits) | seconds since 2000 (34 bits) | hash bits (26 bits).
_EPOCH_2000 = 946_684_800
_SECONDS_BITS = 34
_HASH_BITS = 26
_UNKNOWN_SECONDS = (1 << _SECONDS_BITS) - 1
NULL_US = np.iinfo(np.int64).min  # a NULL timestamp, read as microseconds
NODE_COLUMNS = ["identifier_type", "identifier_value", "first_seen_at", "last_seen_at"]
EDGE_COLUMNS = ["id_a_type", "id_a", "id_b_type", "id_b", "first_seen_at", "last_seen_at", "n_records"]


class IdentityInputError(ValueError):
    """The node or edge table is missing or malformed; the message names the table and the problem."""


@dataclass
class PreviousMap:
    """The previous run's identifier_person_map, aligned with the current nodes."""

    person: np.ndarray  # int32 per node: index into person_ids, -1 when the identifier is new
    person_ids: pa.Array  # string: the previous map's person ids (a dictionary)
    rowid: np.ndarray  # int64 per node: its row in the previous map, -1 when none
    same_row: np.ndarray  # bool per node: that row holds the node's current first/last seen dates
    cut: np.ndarray  # bool per node: that row had a cut_reason
    orphan_rowids: np.ndarray  # rows of the previous map whose identifier is no longer a node
    exists: bool  # there was a previous map
    unique: bool  # no identifier had two rows (else the map is rewritten whole)

    @classmethod
    def empty(cls, n: int) -> PreviousMap:
        none = np.full(n, -1, dtype=np.int64)
        return cls(
            person=np.full(n, -1, dtype=np.int32),
            person_ids=pa.array([], type=pa.string()),
            rowid=none,
            same_row=np.zeros(n, dtype=bool),
            cut=np.zeros(n, dtype=bool),
            orphan_rowids=np.zeros(0, dtype=np.int64),
            exists=False,
            unique=True,
        )


@dataclass
class IdentityGraph:
    """The identifier graph as arrays. Node i < n_base is the row of `base_relation` with the i-th smallest
    rowid; later nodes are edge ends missing from the node table, held in `extra_nodes`."""

    base_relation: str
    n_base: int
    base_rowid: np.ndarray  # int64 rowid of each base node, increasing
    extra_nodes: pa.Table  # NODE_COLUMNS
    node_hash: np.ndarray  # uint64 hash(identifier_type, identifier_value) in DuckDB
    node_type: np.ndarray  # int8 index into config.all_types
    node_key: np.ndarray  # int64 content-based order (strongest type, oldest, then hash): names new persons
    blocked: np.ndarray  # bool: dropped by the blocklist
    src: np.ndarray  # int32 edge ends as node positions, one row per input edge row (duplicates possible)
    dst: np.ndarray
    edges_table: str
    node_index: pd.Index  # node hash -> position
    first_seen_us: np.ndarray  # int64 microseconds since 1970 (NULL_US when unknown)
    last_seen_us: np.ndarray
    previous: PreviousMap
    temp_tables: tuple[str, ...] = ()

    @property
    def n_nodes(self) -> int:
        return len(self.node_type)

    def first_seen(self, positions: np.ndarray) -> np.ndarray:
        """Seconds since 2000 of first sight (the maximum when unknown), from the node key."""
        return (self.node_key[positions] >> _HASH_BITS) & _UNKNOWN_SECONDS


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


def blocked_sql(config: IdentityConfig, type_col: str, value_col: str) -> str:
    """SQL boolean expression: the identifier is junk per the identity blocklist (case-insensitive)."""
    bl = config.blocklist
    any_values = {v.strip().lower() for v in bl.any_type}
    typed: dict[str, set[str]] = {t: {v.strip().lower() for v in vs} for t, vs in bl.exact.items()}
    if bl.include_normalization_blocklist:
        normalization = active_blocklist()
        any_values |= set(normalization.common.exact)
        for t, rules in normalization.by_type.items():
            if t in config.all_types:
                typed.setdefault(t, set()).update(rules.exact)

    def spellings(values: set[str]) -> str:
        # Lower, upper and capitalized spellings: avoids lower() on every value of a large table.
        variants = {s for v in values for s in (v, v.upper(), v.capitalize())}
        return ", ".join(quote(v) for v in sorted(variants))

    # Identifiers arrive trimmed from staging, so '' is the empty value; per-type checks sit in a CASE so
    # that each runs only on rows of its type.
    terms = [f"{value_col} = ''"]
    if any_values:
        terms.append(f"{value_col} in ({spellings(any_values)})")
    branches = []
    for t in sorted(set(typed) | set(bl.patterns)):
        checks = [f"{value_col} in ({spellings(typed[t])})"] if typed.get(t) else []
        checks += [f"regexp_matches({value_col}, {quote(p)}, 'i')" for p in bl.patterns.get(t, [])]
        if checks:
            branches.append(f"when {quote(t)} then ({' or '.join(checks)})")
    if branches:
        terms.append(f"(case {type_col} {' '.join(branches)} else false end)")
    return "(" + " or ".join(terms) + ")"


def _node_query(config: IdentityConfig, relation: str, rowid: bool = True, extra: bool = False) -> str:
    """rid, h, type_code (-1: unknown type), node_key, first/last seen (microseconds, NULL_US when unknown).

    The type is cast to an ENUM once (DuckDB casts a dictionary-compressed column per distinct value), so
    the rest is integer arithmetic: a CASE over 10M type strings, or the same key built in numpy, cost
    three times more. Node key: type rank (3 bits) | seconds since 2000 (34 bits) | top hash bits (26 bits).
    The blocklist's long IN lists become joins that return rows out of order, so the blocked rows of the
    node table are read by a query of their own; `extra` (the few nodes that only edges name) adds the
    blocked flag and the node columns.
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
            select {", ".join(NODE_COLUMNS)}, {"rowid" if rowid else "0::bigint"} as rid,
                   hash(identifier_type, identifier_value) as h,
                   enum_code(try_cast(identifier_type as enum({types}))) as code,
                   coalesce(epoch_us(first_seen_at), {NULL_US}) as first_seen_us,
                   coalesce(epoch_us(last_seen_at), {NULL_US}) as last_seen_us
            from {relation}
        )
        select rid, h, coalesce(code::tinyint, -1::tinyint) as type_code,
               (coalesce([{ranks}][code + 1], 7)::bigint << {_SECONDS_BITS + _HASH_BITS})
               | ((case when first_seen_us = {NULL_US} then {_UNKNOWN_SECONDS}
                        else least(greatest(first_seen_us // 1000000 - {_EPOCH_2000}, 0), {_UNKNOWN_SECONDS})
                   end) << {_HASH_BITS})
               | (h >> {64 - _HASH_BITS})::bigint as node_key,
               first_seen_us, last_seen_us{extra_columns}
        from coded
    """


_NUMBERS = ("rid", "h", "type_code", "node_key", "first_seen_us", "last_seen_us")


def _node_numbers(table: pa.Table) -> dict[str, np.ndarray]:
    """The numeric columns of a node query's result as numpy arrays."""
    out = {c: table.column(c).to_numpy() for c in _NUMBERS}
    if "blocked" in table.column_names:
        out["blocked"] = table.column("blocked").to_numpy(zero_copy_only=False).astype(bool)
    return out


def _blocked_rowids(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, relation: str, close: bool = False
) -> np.ndarray:
    try:
        return np.sort(
            conn.sql(
                f"select rowid as rid from {relation} "
                f"where {blocked_sql(config, 'identifier_type', 'identifier_value')}"
            )
            .to_arrow_table()
            .column("rid")
            .to_numpy()
        )
    finally:
        if close:
            conn.close()


def _index(hashes: np.ndarray) -> pd.Index:
    """Node hash -> position (pandas' hash table); copy=False: the hashes are not copied again."""
    return pd.Index(hashes, copy=False)


def _temp_name(prefix: str) -> str:
    return f"_sen_{prefix}_{uuid.uuid4().hex[:8]}"


def _in_rowid_order(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    # A parallel scan may return row groups out of order; rowid order is the table's scan order.
    rid = arrays["rid"]
    if len(rid) < 2 or bool((rid[1:] > rid[:-1]).all()):
        return arrays
    if rid.min() == 0 and rid.max() == len(rid) - 1:
        # rowids 0..n-1 (a table without deleted rows): the sorting permutation is a scatter, not a sort.
        order = np.empty(len(rid), dtype=np.int64)
        order[rid] = np.arange(len(rid))
    else:
        order = np.argsort(rid, kind="stable")
    return {k: v[order] for k, v in arrays.items()}


def _base_nodes(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, pool: ThreadPoolExecutor
) -> tuple[str, dict[str, np.ndarray], pd.Index, list[str]]:
    """The relation whose rows are the nodes, and its numeric columns in scan order.

    A view is materialized first (its scan order is not stable); duplicate rows of one identifier are
    aggregated (the node model should not have them, but one duplicate must not stop the run).
    """
    table = config.nodes_table
    temps: list[str] = []
    relation = table
    if relation_type(conn, table) != "BASE TABLE":
        relation = _temp_name("nodes")
        conn.execute(f"create temp table {relation} as select {', '.join(NODE_COLUMNS)} from {table}")
        temps.append(relation)

    def read(relation: str) -> dict[str, np.ndarray]:
        return _in_rowid_order(_node_numbers(conn.sql(_node_query(config, relation)).to_arrow_table()))

    arrays = read(relation)
    blocked_future = None
    if not temps:  # a second connection sees base tables, not this connection's temp tables
        blocked_future = pool.submit(_blocked_rowids, conn.cursor(), config, relation, close=True)
    index = _index(arrays["h"])
    if not index.is_unique:
        if blocked_future is not None:
            blocked_future.result()  # for the old relation: not used
            blocked_future = None
        relation = _temp_name("nodes")
        conn.execute(
            f"""
            create temp table {relation} as
            select identifier_type, identifier_value, min(first_seen_at) as first_seen_at,
                   max(last_seen_at) as last_seen_at
            from {table} group by identifier_type, identifier_value
            """
        )
        temps.append(relation)
        arrays = read(relation)
        index = _index(arrays["h"])
        if not index.is_unique:
            raise IdentityInputError(f"{table}: two distinct identifiers share a 64-bit hash")
    blocked = np.zeros(len(arrays["h"]), dtype=bool)
    if blocked_future is not None:
        blocked_rid = blocked_future.result()
    else:
        blocked_rid = _blocked_rowids(conn, config, relation)
    if len(blocked_rid):
        blocked[np.searchsorted(arrays["rid"], blocked_rid)] = True
    arrays["blocked"] = blocked
    return relation, arrays, index, temps


def _read_edges(conn: duckdb.DuckDBPyConnection, config: IdentityConfig) -> dict[str, np.ndarray]:
    # Only the two hashes: dates and record counts are read later for the few edges that need them.
    # Arrow hands the columns over without a copy (fetchnumpy converts them in Python).
    table = conn.sql(
        f"""
        select hash(id_a_type, id_a) as ha, hash(id_b_type, id_b) as hb
        from {config.edges_table}
        where id_a is not null and id_b is not null
        """
    ).to_arrow_table()
    return {c: table.column(c).to_numpy() for c in ("ha", "hb")}


def edge_details(conn: duckdb.DuckDBPyConnection, graph: IdentityGraph, nodes: np.ndarray) -> pd.DataFrame:
    """Distinct pairs with an end among `nodes`: low, high (positions), first_seen (s), records."""
    name = _temp_name("edge_nodes")
    conn.register(name, pa.table({"h": graph.node_hash[nodes]}))
    try:
        found = conn.sql(
            f"""
            with hashed as (
                select hash(id_a_type, id_a) as ha, hash(id_b_type, id_b) as hb, first_seen_at, n_records
                from {graph.edges_table}
                where id_a is not null and id_b is not null
            )
            select ha, hb,
                   coalesce(min(epoch(first_seen_at))::bigint - {_EPOCH_2000}, {_UNKNOWN_SECONDS}) as first_seen,
                   coalesce(sum(n_records), count(*))::bigint as records
            from hashed
            where ha in (select h from {name}) or hb in (select h from {name})
            group by ha, hb
            """
        ).to_arrow_table()
        rows = {c: found.column(c).to_numpy() for c in found.column_names}
    finally:
        conn.unregister(name)
    a, b = graph.node_index.get_indexer(rows["ha"]), graph.node_index.get_indexer(rows["hb"])
    frame = pd.DataFrame(
        {
            "low": np.minimum(a, b),
            "high": np.maximum(a, b),
            "first_seen": rows["first_seen"],
            "records": rows["records"],
        }
    )
    frame = frame[frame.low != frame.high]
    return frame.groupby(["low", "high"], as_index=False, sort=True).agg(
        first_seen=("first_seen", "min"), records=("records", "sum")
    )


def _missing_endpoint_nodes(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, missing: np.ndarray
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """Edge ends absent from the node table become nodes (strings and numbers), in the order of `missing`."""
    name = _temp_name("missing")
    conn.register(name, pa.table({"h": missing}))
    try:
        relation = f"""(
            select identifier_type, identifier_value, min(first_seen_at) as first_seen_at,
                   max(last_seen_at) as last_seen_at
            from (
                select id_a_type as identifier_type, id_a as identifier_value, first_seen_at, last_seen_at
                from {config.edges_table} where hash(id_a_type, id_a) in (select h from {name})
                union all
                select id_b_type, id_b, first_seen_at, last_seen_at
                from {config.edges_table} where hash(id_b_type, id_b) in (select h from {name})
            ) group by all
        )"""
        numeric = _node_query(config, relation, rowid=False, extra=True)
        both = conn.sql(numeric).to_arrow_table()
    finally:
        conn.unregister(name)
    strings = both.select(NODE_COLUMNS)
    numbers = _node_numbers(both)
    order = pd.Index(numbers["h"]).get_indexer(missing)
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
    conn: duckdb.DuckDBPyConnection,
    config: IdentityConfig,
    index: pd.Index,
    first_seen_us: np.ndarray,
    last_seen_us: np.ndarray,
) -> PreviousMap:
    table = f"{config.output_schema}.identifier_person_map"
    n = len(first_seen_us)
    if not relation_exists(conn, table):
        return PreviousMap.empty(n)
    schema, name = _split(table)
    columns = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    # A map written by an older layout cannot be compared row by row: every row counts as changed (so the
    # map is rewritten), the person ids still carry over.
    comparable = {"first_seen_at", "last_seen_at", "cut_reason"} <= columns
    compared = (
        f"""coalesce(epoch_us(first_seen_at), {NULL_US}) as first_seen_us,
            coalesce(epoch_us(last_seen_at), {NULL_US}) as last_seen_us, cut_reason is not null as cut"""
        if comparable
        else f"{NULL_US} as first_seen_us, {NULL_US} as last_seen_us, false as cut"
    )
    previous = conn.sql(
        f"select rowid as rid, hash(identifier_type, identifier_value) as h, person_id, {compared} from {table}"
    ).to_arrow_table()
    encoded = pc.dictionary_encode(previous.column("person_id")).combine_chunks()
    positions = index.get_indexer(previous.column("h").to_numpy())
    present = positions >= 0
    at = positions[present]
    result = PreviousMap.empty(n)
    result.exists = True
    result.person_ids = encoded.dictionary
    result.person[at] = encoded.indices.to_numpy()[present]
    rid = previous.column("rid").to_numpy()
    result.rowid[at] = rid[present]
    if comparable:
        result.same_row[at] = (previous.column("first_seen_us").to_numpy()[present] == first_seen_us[at]) & (
            previous.column("last_seen_us").to_numpy()[present] == last_seen_us[at]
        )
    result.cut[at] = previous.column("cut").to_numpy(zero_copy_only=False)[present]
    result.orphan_rowids = rid[~present]
    result.unique = len(at) == 0 or int(np.bincount(at, minlength=n).max()) <= 1
    return result


def load_graph(conn: duckdb.DuckDBPyConnection, config: IdentityConfig) -> IdentityGraph:
    """Read nodes, edges and the previous run's person map into an IdentityGraph."""
    _require_columns(conn, config.nodes_table, NODE_COLUMNS)
    _require_columns(conn, config.edges_table, EDGE_COLUMNS)
    # DuckDB and pandas' hash table lookups release the GIL: the edges are read on a second connection
    # while the nodes are read and indexed, then the two edge ends are looked up on two threads.
    edge_conn = conn.cursor()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            edges_future = pool.submit(_read_edges, edge_conn, config)
            relation, nodes, index, temps = _base_nodes(conn, config, pool)
            edges = edges_future.result()
            src_future = pool.submit(index.get_indexer, edges["ha"])
            dst = index.get_indexer(edges["hb"])
            src = src_future.result()
    finally:
        edge_conn.close()
    n_base = len(nodes["h"])
    _check_types(conn, config, relation, nodes["type_code"])
    extra = pa.table(
        {c: pa.array([], pa.string() if "identifier" in c else pa.timestamp("us")) for c in NODE_COLUMNS}
    )
    if (src < 0).any() or (dst < 0).any():
        missing = pd.unique(np.concatenate([edges["ha"][src < 0], edges["hb"][dst < 0]]))
        extra, numbers = _missing_endpoint_nodes(conn, config, missing)
        if (numbers["type_code"] < 0).any():
            raise IdentityInputError(
                f"{config.edges_table} has identifier types that the identity config does not know: "
                f"{sorted(set(pc.filter(extra.column('identifier_type'), pa.array(numbers['type_code'] < 0)).to_pylist()))}"
            )
        nodes = {k: np.concatenate([nodes[k], numbers[k]]) for k in nodes}
        index = _index(nodes["h"])
        src, dst = index.get_indexer(edges["ha"]), index.get_indexer(edges["hb"])

    type_code = nodes["type_code"].astype(np.int8, copy=False)
    previous = _previous_map(conn, config, index, nodes["first_seen_us"], nodes["last_seen_us"])
    return IdentityGraph(
        base_relation=relation,
        n_base=n_base,
        base_rowid=nodes["rid"][:n_base],
        extra_nodes=extra,
        node_hash=nodes["h"],
        node_type=type_code,
        node_key=nodes["node_key"],
        blocked=nodes["blocked"].astype(bool, copy=False),
        src=src.astype(np.int32),
        dst=dst.astype(np.int32),
        edges_table=config.edges_table,
        node_index=index,
        first_seen_us=nodes["first_seen_us"],
        last_seen_us=nodes["last_seen_us"],
        previous=previous,
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
        conn.register(name, pa.table({"rid": graph.base_rowid[base]}))
        try:
            found = conn.sql(
                f"""
                select rowid as rid, identifier_type, identifier_value{extra_sql} from {graph.base_relation}
                where rowid in (select rid from {name})
                """
            ).to_arrow_table()
        finally:
            conn.unregister(name)
        parts.append(found.select(columns))
        rid = found.column("rid").to_numpy()
        dense = graph.n_base == 0 or graph.base_rowid[-1] == graph.n_base - 1
        found_positions.append(rid if dense else np.searchsorted(graph.base_rowid, rid))
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
    if not ordered:
        if len(found_at) != int(wanted.sum()):
            raise IdentityInputError(f"{graph.base_relation} changed while identity resolution was running")
        return table.append_column("position", pa.array(found_at))
    table = table.combine_chunks()
    slot = np.full(graph.n_nodes, -1, dtype=np.int64)
    slot[found_at] = np.arange(table.num_rows)
    at = slot[positions]
    if (at < 0).any():
        raise IdentityInputError(f"{graph.base_relation} changed while identity resolution was running")
    return table.take(pa.array(at))


def drop_temp_tables(conn: duckdb.DuckDBPyConnection, graph: IdentityGraph) -> None:
    for name in graph.temp_tables:
        conn.execute(f"drop table if exists {name}")
