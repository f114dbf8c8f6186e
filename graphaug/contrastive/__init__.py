"""Contrastive learning: losses, the GraphCL model with Deep Augmentation, the training loop."""
from .losses import LOSSES, contrastive_loss, graphcl_nt_xent, info_nce

__all__ = ["graphcl_nt_xent", "info_nce", "contrastive_loss", "LOSSES"]
from .trainer import load_checkpoint, load_weights, train  # noqa: E402

__all__ += ["train", "load_checkpoint", "load_weights"]
from .model import DeepAug, GraphCL, PlainTwoView, concat_batches  # noqa: E402
from .pipeline import METHODS, MethodConfig, build_model, build_transform, pretrain  # noqa: E402

__all__ += ["DeepAug", "GraphCL", "PlainTwoView", "concat_batches", "MethodConfig",
            "build_model", "build_transform", "pretrain", "METHODS"]
from .monitor import COLLAPSE_RANKME, CollapseMonitor, CollapseWarning  # noqa: E402

__all__ += ["CollapseMonitor", "CollapseWarning", "COLLAPSE_RANKME"]
