"""Named points inside a network where a Deep Augmentation transform may run."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from ..transforms import ActivationTransform

__all__ = ["Tap", "TapMixin"]


class Tap(nn.Module):
    r"""Identity at a target index; applies its ``transform`` when one is set.

    Args:
        index (int): the target index this tap stands for (DESIGN §1: 0 = input features,
            ``1..L`` = layer outputs, ``L+1`` = projection head output).

    Shapes:
        input ``[N, d]`` with optional ``batch`` ``[N]``; output same shape.
    """

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = int(index)
        self.transform: Optional[ActivationTransform] = None

    def forward(self, x: Tensor, batch: Optional[Tensor] = None,
                num_samples: Optional[int] = None) -> Tensor:
        if self.transform is None:
            return x
        return self.transform(x, batch=batch, num_samples=num_samples, training=self.training)

    def __repr__(self) -> str:
        return f"Tap({self.index}, transform={self.transform!r})"


class TapMixin:
    """Target-index API shared by every graphaug encoder with a ``taps`` ``ModuleList``."""

    taps: nn.ModuleList

    @property
    def num_targets(self) -> int:
        """Number of valid target indices (``0..num_targets-1``)."""
        return len(self.taps)

    def target_name(self, target: int) -> str:
        """Dotted submodule name of target ``target`` (usable with :func:`graphaug.attach`)."""
        return f"taps.{self._check_target(target)}"

    def _check_target(self, target: int) -> int:
        if isinstance(target, bool) or not isinstance(target, int):
            raise ValueError(f"target must be an int index, got {target!r}")
        n = len(self.taps)
        if not 0 <= target < n:
            head = ", L+1 = projection head" if getattr(self, "proj_head", None) is not None \
                else " (no projection head)"
            raise ValueError(f"target {target} is out of range for {type(self).__name__} with "
                             f"L = {self.num_layers} layers: valid targets are 0..{n - 1} "
                             f"(0 = input features, 1..L = layer outputs{head})")
        return target

    def set_transform(self, target: int, transform: Optional[ActivationTransform]) -> None:
        """Install ``transform`` at ``target`` (``None`` removes it); other taps are cleared."""
        index = self._check_target(target)
        for tap in self.taps:
            tap.transform = None
        self.taps[index].transform = transform

    def clear_transforms(self) -> None:
        for tap in self.taps:
            tap.transform = None
