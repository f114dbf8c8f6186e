"""Mini-batches of a graph dataset without per-graph Python: collate once, then slice.

PyG's `DataLoader` builds every mini-batch with `Batch.from_data_list`, which walks every
graph and every attribute in Python (about 9 ms per 128 NCI1 graphs, a quarter of a CPU
training step of GraphCL's 3 x 32 GIN). `PreCollatedGraphs` collates the whole dataset
once and cuts any mini-batch out of it with a handful of vectorised gathers; the batch is
*identical* to `Batch.from_data_list([graphs[i] for i in index])`: the same tensors (values,
dtypes, attribute order), `batch`/`ptr` vectors and the `_slice_dict`/`_inc_dict`
bookkeeping that `get_example`, `to_data_list` and `graphaug.views` read.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

__all__ = ["PreCollatedGraphs"]


def _cumsum(x: Tensor) -> Tensor:
    """`[0, x0, x0+x1, ...]`: PyG's `cumsum` (zero prepended), so the dtypes match."""
    return torch.cat([x.new_zeros(1), torch.cumsum(x, 0)])


class PreCollatedGraphs:
    r"""A list of homogeneous PyG graphs collated once; `batch` slices mini-batches.

    Supported are datasets whose attributes are all plain tensors concatenated along a fixed
    dimension with a per-graph scalar increment (the PyG defaults: `x`, `edge_index`,
    `edge_attr`, `y`, any `*_index`), every graph carrying the same attributes.
    `supports` says whether a dataset qualifies; callers fall back to PyG's loader
    otherwise (`graphaug.contrastive.pipeline.graph_batches` does).

    Args:
        graphs (sequence of Data): the dataset (not modified; its tensors are copied once).

    Example:
        >>> store = PreCollatedGraphs(ds.graphs)
        >>> batch = store.batch(torch.tensor([5, 0, 17]))   # == Batch.from_data_list(...)
    """

    def __init__(self, graphs: Sequence) -> None:
        reason = self.unsupported(graphs)
        if reason is not None:
            raise ValueError(f"PreCollatedGraphs cannot slice this dataset: {reason}")
        from torch_geometric.data import Batch

        graphs = list(graphs)
        self.num_graphs = len(graphs)
        self._base_cls = type(graphs[0])
        full = Batch.from_data_list(graphs)
        first = graphs[0]
        #: per attribute, in collation order: (value, cat dim, slices [G+1], increments of
        #: the full collation [G] or None, per-graph increment step [G] or None)
        self._attrs: list[tuple[str, Tensor, int, Tensor, Optional[Tensor], Optional[Tensor]]] = []
        for key in full._slice_dict:  # collation order
            value = full[key]
            dim = first.__cat_dim__(key, first[key]) % value.dim()
            slices, incs = full._slice_dict[key], full._inc_dict[key]
            last = self._last_inc(graphs[-1], key)
            if bool((incs != 0).any()) or last != 0:
                step = torch.cat([incs.diff(), incs.new_tensor([last])])
            else:  # never incremented (x, y, edge_attr): nothing to undo or apply
                incs, step = None, None
            self._attrs.append((key, value, dim, slices, incs, step))
        # the node counts give `batch` and `ptr`
        self._node_ptr = full.ptr

    @staticmethod
    def _last_inc(graph, key: str) -> int:
        return int(graph.__inc__(key, graph[key]))

    @staticmethod
    def unsupported(graphs: Sequence) -> Optional[str]:
        """Why `graphs` cannot be pre-collated (`None` when they can)."""
        from torch_geometric.data import Data

        if len(graphs) == 0:
            return "no graphs"
        first = graphs[0]
        if type(first) is not Data:  # subclasses may override __inc__/__cat_dim__ per graph
            return f"graphs of type {type(first).__name__}, not torch_geometric.data.Data"
        keys = set(first.keys())
        if {"batch", "ptr", "num_nodes"} & keys:
            return "graphs carry their own batch/ptr/num_nodes attributes"
        for graph in graphs:
            if type(graph) is not type(first) or set(graph.keys()) != keys:
                return "graphs differ in type or attributes"
        for key in keys:
            value = first[key]
            if type(value) is not Tensor or value.is_sparse or value.dim() == 0:
                return f"attribute {key!r} is not a plain tensor with a dimension to concatenate"
            if first.__cat_dim__(key, value) is None:
                return f"attribute {key!r} is stacked, not concatenated"
            if isinstance(first.__inc__(key, value), Tensor):
                return f"attribute {key!r} has a tensor increment"
        if first.x is None:
            return "graphs without node features x (the node count is not a tensor size)"
        return None

    @classmethod
    def supports(cls, graphs: Sequence) -> bool:
        """Whether `PreCollatedGraphs` can slice `graphs`."""
        return cls.unsupported(graphs) is None

    def __len__(self) -> int:
        return self.num_graphs

    def batch(self, index: Tensor | Sequence[int]):
        """`Batch.from_data_list([graphs[i] for i in index])`, built by gathers."""
        from torch_geometric.data import Batch

        index = torch.as_tensor(index, dtype=torch.long)
        if index.dim() != 1 or index.numel() == 0:
            raise ValueError(f"index must be a non-empty 1-D list of graph ids, got shape "
                             f"{tuple(index.shape)}")
        if int(index.min()) < 0 or int(index.max()) >= self.num_graphs:
            raise IndexError(f"graph ids must lie in 0 .. {self.num_graphs - 1}")
        num = index.numel()
        out = Batch(_base_cls=self._base_cls)
        slice_dict, inc_dict = {}, {}
        for key, value, dim, slices, incs, step in self._attrs:
            start = slices.index_select(0, index)
            counts = slices.index_select(0, index + 1) - start
            new_slices = _cumsum(counts)
            total = int(new_slices[-1])
            owner = torch.repeat_interleave(torch.arange(num), counts, output_size=total)
            # row r of graph j sits at start[j] + (r - new_slices[j]) in the full collation
            rows = torch.arange(total) + (start - new_slices[:-1]).index_select(0, owner)
            part = value.index_select(dim, rows)
            if incs is None:
                new_incs = torch.zeros(num, dtype=torch.long)
            else:  # undo the full collation's offset, apply this batch's
                new_incs = _cumsum(step.index_select(0, index))[:-1]
                shift = (new_incs - incs.index_select(0, index)).index_select(0, owner)
                shape = [1] * part.dim()
                shape[dim] = total
                part = part + shift.view(shape).to(part.dtype)
            out[key] = part
            slice_dict[key], inc_dict[key] = new_slices, new_incs
        start = self._node_ptr.index_select(0, index)
        nodes = self._node_ptr.index_select(0, index + 1) - start
        out.batch = torch.repeat_interleave(torch.arange(num), nodes)
        out.ptr = _cumsum(nodes)
        out._num_graphs, out._slice_dict, out._inc_dict = num, slice_dict, inc_dict
        return out
