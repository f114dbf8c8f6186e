"""GraphCL with Deep Augmentation: input-graph views and activation views in one model."""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
from torch import Tensor, nn

from .. import distributed as _dist
from ..hooks.hook import AttachHandle
from ..hooks.layouts import Site, find_layout, resolve_site
from ..hooks.grouping import call_signature
from ..nn.call import EncoderCall, _uses_dgl, encoder_call
from ..transforms import ActivationTransform
from ..views import get_augmentation
from .losses import contrastive_loss, sharded_loss

__all__ = ["DeepAug", "GraphCL", "PlainTwoView", "concat_batches", "encoder_call"]


@dataclass
class DeepAug:
    r"""Where and how to transform hidden activations.

    Args:
        target (int): target index (`docs/method.md`): 0 = input features, `1..L` = layer
            outputs, `L+1` = projection head output.
        transform (ActivationTransform): e.g. `ActivationDropout(0.25)`.
        apply_prob (float, optional): overrides the transform's `apply_prob`.
        stop_grad (bool, optional): overrides the transform's `stop_grad`.
    """

    target: int
    transform: ActivationTransform
    apply_prob: Optional[float] = None
    stop_grad: Optional[bool] = None

    def build(self) -> ActivationTransform:
        """The transform with the overrides applied (the caller's object is not modified)."""
        if not isinstance(self.transform, ActivationTransform):
            raise ValueError("DeepAug.transform must be an ActivationTransform, got "
                             f"{type(self.transform).__name__}")
        transform = self.transform
        if self.apply_prob is not None or self.stop_grad is not None:
            transform = copy.copy(transform)
            if self.apply_prob is not None:
                transform.apply_prob = float(self.apply_prob)
                if not 0.0 <= transform.apply_prob <= 1.0:
                    raise ValueError(f"apply_prob must lie in [0, 1], got {self.apply_prob}")
            if self.stop_grad is not None:
                transform.stop_grad = bool(self.stop_grad)
        return transform


def concat_batches(first, second):
    """Stack two collated PyG batches into one with `2B` graphs (`first` then `second`)."""
    from torch_geometric.data import Batch

    n1, g1 = int(first.num_nodes), int(first.num_graphs)
    out = Batch(x=torch.cat([first.x, second.x]),
                edge_index=torch.cat([first.edge_index, second.edge_index + n1], dim=1),
                batch=torch.cat([first.batch, second.batch + g1]))
    if getattr(first, "edge_attr", None) is not None:
        out.edge_attr = torch.cat([first.edge_attr, second.edge_attr])
    out._num_graphs = g1 + int(second.num_graphs)
    return out


def _graph_embeddings(out, encoder: nn.Module) -> Tensor:
    if not isinstance(out, Tensor) or out.dim() != 2:
        raise ValueError(f"GraphCL expects {type(encoder).__name__} to return graph embeddings "
                         f"[B, d], got {type(out).__name__}"
                         f"{tuple(out.shape) if isinstance(out, Tensor) else ''}; pass "
                         "call=lambda enc, batch: ... to pick them (e.g. `enc(batch.x, "
                         "batch.edge_index, batch.batch)[1]` for an encoder returning (z, g))")
    return out


def _check_dgl_signature(encoder: nn.Module) -> None:
    """A user's DGL model is called as `encoder(g, x)`; refuse one whose forward cannot take
    that before the first batch fails inside it."""
    if not _uses_dgl(encoder):
        return
    signature = call_signature(encoder)
    try:
        if signature is not None:
            signature.bind(None, None)
    except TypeError:
        params = ", ".join(signature.parameters)
        raise ValueError(
            f"GraphCL calls a DGL model as encoder(g, x) with g = to_dgl(batch) and x = batch.x, "
            f"but {type(encoder).__name__}.forward({params}) does not take that. Say how to call "
            "it with call=, e.g. GraphCL(model, ..., call=lambda enc, batch: enc(to_dgl(batch))) "
            "with `from graphaug.convert import to_dgl` (the node features are in "
            "g.ndata['x'])") from None


class GraphCL(nn.Module):
    r"""GraphCL-style contrastive model: `loss = model(batch)`.

    View 1 is the batch itself (or its input augmentation when `augment_both`), view 2 its
    input augmentation; with `input_aug=None` both views are the batch and differ only through
    `deep_aug`. Both views go through *one* encoder call on the two views stacked (so PCA and
    BatchNorm see the whole two-view batch). Without input augmentation, graphaug's encoders
    compute the layers below the target once and branch there (`share_trunk`): the same loss
    and gradients at a lower cost; any other encoder runs on the stacked views.

    The activation transform is attached with `graphaug.attach` for the duration of each
    forward only, so the encoder alone (evaluation, copies, `torch.save`) never augments.

    Args:
        encoder (nn.Module): a graphaug encoder (`GraphCLEncoder`,
            `MolGINEncoder`, `DGLGraphCLEncoder`), or
            a user's own PyG / DGL model returning graph embeddings `[B, d]`.
        deep_aug (DeepAug, optional): activation transform and target (index into the
            encoder's layout, see `graphaug.targets`; `L+1` = the projection head).
        input_aug (None, str or callable): input augmentation of collated batches
            (`"random2"`, `"dnodes"`, ... see `graphaug.views`).
        head (nn.Module, optional): projection head for a user's encoder (default: none, the
            encoder's output is used; graphaug encoders use their own `proj_head`).
        call (callable, optional): `call(encoder, batch, **kwargs) -> [B, d]`, how to run
            the encoder on a PyG batch (default: see `encoder_call`).
        aug_ratio (float): ratio for a named `input_aug` (GraphCL TU: 0.1, chemistry: 0.2).
        augment_both (bool): augment view 1 as well (GraphCL chemistry). (default: `False`)
        temperature (float): loss temperature (GraphCL TU: 0.2).
        loss (str): `"graphcl"` (one-directional, positive excluded from the denominator) or
            `"infonce"` (symmetric).
        share_trunk (bool): compute the layers below the target once when the views are
            identical there (graphaug encoders). (default: `True`)
        bn_per_view (bool): BatchNorm statistics per view, as the official GraphCL code (one
            encoder forward per view) computes them, also on the shared trunk; graphaug
            encoders only. (default: `False`: statistics over both stacked views)
        generator (torch.Generator, optional): randomness of the input augmentation.

    Example:
        >>> enc = GraphCLEncoder(7)
        >>> model = GraphCL(enc, deep_aug=DeepAug(2, ActivationDropout(0.25)), input_aug=None)
        >>> loss = model(batch); loss.backward()
        >>> mine = GraphCL(MyGIN(7, 32), DeepAug(2, ActivationPCA(k=1)), input_aug=None,
        ...                head=nn.Sequential(nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 96)))
    """

    def __init__(self, encoder: nn.Module, deep_aug: Optional[DeepAug] = None,
                 input_aug: Union[None, str, Callable] = "random2", *,
                 head: Optional[nn.Module] = None, call: Optional[EncoderCall] = None,
                 aug_ratio: float = 0.1, augment_both: bool = False, temperature: float = 0.2,
                 loss: str = "graphcl", share_trunk: bool = True, bn_per_view: bool = False,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.native = isinstance(getattr(encoder, "taps", None), nn.ModuleList)
        if self.native and getattr(encoder, "proj_head", None) is None and head is None:
            raise ValueError("GraphCL needs a projection head: build the encoder with "
                             "proj_head=True or pass head=")
        if deep_aug is None and input_aug is None:
            raise ValueError("GraphCL needs input_aug, deep_aug or both: with neither the two "
                             "views are identical")
        if not (float(temperature) > 0 and float(temperature) != float("inf")):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        self.encoder, self.head = encoder, head
        self.deep_aug = deep_aug
        self.loss_fn = contrastive_loss(loss)
        self.loss_name, self.temperature = loss, float(temperature)
        self.augment_both, self.share_trunk = bool(augment_both), bool(share_trunk)
        if bn_per_view and not self.native:
            raise ValueError("bn_per_view needs a graphaug encoder (it splits the stacked views "
                             "inside the encoder); a user's encoder normalises as it is written")
        self.bn_per_view = bool(bn_per_view)
        self.input_aug = get_augmentation(input_aug, ratio=aug_ratio, generator=generator) \
            if isinstance(input_aug, str) else get_augmentation(input_aug)
        self.input_aug_name = input_aug if isinstance(input_aug, str) else \
            (None if input_aug is None else getattr(input_aug, "__name__", "custom"))
        if call is None and not self.native:
            _check_dgl_signature(encoder)
        self._call = encoder_call(encoder, call)
        # Not registered as a submodule: the model's module tree and state_dict stay the user's.
        self.__dict__["_transform"] = None if deep_aug is None else deep_aug.build()
        self._site = None if deep_aug is None else self._resolve_site(deep_aug.target)

    def _resolve_site(self, target: int) -> tuple[nn.Module, Site]:
        if self.head is not None:  # L+1 = the head GraphCL holds, right above the encoder
            top = self.encoder.num_layers + 1 if self.native else \
                len(find_layout(self.encoder).sites)
            if target == top:
                return self, Site("head", target, owner="", node_level=False)
        return self.encoder, resolve_site(self.encoder, target)

    @property
    def transform(self) -> Optional[ActivationTransform]:
        """The activation transform in use (`None` without deep augmentation)."""
        return self._transform

    def _deep_aug_attached(self):
        if self._site is None:
            return contextlib.nullcontext()
        module, site = self._site
        return AttachHandle(module, site, self._transform)

    def _project(self, batch, **kwargs) -> Tensor:
        use_own_head = self.native and self.head is None
        if use_own_head:
            kwargs["project"] = True
        if self.bn_per_view:
            kwargs["per_view_norm"] = True
        z = _graph_embeddings(self._call(self.encoder, batch, **kwargs), self.encoder)
        return z if use_own_head or self.head is None else self.head(z)

    def views(self, batch) -> tuple[Tensor, Tensor]:
        """Projections `(z1, z2)`, each `[B, d]`, of the two views of `batch`."""
        num_graphs = int(batch.num_graphs)
        with self._deep_aug_attached():
            if self.input_aug is None and self.share_trunk and self.native \
                    and self.head is None:
                z = self._project(batch, duplicate_at=self.deep_aug.target)
            else:
                first = self.input_aug(batch) if self.input_aug is not None and \
                    self.augment_both else batch
                second = batch if self.input_aug is None else self.input_aug(batch)
                z = self._project(concat_batches(first, second))
        return z[:num_graphs], z[num_graphs:]

    def forward(self, batch) -> Tensor:
        """Contrastive loss of one batch.

        Under a process group (`torchrun`) the projections of every rank are gathered first
        and the value is this rank's share of the global loss (see
        `graphaug.contrastive.losses.sharded_loss`): the mean over ranks is the loss of the
        global batch and rank-averaged gradients are its gradients."""
        if int(batch.num_graphs) < 2:
            raise ValueError("a contrastive batch needs at least 2 graphs (negatives); got 1 — "
                             "use drop_last=True or a larger batch")
        z1, z2 = self.views(batch)
        if _dist.is_active():  # every rank's views are negatives; this rank's anchors' share
            return sharded_loss(self.loss_name, z1, z2, self.temperature)
        return self.loss_fn(z1, z2, temperature=self.temperature)

    def __repr__(self) -> str:
        deep = None if self.deep_aug is None else (self.deep_aug.target, self.transform)
        return (f"GraphCL({type(self.encoder).__name__}, input_aug={self.input_aug_name!r}, "
                f"deep_aug={deep}, loss={self.loss_name!r}, temperature={self.temperature})")


class PlainTwoView(nn.Module):
    r"""The speed floor of a contrastive epoch: both views are the un-augmented batch, one full
    two-view forward/backward through the encoder and the loss, no augmentation at all.

    Benchmarks time it in the same run as `GraphCL` to report augmentation overhead as a
    ratio (its loss is meaningless for learning: the views are identical).

    Args:
        encoder (nn.Module): a graphaug encoder with a projection head.
        temperature (float): loss temperature.
        loss (str): loss name (see `contrastive_loss`).
    """

    def __init__(self, encoder: nn.Module, temperature: float = 0.2,
                 loss: str = "graphcl") -> None:
        super().__init__()
        self.encoder, self.temperature = encoder, float(temperature)
        self.loss_fn = contrastive_loss(loss)

    def forward(self, batch) -> Tensor:
        n = int(batch.num_graphs)
        z = encoder_call(self.encoder)(self.encoder, concat_batches(batch, batch), project=True)
        return self.loss_fn(z[:n], z[n:], temperature=self.temperature)

    def __repr__(self) -> str:
        return f"PlainTwoView({type(self.encoder).__name__}, temperature={self.temperature})"
