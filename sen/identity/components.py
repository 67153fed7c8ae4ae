"""Connected components of the identifier graph: linear work per round, no limit on path length."""

from __future__ import annotations

import numpy as np


def connected_components(
    n_nodes: int, src: np.ndarray, dst: np.ndarray, first: np.ndarray | None = None
) -> tuple[int, np.ndarray]:
    """(number of components, int64 label per node) of the undirected graph with edges (src[i], dst[i]).

    Vectorized hooking and pointer jumping (Shiloach-Vishkin style), with every node's pointer at its root
    after each round: each round, the larger root of every edge whose ends are in different trees is hooked
    under the smallest root it meets (np.minimum.at), hooked roots follow pointers (doubling) up to a root,
    and one gather moves every node to its new root. Roots only ever point to smaller positions, so there
    are no cycles; only the edges still between trees go to the next round, so rounds shrink fast (3 on the
    benchmark graph), and a chain of length L needs about log2(L) pointer doublings, not L rounds. Duplicate
    edges and self-loops are harmless. Labels number the components in the order of their smallest node.

    `first` (bool per edge), if given, makes two phases: the marked edges are joined first and
    `first_roots` is left holding, for every node, the root of its component over those edges alone (see
    connected_components_in_phases); the work is the same as one phase over all edges.
    """
    n, labels, _ = connected_components_in_phases(n_nodes, src, dst, first)
    return n, labels


def connected_components_in_phases(
    n_nodes: int, src: np.ndarray, dst: np.ndarray, first: np.ndarray | None = None
) -> tuple[int, np.ndarray, np.ndarray | None]:
    """connected_components(), and when `first` marks some edges, the root (smallest node) of every node's
    component over the marked edges only (int32 per node), else None."""
    ids = np.arange(n_nodes, dtype=np.int32)
    parent = ids.copy()
    u, v = src.astype(np.int32, copy=False), dst.astype(np.int32, copy=False)
    first_roots = None
    if first is None:
        parent = _join(parent, u, v, fresh=True)
    else:
        parent = _join(parent, u[first], v[first], fresh=True)
        first_roots = parent.copy()
        parent = _join(parent, u[~first], v[~first], fresh=False)
    is_root = parent == ids
    label_of_root = np.cumsum(is_root, dtype=np.int64) - 1
    return int(label_of_root[-1] + 1) if n_nodes else 0, label_of_root[parent], first_roots


def _join(parent: np.ndarray, u: np.ndarray, v: np.ndarray, fresh: bool) -> np.ndarray:
    """Hook the trees of `parent` along the edges (u, v) until none joins two trees; every node then points
    at its root. `fresh`: every node is still its own root (saves the first gathers)."""
    first = fresh
    while len(u):
        pu, pv = (u, v) if first else (parent[u], parent[v])
        first = False
        apart = pu != pv
        if not apart.all():
            if not apart.any():
                break
            u, v, pu, pv = u[apart], v[apart], pu[apart], pv[apart]
        hooked = np.maximum(pu, pv)
        np.minimum.at(parent, hooked, np.minimum(pu, pv))
        # A hooked root may point at a root hooked in the same round: follow pointers up to a root.
        while len(hooked):
            up = parent[hooked]
            upper = parent[up]
            moved = upper != up
            hooked, upper = hooked[moved], upper[moved]
            parent[hooked] = upper
        parent = parent[parent]  # every node pointed at an old root, which now points at its root
    return parent


def distinct_pairs(src: np.ndarray, dst: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct unordered pairs among the edges (src[i], dst[i]), as (low, high) int32 arrays."""
    low, high = np.minimum(src, dst).astype(np.int64), np.maximum(src, dst).astype(np.int64)
    # Sort and drop repeats: plain np.unique took 8 s for 7.5M pairs here (numpy 2.4), a sort 0.1 s.
    packed = np.sort(low * n_nodes + high)
    if len(packed):
        packed = packed[np.concatenate([[True], packed[1:] != packed[:-1]])]
    return (packed // n_nodes).astype(np.int32), (packed % n_nodes).astype(np.int32)


def type_counts(
    labels: np.ndarray, node_type: np.ndarray, n_labels: int, n_types: int, skip: np.ndarray | None = None
) -> np.ndarray:
    """(n_labels, n_types) int64 counts of nodes per label and type; `skip` marks nodes left out."""
    keys = labels * n_types + node_type
    if skip is not None:
        keys = keys[~skip]
    return np.bincount(keys, minlength=n_labels * n_types).reshape(n_labels, n_types)


def compact_labels(
    labels: np.ndarray, n_labels: int, unused: np.ndarray, dropped: np.ndarray
) -> tuple[int, np.ndarray]:
    """Renumber labels 0..n_labels-1 without the `unused` ones, keeping their order; nodes marked in
    `dropped` get -1. Every label not listed in `unused` must be held by some node. Linear time."""
    used = np.ones(n_labels, dtype=bool)
    used[unused] = False
    new_number = np.cumsum(used) - 1
    out = new_number[labels]
    out[dropped] = -1
    return int(used.sum()), out
