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


def compact_labels(labels: np.ndarray, n_labels: int) -> tuple[int, np.ndarray]:
    """Renumber the labels in use to 0..k-1 (in label order); -1 stays -1. Linear time."""
    valid = labels >= 0
    used = np.zeros(n_labels, dtype=bool)
    used[labels[valid]] = True
    new_number = np.cumsum(used) - 1
    out = np.full(len(labels), -1, dtype=np.int64)
    out[valid] = new_number[labels[valid]]
    return int(used.sum()), out
