"""Over-merge guards: degree limits on identifiers and caps on identifiers per person.

Degree limits are checked on the raw neighbourhood of each identifier (vectorized). Caps are checked on
components: the few components above a cap are re-built link by link (strongest, oldest links first), and
a link that would push the person over a cap is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sen.identity.components import distinct_pairs
from sen.identity.config import IdentityConfig

NO_LIMIT = np.iinfo(np.int64).max


@dataclass
class DegreeCuts:
    """Nodes whose links are all cut, with the neighbour type and count that broke the limit."""

    nodes: np.ndarray  # int32 node positions
    neighbour_type: np.ndarray  # int8 type code of the neighbour type over the limit (the worst one)
    degree: np.ndarray  # int64 distinct neighbours of that type
    limit: np.ndarray  # int64 the limit


def limit_matrix(config: IdentityConfig) -> np.ndarray:
    """limits[node_type, neighbour_type] as int64 (NO_LIMIT where none applies)."""
    types = config.all_types
    limits = np.full((len(types), len(types)), NO_LIMIT, dtype=np.int64)
    for i, node_type in enumerate(types):
        for j, neighbour_type in enumerate(types):
            limit = config.degree_limit(node_type, neighbour_type)
            if limit is not None:
                limits[i, j] = limit
    return limits


def degree_cuts(
    config: IdentityConfig,
    node_type: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    n_nodes: int,
    src_type: np.ndarray | None = None,
    dst_type: np.ndarray | None = None,
) -> DegreeCuts:
    """Identifiers linked to more distinct person-defining identifiers of one type than allowed.

    The edges may repeat a pair (one row per source): counting every row bounds the distinct neighbours from
    above, so only the nodes above their smallest limit by that count are counted exactly, on their edges
    with repeats removed.
    """
    # Person-defining types come first in config.all_types, so their codes are 0..n_person-1.
    n_person = len(config.person_defining_types)
    limits = limit_matrix(config)[:, :n_person]
    # Edge ends whose other end is person-defining, counted per node in one pass.
    # The type of every edge end (given when the caller has them already).
    src_type = node_type[src] if src_type is None else src_type
    dst_type = node_type[dst] if dst_type is None else dst_type
    ends = np.concatenate([src[dst_type < n_person], dst[src_type < n_person]])
    degree = np.bincount(ends, minlength=n_nodes)
    del ends
    smallest = np.minimum(limits.min(axis=1), np.iinfo(np.int32).max).astype(np.int32)
    candidates = np.flatnonzero(degree > smallest[node_type])
    del degree
    if len(candidates) == 0:
        none = np.zeros(0, dtype=np.int64)
        return DegreeCuts(
            nodes=none.astype(np.int32), neighbour_type=none.astype(np.int8), degree=none, limit=none
        )
    is_candidate = np.zeros(n_nodes, dtype=bool)
    is_candidate[candidates] = True
    touching = is_candidate[src] | is_candidate[dst]
    src, dst = distinct_pairs(src[touching], dst[touching], n_nodes)
    src_type, dst_type = node_type[src], node_type[dst]
    src_counts, dst_counts = dst_type < n_person, src_type < n_person
    slot = np.zeros(n_nodes, dtype=np.int64)
    slot[candidates] = np.arange(len(candidates))
    from_src = src_counts & is_candidate[src]
    from_dst = dst_counts & is_candidate[dst]
    keys = np.concatenate(
        [
            slot[src[from_src]] * n_person + dst_type[from_src],
            slot[dst[from_dst]] * n_person + src_type[from_dst],
        ]
    )
    counts = np.bincount(keys, minlength=len(candidates) * n_person).reshape(len(candidates), n_person)
    allowed = limits[node_type[candidates]]
    broken = (counts > allowed).any(axis=1)
    nodes = candidates[broken].astype(np.int32)
    counts, allowed = counts[broken], allowed[broken]
    over = counts / allowed  # the type most over its limit is reported in the audit
    worst = over.argmax(axis=1) if len(nodes) else np.zeros(0, dtype=np.int64)
    rows = np.arange(len(nodes))
    return DegreeCuts(
        nodes=nodes,
        neighbour_type=worst.astype(np.int8),
        degree=counts[rows, worst],
        limit=allowed[rows, worst],
    )


@dataclass
class CapResolution:
    """New component labels for nodes of over-cap components, and the links cut to respect caps."""

    nodes: np.ndarray  # node positions that were re-resolved
    labels: np.ndarray  # their new labels (numbered from label_offset)
    cut_edges: np.ndarray  # positions in the given edge arrays of the links cut
    cut_type: np.ndarray  # type code whose cap the link would have broken
    cut_count: np.ndarray  # how many identifiers of that type the person would have held


def cap_array(config: IdentityConfig) -> np.ndarray:
    return np.array([config.caps.get(t, NO_LIMIT) for t in config.all_types], dtype=np.int64)


def over_cap_components(config: IdentityConfig, per_type: np.ndarray) -> np.ndarray:
    """Labels of components holding more identifiers of some type than its cap (per_type: counts)."""
    return np.flatnonzero((per_type > cap_array(config)).any(axis=1))


def edge_order(
    config: IdentityConfig,
    node_type: np.ndarray,
    node_key: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    first_seen: np.ndarray,
    records: np.ndarray,
) -> np.ndarray:
    """Positions of the given edges, strongest first: both types strong, then oldest, then most records."""
    rank_of_code = np.array([config.type_priority.index(t) for t in config.all_types], dtype=np.int64)
    ra, rb = rank_of_code[node_type[src]], rank_of_code[node_type[dst]]
    weaker, stronger = np.maximum(ra, rb), np.minimum(ra, rb)
    # np.lexsort sorts by the last key first; node keys make the order independent of input row order.
    return np.lexsort((node_key[dst], node_key[src], -records, first_seen, stronger, weaker))


def resolve_capped(
    config: IdentityConfig,
    node_type: np.ndarray,
    nodes: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    label_offset: int,
) -> CapResolution:
    """Union-find over the given (already ordered) edges, refusing unions that break a cap.

    Runs in Python, so only for the nodes of over-cap components (a small share of the graph).
    """
    caps = cap_array(config)
    local = {int(node): i for i, node in enumerate(nodes)}
    parent = list(range(len(nodes)))
    counts = [np.bincount([int(node_type[node])], minlength=len(caps)).astype(np.int64) for node in nodes]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    cut_edges: list[int] = []
    cut_type: list[int] = []
    cut_count: list[int] = []
    for e, (a, b) in enumerate(zip(src.tolist(), dst.tolist(), strict=True)):
        ra, rb = find(local[a]), find(local[b])
        if ra == rb:
            continue
        merged = counts[ra] + counts[rb]
        over = merged > caps
        if over.any():
            t = int(np.flatnonzero(over)[0])
            cut_edges.append(e)
            cut_type.append(t)
            cut_count.append(int(merged[t]))
            continue
        if ra > rb:  # keep the smaller root: results do not depend on dict iteration order
            ra, rb = rb, ra
        parent[rb] = ra
        counts[ra] = merged
    roots = np.array([find(i) for i in range(len(nodes))], dtype=np.int64)
    _, new_labels = np.unique(roots, return_inverse=True)
    return CapResolution(
        nodes=nodes,
        labels=new_labels.astype(np.int64) + label_offset,
        cut_edges=np.array(cut_edges, dtype=np.int64),
        cut_type=np.array(cut_type, dtype=np.int8),
        cut_count=np.array(cut_count, dtype=np.int64),
    )
