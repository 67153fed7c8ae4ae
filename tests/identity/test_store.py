"""The person map is written correctly even when the node table's scan order differs from rowid order."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from sen.identity import load_identity_config
from sen.identity.graph import load_graph
from sen.identity.store import replace_person_map
from tests.identity.conftest import write_graph


def test_map_falls_back_to_a_rowid_join_when_positions_do_not_line_up(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    write_graph(conn, [[("customer_id", f"C{i}"), ("email", f"c{i}@shop.vn")] for i in range(50)])
    graph = load_graph(conn, load_identity_config())
    labels = np.arange(graph.n_nodes, dtype=np.int64)
    labels[3] = -1  # not mapped
    person_ids = pa.array([f"p{i}" for i in range(graph.n_nodes)])
    expected = {
        (t, v): f"p{i}"
        for i, (t, v) in enumerate(
            conn.sql(
                "select identifier_type, identifier_value from intermediate.int_identity_nodes order by rowid"
            ).fetchall()
        )
        if i != 3
    }
    # Reverse the node order consistently: hashes, rowids and labels still belong together, but row i of the
    # table is no longer node i, so the positional join must notice and fall back.
    order = np.arange(graph.n_nodes)[::-1]
    graph.node_hash = graph.node_hash[order]
    graph.base_rowid = graph.base_rowid[order]
    conn.execute("create schema identity")
    replace_person_map(
        conn, "identity", graph, person_ids, labels[order], np.zeros(graph.n_nodes, dtype=bool)
    )
    rows = conn.sql(
        "select identifier_type, identifier_value, person_id from identity.identifier_person_map"
    ).fetchall()
    assert {(t, v): p for t, v, p in rows} == expected
