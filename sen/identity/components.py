"""Connected components of the identifier graph (scipy: linear time, no limit on path length)."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components as _scipy_connected_components


def adjacency(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> csr_array:
    """Sparse adjacency matrix with src < dst; converting to CSR merges duplicate pairs."""
    low, high = np.minimum(src, dst), np.maximum(src, dst)
    return coo_array(
        (np.ones(len(low), dtype=np.int32), (low.astype(np.int32), high.astype(np.int32))),
        shape=(n_nodes, n_nodes),
    ).tocsr()


def unique_edges(graph: csr_array) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) int32 arrays of the stored pairs of a CSR adjacency matrix."""
    counts = np.diff(graph.indptr)
    return np.repeat(np.arange(graph.shape[0], dtype=np.int32), counts), graph.indices.astype(np.int32)


def components(graph: csr_array) -> tuple[int, np.ndarray]:
    """(number of components, int64 label per node) of an undirected graph."""
    if graph.shape[0] == 0:
        return 0, np.zeros(0, dtype=np.int64)
    n_components, labels = _scipy_connected_components(graph, directed=False, return_labels=True)
    return int(n_components), labels.astype(np.int64)


def connected_components(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of components, int64 label per node) for an undirected graph given as edge arrays."""
    return components(adjacency(n_nodes, src, dst))


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
