"""Named identity points inside graphaug's encoders, one per target index."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

__all__ = ["Tap", "TapMixin"]


class Tap(nn.Module):
    r"""Identity at a target index: the point `graphaug.attach` hooks.

    Its call carries the node grouping (`batch`, `num_samples`), so a transform attached
    here selects whole graphs, also on the shared trunk's doubled batch.

    Args:
        index (int): the target index (`docs/method.md`: 0 = input features, `1..L` = layer
            outputs, `L+1` = projection head output).

    Shapes:
        input `[N, d]` with optional `batch` `[N]`; output: the input itself.
    """

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = int(index)

    def forward(self, x: Tensor, batch: Optional[Tensor] = None,
                num_samples: Optional[int] = None) -> Tensor:
        return x

    def __repr__(self) -> str:
        return f"Tap({self.index})"


class TapMixin:
    """Target-index helpers shared by every graphaug encoder with a `taps` `ModuleList`."""

    taps: nn.ModuleList

    @property
    def num_targets(self) -> int:
        """Number of valid target indices (`0..num_targets-1`)."""
        return len(self.taps)

    def target_name(self, target: int) -> str:
        """Dotted submodule name of target `target` (`ga.attach(enc, target, t)` is the
        same as `ga.attach(enc, enc.target_name(target), t)`)."""
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
