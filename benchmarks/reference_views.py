"""Per-graph reference of GraphCL's input augmentations, written here for the speed benchmark:
one Python/NumPy pass per graph (as GraphCL's dataset ``get`` does), then collation."""
from __future__ import annotations

import numpy as np
import torch


def drop_nodes(data, ratio, rng):
    n = data.num_nodes
    drop = rng.choice(n, int(n * ratio), replace=False)
    keep = np.setdiff1d(np.arange(n), drop)
    index = {int(old): new for new, old in enumerate(keep)}
    edges = [(index[int(a)], index[int(b)]) for a, b in data.edge_index.T.tolist()
             if int(a) in index and int(b) in index]
    out = data.clone()
    out.x = data.x[torch.as_tensor(keep)]
    out.edge_index = torch.tensor(edges, dtype=torch.long).T.reshape(2, -1)
    return out


def perturb_edges(data, ratio, rng):
    n, e = data.num_nodes, data.edge_index.size(1)
    k = int(e * ratio)
    keep = rng.choice(e, e - k, replace=False)
    added = rng.integers(0, n, size=(2, k))
    out = data.clone()
    out.edge_index = torch.cat([data.edge_index[:, torch.as_tensor(keep)],
                                torch.as_tensor(added, dtype=torch.long)], dim=1)
    return out


def mask_nodes(data, ratio, rng):
    n = data.num_nodes
    idx = rng.choice(n, int(n * ratio), replace=False)
    out = data.clone()
    out.x = data.x.clone()
    out.x[torch.as_tensor(idx, dtype=torch.long)] = torch.tensor(
        rng.normal(0.5, 0.5, size=(len(idx), data.x.size(1))), dtype=torch.float32)
    return out


def subgraph(data, keep_ratio, rng):
    n = data.num_nodes
    target = max(1, int(n * keep_ratio))
    src, dst = data.edge_index.numpy()
    neighbours = [[] for _ in range(n)]
    for a, b in zip(src, dst):
        neighbours[a].append(b)
    inside = {int(rng.integers(n))}
    frontier = set(b for a in inside for b in neighbours[a]) - inside
    while len(inside) < target and frontier:
        node = int(rng.choice(sorted(frontier)))
        inside.add(node)
        frontier |= set(neighbours[node])
        frontier -= inside
    keep = np.array(sorted(inside))
    index = {int(old): new for new, old in enumerate(keep)}
    edges = [(index[int(a)], index[int(b)]) for a, b in zip(src, dst)
             if int(a) in index and int(b) in index]
    out = data.clone()
    out.x = data.x[torch.as_tensor(keep)]
    out.edge_index = torch.tensor(edges, dtype=torch.long).T.reshape(2, -1)
    return out


POOLS = {"random2": (drop_nodes, subgraph), "random3": (drop_nodes, perturb_edges, subgraph),
         "random4": (drop_nodes, perturb_edges, subgraph, mask_nodes)}


def augment_list(graphs, name, ratio=0.1, rng=None):
    """Augment each graph independently, then collate (what a per-graph pipeline costs)."""
    from torch_geometric.data import Batch

    rng = rng or np.random.default_rng(0)
    out = []
    for data in graphs:
        if name in POOLS:
            fn = POOLS[name][int(rng.integers(len(POOLS[name])))]
        else:
            fn = {"dnodes": drop_nodes, "pedges": perturb_edges, "mask_nodes": mask_nodes,
                  "subgraph": subgraph}[name]
        out.append(fn(data, 0.2 if fn is subgraph else ratio, rng))
    return Batch.from_data_list(out)
