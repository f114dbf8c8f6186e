"""PyTorch Lightning wrapper of `GraphCL` (`pip install graphaug[lightning]`).

Lightning's DDP strategy initialises the default process group, so the wrapped model already
gathers every rank's projections before the loss and synchronises its PCA statistics
(`graphaug.distributed`); Lightning averages the gradients. Use
`graphaug.distributed.convert_sync_batchnorm` (CPU/gloo included) or Lightning's
`sync_batchnorm=True` (CUDA only) for global BatchNorm statistics, and
`ShardedGraphBatches` or PyG's `DataLoader` (Lightning adds a
`DistributedSampler`) for the data.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

try:
    import lightning.pytorch as pl
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("graphaug.lightning needs Lightning: pip install 'graphaug[lightning]'") \
        from err

from .contrastive.model import GraphCL

__all__ = ["GraphCLModule"]


class GraphCLModule(pl.LightningModule):
    r"""A `GraphCL` model as a `LightningModule`: `training_step` returns
    `model(batch)` (on several ranks: this rank's share of the global loss) and logs the
    loss averaged over ranks as `train_loss`.

    Args:
        model (GraphCL): the contrastive model (encoder, deep/input augmentation).
        lr (float): Adam learning rate (GraphCL: 0.01 on TU, 0.001 for chemistry).
        optimizer (callable, optional): `optimizer(parameters) -> Optimizer` instead of Adam.

    Example:
        >>> module = GraphCLModule(ga.GraphCL(enc, ga.DeepAug(2, ga.ActivationPCA(k=1))))
        >>> pl.Trainer(strategy="ddp", devices=2, accelerator="cpu", max_epochs=20).fit(
        ...     module, DataLoader(ds.graphs, batch_size=128, shuffle=True, drop_last=True))
    """

    def __init__(self, model: GraphCL, lr: float = 0.01,
                 optimizer: Optional[Callable] = None) -> None:
        super().__init__()
        if not isinstance(model, GraphCL):
            raise ValueError(f"GraphCLModule wraps a graphaug.GraphCL, got {type(model).__name__}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.model, self.lr, self.make_optimizer = model, float(lr), optimizer

    @property
    def encoder(self) -> torch.nn.Module:
        """The encoder being pretrained (what downstream evaluation uses)."""
        return self.model.encoder

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.model(batch)
        # sync_dist averages the logged value over ranks: the global batch's loss.
        self.log("train_loss", loss.detach(), batch_size=int(batch.num_graphs),
                 sync_dist=True, prog_bar=True)
        return loss

    def configure_optimizers(self):
        if self.make_optimizer is not None:
            return self.make_optimizer(self.parameters())
        return torch.optim.Adam(self.parameters(), lr=self.lr)
