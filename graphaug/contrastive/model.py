"""GraphCL with Deep Augmentation: input-graph views and activation views in one model."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
from torch import Tensor, nn

from ..nn.pyg import encode_batch
from ..transforms import ActivationTransform
from ..views import get_augmentation
from .losses import contrastive_loss

__all__ = ["DeepAug", "GraphCL", "PlainTwoView", "concat_batches"]


@dataclass
class DeepAug:
    r"""Where and how to transform hidden activations.

    Args:
        target (int): target index (DESIGN §1): 0 = input features, ``1..L`` = layer outputs,
            ``L+1`` = projection head output.
        transform (ActivationTransform): e.g. ``ActivationDropout(0.25)``.
        apply_prob (float, optional): overrides the transform's ``apply_prob``.
        stop_grad (bool, optional): overrides the transform's ``stop_grad``.
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
    """Stack two collated PyG batches into one with ``2B`` graphs (``first`` then ``second``)."""
    from torch_geometric.data import Batch

    n1, g1 = int(first.num_nodes), int(first.num_graphs)
    out = Batch(x=torch.cat([first.x, second.x]),
                edge_index=torch.cat([first.edge_index, second.edge_index + n1], dim=1),
                batch=torch.cat([first.batch, second.batch + g1]))
    if getattr(first, "edge_attr", None) is not None:
        out.edge_attr = torch.cat([first.edge_attr, second.edge_attr])
    out._num_graphs = g1 + int(second.num_graphs)
    return out


class GraphCL(nn.Module):
    r"""GraphCL-style contrastive model: ``loss = model(batch)``.

    View 1 is the batch itself (or its input augmentation when ``augment_both``), view 2 its
    input augmentation; with ``input_aug=None`` both views are the batch and differ only through
    ``deep_aug``. Both views go through *one* encoder forward (so PCA and BatchNorm see the whole
    two-view batch); without input augmentation the layers below the target are computed once
    and branched at the target (``share_trunk``), which gives the same gradients as the
    two-view forward at a lower cost.

    Args:
        encoder (GraphCLEncoder): PyG encoder with a projection head.
        deep_aug (DeepAug, optional): activation transform and target.
        input_aug (None, str or callable): input augmentation of collated batches
            (``"random2"``, ``"dnodes"``, ... see :mod:`graphaug.views`).
        aug_ratio (float): ratio for a named ``input_aug`` (GraphCL TU: 0.1, chemistry: 0.2).
        augment_both (bool): augment view 1 as well (GraphCL chemistry); default ``False``
            (GraphCL TU: view 1 is the original graph).
        temperature (float): loss temperature (GraphCL TU: 0.2).
        loss (str): ``"graphcl"`` (one-directional, positive excluded from the denominator) or
            ``"infonce"`` (symmetric).
        share_trunk (bool): compute the layers below the target once when the views are
            identical there.
        generator (torch.Generator, optional): randomness of the input augmentation.

    Example:
        >>> enc = GraphCLEncoder(7)
        >>> model = GraphCL(enc, deep_aug=DeepAug(2, ActivationDropout(0.25)), input_aug=None)
        >>> loss = model(batch); loss.backward()
    """

    def __init__(self, encoder: nn.Module, deep_aug: Optional[DeepAug] = None,
                 input_aug: Union[None, str, Callable] = "random2", *, aug_ratio: float = 0.1,
                 augment_both: bool = False, temperature: float = 0.2, loss: str = "graphcl",
                 share_trunk: bool = True, generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        if getattr(encoder, "proj_head", None) is None:
            raise ValueError("GraphCL needs an encoder with a projection head (proj_head=True)")
        if deep_aug is None and input_aug is None:
            raise ValueError("GraphCL needs input_aug, deep_aug or both: with neither the two "
                             "views are identical")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.encoder = encoder
        self.deep_aug = deep_aug
        self.loss_fn = contrastive_loss(loss)
        self.loss_name, self.temperature = loss, float(temperature)
        self.augment_both, self.share_trunk = bool(augment_both), bool(share_trunk)
        self.input_aug = get_augmentation(input_aug, ratio=aug_ratio, generator=generator) \
            if isinstance(input_aug, str) else get_augmentation(input_aug)
        self.input_aug_name = input_aug if isinstance(input_aug, str) else \
            (None if input_aug is None else getattr(input_aug, "__name__", "custom"))
        encoder.clear_transforms()
        if deep_aug is not None:
            encoder.set_transform(deep_aug.target, deep_aug.build())

    @property
    def transform(self) -> Optional[ActivationTransform]:
        """The activation transform in use (``None`` without deep augmentation)."""
        return None if self.deep_aug is None else self.encoder.taps[self.deep_aug.target].transform

    def views(self, batch) -> tuple[Tensor, Tensor]:
        """Projections ``(z1, z2)``, each ``[B, d]``, of the two views of ``batch``."""
        num_graphs = int(batch.num_graphs)
        if self.input_aug is None and self.share_trunk:
            z = encode_batch(self.encoder, batch, project=True,
                             duplicate_at=self.deep_aug.target)
        else:
            first = self.input_aug(batch) if self.input_aug is not None and self.augment_both \
                else batch
            second = batch if self.input_aug is None else self.input_aug(batch)
            z = encode_batch(self.encoder, concat_batches(first, second), project=True)
        return z[:num_graphs], z[num_graphs:]

    def forward(self, batch) -> Tensor:
        """Contrastive loss of one batch."""
        if int(batch.num_graphs) < 2:
            raise ValueError("a contrastive batch needs at least 2 graphs (negatives); got 1 — "
                             "use drop_last=True or a larger batch")
        z1, z2 = self.views(batch)
        return self.loss_fn(z1, z2, temperature=self.temperature)

    def __repr__(self) -> str:
        return (f"GraphCL({type(self.encoder).__name__}, input_aug={self.input_aug_name!r}, "
                f"deep_aug={None if self.deep_aug is None else (self.deep_aug.target, self.transform)}, "
                f"loss={self.loss_name!r}, temperature={self.temperature})")


class PlainTwoView(nn.Module):
    r"""The speed floor of a contrastive epoch: both views are the un-augmented batch, one full
    two-view forward/backward through the encoder and the loss, no augmentation at all.

    Benchmarks time it in the same run as :class:`GraphCL` to report augmentation overhead as a
    ratio (its loss is meaningless for learning: the views are identical).

    Args:
        encoder (nn.Module): a graphaug encoder with a projection head.
        temperature (float): loss temperature.
        loss (str): loss name (see :func:`~graphaug.contrastive.contrastive_loss`).
    """

    def __init__(self, encoder: nn.Module, temperature: float = 0.2,
                 loss: str = "graphcl") -> None:
        super().__init__()
        self.encoder, self.temperature = encoder, float(temperature)
        self.loss_fn = contrastive_loss(loss)

    def forward(self, batch) -> Tensor:
        n = int(batch.num_graphs)
        z = encode_batch(self.encoder, concat_batches(batch, batch), project=True)
        return self.loss_fn(z[:n], z[n:], temperature=self.temperature)

    def __repr__(self) -> str:
        return f"PlainTwoView({type(self.encoder).__name__}, temperature={self.temperature})"
