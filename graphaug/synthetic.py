"""A small graph-classification set generated in code (no download), for demos and smoke runs."""
from __future__ import annotations

import networkx as nx
import torch

from .data import GraphDataset

__all__ = ["synthetic_graphs"]

MAX_DEGREE = 6


def _to_data(graph: nx.Graph, label: int):
    from torch_geometric.data import Data
    from torch_geometric.utils import add_remaining_self_loops

    graph = nx.convert_node_labels_to_integers(graph)
    edges = torch.tensor(list(graph.edges()), dtype=torch.long).T.reshape(2, -1)
    edge_index = torch.cat([edges, edges.flip(0)], dim=1)
    degree = torch.tensor([min(d, MAX_DEGREE) for _, d in sorted(graph.degree())])
    x = torch.nn.functional.one_hot(degree, MAX_DEGREE + 1).float()
    edge_index, _ = add_remaining_self_loops(edge_index, num_nodes=graph.number_of_nodes())
    return Data(x=x, edge_index=edge_index, y=torch.tensor([label]))


def synthetic_graphs(num_graphs: int = 400, seed: int = 0) -> GraphDataset:
    r"""Two classes of small graphs with the same size range: class 0 = cycles, class 1 =
    random trees, both with n/5..n/2 random chords. Node features are one-hot degrees
    (capped at 6) and every node has a self-loop, as in the GraphCL TU pipeline.

    Args:
        num_graphs (int): total number of graphs (classes balanced).
        seed (int): generator seed.

    Example:
        >>> ds = synthetic_graphs(200)
        >>> ds.num_features, ds.num_classes
        (7, 2)
    """
    if num_graphs < 20:
        raise ValueError(f"num_graphs must be >= 20 (10 per class for the SVM folds), got "
                         f"{num_graphs}")
    gen = torch.Generator().manual_seed(seed)

    def randint(low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=gen))

    graphs = []
    for i in range(num_graphs):
        label = i % 2
        n = randint(10, 31)
        if label == 0:
            graph = nx.cycle_graph(n)
        else:
            graph = nx.random_labeled_tree(n, seed=randint(0, 2 ** 31)) \
                if hasattr(nx, "random_labeled_tree") else nx.random_tree(n, seed=randint(0, 2 ** 31))
        for _ in range(randint(n // 5, n // 2)):  # random chords blur the two families
            graph.add_edge(randint(0, n), randint(0, n))
        graph.remove_edges_from(nx.selfloop_edges(graph))
        graphs.append(_to_data(graph, label))
    return GraphDataset("synthetic", graphs, MAX_DEGREE + 1, 2, {"seed": seed})
