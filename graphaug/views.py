"""Input-graph augmentations (GraphCL) on collated PyG batches, vectorised and exact per graph.

Every augmentation works on a whole `Batch` at once with tensor operations only (no Python
loop over graphs), on CPU or GPU, and is exact per graph: graph `i` with `n_i` nodes and
`e_i` (directed) edges loses exactly `int(n_i * ratio)` nodes / `int(e_i * ratio)` edges,
added edges join two nodes of the same graph, and `x`, `edge_attr`, `batch` and `y` stay
aligned. The input batch is never modified.

GraphCL's official code has two known bugs; the correct behaviour is the default and the
quirks sit behind flags: `subgraph(..., official_quirk=True)` only ever grows from the first
node's neighbours, `perturb_edges(..., add_edges=False)` drops edges without adding any.

`mask_nodes` writes GraphCL's Gaussian noise into float features; integer (categorical)
features, such as OGB atom types, need an explicit `mask_token` (a `ValueError` says so).
"""
from __future__ import annotations

import copy
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["GraphView", "drop_nodes", "perturb_edges", "mask_attributes", "subgraph",
           "random_choice", "get_augmentation", "AUGMENTATIONS", "ViewAugmentation"]


class GraphView:
    """Planned edits of a batch: which nodes/edges to keep, which edges to add, new features.

    Augmentations fill a plan for the graphs they are *active* on; `apply` builds the new
    batch once, so that `random2/3/4` can combine several augmentations in one pass.

    Nodes must be grouped by graph (PyG's sorted `batch` vector). Edges may come in any
    order; a collated batch keeps them grouped by graph, which makes edge sampling cheaper.
    """

    def __init__(self, batch) -> None:
        batch = _checked(batch)
        self.batch = batch
        edge_index = batch.edge_index
        device = edge_index.device
        self.num_graphs = int(batch.num_graphs)
        self.num_nodes = int(batch.num_nodes)
        self.num_edges = edge_index.size(1)
        self.node_graph = batch.batch if batch.batch is not None else \
            torch.zeros(self.num_nodes, dtype=torch.long, device=device)
        self.node_ptr = _node_ptr(batch, self.node_graph, self.num_graphs, self.num_nodes)
        self.nodes_per_graph = self.node_ptr[1:] - self.node_ptr[:-1]
        self.node_keep: Optional[Tensor] = None  # None: every node kept
        self.edge_keep: Optional[Tensor] = None  # None: every edge kept
        # edges rewired in place (a dropped edge's slot takes an added edge of its graph, so
        # edges stay grouped by graph and keep an attribute row)
        self.rewired_ids: list[Tensor] = []
        self.rewired_edges: list[Tensor] = []
        self.x = batch.x
        self._edge_groups: Optional[tuple[Tensor, Optional[Tensor]]] = None

    @property
    def device(self) -> torch.device:
        return self.node_graph.device

    def edge_groups(self) -> tuple[Tensor, Optional[Tensor]]:
        """`(edge_ptr, perm)`: graph `g` owns the edges `perm[edge_ptr[g]:edge_ptr[g+1]]`
        (`perm` is `None` when the edges are already grouped by graph, as collated)."""
        if self._edge_groups is None:
            self._edge_groups = _edge_groups(self.batch, self.node_graph, self.node_ptr,
                                             self.num_graphs)
        return self._edge_groups

    def drop_nodes(self, ids: Tensor) -> None:
        if self.node_keep is None:
            self.node_keep = torch.ones(self.num_nodes, dtype=torch.bool, device=self.device)
        self.node_keep[ids] = False

    def keep_nodes(self, mask: Tensor) -> None:
        self.node_keep = mask if self.node_keep is None else self.node_keep & mask

    def drop_edges(self, ids: Tensor) -> None:
        if self.edge_keep is None:
            self.edge_keep = torch.ones(self.num_edges, dtype=torch.bool, device=self.device)
        self.edge_keep[ids] = False

    def apply(self):
        """Return the augmented batch (a new `Batch`)."""
        from torch_geometric.data import Batch

        old = self.batch
        edge_index = old.edge_index
        if self.rewired_ids:
            ids, ends = torch.cat(self.rewired_ids), torch.cat(self.rewired_edges, dim=1)
            edge_index = edge_index.reshape(-1).index_copy(
                0, torch.cat([ids, ids + self.num_edges]), ends.reshape(-1)).view(2, -1)
        node_keep, edge_keep = self.node_keep, self.edge_keep
        if node_keep is not None:  # an edge survives when both its ends do
            ends_kept = node_keep.index_select(0, edge_index.reshape(-1)).view(2, -1)
            both = ends_kept[0] & ends_kept[1]
            edge_keep = both if edge_keep is None else edge_keep & both
        edge_ids = None
        if edge_keep is not None:
            edge_ids = _nonzero(edge_keep)
            if edge_ids.numel() == self.num_edges:
                edge_ids = None
            else:
                edge_index = edge_index.reshape(-1).index_select(
                    0, torch.cat([edge_ids, edge_ids + self.num_edges])).view(2, -1)
        node_graph, x, ptr = self.node_graph, self.x, self.node_ptr
        if node_keep is not None:
            new_id = torch.cumsum(node_keep, 0) - 1
            edge_index = new_id.index_select(0, edge_index.reshape(-1)).view(2, -1)
            node_ids = _nonzero(node_keep)
            node_graph = node_graph.index_select(0, node_ids)
            x = None if x is None else x.index_select(0, node_ids)
            ptr = torch.searchsorted(node_graph, torch.arange(
                self.num_graphs + 1, device=self.device))
        out = Batch(x=x, edge_index=edge_index, batch=node_graph, ptr=ptr,
                    y=getattr(old, "y", None))
        edge_attr = getattr(old, "edge_attr", None)
        if edge_attr is not None:
            out.edge_attr = edge_attr if edge_ids is None else edge_attr.index_select(0, edge_ids)
        out._num_graphs = self.num_graphs
        return out


def _checked(batch):
    """`batch` if its graph is well-formed, a shallow copy with an `int64` `edge_index` if
    that was another integer type (the input is never modified); else a clear error.

    Raises:
        TypeError: `edge_index` is missing, not a tensor or not integer.
        ValueError: `edge_index` is not `[2, E]`, a node id lies outside `0 .. N-1`, the
            node count is unknown, `batch.batch` does not have one entry per node or
            `edge_attr` not one row per edge.
    """
    edge_index = getattr(batch, "edge_index", None)
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"input views need a PyG Batch with an edge_index tensor, got "
                        f"{type(edge_index).__name__} for {type(batch).__name__}.edge_index")
    if edge_index.dtype == torch.bool or edge_index.is_floating_point() or \
            edge_index.is_complex():
        raise TypeError(f"edge_index must hold integer node ids, got dtype {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
    num_nodes = batch.num_nodes
    if num_nodes is None:
        raise ValueError("the batch has no node count: give it x, batch or num_nodes")
    node_graph = getattr(batch, "batch", None)
    if node_graph is not None and node_graph.numel() != num_nodes:
        raise ValueError(f"batch.batch has {node_graph.numel()} entries for {num_nodes} nodes")
    edge_attr = getattr(batch, "edge_attr", None)
    if isinstance(edge_attr, Tensor) and edge_attr.size(0) != edge_index.size(1):
        raise ValueError(f"edge_attr has {edge_attr.size(0)} rows for {edge_index.size(1)} edges "
                         "(was edge_index changed without its edge_attr?)")
    if edge_index.numel() > 0:
        low, high = torch.stack(torch.aminmax(edge_index.reshape(-1))).tolist()  # one sync
        if low < 0 or high >= num_nodes:
            bad = low if low < 0 else high
            column = int((edge_index == bad).any(0).nonzero()[0, 0])
            raise ValueError(f"edge_index holds node id {bad} (edge {column}), outside "
                             f"0 .. {num_nodes - 1} for a batch of {num_nodes} nodes")
    if edge_index.dtype != torch.long:  # index_select and friends need int64 ids
        batch = copy.copy(batch)
        batch.edge_index = edge_index.long()
    return batch


def _node_ptr(batch, node_graph: Tensor, num_graphs: int, num_nodes: int) -> Tensor:
    """Offsets of each graph's nodes: PyG's `ptr` when present, else from `batch`."""
    ptr = getattr(batch, "ptr", None)
    if isinstance(ptr, Tensor) and ptr.numel() == num_graphs + 1 and int(ptr[-1]) == num_nodes:
        return ptr.to(node_graph.device)
    if num_nodes > 1 and bool((node_graph[1:] < node_graph[:-1]).any()):
        raise ValueError("nodes must be grouped by graph (a sorted batch vector, as PyG "
                         "collates them)")
    counts = torch.bincount(node_graph, minlength=num_graphs)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def _edge_groups(batch, node_graph: Tensor, node_ptr: Tensor,
                 num_graphs: int) -> tuple[Tensor, Optional[Tensor]]:
    edge_index = batch.edge_index
    num_edges, device = edge_index.size(1), edge_index.device
    # collated batches record each graph's edge offsets (PyG's own get_example relies on them);
    # a spot check of every graph's first and last edge catches an edge_index edited since
    slices = getattr(batch, "_slice_dict", None) or {}
    ptr = slices.get("edge_index")
    if isinstance(ptr, Tensor) and ptr.numel() == num_graphs + 1 and int(ptr[-1]) == num_edges:
        ptr = ptr.to(device)
        first, last = ptr[:-1], ptr[1:] - 1
        nonempty = last >= first
        src = edge_index[0]
        ends = torch.stack([src[first[nonempty]], src[last[nonempty]]])
        low, high = node_ptr[:-1][nonempty], node_ptr[1:][nonempty]
        if bool(((ends >= low) & (ends < high)).all()):
            return ptr, None
    edge_graph = node_graph.index_select(0, edge_index[0])
    perm = None
    if num_edges > 1 and bool((edge_graph[1:] < edge_graph[:-1]).any()):
        perm = torch.argsort(edge_graph, stable=True)
        edge_graph = edge_graph.index_select(0, perm)
    ptr = torch.searchsorted(edge_graph, torch.arange(num_graphs + 1, device=device))
    return ptr, perm


def _nonzero(mask: Tensor) -> Tensor:
    """Indices of the `True` entries of a 1-D mask (NumPy on CPU: several times faster than
    `torch.nonzero` there)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.nonzero().view(-1)


def _rand(n: int, device: torch.device, generator: Optional[torch.Generator],
          dtype: torch.dtype = torch.float32) -> Tensor:
    if generator is None:
        return torch.rand(n, device=device, dtype=dtype)
    return torch.rand(n, generator=generator, device=generator.device, dtype=dtype).to(device)


def _uniform_below(sizes: Tensor, generator: Optional[torch.Generator]) -> Tensor:
    """One uniform integer in `[0, sizes[i])` per entry: a uniform 31-bit integer scaled by
    multiply-shift (bias below `size / 2**31`)."""
    bits = torch.empty(sizes.numel(), dtype=torch.int32,
                       device=sizes.device if generator is None else generator.device)
    bits = bits.random_(0, 2 ** 31, generator=generator).to(sizes.device)
    return (bits.long() * sizes) >> 31


#: below this many elements a sort by random key is cheaper than distinct draws
_SORT_BELOW = 4096


def _sample(ptr: Tensor, counts: Tensor,
            generator: Optional[torch.Generator]) -> tuple[Tensor, Tensor]:
    """Exactly `min(counts[g], size_g)` distinct, uniformly random positions in each group
    `g` (the positions `ptr[g] .. ptr[g+1]-1`), and the group of each position.

    Few elements: one sort by (group, uniform key). Many: no sort and no per-element key; a
    group that needs `k` of `n` positions takes the first `k` distinct values of a stream
    of i.i.d. uniform draws (a uniform `k`-subset), or, for `k > n/2`, the complement of a
    uniform `(n-k)`-subset.
    """
    sizes = ptr[1:] - ptr[:-1]
    counts = torch.minimum(counts, sizes)
    total = int(ptr[-1])
    if counts.numel() == 0 or int(counts.max()) <= 1:  # at most one per group: no clash
        group = _nonzero(counts > 0)
        return (ptr.index_select(0, group) +
                _uniform_below(sizes.index_select(0, group), generator)), group
    if total < _SORT_BELOW:
        groups = torch.arange(sizes.numel(), device=ptr.device)
        group = torch.repeat_interleave(groups, sizes, output_size=total)
        order = torch.argsort(group + _rand(total, ptr.device, generator, torch.float64))
        # the sorted positions stay grouped; take the first counts[g] of each group
        slot = torch.arange(total, device=ptr.device) - ptr.index_select(0, group)
        keep = _nonzero(slot < counts.index_select(0, group))
        return order.index_select(0, keep), group.index_select(0, keep)
    flip = 2 * counts > sizes
    pos, group = _distinct_draws(ptr, sizes, torch.where(flip, sizes - counts, counts),
                                 generator)
    if not bool(flip.any()):
        return pos, group
    chosen = torch.repeat_interleave(flip, sizes, output_size=total)
    chosen[pos] = ~chosen[pos]
    pos = _nonzero(chosen)
    return pos, torch.searchsorted(ptr, pos, right=True) - 1


def _distinct_draws(ptr: Tensor, sizes: Tensor, want: Tensor,
                    generator: Optional[torch.Generator]) -> tuple[Tensor, Tensor]:
    """`want[g]` (at most half of the group) distinct uniform positions per group."""
    device, num_groups = ptr.device, sizes.numel()
    need, got_pos, got_group, taken = want, [], [], None
    groups = torch.arange(num_groups, device=device)
    remaining = int(need.sum())
    while remaining > 0:
        # draws expected to find `need` new positions among the `left` not yet taken, +10 %
        left = (sizes - (want - need)).double().clamp_min(1)
        expected = sizes.double() * torch.log(left / (left - need).clamp_min(0.5))
        draws = torch.where(need > 0, (1.1 * expected).long() + 2, 0)
        offsets = torch.cumsum(draws, 0)
        num_draws = int(offsets[-1])
        group = torch.repeat_interleave(groups, draws, output_size=num_draws)
        pos = ptr.index_select(0, group) + _uniform_below(sizes.index_select(0, group),
                                                          generator)
        # keep a draw if it is the first of its value (and the value is new)
        order = torch.arange(num_draws, dtype=torch.int32, device=device)
        first = torch.full((int(ptr[-1]),), num_draws, dtype=torch.int32, device=device)
        first.scatter_reduce_(0, pos, order, "amin")
        fresh = first.index_select(0, pos) == order
        if taken is not None:
            fresh &= ~taken.index_select(0, pos)
        # ... among the first need[g] fresh draws of its group
        seen = torch.cat([offsets.new_zeros(1), torch.cumsum(fresh, 0)])
        before = seen[offsets - draws]
        rank = seen[1:] - before.index_select(0, group)
        ids = _nonzero(fresh & (rank <= need.index_select(0, group)))
        got_pos.append(pos.index_select(0, ids))
        got_group.append(group.index_select(0, ids))
        need = need - torch.minimum(need, seen[offsets] - before)
        remaining = int(need.sum())
        if remaining > 0:
            if taken is None:
                taken = torch.zeros(int(ptr[-1]), dtype=torch.bool, device=device)
            taken[got_pos[-1]] = True
    if not got_pos:
        empty = ptr.new_zeros(0)
        return empty, empty
    if len(got_pos) == 1:
        return got_pos[0], got_group[0]
    return torch.cat(got_pos), torch.cat(got_group)


def _active_counts(sizes: Tensor, ratio: float, active: Optional[Tensor]) -> Tensor:
    """`int(size * ratio)` per graph (in float64, as Python computes it), 0 where inactive."""
    counts = (sizes.double() * ratio).long()
    return counts if active is None else counts * active


def _check_ratio(ratio: float) -> float:
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"aug ratio must lie in [0, 1), got {ratio}")
    return float(ratio)


def plan_drop_nodes(view: GraphView, ratio: float, active: Optional[Tensor] = None,
                    generator: Optional[torch.Generator] = None) -> None:
    """Drop exactly `int(n_i * ratio)` uniformly chosen nodes of each active graph."""
    count = _active_counts(view.nodes_per_graph, _check_ratio(ratio), active)
    dropped, _ = _sample(view.node_ptr, count, generator)
    view.drop_nodes(dropped)


def plan_perturb_edges(view: GraphView, ratio: float, active: Optional[Tensor] = None,
                       generator: Optional[torch.Generator] = None,
                       add_edges: bool = True) -> None:
    """Drop exactly `int(e_i * ratio)` directed edges of each active graph and (unless
    `add_edges=False`, GraphCL's quirk) add as many uniformly random edges inside it; an
    added edge takes the attributes of one of the dropped edges of its graph."""
    edge_ptr, perm = view.edge_groups()
    count = _active_counts(edge_ptr[1:] - edge_ptr[:-1], _check_ratio(ratio), active)
    dropped, graph = _sample(edge_ptr, count, generator)
    if perm is not None:
        dropped = perm.index_select(0, dropped)
    if not add_edges:
        view.drop_edges(dropped)
        return
    if dropped.numel() == 0:
        return
    starts = view.node_ptr.index_select(0, graph)
    sizes = view.nodes_per_graph.index_select(0, graph)
    view.rewired_ids.append(dropped)
    view.rewired_edges.append(starts + _uniform_below(sizes.repeat(2), generator).view(2, -1))


def _check_mask_token(x: Tensor, mask_token) -> None:
    if mask_token is None:
        if not x.is_floating_point():
            raise ValueError(
                f"mask_nodes on integer (categorical) node features ({x.dtype}) needs a mask "
                "token: pass mask_token=<index> (written into every column of a masked node) "
                "or a tensor with one index per column, e.g. an extra 'masked' row of each "
                "feature's embedding table; Gaussian noise (GraphCL's masking) only applies "
                "to float features")
        return
    token = torch.as_tensor(mask_token)
    if token.dim() > 1 or (token.dim() == 1 and (x.dim() != 2 or token.numel() != x.size(1))):
        raise ValueError(f"mask_token must be one value or one per feature column "
                         f"({x.size(1) if x.dim() == 2 else 1}), got shape {tuple(token.shape)}")
    if token.is_floating_point() and not x.is_floating_point() and \
            not bool((token == token.round()).all()):
        raise ValueError(f"mask_token {mask_token!r} must be integral for {x.dtype} features")


def _require_features(batch) -> None:
    if getattr(batch, "x", None) is None:
        raise ValueError("mask_nodes masks node features, but the batch has x=None: give the "
                         "graphs features (e.g. constant ones) or use an augmentation without "
                         "masking (dnodes, pedges, subgraph, random2, random3)")


def _mask_rows(x: Tensor, num_rows: int, mask_token, generator: Optional[torch.Generator],
               mean: float, std: float) -> Tensor:
    """The `[num_rows, F]` rows written into masked nodes."""
    shape = (num_rows,) + tuple(x.shape[1:])
    if mask_token is not None:
        token = torch.as_tensor(mask_token, device=x.device).to(x.dtype)
        return token.expand(shape).contiguous()
    if generator is None:
        return torch.normal(mean, std, shape, device=x.device).to(x.dtype)
    return torch.normal(mean, std, shape, generator=generator,
                        device=generator.device).to(device=x.device, dtype=x.dtype)


def plan_mask_attributes(view: GraphView, ratio: float, active: Optional[Tensor] = None,
                         generator: Optional[torch.Generator] = None, mean: float = 0.5,
                         std: float = 0.5, mask_token=None) -> None:
    """Overwrite the features of exactly `int(n_i * ratio)` nodes of each active graph.

    Float features get Gaussian noise N(`mean`, `std`) (GraphCL's unsupervised TU masking)
    unless `mask_token` is given. Integer (categorical) features, e.g. OGB atom types, need
    `mask_token`: one value, or one per column, written into the masked rows (typically an
    index reserved for "masked" in each embedding table); without it a `ValueError` is raised.
    """
    _require_features(view.batch)
    count = _active_counts(view.nodes_per_graph, _check_ratio(ratio), active)
    _check_mask_token(view.x, mask_token)
    masked, _ = _sample(view.node_ptr, count, generator)
    if masked.numel() > 0:
        rows = _mask_rows(view.x, masked.numel(), mask_token, generator, mean, std)
        view.x = view.x.index_copy(0, masked, rows)


def plan_subgraph(view: GraphView, keep_ratio: float, active: Optional[Tensor] = None,
                  generator: Optional[torch.Generator] = None,
                  official_quirk: bool = False) -> None:
    """Keep a connected subgraph of `max(1, int(n_i * keep_ratio))` nodes per active graph,
    grown from a random start node by adding random frontier nodes (neighbours of the current
    subgraph), a frontier at a time, until the size is reached or the component is exhausted.

    With `official_quirk=True` the frontier is only ever the start node's neighbourhood, as in
    GraphCL's official code (whose set `union` is not in place).
    """
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"subgraph keep ratio must lie in (0, 1], got {keep_ratio}")
    # Taking a whole frontier leaves the next BFS level as the frontier, so the growth is: keep
    # whole BFS levels around the start while they fit, then a uniformly random subset of the
    # first level that does not fit. Expand level by level, choose once at the end.
    sizes, node_graph, device = view.nodes_per_graph, view.node_graph, view.device
    target = (sizes.double() * keep_ratio).long().clamp_min(1)
    if active is not None:
        target = target * active
    start, _ = _sample(view.node_ptr, (target > 0).long(), generator)  # one per graph
    depth = torch.full((view.num_nodes,), -1, dtype=torch.long, device=device)
    depth[start] = 0
    unvisited = depth < 0
    level_sizes = [torch.minimum(target, sizes).clamp_max(1)]  # the start nodes
    growing = level_sizes[0] < target
    level = ~unvisited & growing.index_select(0, node_graph)
    src, dst = view.batch.edge_index
    while len(level_sizes) < (2 if official_quirk else view.num_nodes + 1):
        reached = torch.zeros_like(unvisited)
        reached[dst.index_select(0, _nonzero(level.index_select(0, src)))] = True
        reached &= unvisited
        ids = _nonzero(reached)
        if ids.numel() == 0:
            break
        unvisited ^= reached
        depth[ids] = len(level_sizes)
        level_sizes.append(torch.diff(torch.searchsorted(ids, view.node_ptr)))
        growing &= sum(level_sizes) < target
        level = reached & growing.index_select(0, node_graph)
    # whole levels below `full`; then target - (nodes kept so far) of level `full`
    kept = torch.cumsum(torch.stack(level_sizes), 0)
    full = (kept <= target).sum(0)
    below = torch.cat([kept.new_zeros(1, kept.size(1)), kept]).gather(0, full.unsqueeze(0))[0]
    full_here = full.index_select(0, node_graph)
    inside = (depth >= 0) & (depth < full_here)
    candidates = _nonzero(depth == full_here)
    if candidates.numel() > 0:
        picked, _ = _sample(torch.searchsorted(candidates, view.node_ptr), target - below,
                            generator)
        inside[candidates.index_select(0, picked)] = True
    if active is not None:  # graphs that do not take a subgraph keep every node
        inside |= ~active.index_select(0, node_graph)
    view.keep_nodes(inside)


_PLANNERS: dict[str, Callable] = {
    "dnodes": lambda view, ratio, active, gen, flags: plan_drop_nodes(view, ratio, active, gen),
    "pedges": lambda view, ratio, active, gen, flags: plan_perturb_edges(
        view, ratio, active, gen, add_edges=flags.get("add_edges", True)),
    "mask_nodes": lambda view, ratio, active, gen, flags: plan_mask_attributes(
        view, ratio, active, gen, mask_token=flags.get("mask_token")),
    "subgraph": lambda view, ratio, active, gen, flags: plan_subgraph(
        view, flags.get("subgraph_keep", 0.2), active, gen,
        official_quirk=flags.get("subgraph_quirk", False)),
}

#: GraphCL's `random2/3/4`: the pool each graph draws one augmentation from.
RANDOM_POOLS = {"random2": ("dnodes", "subgraph"),
                "random3": ("dnodes", "pedges", "subgraph"),
                "random4": ("dnodes", "pedges", "subgraph", "mask_nodes")}

AUGMENTATIONS = tuple(_PLANNERS) + tuple(RANDOM_POOLS) + ("none",)


_STRIPS_SELF_LOOPS = ("dnodes", "subgraph")


def _strip_self_loops(batch, graphs: Tensor):
    """`batch` without the self-loop edges of the graphs where `graphs` (`[B]` bool)."""
    src, dst = batch.edge_index
    keep = ~((src == dst) & graphs[batch.batch[src]])
    batch.edge_index = batch.edge_index[:, keep]
    if getattr(batch, "edge_attr", None) is not None:
        batch.edge_attr = batch.edge_attr[keep]
    return batch


class ViewAugmentation:
    r"""A named GraphCL input augmentation as a callable on collated batches.

    Args:
        name (str): `"dnodes"`, `"pedges"`, `"mask_nodes"`, `"subgraph"`,
            `"random2"`, `"random3"`, `"random4"` or `"none"`.
        ratio (float): fraction of nodes/edges dropped, perturbed or masked (GraphCL: 0.1).
        subgraph_keep (float): fraction of nodes a subgraph keeps (GraphCL: 0.2).
        add_edges (bool): edge perturbation adds as many edges as it drops (`False`: the
            official code's behaviour).
        subgraph_quirk (bool): reproduce the official subgraph growth bug.
        strip_self_loops (bool): remove the self-loops of the graphs whose view is a node drop
            or a subgraph (also when a `random*` pool draws one), as the official GraphCL
            code's view does; graphaug keeps them by default (the data pipeline adds one per
            node, and the original view keeps them).
        mask_token (int, float or Tensor, optional): what `mask_nodes` writes into a masked
            node's features: one value, or one per feature column. Required for integer
            (categorical) features such as OGB atom types (a `ValueError` says so otherwise);
            float features get GraphCL's Gaussian noise N(0.5, 0.5) when it is `None`.
        generator (torch.Generator, optional): source of randomness.

    Example:
        >>> aug = ViewAugmentation("random4", ratio=0.1)
        >>> view = aug(batch)        # new Batch, same graphs count, same y
    """

    def __init__(self, name: str, ratio: float = 0.1, *, subgraph_keep: float = 0.2,
                 add_edges: bool = True, subgraph_quirk: bool = False,
                 strip_self_loops: bool = False, mask_token=None,
                 generator: Optional[torch.Generator] = None) -> None:
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; choose from {AUGMENTATIONS}")
        self.name, self.ratio = name, _check_ratio(ratio)
        self.flags = {"subgraph_keep": subgraph_keep, "add_edges": add_edges,
                      "subgraph_quirk": subgraph_quirk, "mask_token": mask_token}
        self.strip_self_loops = bool(strip_self_loops)
        self.generator = generator

    def __call__(self, batch):
        if self.name == "none":
            return batch
        view = GraphView(batch)
        pool = RANDOM_POOLS.get(self.name, (self.name,))
        if "mask_nodes" in pool:  # fail before any planning, whichever graph draws it
            _require_features(batch)
        if len(pool) == 1:
            _PLANNERS[pool[0]](view, self.ratio, None, self.generator, self.flags)
            choice = torch.zeros(view.num_graphs, dtype=torch.long, device=view.device)
        else:  # each graph draws one augmentation uniformly from the pool
            choice = (_rand(view.num_graphs, view.device, self.generator) * len(pool)).long()
            choice = choice.clamp_max(len(pool) - 1)
            for i, name in enumerate(pool):
                _PLANNERS[name](view, self.ratio, choice == i, self.generator, self.flags)
        out = view.apply()
        if self.strip_self_loops:
            stripped = [i for i, name in enumerate(pool) if name in _STRIPS_SELF_LOOPS]
            if stripped:
                out = _strip_self_loops(out, torch.isin(choice, torch.tensor(
                    stripped, device=choice.device)))
        return out

    def __repr__(self) -> str:
        return f"ViewAugmentation({self.name!r}, ratio={self.ratio})"


def get_augmentation(spec: Union[None, str, Callable], **kwargs) -> Optional[Callable]:
    """`None` -> `None`; a name -> `ViewAugmentation`; a callable is returned as is."""
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, str):
        return ViewAugmentation(spec, **kwargs)
    raise ValueError(f"input_aug must be None, a name or a callable, got {type(spec).__name__}")


def _single(name: str):
    def augment(batch, ratio: float = 0.1, generator: Optional[torch.Generator] = None, **kw):
        return ViewAugmentation(name, ratio, generator=generator, **kw)(batch)
    augment.__name__ = name
    augment.__doc__ = f"Apply `{name}` to every graph of `batch` (see ViewAugmentation)."
    return augment


drop_nodes = _single("dnodes")
perturb_edges = _single("pedges")
mask_attributes = _single("mask_nodes")
subgraph = _single("subgraph")


def random_choice(batch, pool: Sequence[str] = RANDOM_POOLS["random4"], ratio: float = 0.1,
                  generator: Optional[torch.Generator] = None):
    """Each graph of `batch` draws one augmentation uniformly from `pool`."""
    name = next((k for k, v in RANDOM_POOLS.items() if tuple(pool) == v), None)
    if name is None:
        raise ValueError(f"pool must be one of {list(RANDOM_POOLS.values())}")
    return ViewAugmentation(name, ratio, generator=generator)(batch)
