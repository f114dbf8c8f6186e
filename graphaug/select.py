"""Which layer to augment: layer similarity (CKA) of a trained model and a recommendation.

The paper links Deep Augmentation's gain to less *co-adaptation* between layers: in a
contrastively trained encoder without it, the outputs of consecutive layers become very similar
(a form of collapse). :func:`layer_similarity` measures that with kernel CKA between the target
outputs, pooled per sample; :func:`coadaptation_scores` turns the matrix into one score per
target and :func:`recommend_layer` picks the target whose output the layers above it copy most.
The rule is graphaug's formalisation of the paper's idea; how well it matches a full sweep is
measured, not assumed (``benchmarks/results/layer_selection.md`` when it has been run).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from .hooks import AttachHandle
from .hooks.layouts import find_layout, is_graph_model
from .transforms import ActivationTransform

__all__ = ["cka", "median_sigma", "layer_similarity", "coadaptation_scores", "recommend_layer"]

_BLOCK = 2048  # rows per block: a 10k x 10k Gram matrix is never held in memory
_GRAM_BUDGET = 256 * 2 ** 20  # bytes of Gram blocks held at once (all targets of one block)


def _as_float64(x: Union[Tensor, np.ndarray]) -> Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x.detach())
    x = x.to(torch.float64).cpu()
    if x.dim() != 2:
        x = x.reshape(x.size(0), -1)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("cka received NaN or Inf")
    return x


def _sq_dists(a: Tensor, b: Tensor) -> Tensor:
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2.0 * a @ b.T
    return d.clamp_min_(0.0)


def median_sigma(x: Union[Tensor, np.ndarray], max_rows: int = 4096, seed: int = 0) -> float:
    r"""RBF bandwidth :math:`\sigma = \sqrt{\mathrm{median}}` of the non-zero squared distances
    between distinct rows (pairs :math:`i < j`; the usual median, the mean of the two middle
    values for an even count), the bandwidth rule of the authors' analysis code.

    For more than ``max_rows`` rows the median is taken over the pairs of a fixed random subset
    of ``max_rows`` rows (seeded): exact enough for a bandwidth and memory-bounded.
    """
    x = _as_float64(x)
    if x.size(0) > max_rows:
        gen = torch.Generator().manual_seed(seed)
        x = x[torch.randperm(x.size(0), generator=gen)[:max_rows]]
    d = _sq_dists(x, x)
    upper = d[torch.triu_indices(x.size(0), x.size(0), offset=1).unbind()]
    upper = upper[upper > 0]
    if upper.numel() == 0:
        raise ValueError("all rows are identical: the RBF bandwidth is undefined")
    return float(np.sqrt(np.median(upper.numpy())))  # even count: mean of the middle two


def _gram_block(x: Tensor, rows: slice, kernel: str, sigma: Optional[float]) -> Tensor:
    if kernel == "linear":
        return x[rows] @ x.T
    return torch.exp(-_sq_dists(x[rows], x) / (2.0 * sigma ** 2))


def _hsic_matrix(reps: Sequence[Tensor], kernel: str, sigmas: Sequence[Optional[float]],
                 unbiased: bool) -> np.ndarray:
    """``[T, T]`` HSIC between every pair of the float64 ``[n, d]`` ``reps`` (diagonal:
    HSIC(K, K)), accumulated over row blocks. Each representation's Gram block is computed
    once per block and shared by all its pairs; blocks are sized so the ``T`` blocks held
    together stay within ``_GRAM_BUDGET`` bytes."""
    n, size = reps[0].size(0), len(reps)
    block = max(1, min(_BLOCK, _GRAM_BUDGET // (8 * n * size)))
    traces = np.zeros((size, size))  # sum of K_i * K_j over all entries
    row_sums = torch.empty(size, n, dtype=torch.float64)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        grams = [_gram_block(r, rows, kernel, s) for r, s in zip(reps, sigmas)]
        if unbiased:  # the debiased estimator works on Gram matrices with a zero diagonal
            idx = torch.arange(rows.start, rows.stop)
            for gram in grams:
                gram[idx - rows.start, idx] = 0.0
        for i, gram in enumerate(grams):
            row_sums[i, rows] = gram.sum(1)
            for j in range(i, size):
                traces[i, j] += float((gram * grams[j]).sum())

    def hsic(a_rows: Tensor, b_rows: Tensor, trace: float) -> float:
        if not unbiased:  # tr(K H L H) = sum K∘L - 2/n (K1)·(L1) + (1'K1)(1'L1)/n^2
            return trace - 2.0 / n * float(a_rows @ b_rows) + \
                float(a_rows.sum()) * float(b_rows.sum()) / n ** 2
        return (trace + float(a_rows.sum()) * float(b_rows.sum()) / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * float(a_rows @ b_rows)) / (n * (n - 3))

    out = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            out[i, j] = out[j, i] = hsic(row_sums[i], row_sums[j], traces[i, j])
    return out


def _cka_matrix(reps: Sequence[Tensor], kernel: str, sigmas: Sequence[Optional[float]],
                unbiased: bool) -> np.ndarray:
    """``[T, T]`` CKA of checked float64 inputs with each one's bandwidth given."""
    hsic = _hsic_matrix(reps, kernel, sigmas, unbiased)
    self_hsic = np.diag(hsic).copy()
    if (self_hsic <= 0).any():
        raise ValueError("a representation is constant over the samples: CKA is undefined")
    matrix = hsic / np.sqrt(np.outer(self_hsic, self_hsic))
    np.fill_diagonal(matrix, 1.0)
    return matrix


def cka(x: Union[Tensor, np.ndarray], y: Union[Tensor, np.ndarray], kernel: str = "linear",
        sigma: Optional[float] = None, unbiased: bool = False) -> float:
    r"""Centred kernel alignment between two representations of the same ``n`` samples.

    :math:`\mathrm{CKA} = \mathrm{HSIC}(K, L) / \sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}`
    with :math:`K, L` the Gram matrices of ``x`` and ``y``. Computed in float64, blockwise (no
    ``n x n`` matrix is held; 10k rows fit in a few hundred MB).

    Args:
        x (Tensor or ndarray): ``[n, p]`` (more dims are flattened per row).
        y (Tensor or ndarray): ``[n, q]``.
        kernel (str): ``"linear"`` or ``"rbf"``. (default: ``"linear"``)
        sigma (float, optional): RBF bandwidth for both; default: :func:`median_sigma` of each.
        unbiased (bool): the debiased HSIC estimator (Song et al., 2012), which removes the
            positive bias of CKA at small ``n``; needs ``n >= 4``. (default: ``False``)

    Returns:
        float in ``[0, 1]`` (the debiased value may fall slightly outside).

    Example:
        >>> x = torch.randn(100, 8)
        >>> round(cka(x, x @ torch.linalg.qr(torch.randn(8, 8))[0]), 6)
        1.0
    """
    x, y = _checked([x, y], kernel, unbiased)
    sx = sy = None
    if kernel == "rbf":
        sx = sigma if sigma is not None else median_sigma(x)
        sy = sigma if sigma is not None else median_sigma(y)
    return float(_cka_matrix([x, y], kernel, [sx, sy], unbiased)[0, 1])


def _checked(reps: Sequence, kernel: str, unbiased: bool) -> list[Tensor]:
    """``reps`` as float64 ``[n, d]`` tensors, after :func:`cka`'s argument checks."""
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be 'linear' or 'rbf', got {kernel!r}")
    reps = [_as_float64(r) for r in reps]
    rows = {r.size(0) for r in reps}
    if len(rows) > 1:
        raise ValueError("x and y must describe the same samples: "
                         f"{' vs '.join(str(r.size(0)) for r in reps)} rows")
    n = rows.pop()
    if n < (4 if unbiased else 2):
        raise ValueError(f"cka needs at least {4 if unbiased else 2} rows, got {n}")
    return reps


class _Recorder(ActivationTransform):
    """Stores the pooled activation at one target (identity; runs in eval mode too)."""

    def __init__(self, per_node: bool) -> None:
        super().__init__(apply_prob=0.0, force=True)
        self.per_node = per_node
        self.rows: list[Tensor] = []

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, mask: Optional[Tensor] = None,
                *, num_samples: Optional[int] = None, training: Optional[bool] = None) -> Tensor:
        h = x.detach().float()
        if h.dim() == 2 and batch is not None and not self.per_node:
            count = num_samples if num_samples is not None else int(batch.max()) + 1
            h = h.new_zeros(count, h.size(1)).index_add_(0, batch, h)  # graph readout (sum)
        elif h.dim() == 3:
            if mask is None:
                h = h.mean(1)
            else:  # mean over real tokens
                m = mask.to(h.dtype).unsqueeze(-1)
                h = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
        elif h.dim() == 4:
            h = h.mean(dim=(2, 3))  # global average pool
        self.rows.append(h.cpu())
        return x


def _default_call(model: nn.Module):
    if isinstance(getattr(model, "taps", None), nn.ModuleList) or is_graph_model(model):
        from .nn.call import encoder_call
        return encoder_call(model)  # PyG batches (DGL models get to_dgl(batch))
    return lambda m, b: m(**b) if isinstance(b, Mapping) else m(b)


def layer_similarity(model: nn.Module, batches: Iterable, targets: Optional[Sequence[int]] = None,
                     *, kernel: str = "rbf", per_node: bool = False, call=None,
                     unbiased: bool = False) -> tuple[np.ndarray, list[int]]:
    r"""CKA matrix between the target outputs of a trained ``model`` (in eval mode).

    Each target's activation is pooled per sample with the grouping :func:`graphaug.attach`
    discovers: graph readout (sum over the nodes of each graph), mean over real tokens, global
    average pool for feature maps; ``per_node=True`` keeps node rows instead.

    Args:
        model (nn.Module): the encoder (any layout :func:`graphaug.targets` knows).
        batches (iterable): inputs; each is passed as ``call(model, batch)`` (default:
            ``model(batch)``, or graphaug's PyG/DGL batch call for graph encoders).
        targets (list of int, optional): which targets (default: all but the head).
        kernel (str), unbiased (bool): see :func:`cka`.

    Returns:
        ``(matrix [T, T], targets)``.

    Example:
        >>> sim, targets = layer_similarity(encoder, DataLoader(graphs, batch_size=256))
    """
    layout = find_layout(model)
    targets = list(range(layout.num_layers + 1)) if targets is None else list(targets)
    bad = [t for t in targets if not 0 <= t < len(layout.sites)]
    if bad:
        raise ValueError(f"targets {bad} out of range 0..{len(layout.sites) - 1}")
    call = call or _default_call(model)
    recorders = {t: _Recorder(per_node) for t in targets}
    handles = [AttachHandle(model, layout.sites[t], recorders[t]) for t in targets]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                call(model, batch)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    reps = [torch.cat(recorders[t].rows) for t in targets]
    reps = _checked(reps, kernel, unbiased)
    sigmas = [median_sigma(r) if kernel == "rbf" else None for r in reps]  # once per target
    return _cka_matrix(reps, kernel, sigmas, unbiased), list(targets)


def coadaptation_scores(matrix: np.ndarray, targets: Sequence[int]) -> dict[int, float]:
    """Per target ``t``: the mean CKA between ``t``'s output and the outputs of the layers
    above it (how much the upper layers copy it). The topmost target has no score."""
    matrix = np.asarray(matrix)
    return {t: float(matrix[i, i + 1:].mean()) for i, t in enumerate(targets)
            if i + 1 < len(targets)}


def recommend_layer(matrix: np.ndarray, targets: Sequence[int],
                    candidates: Optional[Sequence[int]] = None) -> tuple[int, dict[int, float]]:
    """The target to augment: the most co-adapted one (highest :func:`coadaptation_scores`),
    among ``candidates`` (default: the hidden layers, i.e. every scored target but the input);
    ties go to the deeper layer. Returns ``(target, scores)``."""
    scores = coadaptation_scores(matrix, targets)
    pool = [t for t in (candidates if candidates is not None else scores) if t in scores]
    if candidates is None and len(pool) > 1:
        pool = [t for t in pool if t != targets[0]]
    if not pool:
        raise ValueError(f"no candidate target has a score; scored: {sorted(scores)}")
    best = max(pool, key=lambda t: (scores[t], t))
    return best, scores
