"""Contrastive losses on two views `z1, z2` of shape `[B, d]` (row i of each = sample i)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["graphcl_nt_xent", "info_nce", "LOSSES", "contrastive_loss", "anchor_loss",
           "sharded_loss"]


def _check_views(z1: Tensor, z2: Tensor) -> None:
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"views must both be [B, d] with the same shape, got {tuple(z1.shape)} "
                         f"and {tuple(z2.shape)}")
    if z1.size(0) < 2:
        raise ValueError(f"a contrastive loss needs at least 2 samples per batch (negatives), got "
                         f"{z1.size(0)}; use a larger batch or drop_last=True")


def _cosine_logits(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T / temperature


def graphcl_nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.2) -> Tensor:
    r"""GraphCL's NT-Xent: one-directional (anchors from `z1`), cosine similarity, and the
    positive pair *excluded* from the denominator:

    $$
    \ell = -\frac{1}{B}\sum_i \log \frac{e^{s_{ii}/\tau}}{\sum_{j \ne i} e^{s_{ij}/\tau}}
    $$

    Args:
        z1 (Tensor): `[B, d]` anchors (GraphCL: the original graphs).
        z2 (Tensor): `[B, d]` positives/negatives (GraphCL: the augmented graphs).
        temperature (float): $\tau$ (GraphCL TU: 0.2, chemistry: 0.1).
    """
    _check_views(z1, z2)
    logits = _cosine_logits(z1, z2, temperature)
    return _nt_xent_terms(logits, torch.arange(logits.size(0), device=logits.device)).mean()


def _nt_xent_terms(logits: Tensor, positive_cols: Tensor) -> Tensor:
    """Per-anchor GraphCL terms `[b]` of `logits` `[b, n]` whose positive of row `i`
    sits in column `positive_cols[i]` (excluded from the denominator)."""
    rows = torch.arange(logits.size(0), device=logits.device)
    positive = logits[rows, positive_cols]
    is_positive = torch.zeros_like(logits, dtype=torch.bool)
    is_positive[rows, positive_cols] = True
    negatives = torch.logsumexp(logits.masked_fill(is_positive, float("-inf")), dim=1)
    return negatives - positive


def info_nce(z1: Tensor, z2: Tensor, temperature: float = 0.2, symmetric: bool = True) -> Tensor:
    r"""InfoNCE with cross-view negatives (positive included in the denominator), averaged over
    both directions when `symmetric` (SimCSE uses the one-directional form).

    Args:
        z1 (Tensor): `[B, d]` first view.
        z2 (Tensor): `[B, d]` second view.
        temperature (float): softmax temperature (SimCSE: 0.05).
        symmetric (bool): also use `z2` as anchors.
    """
    _check_views(z1, z2)
    logits = _cosine_logits(z1, z2, temperature)
    target = torch.arange(logits.size(0), device=logits.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
    return loss


LOSSES = {"graphcl": graphcl_nt_xent, "infonce": info_nce,
          "infonce_one_way": lambda z1, z2, temperature: info_nce(z1, z2, temperature, False)}


def anchor_loss(name: str, z1: Tensor, z2: Tensor, z1_all: Tensor, z2_all: Tensor, offset: int,
                temperature: float = 0.2) -> Tensor:
    r"""The share of loss `name` on the global views `z1_all, z2_all` (`[n, d]`) that
    comes from the anchors `z1, z2` (`[b, d]`, rows `offset..offset+b` of the global
    views): the sum of their terms divided by `n`. Summed over a partition of the rows it is
    the loss of the whole batch (`sharded_loss` uses it).

    Args:
        name (str): `"graphcl"`, `"infonce"` or `"infonce_one_way"`.
        z1 (Tensor): `[b, d]` the anchors' first view.
        z2 (Tensor): `[b, d]` the anchors' second view.
        z1_all (Tensor): `[n, d]` every sample's first view (negatives).
        z2_all (Tensor): `[n, d]` every sample's second view (negatives).
        offset (int): index of the first anchor in the global views.
        temperature (float): as in the loss.
    """
    contrastive_loss(name)
    _check_views(z1_all, z2_all)
    if z1.shape != z2.shape or z1.dim() != 2 or z1.size(1) != z1_all.size(1):
        raise ValueError(f"anchors must be two [b, {z1_all.size(1)}] views, got "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1_all.size(0)
    cols = torch.arange(offset, offset + z1.size(0), device=z1.device)
    if name == "graphcl":
        return _nt_xent_terms(_cosine_logits(z1, z2_all, temperature), cols).sum() / n
    loss = F.cross_entropy(_cosine_logits(z1, z2_all, temperature), cols, reduction="sum") / n
    if name == "infonce":  # symmetric: z2 anchors against z1 as well
        loss = 0.5 * (loss + F.cross_entropy(_cosine_logits(z2, z1_all, temperature), cols,
                                             reduction="sum") / n)
    return loss


def sharded_loss(loss_name: str, z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    r"""This rank's share of the global contrastive loss: both views are gathered from every
    rank (`graphaug.distributed.gather_with_grad`), this rank's rows are the anchors, and the
    sum of their terms is divided by the global number of anchors and multiplied by `W`. The
    mean over ranks of the returned value is the single-process loss on the global batch, and
    the rank-averaged gradient its gradient.

    Args:
        loss_name (str): `"graphcl"`, `"infonce"` or `"infonce_one_way"`.
        z1 (Tensor): `[b_r, d]` this rank's projections of the first view.
        z2 (Tensor): `[b_r, d]` this rank's projections of the second view.
        temperature (float): as in the loss.
    """
    from .. import distributed as _dist

    both, offset = _dist.gather_with_grad(torch.cat([z1, z2], dim=1), return_offset=True)
    z1_all, z2_all = both.split(z1.size(1), dim=1)
    return anchor_loss(loss_name, z1, z2, z1_all, z2_all, offset, temperature) \
        * _dist.world_size()


def contrastive_loss(name: str):
    """Look up a loss by name (`"graphcl"`, `"infonce"`, `"infonce_one_way"`)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}")
    return LOSSES[name]
