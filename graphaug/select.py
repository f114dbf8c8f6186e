"""Which layer to augment: layer similarity (CKA) of a trained model and a recommendation.

The paper links Deep Augmentation's gain to less *co-adaptation* between layers: in a
contrastively trained encoder without it, the outputs of consecutive layers become very similar
(a form of collapse). `layer_similarity` measures that with kernel CKA between the target
outputs, pooled per sample; `coadaptation_scores` turns the matrix into one score per
target and `recommend_layer` picks the target whose output the layers above it copy most.
The rule is graphaug's formalisation of the paper's idea; how well it matches a full sweep is
measured, not assumed (`benchmarks/results/layer_selection.md` when it has been run).

Label-free criteria choose a whole configuration (target, transform, rate, or none) from the
trained encoders alone, without labels: `rankme` (effective rank, Garrido et al., ICML
2023), `alignment` and `uniformity` (Wang & Isola, ICML 2020), the contrastive loss
on a fixed sample and the CKA co-adaptation; `embedding_criteria` gathers them from the
embeddings of any modality, `graph_criteria` computes them all for a graph encoder and
`select_config` picks the best candidate by one of them (directions in `CRITERIA`).
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

__all__ = ["cka", "median_sigma", "layer_similarity", "coadaptation_scores", "recommend_layer",
           "rankme", "alignment", "uniformity", "coadaptation", "embedding_criteria",
           "graph_criteria", "CRITERIA", "select_config"]

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
    r"""RBF bandwidth $\sigma = \sqrt{\mathrm{median}}$ of the non-zero squared distances
    between distinct rows (pairs $i < j$; the usual median, the mean of the two middle
    values for an even count), the bandwidth rule of the authors' analysis code.

    For more than `max_rows` rows the median is taken over the pairs of a fixed random subset
    of `max_rows` rows (seeded): exact enough for a bandwidth and memory-bounded.
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
    """`[T, T]` HSIC between every pair of the float64 `[n, d]` `reps` (diagonal:
    HSIC(K, K)), accumulated over row blocks. Each representation's Gram block is computed
    once per block and shared by all its pairs; blocks are sized so the `T` blocks held
    together stay within `_GRAM_BUDGET` bytes."""
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
    """`[T, T]` CKA of checked float64 inputs with each one's bandwidth given."""
    hsic = _hsic_matrix(reps, kernel, sigmas, unbiased)
    self_hsic = np.diag(hsic).copy()
    if (self_hsic <= 0).any():
        raise ValueError("a representation is constant over the samples: CKA is undefined")
    matrix = hsic / np.sqrt(np.outer(self_hsic, self_hsic))
    np.fill_diagonal(matrix, 1.0)
    return matrix


def cka(x: Union[Tensor, np.ndarray], y: Union[Tensor, np.ndarray], kernel: str = "linear",
        sigma: Optional[float] = None, unbiased: bool = False) -> float:
    r"""Centred kernel alignment between two representations of the same `n` samples.

    $\mathrm{CKA} = \mathrm{HSIC}(K, L) / \sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}$
    with $K, L$ the Gram matrices of `x` and `y`. Computed in float64, blockwise (no
    `n x n` matrix is held; 10k rows fit in a few hundred MB).

    Args:
        x (Tensor or ndarray): `[n, p]` (more dims are flattened per row).
        y (Tensor or ndarray): `[n, q]`.
        kernel (str): `"linear"` or `"rbf"`. (default: `"linear"`)
        sigma (float, optional): RBF bandwidth for both; default: `median_sigma` of each.
        unbiased (bool): the debiased HSIC estimator (Song et al., 2012), which removes the
            positive bias of CKA at small `n`; needs `n >= 4`. (default: `False`)

    Returns:
        float in `[0, 1]` (the debiased value may fall slightly outside).

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
    """`reps` as float64 `[n, d]` tensors, after `cka`'s argument checks."""
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
    r"""CKA matrix between the target outputs of a trained `model` (in eval mode).

    Each target's activation is pooled per sample with the grouping `graphaug.attach`
    discovers: graph readout (sum over the nodes of each graph), mean over real tokens, global
    average pool for feature maps; `per_node=True` keeps node rows instead.

    Args:
        model (nn.Module): the encoder (any layout `graphaug.targets` knows).
        batches (iterable): inputs; each is passed as `call(model, batch)` (default:
            `model(batch)`, or graphaug's PyG/DGL batch call for graph encoders).
        targets (list of int, optional): which targets (default: all but the head).
        kernel (str), unbiased (bool): see `cka`.

    Returns:
        `(matrix [T, T], targets)`.

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
    """Per target `t`: the mean CKA between `t`'s output and the outputs of the layers
    above it (how much the upper layers copy it). The topmost target has no score."""
    matrix = np.asarray(matrix)
    return {t: float(matrix[i, i + 1:].mean()) for i, t in enumerate(targets)
            if i + 1 < len(targets)}


def recommend_layer(matrix: np.ndarray, targets: Sequence[int],
                    candidates: Optional[Sequence[int]] = None) -> tuple[int, dict[int, float]]:
    """The target to augment: the most co-adapted one (highest `coadaptation_scores`),
    among `candidates` (default: the hidden layers, i.e. every scored target but the input);
    ties go to the deeper layer. Returns `(target, scores)`."""
    scores = coadaptation_scores(matrix, targets)
    pool = [t for t in (candidates if candidates is not None else scores) if t in scores]
    if candidates is None and len(pool) > 1:
        pool = [t for t in pool if t != targets[0]]
    if not pool:
        raise ValueError(f"no candidate target has a score; scored: {sorted(scores)}")
    best = max(pool, key=lambda t: (scores[t], t))
    return best, scores


# ---------------------------------------------------------------------------------------------
# Label-free criteria

#: eps of RankMe as Garrido et al. (ICML 2023) define it
RANKME_EPS = 1e-7

#: every label-free criterion: `name -> (direction, meaning)`; `"max"`: higher is better
CRITERIA: dict[str, tuple[str, str]] = {
    "rankme": ("max", "effective rank of the readout embeddings (Garrido et al., 2023)"),
    "alignment": ("min", "mean squared distance between the l2-normalised embeddings of a graph "
                         "and its augmented view (Wang & Isola, 2020)"),
    "uniformity": ("min", "log mean Gaussian potential between l2-normalised embeddings "
                          "(Wang & Isola, 2020)"),
    "loss": ("min", "the contrastive loss (GraphCL NT-Xent) on a fixed sample of graphs and "
                    "fixed augmented views, encoder in eval mode"),
    "cka": ("min", "co-adaptation: mean RBF-CKA between each layer's output and the layers "
                   "above it"),
}


def _matrix(z: Union[Tensor, np.ndarray], name: str, min_rows: int = 1) -> Tensor:
    z = torch.as_tensor(np.asarray(z) if not isinstance(z, Tensor) else z.detach())
    z = z.to(torch.float64).cpu()
    if z.dim() != 2 or z.size(0) < min_rows:
        raise ValueError(f"{name} needs an embedding matrix [n, d] with n >= {min_rows}, got "
                         f"shape {tuple(z.shape)}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError(f"{name} received NaN or Inf embeddings")
    return z


def rankme(z: Union[Tensor, np.ndarray], eps: float = RANKME_EPS) -> float:
    r"""RankMe, the effective rank of an embedding matrix (Garrido, Balestriero, Najman, LeCun,
    "RankMe: Assessing the downstream performance of pretrained self-supervised
    representations by their rank", ICML 2023, eq. 1).

    With $\sigma_k$ the singular values of `z` (not centred, as in the paper),

    $$
    p_k = \frac{\sigma_k}{\lVert \sigma \rVert_1} + \epsilon, \qquad
    \mathrm{RankMe}(z) = \exp\Big(-\sum_k p_k \log p_k\Big).
    $$

    It lies in about `[1, min(n, d)]`: `k` for a matrix of rank `k` with equal singular
    values, `1` for a collapsed (rank-one) embedding. Invariant to scaling and to rotations
    of either side. Higher is better (less dimensional collapse).

    Args:
        z (Tensor or ndarray): `[n, d]` embeddings (e.g. the readout of `n` graphs).
        eps (float): $\epsilon$. (default: `1e-7`, the paper's)

    Example:
        >>> z = torch.randn(1000, 4) @ torch.randn(4, 32)   # rank 4
        >>> 3.0 < rankme(z) <= 4.0
        True
    """
    z = _matrix(z, "rankme")
    sigma = torch.linalg.svdvals(z)
    if float(sigma.sum()) == 0.0:
        raise ValueError("rankme received an all-zero embedding matrix (rank 0)")
    p = sigma / sigma.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def alignment(z1: Union[Tensor, np.ndarray], z2: Union[Tensor, np.ndarray],
              alpha: float = 2.0) -> float:
    r"""Alignment of positive pairs (Wang & Isola, "Understanding contrastive representation
    learning through alignment and uniformity on the hypersphere", ICML 2020):

    $$
    \mathcal{L}_{align} = \frac{1}{n}\sum_i \lVert f(x_i) - f(y_i) \rVert_2^{\alpha}
    $$

    with $f$ the l2-normalised embedding and $(x_i, y_i)$ two views of sample
    `i`. In `[0, 2^alpha]`; `0` when the views coincide. Lower is better.

    Args:
        z1 (Tensor or ndarray): `[n, d]` embeddings of the first view, row `i` from sample
            `i`.
        z2 (Tensor or ndarray): `[n, d]` embeddings of the second view, in the same order.
        alpha (float): the exponent (default: `2`, the paper's).

    Example:
        >>> z = torch.randn(10, 8)
        >>> alignment(z, 3 * z) < 1e-12     # the same directions
        True
    """
    a, b = _matrix(z1, "alignment"), _matrix(z2, "alignment")
    if a.shape != b.shape:
        raise ValueError(f"alignment needs two views of the same samples, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    a, b = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1)
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(z: Union[Tensor, np.ndarray], t: float = 2.0) -> float:
    r"""Uniformity (Wang & Isola, ICML 2020): the log of the mean Gaussian potential between
    the l2-normalised embeddings of distinct samples,

    $$
    \mathcal{L}_{uniform} = \log \frac{2}{n(n-1)} \sum_{i<j}
    e^{-t \lVert f(x_i) - f(x_j) \rVert_2^2}.
    $$

    In `[-4t, 0]`: `0` when every embedding points the same way (collapse), `-4t` for two
    antipodal points. Lower is better (more uniform on the sphere).

    Args:
        z (Tensor or ndarray): `[n, d]` embeddings, `n >= 2`.
        t (float): the potential's scale. (default: `2`, the paper's)

    Example:
        >>> uniformity(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        -8.0
    """
    z = torch.nn.functional.normalize(_matrix(z, "uniformity", min_rows=2), dim=1)
    if t <= 0:
        raise ValueError(f"t must be > 0, got {t}")
    d2 = torch.pdist(z).pow(2)
    return float(torch.logsumexp(-t * d2, 0) - np.log(d2.numel()))


def coadaptation(matrix: np.ndarray, targets: Sequence[int]) -> float:
    """One co-adaptation score of a trained model: the mean of `coadaptation_scores`
    (each target's mean CKA with the outputs of the layers above it) over its targets. Lower
    is better: the layers copy each other less."""
    scores = coadaptation_scores(matrix, targets)
    if not scores:
        raise ValueError(f"co-adaptation needs at least two targets, got {list(targets)}")
    return float(np.mean(list(scores.values())))


def embedding_criteria(z: Union[Tensor, np.ndarray], z_view: Union[Tensor, np.ndarray], *,
                       loss: Optional[float] = None, coadaptation: Optional[float] = None,
                       criteria: Optional[Sequence[str]] = None) -> dict[str, float]:
    r"""The label-free criteria (`CRITERIA`) of one trained model from its embeddings of a
    fixed sample, whatever the modality (graphs, sentences, images): `rankme` and
    `uniformity` of `z`, `alignment` of `z` with `z_view`, and the held-out contrastive
    `loss` and co-adaptation score `coadaptation` passed through when given (they depend on
    the model's objective and layers, so the caller computes them).

    Args:
        z (Tensor or ndarray): `[n, d]` un-augmented embeddings of the sample (model in eval
            mode).
        z_view (Tensor or ndarray): `[n, d]` embeddings of one fixed augmented view of each
            sample, in the same order.
        loss (float, optional): the contrastive loss on the sample, stored as `"loss"`.
        coadaptation (float, optional): the CKA co-adaptation score (`coadaptation` of the
            layer similarity matrix), stored as `"cka"`.
        criteria (list of str, optional): which to return (default: the three embedding
            criteria, plus `loss` and `cka` when given); naming `loss` or `cka` without
            its value is an error.

    Returns:
        `{criterion: value}`.

    Example:
        >>> z = torch.randn(100, 16)
        >>> embedding_criteria(z, z, loss=1.5)["alignment"]
        0.0
    """
    given = {"loss": loss, "cka": coadaptation}
    if criteria is None:
        names = ["rankme", "alignment", "uniformity", *(k for k, v in given.items()
                                                        if v is not None)]
    else:
        names = list(criteria)
    unknown = [c for c in names if c not in CRITERIA]
    if unknown:
        raise ValueError(f"unknown criteria {unknown}; choose from {list(CRITERIA)}")
    missing = [c for c in names if c in given and given[c] is None]
    if missing:
        args = ", ".join("coadaptation=" if c == "cka" else "loss=" for c in missing)
        raise ValueError(f"criteria {missing} requested but not given: pass {args}")
    out: dict[str, float] = {}
    for name in names:
        if name == "rankme":
            out[name] = rankme(z)
        elif name == "alignment":
            out[name] = alignment(z, z_view)
        elif name == "uniformity":
            out[name] = uniformity(z)
        else:
            out[name] = float(given[name])
    return out


def graph_criteria(encoder: nn.Module, graphs: Sequence, *, sample: int = 512, seed: int = 0,
                   input_aug: str = "random2", aug_ratio: float = 0.1,
                   temperature: float = 0.2, batch_size: int = 128,
                   criteria: Optional[Sequence[str]] = None) -> dict[str, float]:
    r"""Every label-free criterion (`CRITERIA`) of a trained graph encoder, on
    un-augmented embeddings with the encoder in eval mode (its mode is restored).

    A fixed subset of `sample` graphs (drawn with `seed`) and fixed input-augmented views
    of it (`input_aug` at `aug_ratio`, also drawn with `seed`) are used, so every
    candidate of a selection is scored on the same graphs and views:

    - `rankme`, `uniformity`: the readout of the subset;
    - `alignment`: readout of each graph against readout of its view;
    - `loss`: GraphCL's NT-Xent (temperature `temperature`) of the projections of the
      graphs (anchors) and their views, averaged over batches of `batch_size`; it needs the
      encoder's projection head (`project=True`, graphaug encoders);
    - `cka`: `coadaptation` of `layer_similarity` on the subset.

    Labels are never read, and the global RNG is left as it was.

    Args:
        encoder (nn.Module): a graphaug graph encoder (PyG or DGL).
        graphs (sequence): PyG `Data` graphs.
        sample (int): subset size (all graphs when fewer). (default: `512`)
        seed (int): seed of the subset and the views. (default: `0`)
        criteria (list of str, optional): which to compute (default: all).

    Returns:
        `{criterion: value}`, plus `"sample"`: the number of graphs used.

    Example:
        >>> encoder, _ = pretrain(graphs, num_features, MethodConfig(), seed=0)
        >>> graph_criteria(encoder, graphs)["rankme"]  # doctest: +SKIP
        41.7
    """
    from torch_geometric.loader import DataLoader

    from .contrastive.losses import graphcl_nt_xent
    from .contrastive.model import concat_batches
    from .nn.call import encoder_call
    from .views import ViewAugmentation

    names = list(CRITERIA) if criteria is None else list(criteria)
    unknown = [c for c in names if c not in CRITERIA]
    if unknown:
        raise ValueError(f"unknown criteria {unknown}; choose from {list(CRITERIA)}")
    graphs = list(graphs)
    if len(graphs) < 2 or sample < 2:
        raise ValueError(f"graph_criteria needs at least 2 graphs (got {len(graphs)}) and "
                         f"sample >= 2 (got {sample})")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(graphs), generator=gen)[:sample].sort().values.tolist()
    subset = [graphs[i] for i in order]
    view_gen = torch.Generator().manual_seed(seed + 1)
    aug = ViewAugmentation(input_aug, aug_ratio, generator=view_gen)
    call = encoder_call(encoder)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    h1, h2, losses, weights = [], [], [], []
    try:  # a loader's iterator draws a seed from the global RNG: keep the caller's stream
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for batch in DataLoader(subset, batch_size=batch_size, shuffle=False):
                batch = batch.to(device)
                n = int(batch.num_graphs)
                both = concat_batches(batch, aug(batch))
                h = call(encoder, both)
                h1.append(h[:n].cpu())
                h2.append(h[n:].cpu())
                if "loss" in names and n >= 2:
                    z = call(encoder, both, project=True)
                    losses.append(float(graphcl_nt_xent(z[:n], z[n:], temperature)))
                    weights.append(n)
    finally:
        encoder.train(was_training)
    score = None
    if "cka" in names:
        with torch.random.fork_rng(devices=[]):
            matrix, targets = layer_similarity(encoder, DataLoader(subset, batch_size=256))
        score = coadaptation(matrix, targets)
    loss = float(np.average(losses, weights=weights)) if "loss" in names else None
    out = embedding_criteria(torch.cat(h1), torch.cat(h2), loss=loss, coadaptation=score,
                             criteria=[c for c in CRITERIA if c in names])
    out["sample"] = len(subset)
    return out


def select_config(candidates: Mapping[str, Mapping[str, float]], criterion: str) -> str:
    """The candidate configuration a label-free `criterion` picks: the highest `rankme`,
    the lowest `alignment`, `uniformity`, `loss` or `cka` (see `CRITERIA`).
    Ties go to the first candidate in `candidates` order (put the preset first to prefer
    it).

    Args:
        candidates (mapping): `{label: {criterion: value, ...}}`, e.g. one
            `graph_criteria` result per configuration.
        criterion (str): a key of `CRITERIA`.

    Returns:
        the chosen label.

    Example:
        >>> select_config({"none": {"rankme": 20.0}, "dropout:0.25@2": {"rankme": 31.5}},
        ...               "rankme")
        'dropout:0.25@2'
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose from {list(CRITERIA)} "
                         "(validation needs labels: use nested selection)")
    labels = list(candidates)
    if not labels:
        raise ValueError("select_config needs at least one candidate")
    values = {}
    for label in labels:
        value = candidates[label].get(criterion)
        if value is None or not np.isfinite(value):
            raise ValueError(f"candidate {label!r} has no finite {criterion!r} value "
                             f"(got {value!r}); compute it with graph_criteria")
        values[label] = float(value)
    sign = 1.0 if CRITERIA[criterion][0] == "max" else -1.0
    return max(labels, key=lambda k: (sign * values[k], -labels.index(k)))
