"""Read the identifier graph from DuckDB into integer arrays (nodes factorized to int32 positions).

Nodes are keyed by DuckDB's 64-bit hash of (type, value), computed inside DuckDB, and factorized with a pandas
hash table: no Python loop per identifier and no string join in SQL (which is the slow part on two cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sen.identity.config import IdentityConfig
from sen.normalize import active_blocklist

# first_seen_at is packed into a 64-bit ordering key: type rank (3 bits) | seconds since 2000 (34 bits) |
# hash bits (26 bits). Seconds outside the range are clipped; missing dates sort last.
_EPOCH_2000 = 946_684_800
_SECONDS_BITS = 34
_HASH_BITS = 26


class IdentityInputError(ValueError):
    """The node or edge table is missing or malformed; the message names the table and the problem."""


@dataclass
class IdentityGraph:
    """The identifier graph as arrays; node i is row i of `nodes` (an Arrow table of strings and dates)."""

    nodes: pa.Table  # identifier_type, identifier_value, first_seen_at, last_seen_at
    node_type: np.ndarray  # int8 index into config.all_types
    node_key: np.ndarray  # int64 content-based order (strongest type, oldest, then hash): names new persons
    first_seen: np.ndarray  # int64 seconds since 2000 (large when unknown)
    blocked: np.ndarray  # bool: dropped by the blocklist
    src: np.ndarray  # int32, src < dst, one row per unordered pair
    dst: np.ndarray
    edge_first_seen: np.ndarray  # int64 seconds since 2000 (for choosing which links win under caps)
    edge_records: np.ndarray  # int64
    prev_person: np.ndarray  # int32 index into prev_person_ids, -1 when the identifier is new
    prev_person_ids: pa.Array  # string: person ids of the previous run's map

    @property
    def n_nodes(self) -> int:
        return len(self.node_type)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def relation_exists(conn: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, _, name = qualified.rpartition(".")
    query = "select count(*) from information_schema.tables where table_name = ?"
    params: list[str] = [name]
    if schema:
        query += " and table_schema = ?"
        params.append(schema)
    rows = conn.execute(query, params).fetchall()
    return bool(rows and rows[0][0])


def _require_columns(conn: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    if not relation_exists(conn, table):
        raise IdentityInputError(f"identity input table {table} does not exist (run the dbt models first)")
    schema, _, name = table.rpartition(".")
    found = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_name = ? and table_schema = ?",
            [name, schema or "main"],
        ).fetchall()
    }
    missing = [c for c in columns if c not in found]
    if missing:
        raise IdentityInputError(f"identity input table {table} lacks columns {missing}")


def blocked_sql(config: IdentityConfig, type_col: str, value_col: str) -> str:
    """SQL boolean expression: the identifier is junk per the identity blocklist."""
    bl = config.blocklist
    any_values = {v.strip().lower() for v in bl.any_type}
    typed: dict[str, set[str]] = {t: {v.strip().lower() for v in vs} for t, vs in bl.exact.items()}
    if bl.include_normalization_blocklist:
        normalization = active_blocklist()
        any_values |= set(normalization.common.exact)
        for t, rules in normalization.by_type.items():
            if t in config.all_types:
                typed.setdefault(t, set()).update(rules.exact)
    # An empty value is junk whatever the lists say.
    terms = [f"trim({value_col}) = ''"]
    if any_values:
        terms.append(f"lower({value_col}) in ({', '.join(_quote(v) for v in sorted(any_values))})")
    for t, values in sorted(typed.items()):
        if values:
            listed = ", ".join(_quote(v) for v in sorted(values))
            terms.append(f"({type_col} = {_quote(t)} and lower({value_col}) in ({listed}))")
    for t, patterns in sorted(bl.patterns.items()):
        for p in patterns:
            terms.append(f"({type_col} = {_quote(t)} and regexp_matches({value_col}, {_quote(p)}))")
    return "(" + " or ".join(terms) + ")"


def _type_code_sql(config: IdentityConfig, type_col: str) -> str:
    whens = " ".join(f"when {_quote(t)} then {i}" for i, t in enumerate(config.all_types))
    return f"(case {type_col} {whens} else -1 end)::tinyint"


def _node_query(config: IdentityConfig, source_sql: str) -> str:
    return f"""
        select identifier_type, identifier_value, first_seen_at, last_seen_at,
               {_type_code_sql(config, "identifier_type")} as type_code,
               hash(identifier_type, identifier_value) as h,
               {blocked_sql(config, "identifier_type", "identifier_value")} as blocked,
               coalesce(epoch(first_seen_at)::bigint - {_EPOCH_2000}, {(1 << _SECONDS_BITS) - 1}) as first_seen_s
        from ({source_sql})
    """


def _node_key(
    config: IdentityConfig, type_code: np.ndarray, first_seen_s: np.ndarray, h: np.ndarray
) -> np.ndarray:
    rank_of_code = np.array([config.type_priority.index(t) for t in config.all_types], dtype=np.int64)
    seconds = np.clip(first_seen_s, 0, (1 << _SECONDS_BITS) - 1).astype(np.int64)
    return (
        (rank_of_code[type_code] << (_SECONDS_BITS + _HASH_BITS))
        | (seconds << _HASH_BITS)
        | (h >> np.uint64(64 - _HASH_BITS)).astype(np.int64)
    )


def _read_nodes(conn: duckdb.DuckDBPyConnection, config: IdentityConfig) -> pa.Table:
    table = config.nodes_table
    nodes = conn.sql(_node_query(config, f"select * from {table}")).to_arrow_table().combine_chunks()
    if nodes.num_rows and not pd.Index(nodes.column("h").to_numpy()).is_unique:
        # The node model should hold one row per identifier; tolerate duplicates by aggregating them.
        dedup = f"""
            select identifier_type, identifier_value, min(first_seen_at) as first_seen_at,
                   max(last_seen_at) as last_seen_at
            from {table} group by identifier_type, identifier_value
        """
        nodes = conn.sql(_node_query(config, dedup)).to_arrow_table().combine_chunks()
        if not pd.Index(nodes.column("h").to_numpy()).is_unique:
            raise IdentityInputError(
                f"{table}: two distinct identifiers share a 64-bit hash; rerun with a salted hash"
            )
    return nodes


def _check_types(nodes: pa.Table, config: IdentityConfig, table: str) -> None:
    unknown = pc.filter(nodes.column("identifier_type"), pc.equal(nodes.column("type_code"), -1))
    if len(unknown):
        counts = pc.value_counts(unknown).to_pylist()
        listed = ", ".join(f"{c['values']!r} ({c['counts']} rows)" for c in counts[:10])
        raise IdentityInputError(
            f"{table} has identifier types that the identity config does not know: {listed}; "
            "add them to person_defining_types or linking_types"
        )


def _read_edges(conn: duckdb.DuckDBPyConnection, config: IdentityConfig) -> dict[str, np.ndarray]:
    # One row per unordered pair: several sources seeing the same pair count once.
    return conn.sql(
        f"""
        with hashed as (
            select hash(id_a_type, id_a) as ha, hash(id_b_type, id_b) as hb, first_seen_at, n_records
            from {config.edges_table}
            where id_a is not null and id_b is not null
        )
        select least(ha, hb) as ha, greatest(ha, hb) as hb,
               coalesce(min(epoch(first_seen_at))::bigint - {_EPOCH_2000}, {(1 << _SECONDS_BITS) - 1}) as first_seen_s,
               coalesce(sum(n_records), count(*))::bigint as n_records
        from hashed
        where ha <> hb
        group by all
        """
    ).fetchnumpy()


def _missing_endpoint_nodes(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, missing: np.ndarray
) -> pa.Table:
    """Edge endpoints absent from the node table become nodes, in the order of `missing`."""
    conn.register("_sen_missing_hashes", pa.table({"h": missing}))
    try:
        source = f"""
            select identifier_type, identifier_value, min(first_seen_at) as first_seen_at,
                   max(last_seen_at) as last_seen_at
            from (
                select id_a_type as identifier_type, id_a as identifier_value, first_seen_at, last_seen_at
                from {config.edges_table} where hash(id_a_type, id_a) in (select h from _sen_missing_hashes)
                union all
                select id_b_type, id_b, first_seen_at, last_seen_at
                from {config.edges_table} where hash(id_b_type, id_b) in (select h from _sen_missing_hashes)
            ) group by all
        """
        extra = conn.sql(_node_query(config, source)).to_arrow_table()
    finally:
        conn.unregister("_sen_missing_hashes")
    order = pd.Index(extra.column("h").to_numpy()).get_indexer(missing)
    return extra.take(pa.array(order))


def _previous_map(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, index: pd.Index, n: int
) -> tuple[np.ndarray, pa.Array]:
    table = f"{config.output_schema}.identifier_person_map"
    prev_person = np.full(n, -1, dtype=np.int32)
    if not relation_exists(conn, table):
        return prev_person, pa.array([], type=pa.string())
    previous = conn.sql(
        f"select hash(identifier_type, identifier_value) as h, person_id from {table}"
    ).to_arrow_table()
    encoded = pc.dictionary_encode(previous.column("person_id")).combine_chunks()
    positions = index.get_indexer(previous.column("h").to_numpy())
    present = positions >= 0
    prev_person[positions[present]] = encoded.indices.to_numpy()[present]
    return prev_person, encoded.dictionary


def load_graph(conn: duckdb.DuckDBPyConnection, config: IdentityConfig) -> IdentityGraph:
    """Read nodes, edges and the previous run's person map into an IdentityGraph."""
    _require_columns(
        conn, config.nodes_table, ["identifier_type", "identifier_value", "first_seen_at", "last_seen_at"]
    )
    _require_columns(
        conn,
        config.edges_table,
        ["id_a_type", "id_a", "id_b_type", "id_b", "first_seen_at", "last_seen_at", "n_records"],
    )
    nodes = _read_nodes(conn, config)
    edges = _read_edges(conn, config)
    index = pd.Index(nodes.column("h").to_numpy())
    src = index.get_indexer(edges["ha"])
    dst = index.get_indexer(edges["hb"])
    if (src < 0).any() or (dst < 0).any():
        missing = pd.unique(np.concatenate([edges["ha"][src < 0], edges["hb"][dst < 0]]))
        nodes = pa.concat_tables([nodes, _missing_endpoint_nodes(conn, config, missing)]).combine_chunks()
        index = pd.Index(nodes.column("h").to_numpy())
        src, dst = index.get_indexer(edges["ha"]), index.get_indexer(edges["hb"])
    _check_types(nodes, config, config.nodes_table)

    type_code = nodes.column("type_code").to_numpy().astype(np.int8)
    hashes = nodes.column("h").to_numpy()
    first_seen = nodes.column("first_seen_s").to_numpy()
    key = _node_key(config, type_code, first_seen, hashes)
    prev_person, prev_ids = _previous_map(conn, config, index, nodes.num_rows)
    return IdentityGraph(
        nodes=nodes.select(["identifier_type", "identifier_value", "first_seen_at", "last_seen_at"]),
        node_type=type_code,
        node_key=key,
        first_seen=first_seen,
        blocked=nodes.column("blocked").to_numpy(zero_copy_only=False).astype(bool),
        src=np.minimum(src, dst).astype(np.int32),
        dst=np.maximum(src, dst).astype(np.int32),
        edge_first_seen=edges["first_seen_s"].astype(np.int64),
        edge_records=edges["n_records"].astype(np.int64),
        prev_person=prev_person,
        prev_person_ids=prev_ids,
    )
