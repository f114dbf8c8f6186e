"""DGL side: the GraphCL encoder with taps on batched `DGLGraph` s. Importing this module
imports DGL (through `graphaug._dgl.import_dgl`)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .._dgl import import_dgl
from .base import GraphEncoderBase, check_graph_batch, gin_mlp

dgl = import_dgl()
from dgl.nn.pytorch import GINConv, GraphConv  # noqa: E402

__all__ = ["DGLGraphCLEncoder", "DGLGCNConv", "graph_batch_vector"]


def graph_batch_vector(g) -> Tensor:
    """`[N]` graph index of every node of a (batched) `DGLGraph`."""
    counts = g.batch_num_nodes()
    return torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)


class DGLGCNConv(nn.Module):
    """PyG `GCNConv` computed on DGL: `lin` (no bias) first, then symmetric-normalised
    aggregation (`GraphConv(weight=False)`), then `bias`; same order of operations and
    parameter names as PyG, so both give the same numbers."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_channels, out_channels, bias=False)
        self.propagate = GraphConv(out_channels, out_channels, norm="both", weight=False,
                                   bias=False, allow_zero_in_degree=True)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.lin.weight)  # PyG's glorot
        nn.init.zeros_(self.bias)

    def forward(self, g, x: Tensor) -> Tensor:
        return self.propagate(g, self.lin(x)) + self.bias


class DGLGraphCLEncoder(GraphEncoderBase):
    r"""GraphCL's GIN (or GCN) encoder on DGL, with the same layers, parameter shapes, taps and
    target indices as `graphaug.nn.GraphCLEncoder` (see there for the architecture).

    GIN uses `dgl.nn.GINConv(mlp, "sum")`; GCN uses `DGLGCNConv` (DGL's
    `GraphConv` aggregation) on the graph with one self-loop per node, as PyG's `GCNConv`.

    Args:
        in_channels (int), hidden (int), num_layers (int), conv (str), proj_head (bool):
            as in `graphaug.nn.GraphCLEncoder`.

    Shapes:
        batched graph `g` with `N` nodes, `x [N, in_channels]` ->
        `[g.batch_size, hidden * num_layers]`.

    Example:
        >>> enc = DGLGraphCLEncoder(7).load_pyg_weights(pyg_encoder)
        >>> z = enc(to_dgl(batch), batch.x)
    """

    def make_conv(self, conv: str, in_channels: int, out_channels: int) -> nn.Module:
        if conv == "gin":
            return GINConv(gin_mlp(in_channels, out_channels), "sum")
        return DGLGCNConv(in_channels, out_channels)

    def forward(self, g, x: Optional[Tensor] = None, *, project: bool = False,
                duplicate_at: Optional[int] = None, per_view_norm: bool = False
                ) -> Tensor:
        """Readout `[B, hidden * L]` (projection with `project=True`; `[2B, ...]` with
        `duplicate_at`: two views sharing the layers below that target, see
        `GraphCLEncoder.forward`)."""
        if x is None:
            if "x" not in g.ndata:
                raise ValueError("pass node features x or set g.ndata['x']")
            x = g.ndata["x"]
        if x.size(0) != g.num_nodes():
            raise ValueError(f"x has {x.size(0)} rows but the graph has {g.num_nodes()} nodes")
        batch, num_graphs = check_graph_batch(x, graph_batch_vector(g), g.batch_size,
                                              self.training)
        if self.conv_type == "gcn":
            g = dgl.add_self_loop(dgl.remove_self_loop(g))
        doubled = None
        if duplicate_at is not None:
            g2 = dgl.batch([g, g])
            doubled = lambda i, h: self.convs[i](g2, h)  # noqa: E731
        return self.encode(x, lambda i, h: self.convs[i](g, h), batch, num_graphs, project,
                           duplicate_at, doubled, per_view_norm)

    @torch.no_grad()
    def load_pyg_weights(self, encoder: nn.Module) -> "DGLGraphCLEncoder":
        """Copy the weights (and BatchNorm statistics) of a `GraphCLEncoder` built with
        the same arguments; returns `self`."""
        mine, theirs = self.state_dict(), encoder.state_dict()
        mapped = {}
        for key, value in theirs.items():
            if self.conv_type == "gin":
                key = key.replace(".nn.", ".apply_func.")
            mapped[key] = value
        missing = sorted(set(mine) - set(mapped))
        unexpected = sorted(set(mapped) - set(mine))
        mismatched = sorted(k for k in set(mine) & set(mapped)
                            if mine[k].shape != mapped[k].shape)
        if missing or unexpected or mismatched:
            raise ValueError(f"encoders do not match: missing {missing[:4]}, unexpected "
                             f"{unexpected[:4]}, different shapes {mismatched[:4]} (build both "
                             "with the same arguments)")
        self.load_state_dict(mapped)
        return self
