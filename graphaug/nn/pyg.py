"""PyTorch Geometric side: GraphCL's encoder with taps and the batch-calling helper."""
from __future__ import annotations

import atexit
import os
import sys
import tempfile
import warnings
from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn import GINConv as _PyGGINConv

from .base import AGGREGATIONS, GraphEncoderBase, check_graph_batch, gin_mlp

__all__ = ["GraphCLEncoder", "encode_batch", "AGGREGATIONS", "CSRAdjacency", "csr_adjacency",
           "GINConv"]

#: `aggregation="auto"` uses the CSR product from this many edges per forward: it makes DD's
#: epochs (~300k edges per batch) faster (benchmarks/results/speed_dd/speed.md); on NCI1's small
#: batches (~10k edges) it is even with PyG's path (speed_nci1/speed.md), which they keep,
#: doubled shared-trunk batches included
CSR_MIN_EDGES = 100_000


class _CSRSum(torch.autograd.Function):
    """`A @ x` whose backward is `A^T @ grad` with a prebuilt `A^T`: autograd's own
    backward of a CSR product re-sorts the transpose at every layer (most of its cost on
    REDDIT-BINARY / DD batches)."""

    @staticmethod
    def forward(ctx, matrix: Tensor, transpose: Tensor, x: Tensor) -> Tensor:
        ctx.transpose = transpose  # not an output: no reference cycle
        return torch.sparse.mm(matrix, x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, torch.sparse.mm(ctx.transpose, grad)


class CSRAdjacency(NamedTuple):
    """A batch's sum-aggregation operator: `matrix` `[N, N]` in CSR with rows = targets
    (repeated edges counted) and its `transpose` (rows = sources) for the backward.
    Built once per forward by `csr_adjacency` and shared by every layer."""

    matrix: Tensor
    transpose: Tensor

    def aggregate(self, x: Tensor) -> Tensor:
        """Sum over incoming edges: `[N, d]` -> `[N, d]` (differentiable in `x`)."""
        return _CSRSum.apply(self.matrix, self.transpose, x)


def _csr(rows: Tensor, cols: Tensor, num_nodes: int, dtype: torch.dtype) -> Tensor:
    """CSR `[num_nodes, num_nodes]` with ones at `(rows, cols)`; each row's entries in edge
    order (a stable sort, skipped when the rows are sorted already, as in PyG's batches)."""
    index_dtype = torch.int32 if max(num_nodes, rows.numel()) < 2 ** 31 - 1 else torch.int64
    if rows.numel() > 1 and not bool((rows[1:] >= rows[:-1]).all()):
        cols = cols[torch.argsort(rows.to(index_dtype), stable=True)]  # int32 sorts ~2x faster
    crow = torch.bincount(rows, minlength=num_nodes).cumsum(0)
    crow = torch.cat([crow.new_zeros(1), crow]).to(index_dtype)
    with warnings.catch_warnings():  # torch: "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols.to(index_dtype),
                                       torch.ones(cols.numel(), dtype=dtype, device=cols.device),
                                       (num_nodes, num_nodes))


def csr_adjacency(edge_index: Tensor, num_nodes: int,
                  dtype: torch.dtype = torch.float32) -> CSRAdjacency:
    """The `CSRAdjacency` of `edge_index` `[2, E]` (source, target rows): PyG's
    `to_torch_csr_tensor` would coalesce, counting a repeated edge once.

    Example:
        >>> adj = csr_adjacency(torch.tensor([[0, 0, 1], [1, 1, 2]]), 3)
        >>> adj.aggregate(torch.ones(3, 1)).flatten().tolist()
        [0.0, 2.0, 1.0]
    """
    src, dst = edge_index
    return CSRAdjacency(_csr(dst, src, num_nodes, dtype), _csr(src, dst, num_nodes, dtype))


_TEMPLATE_SUFFIXES = ("_propagate", "_edge_updater")


def remove_generated_modules() -> list[str]:
    """Delete the `<module>_<Class>_propagate_*.py` files PyG generated in the temporary folder
    for this process's message-passing classes (its `module_from_template` writes one per class
    and process with `delete=False`, so without this they pile up in `$TMPDIR`). Runs at
    exit; the modules stay loaded. Returns the removed paths.

    Only files whose module is loaded in this process, that sit directly in the temporary
    folder and carry the generated name are touched."""
    folder = os.path.realpath(tempfile.gettempdir())
    removed = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or not name.endswith(_TEMPLATE_SUFFIXES):
            continue
        base = os.path.basename(path)
        if os.path.realpath(os.path.dirname(path)) == folder and base.startswith(f"{name}_") \
                and base.endswith(".py"):
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


atexit.register(remove_generated_modules)


class GINConv(_PyGGINConv):
    r"""PyG's `GINConv` that also takes a `CSRAdjacency` in place of `edge_index`:
    the neighbour sum is then one sparse-dense product (forward and backward); the update is
    PyG's, $\mathrm{nn}((1 + \epsilon) x + \sum_j x_j)$. Same parameters and state dict."""

    def forward(self, x, edge_index, size=None) -> Tensor:
        if isinstance(edge_index, CSRAdjacency):
            return self.nn(edge_index.aggregate(x) + (1 + self.eps) * x)
        # PyG compiles this class's propagate from the line below, as in its own GINConv
        # propagate_type: (x: OptPairTensor)
        return super().forward(x, edge_index, size)


def encode_batch(encoder: nn.Module, batch, **kwargs) -> Tensor:
    """Call a graphaug PyG encoder on a collated `Batch`: `x`, `edge_index`, `batch`,
    `num_graphs` and, for encoders that use bond/edge features (`uses_edge_attr`),
    `edge_attr`. `kwargs` go to the encoder (`project=`, `duplicate_at=`)."""
    if getattr(encoder, "uses_edge_attr", False):
        kwargs["edge_attr"] = getattr(batch, "edge_attr", None)
    return encoder(batch.x, batch.edge_index, batch.batch, num_graphs=int(batch.num_graphs),
                   **kwargs)


class GraphCLEncoder(GraphEncoderBase):
    r"""GraphCL's GIN (or GCN) encoder on PyG, with a `Tap` per target.

    Layer = conv -> ReLU -> BatchNorm; readout = concatenation of the per-layer sum pools
    (`hidden * num_layers` channels); optional projection head Linear-ReLU-Linear.
    Target `k` (`docs/method.md`): 0 = input features, `1..L` = layer outputs (the tensors the
    readout pools), `L+1` = projection head output.

    Args:
        in_channels (int): node feature size.
        hidden (int): hidden size (GraphCL: 32).
        num_layers (int): number of layers `L` (GraphCL: 3).
        conv (str): `"gin"` or `"gcn"`.
        proj_head (bool): build the projection head (target `L+1`).
        init (str): `"torch"` (PyTorch's default) or `"graphcl"` (the official code's
            xavier-uniform weights and zero biases for every Linear). (default: `"torch"`)
        aggregation (str): how GIN sums the neighbours: `"csr"` (one `CSRAdjacency`
            per forward, a sparse-dense product per layer forward and backward; faster epochs
            on DD's large graphs), `"scatter"` (PyG's gather + scatter) or `"auto"` (CSR
            from `CSR_MIN_EDGES` edges per forward, else scatter). On one CPU thread both
            sum each row in edge order: the same bits, forward and backward (tested); with more
            threads or on GPU, equal up to float rounding. (default: `"auto"`)

    Shapes:
        x `[N, in_channels]`, edge_index `[2, E]`, batch `[N]` ->
        `[num_graphs, hidden * num_layers]`.

    Example:
        >>> enc = GraphCLEncoder(7, hidden=32, num_layers=3)
        >>> handle = graphaug.attach(enc, 2, ActivationDropout(0.25))
        >>> z = enc(data.x, data.edge_index, data.batch)               # readout [B, 96]
        >>> p = enc(data.x, data.edge_index, data.batch, project=True)  # projection [B, 96]
    """

    def __init__(self, in_channels: int, hidden: int = 32, num_layers: int = 3,
                 conv: str = "gin", proj_head: bool = True, init: str = "torch",
                 aggregation: str = "auto") -> None:
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        super().__init__(in_channels, hidden, num_layers, conv, proj_head, init)
        self.aggregation = aggregation

    def make_conv(self, conv: str, in_channels: int, out_channels: int) -> nn.Module:
        if conv == "gin":
            return GINConv(gin_mlp(in_channels, out_channels))
        return GCNConv(in_channels, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None, *,
                num_graphs: Optional[int] = None, project: bool = False,
                duplicate_at: Optional[int] = None, per_view_norm: bool = False
                ) -> Tensor:
        """Readout `[B, hidden * L]` (or projection with `project=True`).

        `duplicate_at=t` returns `[2B, ...]`: two views of the batch that share every layer
        below target `t` (computed once) and are transformed independently from `t` up.
        `per_view_norm=True`: the batch holds two stacked views, normalised separately
        (see `GraphEncoderBase.encode`).
        """
        batch, num_graphs = check_graph_batch(x, batch, num_graphs, self.training)
        graphs: dict = {}  # the conv input of the batch (False) and of its doubled copy (True)

        def graph(doubled: bool):
            if doubled not in graphs:
                index = torch.cat([edge_index, edge_index + x.size(0)], dim=1) if doubled \
                    else edge_index
                graphs[doubled] = self.conv_input(index, x.size(0) * (1 + doubled), x.dtype)
            return graphs[doubled]

        doubled = None
        if duplicate_at is not None:
            doubled = lambda i, h: self.convs[i](h, graph(True))  # noqa: E731
        return self.encode(x, lambda i, h: self.convs[i](h, graph(False)), batch, num_graphs,
                           project, duplicate_at, doubled,
                           per_view_norm)

    def conv_input(self, edge_index: Tensor, num_nodes: int,
                   dtype: torch.dtype = torch.float32):
        """What every conv of one forward takes: for GIN a `CSRAdjacency` (built once per
        forward, so each layer's sum is one sparse-dense product, forward and backward; on
        large graphs several times faster than PyG's gather + scatter on CPU), the same sums in
        the same order (bit-equal on one CPU thread). GCN, `aggregation="scatter"` and
        `"auto"` below `CSR_MIN_EDGES` edges keep `edge_index` (GCN's normalisation is
        per edge)."""
        if self.conv_type != "gin" or self.aggregation == "scatter" or edge_index.numel() == 0 \
                or (self.aggregation == "auto" and edge_index.size(1) < CSR_MIN_EDGES):
            return edge_index
        return csr_adjacency(edge_index, num_nodes, dtype)
