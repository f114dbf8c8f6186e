"""Activation transforms: the views of Deep Augmentation.

A transform receives a hidden activation and the explicit grouping of its rows into *samples*
(graphs, sentences, images), picks each sample independently with probability `apply_prob`
and transforms only the rows of the picked samples. Transformed rows are detached right after
the transform (`stop_grad=True`), so no gradient reaches the layers below through them.

Supported layouts (the grouping is always given, never guessed):

* `[N, d]` node states with `batch` (`[N]`, graph index of every node): a graph is a sample;
  PCA rows are nodes.
* `[B, d]` (no `batch`): every row is one sample and one PCA row.
* `[B, T, d]` token states: dim 0 indexes samples; `mask` (`[B, T]`, `True` = real token)
  keeps padding untouched and out of the PCA statistics. PCA rows are tokens
  (`pca_rows="position"`) or flattened samples (`"sample"`).
* `[B, C, H, W]` feature maps: dim 0 indexes samples; PCA rows are flattened samples
  (`pca_rows="sample"`, default) or spatial positions with `C` features (`"position"`).

Transforms know no process group: statistics that span several processes (the PCA mean,
covariance and sketches, the random test matrix, global-size draws) go through a
`StatsReducer` handed to the transform (`reducer=`), else through the process-wide default set
by `set_default_reducer` (`graphaug.distributed` installs its process-group reducer there when
it is imported; without it, one process: every reduction is the identity).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .utils import all_finite, eigh_vectors, finite_hint

__all__ = ["ActivationTransform", "ActivationDropout", "ActivationPCA", "select_samples",
           "StatsReducer", "set_default_reducer", "subspace_pca"]


class StatsReducer:
    """How a transform combines its statistics over processes. This base class is one process:
    every reduction returns its input. `graphaug.distributed.ProcessGroupReducer` sums over
    the ranks of a process group.

    Example:
        >>> aug = ActivationPCA(k=1, reducer=StatsReducer())   # per-process statistics
    """

    def is_active(self) -> bool:
        """Whether reductions span several processes."""
        return False

    def all_reduce(self, tensor: Tensor, kind: str) -> Tensor:
        """Sum `tensor` over the processes in place; returns it (`kind` labels the traffic)."""
        return tensor

    def broadcast(self, tensor: Tensor, kind: str) -> Tensor:
        """Overwrite `tensor` with the first process's values in place; returns it."""
        return tensor

    def draw_shape(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], Optional[Tensor]]:
        """`(shape to draw, rows to keep)` for a random draw of `shape` (see
        `graphaug.distributed.global_draws`); one process: `(shape, None)`."""
        return shape, None


_DEFAULT_REDUCER: StatsReducer = StatsReducer()


def set_default_reducer(reducer: Optional[StatsReducer]) -> StatsReducer:
    """Make `reducer` the one used by transforms built without `reducer=` (`None`: one
    process); returns the previous default."""
    global _DEFAULT_REDUCER
    previous, _DEFAULT_REDUCER = _DEFAULT_REDUCER, reducer or StatsReducer()
    return previous


def _reducer(reducer: Optional[StatsReducer]) -> StatsReducer:
    return _DEFAULT_REDUCER if reducer is None else reducer


def _check_prob(name: str, value: float, *, upper_open: bool = False) -> float:
    value = float(value)
    ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name} must lie in {bound}, got {value}")
    return value


def _uniform(shape: tuple[int, ...], device: torch.device,
             generator: Optional[torch.Generator],
             reducer: Optional[StatsReducer] = None) -> Tensor:
    """U(0, 1) samples drawn from `generator` (on its own device) and moved to `device`.

    Under `graphaug.distributed.global_draws` the global-size tensor is drawn and this
    rank's rows are kept (the reducer's `draw_shape`), so several ranks reproduce one
    process's draws."""
    shape, keep = _reducer(reducer).draw_shape(tuple(shape))
    if generator is None:
        out = torch.rand(shape, device=device)
    else:
        out = torch.rand(shape, generator=generator, device=generator.device).to(device)
    return out if keep is None else out[keep.to(out.device)]


def select_samples(num_samples: int, apply_prob: float, device: torch.device,
                   generator: Optional[torch.Generator] = None,
                   reducer: Optional[StatsReducer] = None) -> Tensor:
    """Bernoulli(`apply_prob`) choice of samples, returned as a `[num_samples]` bool mask."""
    if apply_prob >= 1.0:
        return torch.ones(num_samples, dtype=torch.bool, device=device)
    if apply_prob <= 0.0:
        return torch.zeros(num_samples, dtype=torch.bool, device=device)
    return _uniform((num_samples,), device, generator, reducer) < apply_prob


def global_mean(rows: Tensor, reducer: Optional[StatsReducer] = None) -> tuple[Tensor, int]:
    """Mean `[d]` and number of rows of `rows` (`[n_r, d]`) over every process of `reducer`:
    one reduction of `[sum, count]`."""
    packed = torch.cat([rows.sum(dim=0), rows.new_tensor([rows.size(0)])])
    _reducer(reducer).all_reduce(packed, "pca_stats")
    count = int(round(float(packed[-1])))
    return packed[:-1] / max(count, 1), count


def subspace_pca(centred: Tensor, test_matrix: Tensor, niter: int = 2,
                 reducer: Optional[StatsReducer] = None) -> Tensor:
    r"""Leading principal directions `[d, q]` (descending) of row-sharded centred data by
    randomized subspace iteration on the Gram operator $A^T A = \sum_r A_r^T A_r$.

    Each product $A^T A Q$ is computed per process and summed by `reducer` (`d x q`
    floats), so processes never exchange rows. The subspace after `niter` iterations is
    $(A^T A)^{niter+1}\Omega$, the one `torch.pca_lowrank(niter=niter)` searches; the
    directions are its Rayleigh-Ritz vectors. On one process the reductions are the identity,
    so one process and `W` ranks run the same math.

    Args:
        centred (Tensor): `[n_r, d]` this process's rows minus the global mean.
        test_matrix (Tensor): `[d, q]` random matrix, identical on every process.
        niter (int): subspace iterations (authors: 2).
        reducer (StatsReducer, optional): default: the process-wide default.
    """
    reducer = _reducer(reducer)

    def gram(basis: Tensor) -> Tensor:
        return reducer.all_reduce(centred.T @ (centred @ basis), "pca_sketch")

    y = gram(test_matrix)
    for _ in range(niter):
        y = gram(torch.linalg.qr(y).Q)
    basis = torch.linalg.qr(y).Q
    small = basis.T @ gram(basis)
    return basis @ eigh_vectors(0.5 * (small + small.T)).flip(-1)  # descending


class ActivationTransform(nn.Module):
    r"""Base class: per-sample selection, stop-gradient, training-only activation.

    Subclasses implement `transform_selected`, which returns the transformed tensor for
    every position (only the selected ones are kept).

    Args:
        apply_prob (float): probability that a sample is transformed (paper: 0.5).
        stop_grad (bool): detach transformed rows right after the transform (default `True`).
        force (bool): also transform in eval mode (default `False`: training only).
        generator (torch.Generator, optional): source of all randomness, for reproducible views.
        seed (int, optional): shortcut that creates a CPU generator seeded with `seed`.
        check_finite (bool): raise on NaN/Inf activations instead of propagating them.
        reducer (StatsReducer, optional): combines statistics and draws over processes
            (default: the process-wide default, see `set_default_reducer`).
    """

    def __init__(self, apply_prob: float = 0.5, stop_grad: bool = True, force: bool = False,
                 generator: Optional[torch.Generator] = None, seed: Optional[int] = None,
                 check_finite: bool = True, reducer: Optional[StatsReducer] = None) -> None:
        super().__init__()
        self.apply_prob = _check_prob("apply_prob", apply_prob)
        self.stop_grad = bool(stop_grad)
        self.force = bool(force)
        self.check_finite = bool(check_finite)
        if generator is not None and seed is not None:
            raise ValueError("pass either generator or seed, not both")
        if seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        self.generator = generator
        self.reducer = reducer

    def is_active(self, training: Optional[bool] = None) -> bool:
        """Whether a call transforms anything: in training mode (own flag unless `training`
        says otherwise), or always when `force` is set."""
        return self.force or (self.training if training is None else bool(training))

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, mask: Optional[Tensor] = None,
                *, num_samples: Optional[int] = None, training: Optional[bool] = None) -> Tensor:
        r"""Transform the rows of the selected samples of `x`.

        Args:
            x (Tensor): activation, `[N, d]`, `[B, T, d]` or `[B, C, H, W]` (see module doc).
            batch (LongTensor, optional): `[N]` sample index of each row of a 2-D `x`.
                Without it, each index along dim 0 is one sample.
            mask (BoolTensor, optional): `[B, T]` (or `[B, H, W]`) valid positions; invalid
                positions are never transformed and never enter PCA statistics.
            num_samples (int, optional): number of samples when `batch` is given (saves a
                device sync; trailing empty samples are allowed).
            training (bool, optional): the host module's mode; defaults to this module's.

        Returns:
            Tensor of the same shape and dtype; `x` itself when nothing is transformed.
        """
        if not self.is_active(training):
            return x
        if not x.is_floating_point():  # the transformed rows would be rounded back silently
            raise TypeError(f"{type(self).__name__} transforms float activations, got {x.dtype}; "
                            "cast to float first (e.g. x.float())")
        sample_index, num_samples, ids_ok = self._grouping(x, batch, mask, num_samples)
        if x.numel() == 0:
            raise ValueError(f"{type(self).__name__} received an empty activation of shape "
                             f"{tuple(x.shape)} (an empty graph or batch?)")
        # checks computed on the device and read back with `view.any()` in one host sync
        pending = {} if ids_ok is None else {"ids": ids_ok}
        if self.check_finite:
            pending["finite"] = finite_hint(x)  # one sum; confirmed below only if it fails
        selected = select_samples(num_samples, self.apply_prob, x.device, self.generator,
                                  self.reducer)
        position_sel = selected[sample_index] if sample_index is not None else selected
        # Broadcastable mask over x: per dim-0 row, further restricted by `mask`.
        view = position_sel.view(-1, *([1] * (x.dim() - 1)))
        if mask is not None:
            view = view & mask.to(torch.bool).view(*mask.shape, *([1] * (x.dim() - mask.dim())))
        flags = dict(zip(("any", *pending), torch.stack([view.any(), *pending.values()]).tolist()))
        if not flags.get("ids", True):
            raise self._sample_id_error(batch.long(), num_samples)
        if not flags.get("finite", True) and not all_finite(x):
            raise ValueError(f"{type(self).__name__} received NaN or Inf activations "
                             f"(shape {tuple(x.shape)}); check the input features and the "
                             "layers below the target")
        if not flags["any"]:
            return x
        transformed = self.transform_selected(x, view, sample_index, mask)
        if self.stop_grad:
            transformed = transformed.detach()
        return torch.where(view, transformed.to(x.dtype), x)

    @staticmethod
    def _grouping(x: Tensor, batch: Optional[Tensor], mask: Optional[Tensor],
                  num_samples: Optional[int]) -> tuple[Optional[Tensor], int, Optional[Tensor]]:
        """`(sample id of each dim-0 row or None, number of samples, pending check)`: the last
        is a device bool (all ids in range) that `forward` still has to read, or `None`
        when the ids were checked here already."""
        if x.dim() < 2:
            raise ValueError(f"activation must have at least 2 dims (rows, features), got shape "
                             f"{tuple(x.shape)}")
        if batch is not None:
            if x.dim() != 2:
                raise ValueError("batch= groups the rows of a 2-D [N, d] activation; got shape "
                                 f"{tuple(x.shape)} (use mask= for [B, T, d] tokens)")
            if batch.dim() != 1 or batch.numel() != x.size(0):
                raise ValueError(f"batch must be a [N] vector with N = {x.size(0)} rows, got "
                                 f"shape {tuple(batch.shape)}")
            if batch.dtype == torch.bool or batch.is_floating_point() or batch.is_complex():
                raise ValueError(f"batch must hold integer sample ids (0 .. num_samples - 1, like "
                                 f"PyG's batch vector), got dtype {batch.dtype}; pass "
                                 "batch.long(), or mask= for a boolean mask of valid rows")
            batch = batch.to(device=x.device, dtype=torch.long)
            if num_samples is not None and int(num_samples) < 0:
                raise ValueError(f"num_samples must be >= 0, got {num_samples}")
            if batch.numel() == 0:
                return batch, int(num_samples or 0), None
            if num_samples is None or batch.device.type == "cpu":
                # one reduction; on CPU it costs no device sync, and without num_samples the
                # count needs the maximum anyway
                low, high = torch.stack(torch.aminmax(batch)).tolist()
                num_samples = high + 1 if num_samples is None else int(num_samples)
                if low < 0 or high >= num_samples:
                    raise ActivationTransform._sample_id_error(batch, num_samples)
                return batch, num_samples, None
            # accelerator with the count given: no host sync here; the range check is read in
            # forward's one sync, and clamped ids keep the indexing in bounds until then
            num_samples = int(num_samples)
            if num_samples == 0:
                raise ValueError(f"num_samples is 0 but batch has {batch.numel()} rows")
            ok = ((batch >= 0) & (batch < num_samples)).all()
            return batch.clamp(0, num_samples - 1), num_samples, ok
        if mask is not None:
            if tuple(mask.shape) != tuple(x.shape[:mask.dim()]) or mask.dim() < 2:
                raise ValueError(f"mask of shape {tuple(mask.shape)} does not match the leading "
                                 f"dims of the activation {tuple(x.shape)}")
        return None, x.size(0), None

    @staticmethod
    def _sample_id_error(batch: Tensor, num_samples: int) -> ValueError:
        """The error for ids of `batch` outside `0 .. num_samples - 1` (error path only)."""
        row = int(((batch < 0) | (batch >= num_samples)).nonzero()[0, 0])
        value = int(batch[row])
        hint = ("-1 usually marks padding or an unassigned row: drop those rows or pass mask="
                if value < 0 else "is num_samples too small, or the batch from another input?")
        return ValueError(f"batch holds sample id {value} at row {row}, outside "
                          f"0 .. {num_samples - 1} (num_samples = {num_samples}); {hint}")

    def transform_selected(self, x: Tensor, selected: Tensor, sample_index: Optional[Tensor],
                           mask: Optional[Tensor]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _repr_args(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._repr_args()
        extra = f"{extra}, " if extra else ""
        force = ", force=True" if self.force else ""
        return (f"{type(self).__name__}({extra}apply_prob={self.apply_prob}, "
                f"stop_grad={self.stop_grad}{force})")


class ActivationDropout(ActivationTransform):
    r"""Inverted dropout over every element of the selected samples' rows.

    Survivors are rescaled by $1/(1-p)$. Paper grid: $p \in \{0.5, 0.25, 0.125\}$.

    Args:
        p (float): drop probability in `[0, 1)`.
        **kwargs: see `ActivationTransform` (`apply_prob`, `stop_grad`, ...).

    Example:
        >>> aug = ActivationDropout(p=0.25, apply_prob=1.0, seed=0).train()
        >>> out = aug(torch.ones(5, 8), batch=torch.tensor([0, 0, 1, 1, 1]))
        >>> sorted(out.unique().tolist())
        [0.0, 1.3333333730697632]
    """

    def __init__(self, p: float = 0.25, **kwargs) -> None:
        super().__init__(**kwargs)
        self.p = _check_prob("p", p, upper_open=True)

    def transform_selected(self, x: Tensor, selected: Tensor, sample_index: Optional[Tensor],
                           mask: Optional[Tensor]) -> Tensor:
        keep = _uniform(tuple(x.shape), x.device, self.generator, self.reducer) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def _repr_args(self) -> str:
        return f"p={self.p}"


class ActivationPCA(ActivationTransform):
    r"""Project principal directions out of the selected rows (`docs/method.md`).

    At every call the principal directions of the *whole* current activation (all rows of both
    views, selected or not, padding excluded) are recomputed in float32 (the exact solver redoes
    a covariance in float64 only where float32 `eigh` fails: raises or returns NaN). The
    selected rows are centred, the chosen directions are projected out and the mean is added
    back; no rescaling.

    Args:
        k (int): `+K` removes the top-K directions, `-K` the last K of the `q` computed.
        q (int): number of leading directions computed (authors: 6).
        method (str): `"exact"` (eigh of the `d x d` covariance), `"lowrank"`
            (`torch.pca_lowrank(q, niter)`, as in the authors' code) or `"auto"`
            (exact when `d <= 512`, where it is both faster and exact).
        niter (int): subspace iterations of the low-rank path (authors: 2).
        pca_rows (str): for 3-D/4-D activations, `"position"` (tokens / pixels are rows) or
            `"sample"` (each sample flattened is a row). Default: tokens for 3-D, samples for 4-D.
        **kwargs: see `ActivationTransform`.

    Example:
        >>> aug = ActivationPCA(k=1, apply_prob=1.0).train()
        >>> out = aug(torch.randn(64, 16))
        >>> out.shape
        torch.Size([64, 16])
    """

    METHODS = ("auto", "exact", "lowrank")
    #: Low-rank solver of one process: `"torch"` (`torch.pca_lowrank`, the authors' call) or
    #: `"sketch"` (`graphaug.distributed.subspace_pca`, what a process group always runs;
    #: set it to make one process compute exactly what several ranks do).
    lowrank_solver: str = "torch"

    def __init__(self, k: int = 1, q: int = 6, method: str = "auto", niter: int = 2,
                 pca_rows: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        for key, value in (("k", k), ("q", q), ("niter", niter)):
            try:  # int() alone would truncate k=1.5 to 1
                integral = not isinstance(value, bool) and int(value) == value
            except (TypeError, ValueError, OverflowError):
                integral = False
            if not integral:
                raise ValueError(f"{key} must be an integer, got {value!r}")
        k, q = int(k), int(q)
        if q < 1:
            raise ValueError(f"q must be >= 1, got {q}")
        if k == 0 or abs(k) > q:
            raise ValueError(f"k must be a non-zero integer with |k| <= q = {q}, got {k}")
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")
        if pca_rows not in (None, "position", "sample"):
            raise ValueError(f"pca_rows must be None, 'position' or 'sample', got {pca_rows!r}")
        self.k, self.q, self.method, self.niter, self.pca_rows = k, q, method, int(niter), pca_rows

    # -- layout -------------------------------------------------------------------------------
    def _rows_layout(self, x: Tensor) -> str:
        if x.dim() == 2:
            return "rows"
        return self.pca_rows or ("position" if x.dim() == 3 else "sample")

    def _to_rows(self, x: Tensor, layout: str) -> Tensor:
        if layout == "rows":
            return x
        if layout == "sample":
            return x.reshape(x.size(0), -1)
        # position: move the feature dim last, one row per position.
        if x.dim() == 3:
            return x.reshape(-1, x.size(-1))
        return x.movedim(1, -1).reshape(-1, x.size(1))

    def _from_rows(self, rows: Tensor, x: Tensor, layout: str) -> Tensor:
        if layout in ("rows", "sample") or x.dim() == 3:
            return rows.reshape(x.shape)
        b, c, *spatial = x.shape
        return rows.reshape(b, *spatial, c).movedim(-1, 1)

    def _valid_rows(self, x: Tensor, mask: Optional[Tensor], layout: str) -> Optional[Tensor]:
        if mask is None or layout in ("rows", "sample"):
            return None
        return mask.to(torch.bool).reshape(-1)

    # -- principal directions -----------------------------------------------------------------
    def directions(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Mean `[d]` and the `q` leading principal directions `[d, q]` (descending) of
        `rows` (`[n, d]`, float32)."""
        n, d = rows.shape
        q = self.q
        # Under a process group the statistics are those of the global batch (every rank's
        # rows), so each rank projects out the directions one process would compute.
        reducer = _reducer(self.reducer)
        synced = reducer.is_active()
        if synced:
            mean, n = global_mean(rows, reducer)
        if d < q:
            raise ValueError(f"ActivationPCA(k={self.k}, q={q}) computes {q} principal "
                             f"directions, but the activation it transforms is only {d} features "
                             f"wide: apply it to a layer at least {q} wide (a hidden size >= "
                             f"{q}), or build it with q <= {d} (and |k| <= q)")
        if n < q:
            raise ValueError(f"ActivationPCA(k={self.k}, q={q}) needs at least {q} rows to "
                             f"compute {q} principal directions, got {n} rows x {d} features; "
                             "use larger batches (or a smaller q)")
        if not synced:
            mean = rows.mean(dim=0)
        method = self.method
        if method == "auto":
            method = "exact" if d <= 512 else "lowrank"
        if method == "exact":
            centred = rows - mean
            cov = centred.T @ centred
            if synced:
                cov = reducer.all_reduce(cov, "pca_stats")
            return mean, eigh_vectors(cov)[:, -q:].flip(-1)
        if synced or self.lowrank_solver == "sketch":
            return mean, subspace_pca(rows - mean, self._test_matrix(d, rows), self.niter,
                                      reducer)
        if self.generator is None:
            _, _, v = torch.pca_lowrank(rows, q=q, center=True, niter=self.niter)
            return mean, v
        # pca_lowrank draws from the global RNG: fork it, seeded from our generator.
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=self.generator,
                                 device=self.generator.device))
        devices = [rows.device] if rows.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            _, _, v = torch.pca_lowrank(rows, q=q, center=True, niter=self.niter)
        return mean, v

    def _test_matrix(self, d: int, rows: Tensor) -> Tensor:
        """The `[d, q]` Gaussian test matrix of the sketch path, from the transform's
        generator, identical on every rank (rank 0's is broadcast: per-rank generators differ)."""
        if self.generator is None:
            omega = torch.randn(d, self.q, device=rows.device, dtype=rows.dtype)
        else:
            omega = torch.randn(d, self.q, generator=self.generator, device=self.generator.device,
                                dtype=rows.dtype).to(rows.device)
        return _reducer(self.reducer).broadcast(omega, "pca_test_matrix")

    def removed_directions(self, v: Tensor) -> Tensor:
        """The columns of `v` (`[d, q]`) that this transform projects out."""
        return v[:, :self.k] if self.k > 0 else v[:, self.q + self.k:]

    def transform_selected(self, x: Tensor, selected: Tensor, sample_index: Optional[Tensor],
                           mask: Optional[Tensor]) -> Tensor:
        layout = self._rows_layout(x)
        rows = self._to_rows(x, layout).float()
        valid = self._valid_rows(x, mask, layout)
        with torch.no_grad():  # the directions are statistics of the batch, not a trainable path
            mean, v = self.directions(rows if valid is None else rows[valid])
            basis = self.removed_directions(v)
        projected = rows - ((rows - mean) @ basis) @ basis.T
        return self._from_rows(projected, x, layout)

    def _repr_args(self) -> str:
        return f"k={self.k}, q={self.q}, method={self.method!r}"
