"""Unsupervised TU pipeline: method configs, pretraining and evaluation of one run."""
from __future__ import annotations

import math

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, ClassVar, Optional

import torch
from torch import nn

from .. import distributed as _dist
from ..nn.base import AGGREGATIONS
from ..transforms import ActivationDropout, ActivationPCA, ActivationTransform
from ..utils import seed_everything
from .model import DeepAug, GraphCL
from .trainer import train

__all__ = ["MethodConfig", "build_transform", "build_encoder", "build_model", "build_optimizer",
           "pretrain", "METHODS", "ENCODERS", "graph_batches"]

METHODS = ("graphcl", "deepaug", "graphcl+deepaug")
ENCODERS = ("graphcl", "mol")
BACKENDS = ("pyg", "dgl")


def build_transform(kind: str, rate: float, apply_prob: float = 0.5, stop_grad: bool = True,
                    generator: Optional[torch.Generator] = None) -> ActivationTransform:
    """`("dropout", p)` -> `ActivationDropout`; `("pca", k)` -> `ActivationPCA`."""
    if kind == "dropout":
        return ActivationDropout(float(rate), apply_prob=apply_prob, stop_grad=stop_grad,
                                 generator=generator)
    if kind == "pca":
        if float(rate) != int(rate):
            raise ValueError(f"PCA rate is the integer k, got {rate}")
        return ActivationPCA(int(rate), apply_prob=apply_prob, stop_grad=stop_grad,
                             generator=generator)
    raise ValueError(f"unknown activation transform {kind!r}; use 'dropout' or 'pca'")


@dataclass
class MethodConfig:
    r"""One pretraining configuration (defaults: GraphCL's unsupervised TU preset).

    Args:
        method (str): `"graphcl"` (input augmentation only), `"deepaug"` (activation
            transform only) or `"graphcl+deepaug"`.
        input_aug (str): GraphCL augmentation for the graphcl methods.
        aug_ratio (float): its ratio.
        transform (str): `"dropout"` or `"pca"` for the deepaug methods.
        rate (float): dropout `p` or PCA `k`.
        target (int): target index of the transform.
        apply_prob (float): probability that a sample is transformed (see
            `ActivationTransform`).
        stop_grad (bool): detach the transformed rows (see `ActivationTransform`).
        hidden (int): encoder width.
        num_layers (int): encoder layers.
        conv (str): `"gin"` or `"gcn"`.
        epochs (int): pretraining epochs.
        lr (float): Adam learning rate.
        batch_size (int): graphs per step (over all ranks under a process group).
        temperature (float): contrastive loss temperature.
        encoder (str): `"graphcl"` (GraphCL's TU GIN/GCN, `GraphCLEncoder`)
            or `"mol"` (OGB's molecule GIN with atom/bond encoders,
            `MolGINEncoder`; `conv` must be `"gin"`).
        augment_both (bool): input-augment view 1 too (GraphCL chemistry) instead of keeping
            the original graph (GraphCL TU).
        subgraph_keep (float): fraction of nodes a subgraph view keeps (GraphCL TU: 0.2,
            chemistry: `1 - aug_ratio`).
        backend (str): `"pyg"` or `"dgl"` (`DGLGraphCLEncoder`, the
            same layers on DGL; batches are converted with `graphaug.convert.to_dgl`).
        bn_per_view (bool), strip_self_loops (bool), init (str): the official GraphCL code's
            per-view BatchNorm statistics, self-loop-free node-drop/subgraph views and
            xavier-uniform init (see `GraphCL`,
            `ViewAugmentation`, `GraphCLEncoder`).
        aggregation (str): GIN's neighbour sum on the PyG encoder, `"auto"`, `"csr"` or
            `"scatter"` (see `GraphCLEncoder`). (default: `"auto"`)
    """

    method: str = "graphcl"
    input_aug: str = "random2"
    aug_ratio: float = 0.1
    transform: str = "dropout"
    rate: float = 0.25
    target: int = 2
    apply_prob: float = 0.5
    stop_grad: bool = True
    hidden: int = 32
    num_layers: int = 3
    conv: str = "gin"
    epochs: int = 20
    lr: float = 0.01
    batch_size: int = 128
    temperature: float = 0.2
    subgraph_quirk: bool = False
    add_edges: bool = True
    encoder: str = "graphcl"
    augment_both: bool = False
    subgraph_keep: float = 0.2
    backend: str = "pyg"
    bn_per_view: bool = False
    strip_self_loops: bool = False
    init: str = "torch"
    aggregation: str = "auto"
    extra: dict = field(default_factory=dict)

    #: the fields only the deep-aug transform reads (`build_model`)
    DEEP_AUG_FIELDS: ClassVar[tuple[str, ...]] = ("transform", "rate", "target", "apply_prob",
                                                  "stop_grad")

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose from {ENCODERS}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose from {BACKENDS}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got "
                             f"{self.aggregation!r}")
        if self.backend == "dgl" and self.encoder != "graphcl":
            raise ValueError("the DGL backend has the GraphCL encoder only (encoder='graphcl')")
        if self.encoder == "mol" and self.conv != "gin":
            raise ValueError("the molecule encoder is OGB's GIN: conv must be 'gin'")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"epochs >= 1 and batch_size >= 2 are required, got epochs="
                             f"{self.epochs}, batch_size={self.batch_size}")
        for name, positive in (("lr", True), ("temperature", True), ("aug_ratio", False),
                               ("subgraph_keep", False)):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if positive and not (number and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
            if not positive and not (number and 0 <= value <= 1):
                raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
        if not math.isfinite(float(self.rate)):
            raise ValueError(f"rate must be finite, got {self.rate!r}")

    @property
    def uses_deep_aug(self) -> bool:
        return self.method != "graphcl"

    @property
    def uses_input_aug(self) -> bool:
        return self.method != "deepaug"

    def label(self) -> str:
        """The run's label: its method and its spec (graphaug.spec), e.g.
        `deepaug pca:-1@2` or `graphcl none` (`dgl:` in front on the DGL backend)."""
        from ..spec import config_label
        return config_label(self.method, self.transform, self.rate, self.target, self.backend)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_method(self, method: str) -> "MethodConfig":
        """A copy for `method`; for `"graphcl"` the `DEEP_AUG_FIELDS` it ignores
        go back to their defaults, so that the same GraphCL run always has the same config
        (and cache key) whatever deep-aug config it is compared with.

        Example::

            >>> cfg = MethodConfig("deepaug", transform="pca", rate=-1, target=3)
            >>> cfg.with_method("graphcl") == MethodConfig("graphcl")
            True
        """
        defaults = {f.name: f.default for f in fields(self) if f.name in self.DEEP_AUG_FIELDS}
        return replace(self, method=method, **(defaults if method == "graphcl" else {}))


def build_encoder(cfg: MethodConfig, in_channels: int) -> nn.Module:
    """The encoder of `cfg` (with projection head); `in_channels` is ignored by the
    molecule encoder, which embeds OGB's atom features itself."""
    if cfg.encoder == "mol":
        from ..nn.mol import MolGINEncoder
        return MolGINEncoder(hidden=cfg.hidden, num_layers=cfg.num_layers, proj_head=True)
    if cfg.backend == "dgl":
        from ..nn.dgl import DGLGraphCLEncoder
        return DGLGraphCLEncoder(in_channels, hidden=cfg.hidden, num_layers=cfg.num_layers,
                                 conv=cfg.conv, proj_head=True, init=cfg.init)
    from ..nn import GraphCLEncoder
    return GraphCLEncoder(in_channels, hidden=cfg.hidden, num_layers=cfg.num_layers,
                          conv=cfg.conv, proj_head=True, init=cfg.init,
                          aggregation=cfg.aggregation)


def build_model(cfg: MethodConfig, in_channels: int,
                generator: Optional[torch.Generator] = None) -> GraphCL:
    """The `GraphCL` model of `cfg` for `in_channels` node features."""
    encoder = build_encoder(cfg, in_channels)
    deep_aug = None
    if cfg.uses_deep_aug:
        deep_aug = DeepAug(cfg.target, build_transform(cfg.transform, cfg.rate, cfg.apply_prob,
                                                       cfg.stop_grad, generator))
    input_aug = None
    if cfg.uses_input_aug:
        from ..views import ViewAugmentation
        mask_token = None
        if cfg.encoder == "mol":  # integer atom features are masked with OGB's "misc" index
            from ..nn.mol import atom_mask_token
            mask_token = atom_mask_token()
        input_aug = ViewAugmentation(cfg.input_aug, cfg.aug_ratio, generator=generator,
                                     subgraph_keep=cfg.subgraph_keep, add_edges=cfg.add_edges,
                                     subgraph_quirk=cfg.subgraph_quirk, mask_token=mask_token,
                                     strip_self_loops=cfg.strip_self_loops)
    return GraphCL(encoder, deep_aug=deep_aug, input_aug=input_aug,
                   augment_both=cfg.augment_both, temperature=cfg.temperature, loss="graphcl",
                   bn_per_view=cfg.bn_per_view)


def build_optimizer(cfg: MethodConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam(`cfg.lr`) over `model`'s parameters, updating them all in one `foreach` pass
    per step (the default on CPU loops over the tensors in Python: ~7 % of an NCI1 epoch);
    the updates are the same values."""
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)


def graph_batches(graphs, batch_size: int, device: torch.device):
    """`batches(epoch)` for `train`: shuffled PyG batches (global
    torch RNG, so checkpoints resume exactly); a trailing batch of one graph is dropped because
    a contrastive loss needs negatives.

    The dataset is collated once (`PreCollatedGraphs`) and every
    batch is sliced out of it, which yields exactly PyG's `DataLoader` batches without its
    per-graph Python; datasets it cannot slice go through PyG's loader. Either way the order
    comes from the same torch sampler, so a seed gives the same batches on both paths."""
    from torch.utils.data import DataLoader
    from torch_geometric.loader import DataLoader as GraphLoader

    from ..batching import PreCollatedGraphs

    graphs = list(graphs)
    drop_last = len(graphs) % batch_size == 1
    store = PreCollatedGraphs(graphs) if PreCollatedGraphs.supports(graphs) else None

    def batches(epoch: int):
        if store is not None:  # a loader over graph ids shuffles exactly as PyG's does
            loader = DataLoader(range(len(graphs)), batch_size=batch_size, shuffle=True,
                                drop_last=drop_last, collate_fn=store.batch)
        else:
            loader = GraphLoader(graphs, batch_size=batch_size, shuffle=True,
                                 drop_last=drop_last)
        for batch in loader:
            yield batch.to(device)
    return batches


def pretrain(graphs, in_channels: int, cfg: MethodConfig, seed: int, *,
             checkpoint: Optional[os.PathLike | str] = None, progress: bool = False,
             device: Optional[torch.device | str] = None,
             stop_after: Optional[int] = None,
             on_epoch_end: Optional[Callable[[int, float, nn.Module], None]] = None,
             config: Optional[dict] = None, sync_bn: bool = True, draws: str = "local",
             ddp: bool = False, monitor: Optional[int] = None) -> tuple[nn.Module, list[float]]:
    """Pretrain `cfg` on `graphs` with `seed`; returns `(encoder, loss per epoch)` (a
    `TrainHistory`: `.seconds` adds up across resumes).

    Under a process group (`torchrun`, every rank calling with the same arguments),
    `cfg.batch_size` is the *global* batch: each rank trains on its shard
    (`ShardedGraphBatches`), with `SyncBatchNorm` when `sync_bn`, per-rank transform/augmentation
    streams (`draws="local"`) or one process's draws (`"global"`, see
    `global_draws`), gradients averaged manually or by
    `DistributedDataParallel` (`ddp=True`), and rank-0 checkpoints.

    Resumes from `checkpoint` when it exists (exactly: same weights as an uninterrupted run).
    The checkpoint stores `cfg`, `seed` and `config` (anything else the caller wants
    checked, e.g. the dataset's identity); a resume under any other value is refused.
    `on_epoch_end(epoch, loss, encoder)` runs after every epoch (e.g. a linear probe; it
    must leave the encoder's weights and the global RNG as it found them).
    `monitor=N` logs the readout's RankMe, alignment and uniformity on a fixed sample of
    `N` graphs after every epoch into `history.monitor`, with a warning on collapse
    (`CollapseMonitor`; about one eval forward of `2N` graphs
    per epoch).
    """
    from ..data import validate_graphs
    graphs = validate_graphs(graphs, "graphs")  # before batching: ids in their own graph
    device = torch.device(device or "cpu")
    seed_everything(seed)  # the same initial weights on every rank
    distributed = _dist.is_active()
    generator = _dist.rank_generator(seed + 1, draws) if distributed else \
        torch.Generator().manual_seed(seed + 1)
    model = build_model(cfg, in_channels, generator).to(device)
    batches = graph_batches(graphs, cfg.batch_size, device)
    runner: nn.Module = model
    if distributed:
        if sync_bn:
            _dist.convert_sync_batchnorm(model.encoder)
        if draws == "global" and model.transform is not None:
            _dist.global_draws(model.transform, blocks=2)
        batches = _dist.ShardedGraphBatches(graphs, cfg.batch_size, device, seed=seed)
        if ddp:
            runner = nn.parallel.DistributedDataParallel(model)
        config = {**(config or {}), "world_size": _dist.world_size(), "draws": draws,
                  "sync_bn": sync_bn}
    optimizer = build_optimizer(cfg, model)
    watch = None
    if monitor:
        from .monitor import CollapseMonitor
        watch = CollapseMonitor(model.encoder, graphs, sample=monitor, seed=seed)
    history = train(runner, batches, optimizer,
                    cfg.epochs, checkpoint=checkpoint, generators={"aug": generator},
                    progress=progress and _dist.is_main(), stop_after=stop_after,
                    config={"method": cfg.to_dict(), "seed": seed, **(config or {})},
                    monitor=watch,
                    on_epoch_end=None if on_epoch_end is None else
                    (lambda epoch, loss: on_epoch_end(epoch, loss, model.encoder)))
    return model.encoder, history
