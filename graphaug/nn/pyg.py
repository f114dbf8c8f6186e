"""PyTorch Geometric side: GraphCL encoders with taps, a message-passing wrapper, and target
indices for PyG's own ``BasicGNN`` models (``GIN``, ``GCN``, ...)."""
from __future__ import annotations

import inspect
from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, GINConv

from ..hooks import HookHandle
from ..transforms import ActivationTransform
from .base import GraphEncoderBase, check_graph_batch, gin_mlp

__all__ = ["GraphCLEncoder", "AugmentedConv", "attach_layer", "encode_batch"]


def encode_batch(encoder: nn.Module, batch, **kwargs) -> Tensor:
    """Call a graphaug PyG encoder on a collated ``Batch``: ``x``, ``edge_index``, ``batch``,
    ``num_graphs`` and, for encoders that use bond/edge features (``uses_edge_attr``),
    ``edge_attr``. ``kwargs`` go to the encoder (``project=``, ``duplicate_at=``)."""
    if getattr(encoder, "uses_edge_attr", False):
        kwargs["edge_attr"] = getattr(batch, "edge_attr", None)
    return encoder(batch.x, batch.edge_index, batch.batch, num_graphs=int(batch.num_graphs),
                   **kwargs)


class GraphCLEncoder(GraphEncoderBase):
    r"""GraphCL's GIN (or GCN) encoder on PyG, with a :class:`~graphaug.nn.Tap` per target.

    Layer = conv -> ReLU -> BatchNorm; readout = concatenation of the per-layer sum pools
    (``hidden * num_layers`` channels); optional projection head Linear-ReLU-Linear.
    Target ``k`` (DESIGN §1): 0 = input features, ``1..L`` = layer outputs (the tensors the
    readout pools), ``L+1`` = projection head output.

    Args:
        in_channels (int): node feature size.
        hidden (int): hidden size (GraphCL: 32).
        num_layers (int): number of layers ``L`` (GraphCL: 3).
        conv (str): ``"gin"`` or ``"gcn"``.
        proj_head (bool): build the projection head (target ``L+1``).

    Shapes:
        x ``[N, in_channels]``, edge_index ``[2, E]``, batch ``[N]`` ->
        ``[num_graphs, hidden * num_layers]``.

    Example:
        >>> enc = GraphCLEncoder(7, hidden=32, num_layers=3)
        >>> enc.set_transform(2, ActivationDropout(0.25))
        >>> z = enc(data.x, data.edge_index, data.batch)               # readout [B, 96]
        >>> p = enc(data.x, data.edge_index, data.batch, project=True)  # projection [B, 96]
    """

    def make_conv(self, conv: str, in_channels: int, out_channels: int) -> nn.Module:
        if conv == "gin":
            return GINConv(gin_mlp(in_channels, out_channels))
        return GCNConv(in_channels, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None, *,
                num_graphs: Optional[int] = None, project: bool = False,
                duplicate_at: Optional[int] = None) -> Tensor:
        """Readout ``[B, hidden * L]`` (or projection with ``project=True``).

        ``duplicate_at=t`` returns ``[2B, ...]``: two views of the batch that share every layer
        below target ``t`` (computed once) and are transformed independently from ``t`` up.
        """
        batch, num_graphs = check_graph_batch(x, batch, num_graphs, self.training)
        doubled = None
        if duplicate_at is not None:
            doubled_index = torch.cat([edge_index, edge_index + x.size(0)], dim=1)
            doubled = lambda i, h: self.convs[i](h, doubled_index)  # noqa: E731
        return self.encode(x, lambda i, h: self.convs[i](h, edge_index), batch, num_graphs,
                           project, duplicate_at, doubled)


class AugmentedConv(nn.Module):
    r"""Wrap any PyG ``MessagePassing`` layer so that its output node embeddings are
    transformed by ``transform`` (in training mode).

    Args:
        conv (nn.Module): the layer, called as ``conv(x, edge_index, *args, **kwargs)``.
        transform (ActivationTransform): e.g. :class:`~graphaug.ActivationPCA`.

    Shapes:
        ``x [N, d_in]``, ``edge_index [2, E]``, ``batch [N]`` (graph of each node; without it
        each node is its own sample) -> ``[N, d_out]``.

    Example:
        >>> conv = AugmentedConv(GINConv(gin_mlp(7, 32)), ActivationPCA(k=1))
        >>> h = conv(x, edge_index, batch=batch)
    """

    def __init__(self, conv: nn.Module, transform: ActivationTransform) -> None:
        super().__init__()
        if not isinstance(transform, ActivationTransform):
            raise ValueError("transform must be a graphaug ActivationTransform")
        self.conv, self.transform = conv, transform

    def reset_parameters(self) -> None:
        if hasattr(self.conv, "reset_parameters"):
            self.conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, *args, batch: Optional[Tensor] = None,
                num_graphs: Optional[int] = None, **kwargs) -> Tensor:
        out = self.conv(x, edge_index, *args, **kwargs)
        return self.transform(out, batch=batch, num_samples=num_graphs)

    def __repr__(self) -> str:
        return f"AugmentedConv({self.conv}, {self.transform})"


class _BasicGNNLayerHandle(HookHandle):
    """Hooks that apply a transform at target ``k`` of a PyG ``BasicGNN``."""

    def __init__(self, model: nn.Module, target: int, transform: ActivationTransform) -> None:
        super().__init__()
        convs = getattr(model, "convs", None)
        if not isinstance(convs, nn.ModuleList) or not hasattr(model, "jk_mode"):
            raise ValueError(f"{type(model).__name__} is not a PyG BasicGNN (GIN, GCN, ...); use "
                             "graphaug.attach with a submodule name instead")
        if model.jk_mode is not None:
            raise ValueError("attach_layer supports BasicGNN with jk=None only: with jumping "
                             "knowledge the per-layer outputs are collected before the next "
                             "conv, so wrap the model's convs with AugmentedConv instead")
        num_layers = len(convs)
        if isinstance(target, bool) or not isinstance(target, int) \
                or not 0 <= target <= num_layers:
            raise ValueError(f"target must be an int in 0..{num_layers} for a {num_layers}-layer "
                             f"{type(model).__name__} (0 = input, i = output of layer i), got "
                             f"{target!r}")
        self.transform, self._batch, self._training = transform, None, False
        self._signature = inspect.signature(model.forward)
        self._handles.append(model.register_forward_pre_hook(self._capture, with_kwargs=True))
        if target < num_layers:  # output of layer k = input of conv k
            self._handles.append(convs[target].register_forward_pre_hook(self._transform_input))
        else:
            self._handles.append(model.register_forward_hook(self._transform_output))

    def _capture(self, module, args, kwargs):
        bound = self._signature.bind_partial(*args, **kwargs)
        self._batch = bound.arguments.get("batch")
        self._training = module.training

    def _apply(self, x: Tensor) -> Tensor:
        return self.transform(x, batch=self._batch, training=self._training)

    def _transform_input(self, module, args):
        return (self._apply(args[0]), *args[1:])

    def _transform_output(self, module, args, output):
        return self._apply(output)


def attach_layer(model: nn.Module, target: int, transform: ActivationTransform) -> HookHandle:
    r"""Apply ``transform`` at target index ``target`` of a PyG ``BasicGNN`` (``GIN``,
    ``GCN``, ``GraphSAGE``, ...): 0 = input features, ``i`` = output of layer ``i`` (after
    norm/activation/dropout, i.e. the input of layer ``i+1``; ``L`` = the model output).

    ``BasicGNN`` applies one shared ``act`` module after every layer, so hooking ``act`` by name
    is ambiguous; this helper hooks the per-layer inputs instead. The ``batch=`` argument of the
    model call groups nodes into graphs.

    Example:
        >>> model = torch_geometric.nn.models.GIN(7, 32, num_layers=3)
        >>> with attach_layer(model, 2, ActivationDropout(0.25)):
        ...     h = model(x, edge_index, batch=batch)
    """
    return _BasicGNNLayerHandle(model, target, transform)
