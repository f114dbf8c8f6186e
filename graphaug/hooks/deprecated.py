"""Aliases kept for one release; each warns and calls :func:`graphaug.attach`."""
from __future__ import annotations

import warnings
from typing import Optional, Union

from torch import nn

from ..transforms import ActivationTransform
from .hook import AttachHandle, TensorSource

__all__ = ["attach_target"]


def attach_target(model: nn.Module, target: Union[int, str], transform: ActivationTransform, *,
                  head: Optional[str] = None, batch: TensorSource = None,
                  mask: TensorSource = None) -> AttachHandle:
    """Deprecated: ``graphaug.attach(model, target, transform)`` (``head=`` names the head
    module, now addressed by name)."""
    from . import attach
    warnings.warn("graphaug.attach_target is deprecated and will be removed in the next "
                  "release: use graphaug.attach(model, target, transform)", DeprecationWarning,
                  stacklevel=2)
    if head is not None and isinstance(target, int):
        from .layouts import find_layout
        if target == len(find_layout(model).sites):
            target = head
    return attach(model, target, transform, batch=batch, mask=mask)
