"""Contrastive losses on two views ``z1, z2`` of shape ``[B, d]`` (row i of each = sample i)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["graphcl_nt_xent", "info_nce", "LOSSES", "contrastive_loss"]


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
    r"""GraphCL's NT-Xent: one-directional (anchors from ``z1``), cosine similarity, and the
    positive pair *excluded* from the denominator:

    .. math::
        \ell = -\frac{1}{B}\sum_i \log \frac{e^{s_{ii}/\tau}}{\sum_{j \ne i} e^{s_{ij}/\tau}}

    Args:
        z1 (Tensor): ``[B, d]`` anchors (GraphCL: the original graphs).
        z2 (Tensor): ``[B, d]`` positives/negatives (GraphCL: the augmented graphs).
        temperature (float): :math:`\tau` (GraphCL TU: 0.2, chemistry: 0.1).
    """
    _check_views(z1, z2)
    logits = _cosine_logits(z1, z2, temperature)
    positive = logits.diagonal()
    eye = torch.eye(logits.size(0), dtype=torch.bool, device=logits.device)
    negatives = torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1)
    return (negatives - positive).mean()


def info_nce(z1: Tensor, z2: Tensor, temperature: float = 0.2, symmetric: bool = True) -> Tensor:
    r"""InfoNCE with cross-view negatives (positive included in the denominator), averaged over
    both directions when ``symmetric`` (SimCSE uses the one-directional form).

    Args:
        z1, z2 (Tensor): ``[B, d]`` views.
        temperature (float): softmax temperature (SimCSE: 0.05).
        symmetric (bool): also use ``z2`` as anchors.
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


def contrastive_loss(name: str):
    """Look up a loss by name (``"graphcl"``, ``"infonce"``, ``"infonce_one_way"``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}")
    return LOSSES[name]
