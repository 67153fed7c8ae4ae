"""Identity resolution: warehouse in (identifier nodes and edges), warehouse out (schema `identity`)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sen.identity.components import (
    compact_labels,
    connected_components,
    connected_components_in_phases,
    distinct_pairs,
    type_counts,
)
from sen.identity.config import IdentityConfig, load_identity_config
from sen.identity.graph import (
    IdentityGraph,
    drop_temp_tables,
    edge_details,
    identifiers_at,
    load_graph,
    relation_exists,
    strongest_type_hashes,
)
from sen.identity.guards import DegreeCuts, degree_cuts, edge_order, over_cap_components, resolve_capped
from sen.identity.person_ids import CREATED, MERGED, REMOVED, SPLIT, assign_person_ids, canonical_nodes
from sen.identity.store import append, append_created, ensure_tables, fast_string_writes, write_person_map
from sen.identity.weak import (
    JUNK_BY_BEHAVIOUR,
    WEAK_NOT_LINKED,
    WEAK_SHARED,
    JunkCuts,
    WeakResolution,
    guest_account_candidates,
    junk_by_behaviour,
    not_linked_mask,
    resolve_weak_conflicts,
    weak_candidates,
    weak_code_mask,
)

logger = logging.getLogger(__name__)
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
    nodes_junk_cut: int = 0  # values cut as junk by behaviour
    nodes_weak_shared: int = 0  # weak identifiers seen with two or more persons
    edges_cut_junk: int = 0
    edges_cut_weak: int = 0  # links of weak identifiers to persons (and between them) not used

    def as_row(self) -> dict[str, object]:
        return asdict(self)

    def as_metadata(self) -> dict[str, str | int | float]:
        """Plain values for run logs and Dagster metadata (timestamps as ISO text)."""
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass
class _Labels:
    n_components: int
    labels: np.ndarray  # -1 for blocklisted nodes
    merged_share: float
    sizes: np.ndarray  # identifiers per component
    degree: DegreeCuts
    edges: int  # edge rows (one per pair and source), self-loops left out
    edges_cut_blocklist: int
    edges_cut_degree: int
    cap_cut_src: np.ndarray
    cap_cut_dst: np.ndarray
    cap_cut_type: np.ndarray
    cap_cut_count: np.ndarray
    junk: JunkCuts
    weak: WeakResolution | None
    edges_cut_junk: int
    # weak_identifiers.not_linked: edge rows left out, and the distinct links left out whose ends ended up in
    # two persons (audited; the others changed nothing).
    edges_cut_not_linked: int = 0
    not_linked_low: np.ndarray | None = None
    not_linked_high: np.ndarray | None = None
    # How the labels given to on_components became the final ones: None if caps re-resolved components, else
    # the mask of the labels kept (in order; all of them when nothing was dropped).
    kept_labels: np.ndarray | None = None


def _blocklist_and_degree_limits(
    config: IdentityConfig, g: IdentityGraph, src: np.ndarray, dst: np.ndarray, ts: np.ndarray, td: np.ndarray
) -> tuple[np.ndarray | None, DegreeCuts]:
    """Which links touch a blocked identifier (None: none does), and the degree limits on the others
    (ts, td: the type of each link's ends)."""
    blocked = g.blocked
    if not blocked.any():  # two gathers over every link saved in the common case
        return None, degree_cuts(config, g.node_type, src, dst, g.n_nodes, ts, td)
    touches = blocked[src] | blocked[dst]
    keep = ~touches
    return touches, degree_cuts(config, g.node_type, src[keep], dst[keep], g.n_nodes, ts[keep], td[keep])


def _relabelled(
    per_type: np.ndarray, dropped: np.ndarray, parts: np.ndarray, part_types: np.ndarray, n_parts: int
) -> np.ndarray:
    """per_type after some components (`dropped`) were split into `n_parts` new ones, appended: `parts` is the
    new label (from 0) of each of their nodes, `part_types` its type."""
    per_type[dropped] = 0  # their nodes moved to the new labels
    return np.concatenate([per_type, type_counts(parts, part_types, n_parts, per_type.shape[1])])


def _components_with_guards(
    conn: duckdb.DuckDBPyConnection,
    config: IdentityConfig,
    g: IdentityGraph,
    on_components: Callable[[np.ndarray, int], None] | None = None,
) -> _Labels:
    """Edge counts are rows of the edge table (one per pair and source, self-loops left out); cap cuts count
    links (pairs). `on_components(labels, n_labels)` is called once the degree limits are applied, before the
    caps (which change only the few components above a cap)."""
    n = g.n_nodes
    src, dst = g.src, g.dst
    not_loop = src != dst
    edges = int(not_loop.sum())
    if edges < len(src):
        src, dst = src[not_loop], dst[not_loop]
    # Components on every link while the blocklist query (and the hashing of new identifiers) runs in the
    # background; then the degree limits, on the links that touch no blocked identifier. The few components
    # holding a blocked identifier or one over a limit are then computed again without its links. (The degree
    # limits on a third thread, alongside the components, measured no faster: two cores, four busy threads.)
    ts, td = g.node_type[src], g.node_type[dst]  # read once, by the guards below
    # Pairs of weak types whose links are never used (a browser's push token and its cookie): left out first.
    unlinked = not_linked_mask(config, g.node_type, ts, td)
    unlinked_src = unlinked_dst = None
    if unlinked is not None and unlinked.any():
        unlinked_src, unlinked_dst = src[unlinked], dst[unlinked]
        keep = ~unlinked
        src, dst, ts, td = src[keep], dst[keep], ts[keep], td[keep]
    anchor_roots = None
    if config.weak_types and not config.weak_identifiers.guests_join_accounts:
        # Guests may not join accounts through weak identifiers: the non-weak links are joined first, which
        # leaves every node's anchor (its component over them) at no extra cost.
        not_weak = ~weak_code_mask(config)
        n_components, labels, anchor_roots = connected_components_in_phases(
            n, src, dst, not_weak[ts] & not_weak[td]
        )
    else:
        n_components, labels = connected_components(n, src, dst)
    touches_blocked, degree = _blocklist_and_degree_limits(config, g, src, dst, ts, td)
    n_types = len(config.all_types)
    # Identifiers per component and type: the caps read them, and they tell the few components where junk by
    # behaviour or a weak identifier can matter, so those rules cost nothing elsewhere.
    per_type = type_counts(labels, g.node_type, n_components, n_types)
    edges_cut_blocklist = int(touches_blocked.sum()) if touches_blocked is not None else 0
    isolated = np.zeros(n, dtype=bool)
    edges_cut_degree = 0
    if len(degree.nodes):
        isolated[degree.nodes] = True
        cut_degree = isolated[src] | isolated[dst]
        if touches_blocked is not None:
            cut_degree &= ~touches_blocked
        edges_cut_degree = int(cut_degree.sum())
    unused: list[np.ndarray] = []
    n_labels = n_components
    redo = None  # nodes of the components computed again without the links a guard cut
    if touches_blocked is not None:
        isolated |= g.blocked
    junk = junk_by_behaviour(config, g.node_type, src, dst, ts, td, labels, per_type, isolated)
    edges_cut_junk = 0
    if len(junk.nodes):
        is_junk = np.zeros(n, dtype=bool)
        is_junk[junk.nodes] = True
        edges_cut_junk = int(((is_junk[src] | is_junk[dst]) & ~isolated[src] & ~isolated[dst]).sum())
        isolated |= is_junk
    if len(degree.nodes) or touches_blocked is not None or len(junk.nodes):
        cut_entries = isolated[src] | isolated[dst]
        affected = np.zeros(n_components, dtype=bool)
        affected[labels[isolated]] = True
        in_affected = affected[labels]
        redo = in_affected
        nodes = np.flatnonzero(in_affected)
        inner = in_affected[src] & ~cut_entries  # both ends of a link lie in one component
        slot = np.zeros(n, dtype=np.int32)
        slot[nodes] = np.arange(len(nodes), dtype=np.int32)
        n_parts, parts = connected_components(len(nodes), slot[src[inner]], slot[dst[inner]])
        labels[nodes] = n_labels + parts
        n_labels += n_parts
        per_type = _relabelled(per_type, np.flatnonzero(affected), parts, g.node_type[nodes], n_parts)
        unused.append(np.flatnonzero(affected))
        unused.append(labels[g.blocked])  # blocked identifiers are now alone; they leave the map
    weak = None
    if config.weak_types:
        candidates = weak_candidates(config, per_type)
        if anchor_roots is not None:
            apart = guest_account_candidates(
                config, g.node_type, src, dst, labels, n_labels, isolated, anchor_roots, redo
            )
            candidates = np.union1d(candidates, apart)
        if len(candidates):
            in_candidate = np.zeros(n_labels, dtype=bool)
            in_candidate[candidates] = True
            nodes = np.flatnonzero(in_candidate[labels] & ~isolated)
            details = _usable_details(config, g, edge_details(conn, g, nodes), isolated)
            weak = resolve_weak_conflicts(
                config,
                g.node_type,
                nodes,
                details.low.to_numpy(),
                details.high.to_numpy(),
                details.last_seen.to_numpy(),
                label_offset=n_labels,
            )
            labels[weak.nodes] = weak.labels
            n_labels += weak.n_labels
            per_type = _relabelled(
                per_type,
                candidates,
                weak.labels - (n_labels - weak.n_labels),
                g.node_type[nodes],
                weak.n_labels,
            )
            unused.append(candidates)
    if on_components is not None:
        on_components(labels, n_labels)
    over = over_cap_components(config, per_type)
    empty = np.zeros(0, dtype=np.int64)
    cap_cut = (empty, empty, np.zeros(0, dtype=np.int8), empty)
    if len(over):
        in_over = np.zeros(n_labels, dtype=bool)
        in_over[over] = True
        in_over_node = in_over[labels] & ~g.blocked
        # Links cut by the blocklist, a degree limit or the weak-identifier rules stay cut.
        details = _usable_details(config, g, edge_details(conn, g, np.flatnonzero(in_over_node)), isolated)
        if weak is not None and len(weak.cut_low):
            pair = details.low.to_numpy().astype(np.int64) * n + details.high.to_numpy()
            details = details[~np.isin(pair, weak.cut_low * n + weak.cut_high)]
        low, high = details.low.to_numpy(), details.high.to_numpy()
        order = edge_order(
            config,
            g.node_type,
            g.node_key,
            low,
            high,
            details.first_seen.to_numpy(),
            details.records.to_numpy(),
        )
        low, high = low[order], high[order]
        capped = resolve_capped(
            config, g.node_type, np.flatnonzero(in_over_node), low, high, label_offset=n_labels
        )
        labels[capped.nodes] = capped.labels
        n_labels = int(capped.labels.max()) + 1
        unused.append(over)
        cap_cut = (low[capped.cut_edges], high[capped.cut_edges], capped.cut_type, capped.cut_count)
    unused_labels = np.concatenate(unused) if unused else np.zeros(0, dtype=np.int64)
    kept_labels = None if len(over) else np.ones(n_labels, dtype=bool)
    if len(unused_labels):
        if kept_labels is not None:
            kept_labels[unused_labels] = False
        n_components, labels = compact_labels(labels, n_labels, unused_labels, g.blocked)
        per_type = type_counts(labels, g.node_type, n_components, len(config.all_types), skip=g.blocked)
    sizes = np.bincount(labels[labels >= 0] if g.blocked.any() else labels, minlength=n_components)
    edges_cut_not_linked = 0
    not_linked_low = not_linked_high = None
    if unlinked_src is not None and unlinked_dst is not None:
        edges_cut_not_linked = len(unlinked_src)
        apart = labels[unlinked_src] != labels[unlinked_dst]
        low, high = distinct_pairs(unlinked_src[apart], unlinked_dst[apart], n)
        # Audited from the side of the pair's first type (the push token, not the cookie).
        first = np.zeros(n_types, dtype=bool)
        first[[config.all_types.index(a) for a, _ in config.weak_identifiers.not_linked]] = True
        swap = ~first[g.node_type[low]]
        not_linked_low, not_linked_high = np.where(swap, high, low), np.where(swap, low, high)
    return _Labels(
        n_components=n_components,
        labels=labels,
        merged_share=_merged_share(config, per_type),
        sizes=sizes,
        degree=degree,
        edges=edges,
        edges_cut_blocklist=edges_cut_blocklist,
        edges_cut_degree=edges_cut_degree,
        cap_cut_src=cap_cut[0],
        cap_cut_dst=cap_cut[1],
        cap_cut_type=cap_cut[2],
        cap_cut_count=cap_cut[3],
        junk=junk,
        weak=weak,
        edges_cut_junk=edges_cut_junk,
        edges_cut_not_linked=edges_cut_not_linked,
        not_linked_low=not_linked_low,
        not_linked_high=not_linked_high,
        kept_labels=kept_labels,
    )


def _usable_details(
    config: IdentityConfig, g: IdentityGraph, details: pd.DataFrame, isolated: np.ndarray
) -> pd.DataFrame:
    """The links of edge_details() that no guard cut before: none of its ends isolated (blocklist, degree
    limit, junk), not a pair of weak_identifiers.not_linked."""
    low, high = details.low.to_numpy(), details.high.to_numpy()
    usable = ~isolated[low] & ~isolated[high]
    unlinked = not_linked_mask(config, g.node_type, g.node_type[low], g.node_type[high])
    if unlinked is not None:
        usable &= ~unlinked
    return details if usable.all() else details[usable]


def _merged_share(config: IdentityConfig, per_type: np.ndarray) -> float:
    """Share of persons holding 2+ person-defining identifiers of one type, among those holding any."""
    person = per_type[:, : len(config.person_defining_types)]
    with_any = int((person > 0).any(axis=1).sum())
    with_duplicates = int((person > 1).any(axis=1).sum())
    return with_duplicates / with_any if with_any else 0.0


def _cuts_table(
    conn: duckdb.DuckDBPyConnection, config: IdentityConfig, g: IdentityGraph, lab: _Labels, run_id: str
) -> pa.Table:
    blocked = np.flatnonzero(g.blocked)
    d = lab.degree
    junk = lab.junk
    empty = np.zeros(0, dtype=np.int64)
    shared = lab.weak.shared if lab.weak is not None else empty
    attributed = lab.weak.attributed_to if lab.weak is not None else empty
    wanted = np.concatenate(
        [blocked, d.nodes, lab.cap_cut_src, lab.cap_cut_dst, junk.nodes, shared, np.maximum(attributed, 0)]
    ).astype(np.int64)
    names = identifiers_at(conn, g, wanted)
    types, values = names.column("identifier_type"), names.column("identifier_value")
    bounds = np.cumsum(
        [
            0,
            len(blocked),
            len(d.nodes),
            len(lab.cap_cut_src),
            len(lab.cap_cut_dst),
            len(junk.nodes),
            len(shared),
            len(attributed),
        ]
    )

    def part(i: int, column: pa.ChunkedArray) -> pa.ChunkedArray:
        return column.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))

    parts: list[pa.Table] = []
    n = len(blocked)
    parts.append(
        pa.table(
            {
                "identifier_type": part(0, types),
                "identifier_value": part(0, values),
                "reason": pa.repeat(pa.scalar(BLOCKLISTED), n),
                "degree": pa.nulls(n, pa.int64()),
                "limit": pa.nulls(n, pa.int64()),
                "related_identifier_type": pa.nulls(n, pa.string()),
                "related_identifier_value": pa.nulls(n, pa.string()),
                "detail": pa.repeat(pa.scalar("value is on the blocklist"), n),
            }
        )
    )

    n = len(d.nodes)
    neighbour = [config.all_types[t] for t in d.neighbour_type.tolist()]
    parts.append(
        pa.table(
            {
                "identifier_type": part(1, types),
                "identifier_value": part(1, values),
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

    n = len(lab.cap_cut_src)
    capped = [config.all_types[t] for t in lab.cap_cut_type.tolist()]
    caps = [config.caps[t] for t in capped]
    parts.append(
        pa.table(
            {
                "identifier_type": part(2, types),
                "identifier_value": part(2, values),
                "reason": pa.repeat(pa.scalar(CAP_EXCEEDED), n),
                "degree": pa.array(lab.cap_cut_count, pa.int64()),
                "limit": pa.array(caps, pa.int64()),
                "related_identifier_type": part(3, types),
                "related_identifier_value": part(3, values),
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
    n = len(junk.nodes)
    rule = config.behaviour_junk
    of_type = rule.of_type if rule is not None else ""
    parts.append(
        pa.table(
            {
                "identifier_type": part(4, types),
                "identifier_value": part(4, values),
                "reason": pa.repeat(pa.scalar(JUNK_BY_BEHAVIOUR), n),
                "degree": pa.array(junk.holders, pa.int64()),
                "limit": pa.repeat(pa.scalar(junk.limit, pa.int64()), n),
                "related_identifier_type": pa.repeat(pa.scalar(of_type, pa.string()), n),
                "related_identifier_value": pa.nulls(n, pa.string()),
                "detail": pa.array(
                    [
                        f"held by {h} {of_type} that nothing else relates (limit {junk.limit}): treated as junk, "
                        "its links are not used"
                        for h in junk.holders.tolist()
                    ],
                    pa.string(),
                ),
            }
        )
    )

    n = len(shared)
    has_winner = attributed >= 0
    related_type = pc.if_else(pa.array(has_winner), part(6, types), pa.nulls(n, pa.string()))
    related_value = pc.if_else(pa.array(has_winner), part(6, values), pa.nulls(n, pa.string()))
    persons = lab.weak.persons.tolist() if lab.weak is not None else []
    parts.append(
        pa.table(
            {
                "identifier_type": part(5, types),
                "identifier_value": part(5, values),
                "reason": pa.repeat(pa.scalar(WEAK_SHARED), n),
                "degree": pa.array(persons, pa.int64()),
                "limit": pa.repeat(pa.scalar(1, pa.int64()), n),
                "related_identifier_type": related_type,
                "related_identifier_value": related_value,
                "detail": pa.array(
                    [
                        f"seen with {p} persons: "
                        + (
                            "kept with the person it was seen with most recently (related identifier), "
                            "its links to the others are not used"
                            if w
                            else "belongs to none of them, its links to them are not used"
                        )
                        for p, w in zip(persons, has_winner.tolist(), strict=True)
                    ],
                    pa.string(),
                ),
            }
        )
    )
    if lab.weak is not None and len(lab.weak.between_low):
        parts.append(_between_rows(conn, g, lab.weak.between_low, lab.weak.between_high))
    if lab.not_linked_low is not None and len(lab.not_linked_low):
        parts.append(
            _between_rows(
                conn,
                g,
                lab.not_linked_low,
                lab.not_linked_high,
                WEAK_NOT_LINKED,
                "link not used: weak_identifiers.not_linked pairs these types (a browser's push token and "
                "cookie identify the browser, which a household shares)",
            )
        )
    table = pa.concat_tables(parts)
    return table.append_column("run_id", pa.repeat(pa.scalar(run_id), table.num_rows))


def _between_rows(
    conn: duckdb.DuckDBPyConnection,
    g: IdentityGraph,
    low: np.ndarray,
    high: np.ndarray,
    reason: str = WEAK_SHARED,
    detail: str = "link not used: the two weak identifiers belong to persons that may not join",
) -> pa.Table:
    """Audit rows of links cut between two weak identifiers that belong to persons that may not join."""
    names = identifiers_at(conn, g, np.concatenate([low, high]).astype(np.int64))
    types, values = names.column("identifier_type"), names.column("identifier_value")
    n = len(low)
    return pa.table(
        {
            "identifier_type": types.slice(0, n),
            "identifier_value": values.slice(0, n),
            "reason": pa.repeat(pa.scalar(reason), n),
            # Two persons, one allowed (weak_identifier_shared); a pair of types never linked has no count.
            "degree": pa.repeat(pa.scalar(2 if reason == WEAK_SHARED else None, pa.int64()), n),
            "limit": pa.repeat(pa.scalar(1 if reason == WEAK_SHARED else None, pa.int64()), n),
            "related_identifier_type": types.slice(n, n),
            "related_identifier_value": values.slice(n, n),
            "detail": pa.repeat(pa.scalar(detail), n),
        }
    )


def _rows_at(
    found: pa.Table, positions: np.ndarray, n_nodes: int, fetch: Callable[[np.ndarray], pa.Table]
) -> pa.Table:
    """The rows of `found` (which has a `position` column) at `positions`, and fetch() of the positions it
    lacks."""
    wanted = np.zeros(n_nodes, dtype=bool)
    wanted[positions] = True
    at = found.column("position").to_numpy()
    useful = wanted[at]
    table = found if useful.all() else found.filter(pa.array(useful))
    wanted[at[useful]] = False
    missing = np.flatnonzero(wanted)
    return pa.concat_tables([table, fetch(missing)]) if len(missing) else table


class _Naming:
    """The naming identifier of every component (canonical_nodes) and the person hashes of those of components
    holding no previous person, worked out on a second thread (numpy, then DuckDB on a second connection) while
    the guards finish. Components the caps re-resolve are named afterwards, on this connection."""

    def __init__(
        self, conn: duckdb.DuckDBPyConnection, g: IdentityGraph, hashes: Future[pa.Table] | None = None
    ) -> None:
        self.conn, self.g = conn, g
        self.hashes = hashes  # strongest_type_hashes(), worked out in the background, if started
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.cursor: duckdb.DuckDBPyConnection | None = None
        self.future: Future[tuple[np.ndarray, pa.Table]] | None = None

    def start(self, labels: np.ndarray, n_labels: int) -> None:
        if self.g.temp_tables:  # a second connection does not see this one's temp tables
            return
        self.cursor = self.conn.cursor()
        self.future = self.pool.submit(self._work, labels.copy(), n_labels, self.cursor)

    def _work(
        self, labels: np.ndarray, n_labels: int, cursor: duckdb.DuckDBPyConnection
    ) -> tuple[np.ndarray, pa.Table]:
        canonical = canonical_nodes(labels, self.g.node_key, n_labels)
        holds_previous = np.zeros(n_labels, dtype=bool)
        holds_previous[labels[self.g.previous.person >= 0]] = True
        wanted = canonical[~holds_previous & (canonical >= 0)]
        if self.hashes is None:
            return canonical, identifiers_at(cursor, self.g, wanted, person_hash=True, ordered=False)
        # Most were hashed in the background; only persons named by a weaker identifier are looked up.
        return canonical, _rows_at(self.hashes.result(), wanted, self.g.n_nodes, self._fetch(cursor))

    def _fetch(self, conn: duckdb.DuckDBPyConnection) -> Callable[[np.ndarray], pa.Table]:
        return lambda positions: identifiers_at(conn, self.g, positions, person_hash=True, ordered=False)

    def canonical(self, kept_labels: np.ndarray | None) -> np.ndarray | None:
        """canonical_nodes() of the final labels, or None when the caps changed components."""
        if self.future is None or kept_labels is None:
            return None
        canonical, _ = self.future.result()
        return canonical if kept_labels.all() else canonical[kept_labels]

    def lookup(self, positions: np.ndarray) -> pa.Table:
        """identifier_type, identifier_value, person_hash and position of `positions`, in any order."""
        if self.future is None:
            return self._fetch(self.conn)(positions)
        _, found = self.future.result()
        return _rows_at(found, positions, self.g.n_nodes, self._fetch(self.conn))

    def __enter__(self) -> _Naming:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True)
        if self.cursor is not None:
            self.cursor.close()


class _Phases:
    """Wall and CPU seconds per phase, logged at INFO and handed to the caller if asked for."""

    def __init__(self, sink: dict[str, dict[str, float]] | None) -> None:
        self.sink = sink if sink is not None else {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        spent = {"wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3)}
        self.sink[name] = spent
        logger.info("identity %s: %.2fs wall, %.2fs cpu", name, spent["wall_s"], spent["cpu_s"])


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def resolve_identities(
    conn: duckdb.DuckDBPyConnection,
    config: IdentityConfig | None = None,
    run_at: datetime | None = None,
    *,
    timings: dict[str, dict[str, float]] | None = None,
) -> IdentityRunStats:
    """Resolve identifiers to persons and write the `identity` tables in one transaction.

    Reads config.nodes_table / config.edges_table (and the previous run's person map for stable ids).
    `timings`, if given, receives wall/CPU seconds per phase.
    """
    started = time.perf_counter()
    config = config or load_identity_config()
    run_at = _naive_utc(run_at or datetime.now(UTC))
    run_id = f"{run_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    phases = _Phases(timings)
    # The blocklist query runs on `background` while the graph is read and its components computed.
    with ThreadPoolExecutor(max_workers=1) as background:
        with phases("read graph"):
            g = load_graph(conn, config, background)
        try:
            return _resolve_loaded(conn, config, g, run_id, run_at, started, phases, background)
        finally:
            drop_temp_tables(conn, g)


def _resolve_loaded(
    conn: duckdb.DuckDBPyConnection,
    config: IdentityConfig,
    g: IdentityGraph,
    run_id: str,
    run_at: datetime,
    started: float,
    phases: _Phases,
    background: ThreadPoolExecutor,
) -> IdentityRunStats:
    """`background` runs one task at a time: the blocklist query, then the hashing of new identifiers of the
    strongest type (both read every such identifier's string), while the components are computed."""
    schema = config.output_schema
    history = f"{schema}.person_id_history"
    hashes = None
    if not g.temp_tables:  # a second connection does not see this one's temp tables
        hashes = background.submit(strongest_type_hashes, conn.cursor(), config, g, close=True)
    with _Naming(conn, g, hashes) as naming:
        with phases("guards and components"):
            lab = _components_with_guards(conn, config, g, on_components=naming.start)
        with phases("person ids"):
            assignment = assign_person_ids(
                conn,
                labels=lab.labels,
                n_components=lab.n_components,
                node_key=g.node_key,
                node_first_seen=g.first_seen,
                identifiers=naming.lookup,
                prev_person=g.previous.person,
                prev_person_ids=g.previous.person_ids,
                history_table=history if relation_exists(conn, history) else None,
                canonical=naming.canonical(lab.kept_labels),
                prev_orphan_person=g.previous.orphan_person,
            )
    # identifier_persons.cut_reason: store.CUT_REASONS[code - 1], 0 for none.
    cut = np.zeros(g.n_nodes, dtype=np.int8)
    cut[lab.degree.nodes] = 1
    cut[lab.junk.nodes] = 2
    if lab.weak is not None:
        cut[lab.weak.shared[lab.weak.attributed_to < 0]] = 3

    events = assignment.events
    events = events.append_column("run_id", pa.repeat(pa.scalar(run_id), events.num_rows))
    events = events.append_column(
        "occurred_at", pa.repeat(pa.scalar(run_at, pa.timestamp("us")), events.num_rows)
    )
    with phases("audit"):
        cuts = _cuts_table(conn, config, g, lab, run_id)
    in_map = lab.labels >= 0

    sizes = lab.sizes if lab.n_components else np.zeros(1, dtype=np.int64)
    edges_cut_blocklist = lab.edges_cut_blocklist
    edges_cut_degree = lab.edges_cut_degree
    edges_cut_cap = len(lab.cap_cut_src)
    edges_cut_weak = (len(lab.weak.cut_low) if lab.weak is not None else 0) + lab.edges_cut_not_linked
    counts = assignment.counts

    # Each node's index into person_ids (-1: not mapped, e.g. blocklisted).
    node_person = assignment.person_index[lab.labels]
    if not in_map.all():
        node_person[~in_map] = -1
    with phases("write"), fast_string_writes(conn):
        conn.execute("begin transaction")
        try:
            ensure_tables(conn, schema)
            map_write = write_person_map(
                conn,
                config,
                g,
                assignment.person_ids,
                node_person,
                cut,
            )
            logger.info(
                "identity map: %s, %d rows deleted, %d inserted",
                "rewritten" if map_write.rewritten else "updated in place",
                map_write.rows_deleted,
                map_write.rows_inserted,
            )
            append_created(conn, schema, assignment.created, run_id, run_at)
            append(conn, schema, "person_id_history", events)
            append(conn, schema, "identity_cuts", cuts)
            stats = IdentityRunStats(
                run_id=run_id,
                run_at=run_at,
                config_fingerprint=config.fingerprint(),
                nodes=g.n_nodes,
                nodes_blocklisted=int(g.blocked.sum()),
                nodes_degree_cut=len(lab.degree.nodes),
                edges=lab.edges,
                edges_cut=edges_cut_blocklist
                + edges_cut_degree
                + edges_cut_cap
                + lab.edges_cut_junk
                + edges_cut_weak,
                edges_cut_blocklist=edges_cut_blocklist,
                edges_cut_degree=edges_cut_degree,
                edges_cut_cap=edges_cut_cap,
                components=lab.n_components,
                largest_component=int(sizes.max()) if in_map.any() else 0,
                merged_share=lab.merged_share,
                persons_created=counts.get(CREATED, 0),
                persons_merged=counts.get(MERGED, 0),
                persons_split=counts.get(SPLIT, 0),
                persons_removed=counts.get(REMOVED, 0),
                duration_s=round(time.perf_counter() - started, 3),
                nodes_junk_cut=len(lab.junk.nodes),
                nodes_weak_shared=len(lab.weak.shared) if lab.weak is not None else 0,
                edges_cut_junk=lab.edges_cut_junk,
                edges_cut_weak=edges_cut_weak,
            )
            append(conn, schema, "identity_runs", pa.Table.from_pylist([stats.as_row()]))
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
    return stats
