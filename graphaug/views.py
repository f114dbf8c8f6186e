"""Input-graph augmentations (GraphCL) on collated PyG batches, vectorised and exact per graph.

Every augmentation works on a whole ``Batch`` at once with tensor operations only (no Python
loop over graphs), on CPU or GPU, and is exact per graph: graph ``i`` with ``n_i`` nodes and
``e_i`` (directed) edges loses exactly ``int(n_i * ratio)`` nodes / ``int(e_i * ratio)`` edges,
added edges join two nodes of the same graph, and ``x``, ``edge_attr``, ``batch`` and ``y`` stay
aligned. The input batch is never modified.

GraphCL's official code has two known bugs; the correct behaviour is the default and the
quirks sit behind flags: ``subgraph(..., official_quirk=True)`` only ever grows from the first
node's neighbours, ``perturb_edges(..., add_edges=False)`` drops edges without adding any.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

__all__ = ["GraphView", "drop_nodes", "perturb_edges", "mask_attributes", "subgraph",
           "random_choice", "get_augmentation", "AUGMENTATIONS", "ViewAugmentation"]


class GraphView:
    """Planned edits of a batch: which nodes/edges to keep, which edges to add, new features.

    Augmentations fill a plan for the graphs they are *active* on; :meth:`apply` builds the new
    batch once, so that ``random2/3/4`` can combine several augmentations in one pass.
    """

    def __init__(self, batch) -> None:
        self.batch = batch
        device = batch.edge_index.device
        self.num_nodes = int(batch.num_nodes)
        self.num_graphs = int(batch.num_graphs)
        self.node_graph = batch.batch if batch.batch is not None else \
            torch.zeros(self.num_nodes, dtype=torch.long, device=device)
        self.edge_graph = self.node_graph[batch.edge_index[0]]
        self.nodes_per_graph = torch.bincount(self.node_graph, minlength=self.num_graphs)
        self.edges_per_graph = torch.bincount(self.edge_graph, minlength=self.num_graphs)
        self.node_keep = torch.ones(self.num_nodes, dtype=torch.bool, device=device)
        self.edge_keep = torch.ones(batch.edge_index.size(1), dtype=torch.bool, device=device)
        # edges rewired in place (a dropped edge's slot takes an added edge of its graph, so
        # edges stay grouped by graph and keep an attribute row)
        self.rewired_ids: list[Tensor] = []
        self.rewired_edges: list[Tensor] = []
        self.x = batch.x
        self._node_rank: Optional[Tensor] = None
        self._edge_rank: Optional[Tensor] = None

    @property
    def device(self) -> torch.device:
        return self.node_graph.device

    def node_rank(self, generator: Optional[torch.Generator]) -> Tensor:
        """Random rank of each node within its graph, drawn once per view: every graph gets one
        augmentation, so the augmentations of a random pool can share it."""
        if self._node_rank is None:
            self._node_rank = _random_rank(self.node_graph, self.num_graphs, generator)
        return self._node_rank

    def edge_rank(self, generator: Optional[torch.Generator]) -> Tensor:
        """Random rank of each edge within its graph (drawn once per view)."""
        if self._edge_rank is None:
            self._edge_rank = _random_rank(self.edge_graph, self.num_graphs, generator)
        return self._edge_rank

    def apply(self):
        """Return the augmented batch (a new ``Batch``)."""
        from torch_geometric.data import Batch

        old = self.batch
        keep = self.node_keep
        all_nodes = bool(keep.all())
        edge_index, edge_keep = old.edge_index, self.edge_keep
        if self.rewired_ids:
            edge_index = edge_index.clone()
            edge_index[:, torch.cat(self.rewired_ids)] = torch.cat(self.rewired_edges, dim=1)
        if not all_nodes:
            edge_keep = edge_keep & keep[edge_index[0]] & keep[edge_index[1]]
        attr_ids = None
        if not bool(edge_keep.all()):
            attr_ids = edge_keep.nonzero().flatten()
            edge_index = edge_index[:, attr_ids]
        if not all_nodes:
            new_index = torch.cumsum(keep.long(), 0) - 1
            edge_index = new_index[edge_index]
        node_graph = self.node_graph if all_nodes else self.node_graph[keep]
        counts = torch.bincount(node_graph, minlength=self.num_graphs)
        ptr = torch.zeros(self.num_graphs + 1, dtype=torch.long, device=self.device)
        ptr[1:] = torch.cumsum(counts, 0)
        x = self.x if all_nodes or self.x is None else self.x[keep]
        out = Batch(x=x, edge_index=edge_index,
                    batch=node_graph, ptr=ptr, y=getattr(old, "y", None))
        edge_attr = getattr(old, "edge_attr", None)
        if edge_attr is not None:
            out.edge_attr = edge_attr if attr_ids is None else edge_attr[attr_ids]
        out._num_graphs = self.num_graphs
        return out


def _random_rank(group: Tensor, num_groups: int, generator: Optional[torch.Generator]) -> Tensor:
    """A uniformly random rank ``0..size-1`` of every element within its group."""
    n = group.numel()
    if n == 0:
        return group.new_zeros(0)
    # one sort: integer group id plus a uniform key in [0, 1) orders by group, randomly within
    keys = group.double() + _rand(n, group.device, generator).double()
    order = torch.argsort(keys)
    counts = torch.bincount(group, minlength=num_groups)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(group)
    rank[order] = torch.arange(n, device=group.device) - starts[group[order]]
    return rank


def _rand(n: int, device: torch.device, generator: Optional[torch.Generator]) -> Tensor:
    if generator is None:
        return torch.rand(n, device=device)
    return torch.rand(n, generator=generator, device=generator.device).to(device)


def _all_active(view: GraphView, active: Optional[Tensor]) -> Tensor:
    if active is None:
        return torch.ones(view.num_graphs, dtype=torch.bool, device=view.device)
    return active


def _check_ratio(ratio: float) -> float:
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"aug ratio must lie in [0, 1), got {ratio}")
    return float(ratio)


def plan_drop_nodes(view: GraphView, ratio: float, active: Optional[Tensor] = None,
                    generator: Optional[torch.Generator] = None) -> None:
    """Drop exactly ``int(n_i * ratio)`` uniformly chosen nodes of each active graph."""
    active = _all_active(view, active)
    drop = (view.nodes_per_graph.float() * _check_ratio(ratio)).long() * active
    rank = view.node_rank(generator)
    view.node_keep &= rank >= drop[view.node_graph]


def plan_perturb_edges(view: GraphView, ratio: float, active: Optional[Tensor] = None,
                       generator: Optional[torch.Generator] = None,
                       add_edges: bool = True) -> None:
    """Drop exactly ``int(e_i * ratio)`` directed edges of each active graph and (unless
    ``add_edges=False``, GraphCL's quirk) add as many uniformly random edges inside it; an
    added edge takes the attributes of one of the dropped edges of its graph."""
    active = _all_active(view, active)
    count = (view.edges_per_graph.float() * _check_ratio(ratio)).long() * active
    rank = view.edge_rank(generator)
    dropped = rank < count[view.edge_graph]
    if not add_edges:
        view.edge_keep &= ~dropped
        return
    if not bool(dropped.any()):
        return
    dropped_ids = dropped.nonzero().flatten()
    graph = view.edge_graph[dropped_ids]
    starts = torch.cumsum(view.nodes_per_graph, 0) - view.nodes_per_graph
    sizes = view.nodes_per_graph[graph]
    ends = [starts[graph] + (_rand(graph.numel(), view.device, generator) * sizes.float())
            .long().clamp_max(sizes - 1) for _ in range(2)]
    view.rewired_ids.append(dropped_ids)
    view.rewired_edges.append(torch.stack(ends))


def plan_mask_attributes(view: GraphView, ratio: float, active: Optional[Tensor] = None,
                         generator: Optional[torch.Generator] = None, mean: float = 0.5,
                         std: float = 0.5) -> None:
    """Replace the features of exactly ``int(n_i * ratio)`` nodes of each active graph by
    Gaussian noise N(``mean``, ``std``) (GraphCL's unsupervised TU masking)."""
    active = _all_active(view, active)
    if view.x is None:
        raise ValueError("mask_attributes needs node features x")
    count = (view.nodes_per_graph.float() * _check_ratio(ratio)).long() * active
    rank = view.node_rank(generator)
    masked = rank < count[view.node_graph]
    if not bool(masked.any()):
        return
    if view.x.is_floating_point():
        shape = (int(masked.sum()), view.x.size(1))
        if generator is None:
            noise = torch.normal(mean, std, shape, device=view.device)
        else:
            noise = torch.normal(mean, std, shape, generator=generator,
                                 device=generator.device).to(view.device)
        x = view.x.clone()
        x[masked] = noise.to(x.dtype)
    else:  # categorical features (OGB atoms): use index 0 as the mask token
        x = view.x.clone()
        x[masked] = 0
    view.x = x


def plan_subgraph(view: GraphView, keep_ratio: float, active: Optional[Tensor] = None,
                  generator: Optional[torch.Generator] = None,
                  official_quirk: bool = False) -> None:
    """Keep a connected subgraph of ``max(1, int(n_i * keep_ratio))`` nodes per active graph,
    grown from a random start node by adding random frontier nodes (neighbours of the current
    subgraph), a frontier at a time, until the size is reached or the component is exhausted.

    With ``official_quirk=True`` the frontier is only ever the start node's neighbourhood, as in
    GraphCL's official code (whose set ``union`` is not in place).
    """
    active = _all_active(view, active)
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"subgraph keep ratio must lie in (0, 1], got {keep_ratio}")
    target = (view.nodes_per_graph.float() * keep_ratio).long().clamp_min(1) * active
    rank = view.node_rank(generator)
    start = rank == 0  # one random start node per graph
    inside = start.clone()
    src, dst = view.batch.edge_index
    # the official code's frontier is only ever the start node's neighbourhood
    grows_from = start if official_quirk else inside
    while True:
        need = target - torch.bincount(view.node_graph[inside], minlength=view.num_graphs)
        crossing = grows_from[src] & ~inside[dst] & (need[view.edge_graph] > 0)
        if not bool(crossing.any()):
            break
        frontier = torch.zeros_like(inside)
        frontier[dst[crossing]] = True
        candidates = frontier.nonzero().flatten()
        order = _random_rank(view.node_graph[candidates], view.num_graphs, generator)
        inside[candidates[order < need[view.node_graph[candidates]]]] = True
    view.node_keep &= inside | ~active[view.node_graph]


_PLANNERS: dict[str, Callable] = {
    "dnodes": lambda view, ratio, active, gen, flags: plan_drop_nodes(view, ratio, active, gen),
    "pedges": lambda view, ratio, active, gen, flags: plan_perturb_edges(
        view, ratio, active, gen, add_edges=flags.get("add_edges", True)),
    "mask_nodes": lambda view, ratio, active, gen, flags: plan_mask_attributes(
        view, ratio, active, gen),
    "subgraph": lambda view, ratio, active, gen, flags: plan_subgraph(
        view, flags.get("subgraph_keep", 0.2), active, gen,
        official_quirk=flags.get("subgraph_quirk", False)),
}

#: GraphCL's ``random2/3/4``: the pool each graph draws one augmentation from.
RANDOM_POOLS = {"random2": ("dnodes", "subgraph"),
                "random3": ("dnodes", "pedges", "subgraph"),
                "random4": ("dnodes", "pedges", "subgraph", "mask_nodes")}

AUGMENTATIONS = tuple(_PLANNERS) + tuple(RANDOM_POOLS) + ("none",)


class ViewAugmentation:
    r"""A named GraphCL input augmentation as a callable on collated batches.

    Args:
        name (str): ``"dnodes"``, ``"pedges"``, ``"mask_nodes"``, ``"subgraph"``,
            ``"random2"``, ``"random3"``, ``"random4"`` or ``"none"``.
        ratio (float): fraction of nodes/edges dropped, perturbed or masked (GraphCL: 0.1).
        subgraph_keep (float): fraction of nodes a subgraph keeps (GraphCL: 0.2).
        add_edges (bool): edge perturbation adds as many edges as it drops (``False``: the
            official code's behaviour).
        subgraph_quirk (bool): reproduce the official subgraph growth bug.
        generator (torch.Generator, optional): source of randomness.

    Example:
        >>> aug = ViewAugmentation("random4", ratio=0.1)
        >>> view = aug(batch)        # new Batch, same graphs count, same y
    """

    def __init__(self, name: str, ratio: float = 0.1, *, subgraph_keep: float = 0.2,
                 add_edges: bool = True, subgraph_quirk: bool = False,
                 generator: Optional[torch.Generator] = None) -> None:
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; choose from {AUGMENTATIONS}")
        self.name, self.ratio = name, _check_ratio(ratio)
        self.flags = {"subgraph_keep": subgraph_keep, "add_edges": add_edges,
                      "subgraph_quirk": subgraph_quirk}
        self.generator = generator

    def __call__(self, batch):
        if self.name == "none":
            return batch
        view = GraphView(batch)
        pool = RANDOM_POOLS.get(self.name, (self.name,))
        if len(pool) == 1:
            _PLANNERS[pool[0]](view, self.ratio, None, self.generator, self.flags)
        else:  # each graph draws one augmentation uniformly from the pool
            choice = (_rand(view.num_graphs, view.device, self.generator) * len(pool)).long()
            choice = choice.clamp_max(len(pool) - 1)
            for i, name in enumerate(pool):
                _PLANNERS[name](view, self.ratio, choice == i, self.generator, self.flags)
        return view.apply()

    def __repr__(self) -> str:
        return f"ViewAugmentation({self.name!r}, ratio={self.ratio})"


def get_augmentation(spec: Union[None, str, Callable], **kwargs) -> Optional[Callable]:
    """``None`` -> ``None``; a name -> :class:`ViewAugmentation`; a callable is returned as is."""
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, str):
        return ViewAugmentation(spec, **kwargs)
    raise ValueError(f"input_aug must be None, a name or a callable, got {type(spec).__name__}")


def _single(name: str):
    def augment(batch, ratio: float = 0.1, generator: Optional[torch.Generator] = None, **kw):
        return ViewAugmentation(name, ratio, generator=generator, **kw)(batch)
    augment.__name__ = name
    augment.__doc__ = f"Apply ``{name}`` to every graph of ``batch`` (see ViewAugmentation)."
    return augment


drop_nodes = _single("dnodes")
perturb_edges = _single("pedges")
mask_attributes = _single("mask_nodes")
subgraph = _single("subgraph")


def random_choice(batch, pool: Sequence[str] = RANDOM_POOLS["random4"], ratio: float = 0.1,
                  generator: Optional[torch.Generator] = None):
    """Each graph of ``batch`` draws one augmentation uniformly from ``pool``."""
    name = next((k for k, v in RANDOM_POOLS.items() if tuple(pool) == v), None)
    if name is None:
        raise ValueError(f"pool must be one of {list(RANDOM_POOLS.values())}")
    return ViewAugmentation(name, ratio, generator=generator)(batch)
