"""Identity resolution: warehouse in (identifier nodes and edges), warehouse out (schema `identity`)."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa

from sen.identity.components import compact_labels, connected_components
from sen.identity.config import IdentityConfig, load_identity_config
from sen.identity.graph import IdentityGraph, load_graph, relation_exists
from sen.identity.guards import DegreeCuts, degree_cuts, edge_order, over_cap_components, resolve_capped
from sen.identity.person_ids import CREATED, MERGED, REMOVED, SPLIT, assign_person_ids
from sen.identity.store import append, ensure_tables, fast_string_writes, replace_person_map

BLOCKLISTED = "blocklisted"
DEGREE_LIMIT = "degree_limit"
CAP_EXCEEDED = "cap_exceeded"


@dataclass(frozen=True)
class IdentityRunStats:
    """What one run did; also stored as a row of identity.identity_runs."""

    run_id: str
    run_at: datetime
    config_fingerprint: str
    nodes: int
    nodes_blocklisted: int
    nodes_degree_cut: int
    edges: int
    edges_cut: int
    edges_cut_blocklist: int
    edges_cut_degree: int
    edges_cut_cap: int
    components: int
    largest_component: int
    merged_share: float  # persons holding 2+ person-defining identifiers of one type / persons with any
    persons_created: int
    persons_merged: int
    persons_split: int
    persons_removed: int
    duration_s: float

    def as_row(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Labels:
    n_components: int
    labels: np.ndarray  # -1 for blocklisted nodes
    degree: DegreeCuts
    edge_blocked: np.ndarray
    edge_degree_cut: np.ndarray
    cap_cut_edges: np.ndarray
    cap_cut_type: np.ndarray
    cap_cut_count: np.ndarray


def _components_with_guards(config: IdentityConfig, g: IdentityGraph) -> _Labels:
    n = g.n_nodes
    edge_blocked = g.blocked[g.src] | g.blocked[g.dst]
    keep = ~edge_blocked
    degree = degree_cuts(config, g.node_type, g.src[keep], g.dst[keep], n)
    isolated = np.zeros(n, dtype=bool)
    isolated[degree.nodes] = True
    edge_degree_cut = keep & (isolated[g.src] | isolated[g.dst])
    keep &= ~edge_degree_cut

    n_components, labels = connected_components(n, g.src[keep], g.dst[keep])
    labels[g.blocked] = -1
    valid = labels >= 0
    over = over_cap_components(config, labels[valid], g.node_type[valid], n_components)
    cap_cut_edges = np.zeros(0, dtype=np.int64)
    cap_cut_type = np.zeros(0, dtype=np.int8)
    cap_cut_count = np.zeros(0, dtype=np.int64)
    if len(over):
        in_over = np.zeros(n_components, dtype=bool)
        in_over[over] = True
        over_nodes = np.flatnonzero((labels >= 0) & in_over[np.maximum(labels, 0)])
        kept_edges = np.flatnonzero(keep)
        over_edges = kept_edges[in_over[labels[g.src[kept_edges]]]]
        order = edge_order(
            config,
            g.node_type,
            g.node_key,
            g.src[over_edges],
            g.dst[over_edges],
            g.edge_first_seen[over_edges],
            g.edge_records[over_edges],
        )
        ordered = over_edges[order]
        capped = resolve_capped(
            config,
            g.node_type,
            over_nodes,
            ordered,
            g.src[ordered],
            g.dst[ordered],
            label_offset=n_components,
        )
        labels[capped.nodes] = capped.labels
        n_components = int(capped.labels.max()) + 1
        cap_cut_edges, cap_cut_type, cap_cut_count = capped.cut_edges, capped.cut_type, capped.cut_count
    n_components, labels = compact_labels(labels, n_components)
    return _Labels(
        n_components=n_components,
        labels=labels,
        degree=degree,
        edge_blocked=edge_blocked,
        edge_degree_cut=edge_degree_cut,
        cap_cut_edges=cap_cut_edges,
        cap_cut_type=cap_cut_type,
        cap_cut_count=cap_cut_count,
    )


def _merged_share(
    config: IdentityConfig, labels: np.ndarray, node_type: np.ndarray, n_components: int
) -> float:
    n_person = len(config.person_defining_types)
    person_defining = (labels >= 0) & (node_type < n_person)
    per_type = np.bincount(
        labels[person_defining] * n_person + node_type[person_defining], minlength=n_components * n_person
    ).reshape(n_components, n_person)
    with_any = (per_type > 0).any(axis=1).sum()
    with_duplicates = (per_type > 1).any(axis=1).sum()
    return float(with_duplicates / with_any) if with_any else 0.0


def _cuts_table(config: IdentityConfig, g: IdentityGraph, lab: _Labels, run_id: str) -> pa.Table:
    types = g.nodes.column("identifier_type")
    values = g.nodes.column("identifier_value")
    parts: list[pa.Table] = []

    blocked = pa.array(np.flatnonzero(g.blocked))
    n = len(blocked)
    parts.append(
        pa.table(
            {
                "identifier_type": types.take(blocked),
                "identifier_value": values.take(blocked),
                "reason": pa.repeat(pa.scalar(BLOCKLISTED), n),
                "degree": pa.nulls(n, pa.int64()),
                "limit": pa.nulls(n, pa.int64()),
                "related_identifier_type": pa.nulls(n, pa.string()),
                "related_identifier_value": pa.nulls(n, pa.string()),
                "detail": pa.repeat(pa.scalar("value is on the blocklist"), n),
            }
        )
    )

    d = lab.degree
    nodes = pa.array(d.nodes)
    n = len(nodes)
    neighbour = [config.all_types[t] for t in d.neighbour_type.tolist()]
    parts.append(
        pa.table(
            {
                "identifier_type": types.take(nodes),
                "identifier_value": values.take(nodes),
                "reason": pa.repeat(pa.scalar(DEGREE_LIMIT), n),
                "degree": pa.array(d.degree, pa.int64()),
                "limit": pa.array(d.limit, pa.int64()),
                "related_identifier_type": pa.array(neighbour, pa.string()),
                "related_identifier_value": pa.nulls(n, pa.string()),
                "detail": pa.array(
                    [
                        f"linked to {deg} distinct {t} (limit {lim}); its links are not used"
                        for deg, t, lim in zip(d.degree.tolist(), neighbour, d.limit.tolist(), strict=True)
                    ],
                    pa.string(),
                ),
            }
        )
    )

    edges = lab.cap_cut_edges
    n = len(edges)
    src, dst = pa.array(g.src[edges]), pa.array(g.dst[edges])
    capped = [config.all_types[t] for t in lab.cap_cut_type.tolist()]
    caps = [config.caps[t] for t in capped]
    parts.append(
        pa.table(
            {
                "identifier_type": types.take(src),
                "identifier_value": values.take(src),
                "reason": pa.repeat(pa.scalar(CAP_EXCEEDED), n),
                "degree": pa.array(lab.cap_cut_count, pa.int64()),
                "limit": pa.array(caps, pa.int64()),
                "related_identifier_type": types.take(dst),
                "related_identifier_value": values.take(dst),
                "detail": pa.array(
                    [
                        f"link not used: the person would hold {c} {t} (cap {cap})"
                        for c, t, cap in zip(lab.cap_cut_count.tolist(), capped, caps, strict=True)
                    ],
                    pa.string(),
                ),
            }
        )
    )
    table = pa.concat_tables(parts)
    return table.append_column("run_id", pa.repeat(pa.scalar(run_id), table.num_rows))


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def resolve_identities(
    conn: duckdb.DuckDBPyConnection,
    config: IdentityConfig | None = None,
    run_at: datetime | None = None,
) -> IdentityRunStats:
    """Resolve identifiers to persons and write the `identity` tables in one transaction.

    Reads config.nodes_table / config.edges_table (and the previous run's person map for stable ids).
    """
    started = time.perf_counter()
    config = config or load_identity_config()
    run_at = _naive_utc(run_at or datetime.now(UTC))
    run_id = f"{run_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    schema = config.output_schema

    g = load_graph(conn, config)
    lab = _components_with_guards(config, g)
    history = f"{schema}.person_id_history"
    assignment = assign_person_ids(
        conn,
        labels=lab.labels,
        n_components=lab.n_components,
        node_key=g.node_key,
        node_first_seen=g.first_seen,
        node_types=g.nodes.column("identifier_type").combine_chunks(),
        node_values=g.nodes.column("identifier_value").combine_chunks(),
        prev_person=g.prev_person,
        prev_person_ids=g.prev_person_ids,
        history_table=history if relation_exists(conn, history) else None,
    )

    # Rows grouped by identifier type: lookups filter on it, and DuckDB's zone maps then skip the rest.
    in_map = np.flatnonzero(lab.labels >= 0)
    in_map = in_map[np.argsort(g.node_type[in_map], kind="stable")]
    cut_reason = np.zeros(g.n_nodes, dtype=bool)
    cut_reason[lab.degree.nodes] = True
    map_rows = pa.array(in_map)
    person_map = g.nodes.take(map_rows)
    person_map = person_map.append_column(
        "person_id", assignment.person_ids.take(pa.array(lab.labels[in_map]))
    )
    person_map = person_map.append_column(
        "cut_reason",
        pa.array(np.where(cut_reason[in_map], DEGREE_LIMIT, None), pa.string(), from_pandas=True)
        if len(lab.degree.nodes)
        else pa.nulls(len(in_map), pa.string()),
    )

    events = assignment.events
    events = events.append_column("run_id", pa.repeat(pa.scalar(run_id), events.num_rows))
    events = events.append_column(
        "occurred_at", pa.repeat(pa.scalar(run_at, pa.timestamp("us")), events.num_rows)
    )
    cuts = _cuts_table(config, g, lab, run_id)

    sizes = np.bincount(lab.labels[in_map], minlength=lab.n_components) if lab.n_components else np.zeros(1)
    edges_cut_blocklist = int(lab.edge_blocked.sum())
    edges_cut_degree = int(lab.edge_degree_cut.sum())
    edges_cut_cap = len(lab.cap_cut_edges)
    counts = assignment.counts

    with fast_string_writes(conn):
        conn.execute("begin transaction")
        try:
            ensure_tables(conn, schema)
            replace_person_map(conn, schema, person_map)
            append(conn, schema, "person_id_history", events)
            append(conn, schema, "identity_cuts", cuts)
            stats = IdentityRunStats(
                run_id=run_id,
                run_at=run_at,
                config_fingerprint=config.fingerprint(),
                nodes=g.n_nodes,
                nodes_blocklisted=int(g.blocked.sum()),
                nodes_degree_cut=len(lab.degree.nodes),
                edges=len(g.src),
                edges_cut=edges_cut_blocklist + edges_cut_degree + edges_cut_cap,
                edges_cut_blocklist=edges_cut_blocklist,
                edges_cut_degree=edges_cut_degree,
                edges_cut_cap=edges_cut_cap,
                components=lab.n_components,
                largest_component=int(sizes.max()) if len(in_map) else 0,
                merged_share=_merged_share(config, lab.labels, g.node_type, lab.n_components),
                persons_created=counts.get(CREATED, 0),
                persons_merged=counts.get(MERGED, 0),
                persons_split=counts.get(SPLIT, 0),
                persons_removed=counts.get(REMOVED, 0),
                duration_s=round(time.perf_counter() - started, 3),
            )
            append(conn, schema, "identity_runs", pa.Table.from_pylist([stats.as_row()]))
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
    return stats
