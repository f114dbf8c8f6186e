"""Framework-neutral body of the GraphCL encoders (PyG and DGL subclasses supply the convs)."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..utils import all_finite
from .tap import Tap, TapMixin

__all__ = ["GraphEncoderBase", "gin_mlp", "sum_pool", "check_graph_batch"]

CONV_TYPES = ("gin", "gcn")
INITS = ("torch", "graphcl")
#: how the PyG GIN sums neighbours (`GraphCLEncoder`)
AGGREGATIONS = ("auto", "csr", "scatter")


def gin_mlp(in_channels: int, hidden: int) -> nn.Sequential:
    """GraphCL's GIN update function: Linear-ReLU-Linear."""
    return nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Linear(hidden, hidden))


def sum_pool(x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Sum of the node rows of each graph: `[N, d]` -> `[num_graphs, d]`."""
    return x.new_zeros(num_graphs, x.size(-1)).index_add_(0, batch, x)


def check_graph_batch(x: Tensor, batch: Optional[Tensor], num_graphs: Optional[int],
                      training: bool) -> tuple[Tensor, int]:
    """Validate node features and grouping; returns `(batch, num_graphs)`.

    Raises:
        ValueError: no nodes, NaN/Inf features, an empty graph inside the batch, or a single
            node in training mode (BatchNorm cannot normalise one row).
    """
    if x.dim() != 2:
        raise ValueError(f"node features must be [num_nodes, channels], got {tuple(x.shape)}")
    if x.size(0) == 0:
        raise ValueError("the batch has no nodes (empty graph): every graph needs >= 1 node")
    if not all_finite(x):  # one sum per batch, not an element-wise pass
        raise ValueError("node features contain NaN or Inf")
    if batch is None:
        batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
    if batch.numel() != x.size(0):
        raise ValueError(f"batch has {batch.numel()} entries for {x.size(0)} nodes")
    counts = torch.bincount(batch, minlength=num_graphs or 0)
    if num_graphs is None:
        num_graphs = counts.numel()
    elif counts.numel() > num_graphs:
        raise ValueError(f"batch refers to graph {counts.numel() - 1} but num_graphs={num_graphs}")
    empty = (counts == 0).nonzero().flatten()
    if empty.numel():
        raise ValueError(f"graph(s) {empty[:5].tolist()} of the batch have no nodes; drop empty "
                         "graphs before encoding")
    if training and x.size(0) < 2:
        raise ValueError("a training batch needs at least 2 nodes (BatchNorm over one row)")
    return batch, int(num_graphs)


class GraphEncoderBase(TapMixin, nn.Module):
    r"""GraphCL encoder body: `L` layers of conv -> ReLU -> BatchNorm, readout = concatenation
    of the per-layer sum pools, optional Linear-ReLU-Linear projection head, and a `Tap`
    at every target index `0..L(+1)`.

    Subclasses create the convolutions in `make_conv` and call `encode`.
    """

    def __init__(self, in_channels: int, hidden: int = 32, num_layers: int = 3,
                 conv: str = "gin", proj_head: bool = True, init: str = "torch") -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if in_channels < 1 or hidden < 1:
            raise ValueError(f"in_channels and hidden must be >= 1, got {in_channels}, {hidden}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if conv not in CONV_TYPES:
            raise ValueError(f"conv must be one of {CONV_TYPES}, got {conv!r}")
        self.in_channels, self.hidden, self.num_layers, self.conv_type = \
            in_channels, hidden, num_layers, conv
        self.convs = nn.ModuleList(
            self.make_conv(conv, in_channels if i == 0 else hidden, hidden)
            for i in range(num_layers))
        self.bns = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(num_layers))
        dim = self.out_channels
        self.proj_head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim)) \
            if proj_head else None
        self.taps = nn.ModuleList(Tap(i) for i in range(num_layers + 1 + int(proj_head)))
        self.init = init
        if init == "graphcl":
            self._graphcl_init()

    def _graphcl_init(self) -> None:
        """The official GraphCL code's initialisation: every `nn.Linear` xavier-uniform with
        a zero bias (PyTorch's default is kaiming-uniform)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def make_conv(self, conv: str, in_channels: int, out_channels: int) -> nn.Module:
        raise NotImplementedError

    def layer_output(self, index: int, h: Tensor) -> Tensor:
        """Conv output of layer `index` -> layer output (GraphCL: ReLU -> BatchNorm)."""
        return self.bns[index](F.relu(h))

    def pool_layer(self, index: int, h: Tensor, batch: Tensor,
                   num_graphs: int) -> Optional[Tensor]:
        """Contribution of layer `index` to the readout (GraphCL: its sum pool; every layer's
        contribution is concatenated). `None` leaves the layer out of the readout."""
        return sum_pool(h, batch, num_graphs)

    @property
    def out_channels(self) -> int:
        """Size of the readout (and of the projection): `hidden * num_layers`."""
        return self.hidden * self.num_layers

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if self.init == "graphcl":
            self._graphcl_init()

    def encode(self, x: Tensor, conv_step: Callable[[int, Tensor], Tensor], batch: Tensor,
               num_graphs: int, project: bool, duplicate_at: Optional[int] = None,
               doubled_conv_step: Optional[Callable[[int, Tensor], Tensor]] = None,
               per_view_norm: bool = False) -> Tensor:
        """Run the layers; `conv_step(i, h)` applies conv `i` to node states `h`.

        With `duplicate_at=t` the state is computed once below target `t` and then stacked
        as two copies of the batch (graphs `0..B-1` and `B..2B-1`) right before tap `t`, so
        that two views that only differ from the target up share the work below it;
        `doubled_conv_step` then runs the convs on the doubled graph.

        `per_view_norm=True` says the batch holds two stacked views (graphs `0..B/2-1` and
        `B/2..B-1`, or the copies made at `duplicate_at`) and normalises each view on its
        own, as the official GraphCL code does with one forward per view: BatchNorm statistics
        per view, and running statistics updated once per view (below the duplication point
        the two views are the same tensor, so it is normalised once and its statistics are
        recorded twice).
        """
        if duplicate_at is not None:
            self._check_target(duplicate_at)
            if duplicate_at < self.num_layers and doubled_conv_step is None:
                raise ValueError("duplicate_at below the last layer needs doubled_conv_step")
        pooled: list[Tensor] = []

        def at_tap(index: int, h: Tensor) -> Tensor:
            nonlocal batch, num_graphs, pooled, conv_step
            if index == duplicate_at:
                h = torch.cat([h, h])
                batch = torch.cat([batch, batch + num_graphs])
                pooled = [None if p is None else torch.cat([p, p]) for p in pooled]
                num_graphs, conv_step = 2 * num_graphs, doubled_conv_step or conv_step
            if index > self.num_layers:  # graph-level rows: each row is one sample
                return self.taps[index](h)
            return self.taps[index](h, batch, num_graphs)

        split = None  # node rows of view 1 when two views are stacked
        if per_view_norm and duplicate_at is None:
            if num_graphs % 2:
                raise ValueError(f"per_view_norm needs two stacked views, got {num_graphs} "
                                 "graphs")
            split = int((batch < num_graphs // 2).sum())

        def layer(i: int, h: Tensor) -> Tensor:
            nonlocal split
            if per_view_norm and split is None and duplicate_at is not None \
                    and i + 1 > duplicate_at:
                split = h.size(0) // 2
            if not per_view_norm:
                return self.layer_output(i, h)
            if split is None:  # shared trunk below the target: both views are this tensor
                out = self.layer_output(i, h)
                if self.training:
                    with torch.no_grad():
                        self.layer_output(i, h)  # the second view's running-statistics update
                return out
            return torch.cat([self.layer_output(i, h[:split]), self.layer_output(i, h[split:])])

        h = at_tap(0, x)
        for i in range(self.num_layers):
            h = at_tap(i + 1, layer(i, conv_step(i, h)))
            pooled.append(self.pool_layer(i, h, batch, num_graphs))
        z = torch.cat([p for p in pooled if p is not None], dim=-1)
        if not project:
            if duplicate_at == self.num_layers + 1:
                raise ValueError("duplicate_at the projection head needs project=True")
            return z
        if self.proj_head is None:
            raise ValueError("project=True but this encoder was built with proj_head=False")
        return at_tap(self.num_layers + 1, self.proj_head(z))

    def project(self, z: Tensor) -> Tensor:
        """Projection head (and its tap) applied to a readout `z` `[B, out_channels]`."""
        if self.proj_head is None:
            raise ValueError("this encoder was built with proj_head=False")
        return self.taps[self.num_layers + 1](self.proj_head(z))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, hidden={self.hidden}, "
                f"num_layers={self.num_layers}, conv={self.conv_type!r}, "
                f"proj_head={self.proj_head is not None})")
