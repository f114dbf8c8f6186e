"""Conversion of PyG batches to DGL batched graphs (DGL imported lazily)."""
from __future__ import annotations

import torch

from ._dgl import import_dgl

__all__ = ["to_dgl"]


def to_dgl(data, node_key: str = "x", edge_key: str = "edge_attr"):
    r"""Convert a PyG `Data` or `Batch` into a batched `DGLGraph`.

    Node and edge order are kept; `data.x` goes to `g.ndata["x"]`, `data.edge_attr` to
    `g.edata["edge_attr"]`, and the per-graph node/edge counts are set so that
    `dgl.unbatch`, `g.batch_size` and DGL readouts see the same graphs as PyG.

    Args:
        data (Data or Batch): a PyG graph or batch (`edge_index` `[2, E]` required).
        node_key (str): PyG attribute copied to `ndata["x"]`.
        edge_key (str): PyG attribute copied to `edata["edge_attr"]`.

    Example:
        >>> g = to_dgl(next(iter(DataLoader(dataset, batch_size=32))))
        >>> g.batch_size
        32
    """
    dgl = import_dgl()
    num_nodes = int(data.num_nodes)
    src, dst = data.edge_index
    g = dgl.graph((src, dst), num_nodes=num_nodes)
    batch = getattr(data, "batch", None)
    if batch is not None:
        num_graphs = int(data.num_graphs)
        nodes_per_graph = torch.bincount(batch, minlength=num_graphs)
        edges_per_graph = torch.bincount(batch[src], minlength=num_graphs)
        g.set_batch_num_nodes(nodes_per_graph)
        g.set_batch_num_edges(edges_per_graph)
    if getattr(data, node_key, None) is not None:
        g.ndata["x"] = getattr(data, node_key)
    if getattr(data, edge_key, None) is not None:
        g.edata["edge_attr"] = getattr(data, edge_key)
    return g
