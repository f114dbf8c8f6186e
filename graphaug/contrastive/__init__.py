"""Contrastive learning: losses, the GraphCL model with Deep Augmentation, the training loop."""
from .losses import LOSSES, contrastive_loss, graphcl_nt_xent, info_nce

__all__ = ["graphcl_nt_xent", "info_nce", "contrastive_loss", "LOSSES"]
