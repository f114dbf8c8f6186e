r"""Pretraining beyond one process, on `torch.distributed` (gloo on CPU, NCCL on GPU).

Launch one process per device with `torchrun` and initialise the default process group; from
then on graphaug is distributed *automatically*, and a run on `W` ranks with `B` graphs each
computes what one process computes on the `W * B` graphs (tested to 1e-5 in float64):

* `GraphCL` gathers both views' projections from every rank
  (`gather_with_grad`, rank order kept), so the loss sees every rank's negatives; each rank
  returns its anchors' share of the *global* mean, so averaged gradients (DDP or
  `all_reduce_gradients`) equal the single-process ones.
* `ActivationPCA` projects out the principal directions of the *global* batch:
  exact path = all-reduce of row count and sum, then of the centred `X^T X`; low-rank path =
  randomized subspace iteration on the Gram operator whose `d x q` products are all-reduced,
  with the random test matrix broadcast from rank 0 (`subspace_pca`). The transforms know no
  process group: this module installs `ProcessGroupReducer` as their default statistics
  reducer when it is imported (`graphaug.transforms.set_default_reducer`).
* `SyncBatchNorm` (`convert_sync_batchnorm`) normalises with the global batch
  statistics on any backend (`torch.nn.SyncBatchNorm` is CUDA-only).
* `ShardedGraphBatches` shards each global batch over the ranks; checkpoints are written
  by rank 0 only and hold every rank's RNG state (`checkpoint_rng`).

Selection randomness is per rank by default (`rank_generator`); `global_draws`
makes every rank draw the global-size tensor from a shared seed and keep its slice, so `W`
ranks reproduce one process's random draws exactly (used by the equivalence tests).

Without a process group (or with one process) none of this runs: single-process results and
speed are unchanged. Every collective goes through this module and is counted in
`COMM` (payload bytes this rank contributes).

Example (`torchrun --nproc_per_node 2 train.py`)::

    import torch.distributed as dist, graphaug as ga
    from graphaug import distributed as gad
    dist.init_process_group("gloo")                     # "nccl" on GPUs
    encoder = gad.convert_sync_batchnorm(GraphCLEncoder(7))
    model = ga.GraphCL(encoder, ga.DeepAug(2, ga.ActivationPCA(k=1)), input_aug="random2")
    for batch in gad.ShardedGraphBatches(graphs, batch_size=256, seed=0)(epoch):
        loss = model(batch); loss.backward(); gad.all_reduce_gradients(model); opt.step()
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from . import transforms as _transforms

__all__ = ["init_from_env", "process_group_timeout", "DEFAULT_TIMEOUT", "is_active",
           "world_size", "rank", "is_main", "barrier", "COMM", "CommStats", "all_reduce",
           "broadcast", "gather_with_grad", "all_reduce_gradients", "global_mean",
           "subspace_pca", "SyncBatchNorm", "convert_sync_batchnorm", "ShardedGraphBatches",
           "rank_generator", "global_draws", "ProcessGroupReducer", "REDUCER", "checkpoint_rng",
           "restore_rng", "save_on_main", "unwrap", "sync_gradients", "mean_loss"]


# -- process group ------------------------------------------------------------------------------
#: Seconds a collective (and the rendezvous) may wait for the other ranks before it fails,
#: unless `GRAPHAUG_DIST_TIMEOUT` or `init_from_env(timeout=)` says otherwise: a stopped or
#: hung rank ends the run with an error instead of torch's 30-minute wait.
DEFAULT_TIMEOUT = 600.0


def process_group_timeout(timeout: Optional[float] = None) -> timedelta:
    """The wait limit of the process group: `timeout` seconds if given, else
    `$GRAPHAUG_DIST_TIMEOUT`, else `DEFAULT_TIMEOUT` (10 minutes).

    Raises:
        ValueError: the value is not a finite number of seconds > 0 (the message names it).
    """
    source = "timeout"
    if timeout is None:
        timeout = os.environ.get("GRAPHAUG_DIST_TIMEOUT", DEFAULT_TIMEOUT)
        source = "GRAPHAUG_DIST_TIMEOUT" if "GRAPHAUG_DIST_TIMEOUT" in os.environ else source
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{source} must be a finite number of seconds > 0, got {timeout!r} "
                         f"(default {DEFAULT_TIMEOUT:g})")
    return timedelta(seconds=seconds)


def init_from_env(timeout: Optional[float] = None) -> bool:
    """Join the process group a launcher describes (`torchrun` sets `WORLD_SIZE`, `RANK`
    and `MASTER_ADDR`): gloo on CPU, NCCL when CUDA is available. Does nothing without a
    launcher or when a group already exists. Returns whether a multi-process group is active.

    So a script runs under `torchrun --nproc-per-node N` with no change but the launcher.

    Args:
        timeout (float, optional): seconds the rendezvous and every collective may wait for
            the other ranks before failing (default: `$GRAPHAUG_DIST_TIMEOUT`, else
            `DEFAULT_TIMEOUT` = 600): a stopped or crashed rank ends the run with an error.

    Example:
        >>> init_from_env(timeout=120)   # under torchrun; False on one process
    """
    wait = process_group_timeout(timeout)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() \
            and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=wait)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return is_active()


def is_active() -> bool:
    """Whether a default process group with more than one process exists (graphaug's
    distributed paths run only then; one process keeps the single-process code)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0 (or a single process): the one that writes checkpoints and results."""
    return rank() == 0


_rank, _world_size = rank, world_size  # for code whose arguments shadow the names


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if is_active():
        dist.barrier()


# -- communication accounting -------------------------------------------------------------------
@dataclass
class CommStats:
    """Payload bytes and calls of graphaug's collectives on this rank, by kind.

    The payload is what this rank contributes: an all-reduce or broadcast counts its buffer, an
    all-gather its own part. A ring all-reduce moves about `2 (W-1)/W` times that on the wire.
    """

    bytes: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)

    def add(self, kind: str, tensor: Tensor) -> None:
        self.bytes[kind] = self.bytes.get(kind, 0) + tensor.numel() * tensor.element_size()
        self.calls[kind] = self.calls.get(kind, 0) + 1

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    def reset(self) -> None:
        self.bytes.clear()
        self.calls.clear()


COMM = CommStats()


def all_reduce(tensor: Tensor, kind: str = "all_reduce") -> Tensor:
    """Sum `tensor` over the ranks in place (not differentiable); returns it."""
    if is_active():
        COMM.add(kind, tensor)
        dist.all_reduce(tensor)
    return tensor


def broadcast(tensor: Tensor, src: int = 0, kind: str = "broadcast") -> Tensor:
    """Overwrite `tensor` with rank `src`'s values in place; returns it."""
    if is_active():
        COMM.add(kind, tensor)
        dist.broadcast(tensor, src)
    return tensor


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks: the gradient of every rank's input is the sum of the
    gradients of every rank's output (each rank's loss depends on the sum)."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str) -> Tensor:  # type: ignore[override]
        ctx.kind = kind
        return all_reduce(x.clone(), kind)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return all_reduce(grad.contiguous().clone(), ctx.kind + "_backward"), None


def _all_reduce_diff(x: Tensor, kind: str) -> Tensor:
    return _AllReduceSum.apply(x, kind) if is_active() else x


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, sizes: tuple[int, ...]) -> Tensor:  # type: ignore[override]
        # all_gather needs equal shapes: pad every part to the largest one, trim after.
        width = max(sizes)
        padded = x.new_zeros(width, *x.shape[1:])
        padded[:x.size(0)] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        COMM.add("gather", padded)
        dist.all_gather(parts, padded.contiguous())
        ctx.sizes, ctx.rank = sizes, dist.get_rank()
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        # Every rank's loss depends on every part: this rank's gradient is the sum over ranks of
        # the gradient of its rows (an all-reduce; gloo has no reduce-scatter).
        grad = all_reduce(grad.contiguous().clone(), "gather_backward")
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None


def _sizes(n: int, device: torch.device) -> tuple[int, ...]:
    local = torch.tensor([n], dtype=torch.long, device=device)
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    COMM.add("sizes", local)
    dist.all_gather(parts, local)
    return tuple(int(p) for p in parts)


def gather_with_grad(z: Tensor, return_offset: bool = False):
    r"""Concatenate `z` from every rank in rank order, keeping the gradient path to each
    rank's own part (ranks may hold different numbers of rows).

    Args:
        z (Tensor): `[n_r, ...]` this rank's rows.
        return_offset (bool): also return the index of this rank's first row in the result.

    Returns:
        `[sum_r n_r, ...]` (and the offset); `z` itself (offset 0) without a process group.

    Example:
        >>> z_all = gather_with_grad(z)          # rank 0's rows first, then rank 1's, ...
    """
    if not is_active():
        return (z, 0) if return_offset else z
    sizes = _sizes(z.size(0), z.device)
    out = _GatherWithGrad.apply(z, sizes)
    return (out, sum(sizes[:dist.get_rank()])) if return_offset else out


def all_reduce_gradients(module: nn.Module | Sequence[nn.Parameter]) -> None:
    """Average the gradients of `module`'s trainable parameters over the ranks, in one
    flattened buffer (what DDP does, without its bucketing/overlap). A parameter without a
    gradient counts as zero, so every rank reduces the same buffer."""
    if not is_active():
        return
    params = [p for p in (module.parameters() if isinstance(module, nn.Module) else module)
              if p.requires_grad]
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    all_reduce(flat, "gradients").div_(dist.get_world_size())
    offset = 0
    for p, g in zip(params, grads):
        p.grad = flat[offset:offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def sync_gradients(model: nn.Module) -> None:
    """What a training step needs after `backward()` on several ranks: average the gradients,
    unless `model` is `DistributedDataParallel` (which already did). No-op on one process."""
    if is_active() and not isinstance(model, nn.parallel.DistributedDataParallel):
        all_reduce_gradients(model)


def mean_loss(loss: Tensor) -> float:
    """`loss.item()` averaged over the ranks: with the shares of
    `graphaug.contrastive.losses.sharded_loss`, the loss of
    the global batch (one all-reduce of one number; `loss.item()` on one process)."""
    if not is_active():
        return loss.item()
    return float(all_reduce(loss.detach().reshape(1).clone(), "loss")) / dist.get_world_size()


# -- PCA statistics -----------------------------------------------------------------------------
def global_mean(rows: Tensor) -> tuple[Tensor, int]:
    """Mean `[d]` and number of rows of `rows` (`[n_r, d]`) over every rank: one
    all-reduce of `[sum, count]`."""
    return _transforms.global_mean(rows, REDUCER)


def subspace_pca(centred: Tensor, test_matrix: Tensor, niter: int = 2) -> Tensor:
    """`graphaug.transforms.subspace_pca` over the ranks of the process group: leading
    principal directions `[d, q]` of row-sharded centred data, the `d x q` products
    all-reduced."""
    return _transforms.subspace_pca(centred, test_matrix, niter, REDUCER)


class ProcessGroupReducer(_transforms.StatsReducer):
    """The transforms' statistics reducer over the default process group: sums and broadcasts
    through this module's collectives (counted in `COMM`), global-size draws inside
    `global_draws`. Installed as the transforms' default when this module is imported; with
    one process (or none) every reduction is the identity."""

    def is_active(self) -> bool:
        return is_active()

    def all_reduce(self, tensor: Tensor, kind: str) -> Tensor:
        return all_reduce(tensor, kind)

    def broadcast(self, tensor: Tensor, kind: str) -> Tensor:
        return broadcast(tensor, 0, kind)

    def draw_shape(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], Optional[Tensor]]:
        return draw_shape(shape)


#: The reducer `graphaug.transforms` uses by default once this module is imported.
REDUCER = ProcessGroupReducer()
_transforms.set_default_reducer(REDUCER)


# -- synchronised BatchNorm ---------------------------------------------------------------------
class SyncBatchNorm(nn.BatchNorm1d):
    r"""`torch.nn.BatchNorm1d` whose training statistics are those of the global batch
    over every rank, on any backend (gloo included); differentiable through the all-reduces.

    With one process (or in eval mode) it *is* `BatchNorm1d`; the parameters, buffers and
    `state_dict` keys are the same, so weights load both ways.

    Shapes:
        `[N, C]` or `[N, C, L]`.

    Example:
        >>> encoder = convert_sync_batchnorm(GraphCLEncoder(7))
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and is_active()):
            return super().forward(x)
        if x.dim() not in (2, 3):
            raise ValueError(f"SyncBatchNorm expects [N, C] or [N, C, L], got {tuple(x.shape)}")
        dims = [0] if x.dim() == 2 else [0, 2]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local = x.numel() // x.size(1)
        # Two passes (mean, then centred squares) like BatchNorm itself: no cancellation.
        packed = _all_reduce_diff(torch.cat([x.sum(dims), x.new_tensor([local])]), "batchnorm")
        count = packed[-1].detach()
        if float(count) < 2:
            raise ValueError("SyncBatchNorm needs at least 2 rows over all ranks in training")
        mean = packed[:-1] / count
        centred = x - mean.view(shape)
        var = _all_reduce_diff((centred * centred).sum(dims), "batchnorm") / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked)) if self.momentum is None \
                    else self.momentum
                self.running_mean.mul_(1 - factor).add_(factor * mean.detach())
                self.running_var.mul_(1 - factor).add_(
                    factor * var.detach() * count / (count - 1))
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every `nn.BatchNorm1d` inside `module` (in place; `module` itself too) by
    a `SyncBatchNorm` holding the same parameters and buffers; returns the module.

    Example:
        >>> enc = convert_sync_batchnorm(MolGINEncoder(hidden=300, num_layers=5))
    """
    if type(module) is nn.BatchNorm1d:
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats)
        reference = module.weight if module.affine else module.running_mean
        if reference is not None:  # keep the device and floating dtype (e.g. a float64 model)
            sync = sync.to(reference.device, reference.dtype)
        sync.load_state_dict(module.state_dict())
        return sync.train(module.training)
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module


# -- data sharding ------------------------------------------------------------------------------
class ShardedGraphBatches:
    r"""`batches(epoch)` for `train` on `W` ranks, in the style
    of `DistributedSampler`: every rank draws the same permutation (`seed + epoch`), cuts it
    into global batches of `batch_size` graphs, and keeps its contiguous `1/W` of each
    (rank order = the global batch's order, as `gather_with_grad` keeps it).

    A trailing global batch that cannot give every rank 2 graphs is dropped, so all ranks run
    the same number of steps and each shard has negatives and BatchNorm rows.

    Args:
        graphs (sequence): PyG `Data` objects.
        batch_size (int): *global* batch size (graphs per step over all ranks).
        device (torch.device, optional): where batches are moved.
        seed (int): shuffling seed, the same on every rank.
        shuffle (bool): shuffle every epoch (default `True`).
        rank (int, optional): this process's rank (default: the process group's).
        world_size (int, optional): number of ranks (default: the process group's).

    Example:
        >>> batches = ShardedGraphBatches(ds.graphs, batch_size=256, seed=0)
        >>> for batch in batches(epoch): ...
    """

    def __init__(self, graphs: Sequence, batch_size: int, device: Optional[torch.device] = None,
                 seed: int = 0, shuffle: bool = True, rank: Optional[int] = None,
                 world_size: Optional[int] = None) -> None:
        from .data import validate_graphs
        self.graphs = validate_graphs(graphs, "graphs")
        self.world_size = _world_size() if world_size is None else int(world_size)
        self.rank = _rank() if rank is None else int(rank)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} out of range for world_size {self.world_size}")
        if batch_size < 2 * self.world_size:
            raise ValueError(f"batch_size {batch_size} is the global batch: it must give each of "
                             f"the {self.world_size} ranks at least 2 graphs")
        if len(self.graphs) < 2 * self.world_size:
            raise ValueError(f"{len(self.graphs)} graphs cannot fill {self.world_size} shards "
                             "of 2 graphs")
        self.batch_size, self.device = int(batch_size), device
        self.seed, self.shuffle = int(seed), bool(shuffle)

    def indices(self, epoch: int) -> list[Tensor]:
        """This rank's graph indices for every step of `epoch`."""
        n = len(self.graphs)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch)) \
            if self.shuffle else torch.arange(n)
        steps = []
        for start in range(0, n, self.batch_size):
            chunk = order[start:start + self.batch_size]
            if chunk.numel() < 2 * self.world_size:
                break
            steps.append(torch.tensor_split(chunk, self.world_size)[self.rank])
        return steps

    def __len__(self) -> int:
        return len(self.indices(0))

    def __call__(self, epoch: int) -> Iterator:
        from torch_geometric.data import Batch

        for index in self.indices(epoch):
            batch = Batch.from_data_list([self.graphs[i] for i in index.tolist()])
            yield batch if self.device is None else batch.to(self.device)


# -- randomness ---------------------------------------------------------------------------------
def rank_generator(seed: int, draws: str = "local", device: str | torch.device = "cpu",
                   ) -> torch.Generator:
    """A reproducible generator for this rank's transform/augmentation draws.

    Args:
        seed (int): run seed.
        draws (str): `"local"` (default): each rank its own stream, derived from
            `(seed, rank)` (rank 0 of one process gets `seed` itself); `"global"`: every
            rank the same stream, for `global_draws`.
        device: generator device.
    """
    if draws not in ("local", "global"):
        raise ValueError(f"draws must be 'local' or 'global', got {draws!r}")
    value = int(seed)
    if draws == "local" and rank() > 0:
        import numpy as np
        value = int(np.random.SeedSequence([int(seed), rank()]).generate_state(1, np.uint64)[0]
                    % (2 ** 63))
    return torch.Generator(device=device).manual_seed(value)


class _DrawPlan:
    """Maps a local draw of shape `[n_local, ...]` to the slice of the global draw."""

    def __init__(self, maps: dict[int, tuple[int, Tensor]]) -> None:
        self.maps = maps

    def resolve(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], Optional[Tensor]]:
        if not shape or shape[0] not in self.maps:
            return shape, None
        total, index = self.maps[shape[0]]
        return (total, *shape[1:]), index


_PLAN: Optional[_DrawPlan] = None


def draw_shape(shape: tuple[int, ...]) -> tuple[tuple[int, ...], Optional[Tensor]]:
    """`(shape to draw, rows to keep)` for a transform's random draw: the global shape and
    this rank's rows inside `global_draws`, else `(shape, None)`."""
    return (shape, None) if _PLAN is None else _PLAN.resolve(shape)


def _plan_for(x: Tensor, batch: Optional[Tensor], num_samples: Optional[int],
              blocks: int) -> _DrawPlan:
    # Local layout: `blocks` stacked blocks (GraphCL: 2 views) of s samples each; the global
    # tensor stacks the same blocks, each the concatenation of every rank's block in rank order.
    if batch is not None and x.dim() == 2:
        samples = int(num_samples) if num_samples is not None else \
            (int(batch.max()) + 1 if batch.numel() else 0)
        rows = torch.bincount(batch, minlength=samples).cpu()
    else:
        samples, rows = x.size(0), torch.ones(x.size(0), dtype=torch.long)
    if samples % blocks:
        raise ValueError(f"global_draws(blocks={blocks}) needs the samples to split into {blocks} "
                         f"equal blocks, got {samples}")
    s = samples // blocks
    local = torch.tensor([s] + [int(rows[b * s:(b + 1) * s].sum()) for b in range(blocks)])
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    COMM.add("draw_plan", local)
    dist.all_gather(parts, local)
    table, me = torch.stack(parts), dist.get_rank()  # [W, 1 + blocks]
    s_all, n_all = table[:, 0], table[:, 1:]
    sample_index = torch.cat([b * int(s_all.sum()) + int(s_all[:me].sum()) + torch.arange(s)
                              for b in range(blocks)])
    row_index = torch.cat([int(n_all[:, :b].sum()) + int(n_all[:me, b].sum())
                           + torch.arange(int(n_all[me, b])) for b in range(blocks)])
    maps = {samples: (int(s_all.sum()) * blocks, sample_index)}
    n_local = int(rows.sum())
    if n_local in maps and not torch.equal(maps[n_local][1], row_index):
        raise ValueError("global_draws: ambiguous layout (as many rows as samples with a "
                         "different grouping)")
    maps[n_local] = (int(n_all.sum()), row_index)
    return _DrawPlan(maps)


def global_draws(transform: nn.Module, blocks: int = 1):
    r"""Make `transform`'s random draws those of one process on the global batch: at every
    call, every rank draws the *global-size* selection and dropout tensors from its generator
    and keeps its own rows. All ranks must hold identically seeded generators
    (`rank_generator(seed, "global")`); `W` ranks then reproduce one process exactly.

    Args:
        transform (ActivationTransform): e.g. `model.transform` of a `GraphCL`.
        blocks (int): stacked blocks in each call (`GraphCL`: 2, its two views).

    Returns:
        a handle whose `.remove()` restores per-rank draws.

    Example:
        >>> handle = global_draws(model.transform, blocks=2)
    """
    if blocks < 1:
        raise ValueError(f"blocks must be >= 1, got {blocks}")

    def before(module, args, kwargs):
        global _PLAN
        if is_active():
            x = args[0] if args else kwargs["x"]
            batch = args[1] if len(args) > 1 else kwargs.get("batch")
            _PLAN = _plan_for(x, batch, kwargs.get("num_samples"), blocks)

    def after(module, args, kwargs, output):
        global _PLAN
        _PLAN = None

    pre = transform.register_forward_pre_hook(before, with_kwargs=True)
    post = transform.register_forward_hook(after, with_kwargs=True, always_call=True)

    class Handle:
        def remove(self) -> None:
            pre.remove()
            post.remove()
    return Handle()


# -- checkpoints --------------------------------------------------------------------------------
def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a `DistributedDataParallel` wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def checkpoint_rng(state: Any) -> Any:
    """Every rank's RNG `state` as a list in rank order (collective; `[state]` alone)."""
    if not is_active():
        return [state]
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def restore_rng(states: list, label: str = "checkpoint") -> Any:
    """This rank's entry of `checkpoint_rng`'s list.

    Raises:
        ValueError: the checkpoint was written by a different number of processes.
    """
    if len(states) != world_size():
        raise ValueError(f"{label} holds the RNG state of {len(states)} process(es), this run "
                         f"has {world_size()}; resume with the same number of processes")
    return states[rank()]


def save_on_main(path: os.PathLike | str, obj: Any,
                 save: Optional[Callable[[os.PathLike | str, Any], Any]] = None) -> None:
    """Write `obj` to `path` on rank 0 only (atomically), then wait for every rank, so no
    rank reads a checkpoint before it exists."""
    if is_main():
        if save is None:
            from .utils import atomic_torch_save as save
        save(path, obj)
    barrier()
