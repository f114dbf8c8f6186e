"""A small CIFAR-style ResNet, written here (torchvision does not import on this stack).

Submodule names follow torchvision (`stem`, `layer1..layer4`, `pool`, `head`) so that the
same target names work on either.
"""
from __future__ import annotations

from typing import Optional, Sequence

from torch import Tensor, nn

__all__ = ["BasicBlock", "SmallResNet"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride,
                                                    bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(out)) + self.shortcut(x)).relu()


class SmallResNet(nn.Module):
    r"""ResNet for 32x32 images: 3x3 stem, four stages, global average pool, optional head.

    Args:
        widths (sequence of int): channels of the four stages.
        blocks (sequence of int): blocks per stage.
        in_channels (int): image channels.
        head_dim (int, optional): output size of a Linear-ReLU-Linear head (`None`: no head,
            the pooled feature is the output).

    Shapes:
        `[B, in_channels, H, W]` -> `[B, widths[-1]]` (or `[B, head_dim]`).

    Example:
        >>> net = SmallResNet(widths=(8, 16, 32, 64), blocks=(1, 1, 1, 1), head_dim=32)
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 32])
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256),
                 blocks: Sequence[int] = (1, 1, 1, 1), in_channels: int = 3,
                 head_dim: Optional[int] = None) -> None:
        super().__init__()
        if len(widths) != 4 or len(blocks) != 4:
            raise ValueError("widths and blocks need one entry per stage (4)")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, channels = [], widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(channels if j == 0 else width, width, stride if j == 0 else 1)
                      for j in range(count)]
            stages.append(nn.Sequential(*layers))
            channels = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = channels
        self.head = None if head_dim is None else nn.Sequential(
            nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, head_dim))

    def features(self, x: Tensor) -> Tensor:
        """Pooled feature `[B, widths[-1]]` (no head)."""
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.pool(x)

    def forward(self, x: Tensor) -> Tensor:
        z = self.features(x)
        return z if self.head is None else self.head(z)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
