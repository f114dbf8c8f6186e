"""Per-graph reference of GraphCL's input augmentations for the speed benchmark.

It follows GraphCL's official pipeline: the dataset's ``get`` augments one graph at a time, then
the loader collates the views. Each graph is handled with NumPy operations on the whole graph
(a boolean keep mask and a cumsum re-indexing, never a Python loop over edges), so the benchmark
measures what batching buys, not what a Python edge loop costs. The official code is slower than
this reference: its ``drop_nodes``/``subgraph`` rebuild ``edge_index`` with a Python list
comprehension over the edges, testing membership in a NumPy array, and its ``subgraph`` scans all
edges for every added node.

Semantics are graphaug's defaults (the official bugs fixed): ``pedges`` adds as many random
edges as it drops (an added edge takes the attributes of a dropped one), ``subgraph`` grows from
the whole current subgraph, one uniformly random frontier node at a time (the official
algorithm), up to ``max(1, int(n * 0.2))`` nodes.
"""
from __future__ import annotations

import copy

import numpy as np
import torch


def _induced(data, keep):
    """The subgraph of ``data`` induced by the boolean node mask ``keep`` (NumPy)."""
    edge_index = data.edge_index.numpy()
    edge_keep = keep[edge_index[0]] & keep[edge_index[1]]
    new_id = np.cumsum(keep) - 1
    out = copy.copy(data)
    if "num_nodes" in data:  # REDDIT-BINARY stores it; a stale value would break collation
        out.num_nodes = int(keep.sum())
    out.x = torch.from_numpy(data.x.numpy()[keep])
    out.edge_index = torch.from_numpy(new_id[edge_index[:, edge_keep]])
    if getattr(data, "edge_attr", None) is not None:
        out.edge_attr = torch.from_numpy(data.edge_attr.numpy()[edge_keep])
    return out


def drop_nodes(data, ratio, rng):
    n = data.num_nodes
    keep = np.ones(n, dtype=bool)
    keep[rng.choice(n, int(n * ratio), replace=False)] = False
    return _induced(data, keep)


def perturb_edges(data, ratio, rng):
    n, e = data.num_nodes, data.edge_index.size(1)
    k = int(e * ratio)
    order = rng.permutation(e)  # what the official rng.choice(e, e - k, replace=False) draws
    kept, dropped = order[k:], order[:k]
    out = copy.copy(data)
    out.edge_index = torch.from_numpy(np.concatenate(
        [data.edge_index.numpy()[:, kept], rng.integers(0, n, size=(2, k))], axis=1))
    if getattr(data, "edge_attr", None) is not None:
        attr = data.edge_attr.numpy()
        out.edge_attr = torch.from_numpy(np.concatenate([attr[kept], attr[dropped]]))
    return out


def mask_nodes(data, ratio, rng):
    n, d = data.x.shape
    idx = rng.choice(n, int(n * ratio), replace=False)
    x = data.x.numpy().copy()
    x[idx] = rng.normal(0.5, 0.5, size=(len(idx), d))
    out = copy.copy(data)
    out.x = torch.from_numpy(x)
    return out


def subgraph(data, keep_ratio, rng):
    n = data.num_nodes
    target = max(1, int(n * keep_ratio))
    src, dst = data.edge_index.numpy()
    order = np.argsort(src, kind="stable")  # CSR adjacency
    indptr = np.searchsorted(src[order], np.arange(n + 1))
    neighbours = dst[order].tolist()
    start = int(rng.integers(n))
    inside = np.zeros(n, dtype=bool)
    inside[start] = True
    frontier, in_frontier, size = [], set(), 1

    def add_neighbours(node):
        for b in neighbours[indptr[node]:indptr[node + 1]]:
            if not inside[b] and b not in in_frontier:
                in_frontier.add(b)
                frontier.append(b)

    add_neighbours(start)
    while size < target and frontier:
        j = int(rng.integers(len(frontier)))  # uniform frontier node, O(1) swap-remove
        node = frontier[j]
        frontier[j] = frontier[-1]
        frontier.pop()
        in_frontier.discard(node)
        inside[node] = True
        size += 1
        add_neighbours(node)
    return _induced(data, inside)


POOLS = {"random2": (drop_nodes, subgraph), "random3": (drop_nodes, perturb_edges, subgraph),
         "random4": (drop_nodes, perturb_edges, subgraph, mask_nodes)}
SINGLE = {"dnodes": drop_nodes, "pedges": perturb_edges, "mask_nodes": mask_nodes,
          "subgraph": subgraph}


def augment_list(graphs, name, ratio=0.1, rng=None):
    """Augment each graph independently, then collate (what a per-graph pipeline costs)."""
    from torch_geometric.data import Batch

    rng = rng or np.random.default_rng(0)
    out = []
    for data in graphs:
        if name in POOLS:
            fn = POOLS[name][int(rng.integers(len(POOLS[name])))]
        else:
            fn = SINGLE[name]
        out.append(fn(data, 0.2 if fn is subgraph else ratio, rng))
    return Batch.from_data_list(out)
