"""``nn.Module`` classes of the ENAS (Pham et al. 2018) and NAS-RL (Zoph & Le 2017) ops.

ENAS modules follow the reference code melodyguan/enas (``src/cifar10/micro_child.py``,
``general_child.py``): bias-free convolutions, affine batch norms (TF ``offset``/``scale``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .modules import conv2d


class FactorizedReduce(nn.Module):
    """ENAS ``_factorized_reduction``: [ReLU], two 1×1 stride-2 convs to ``c_out/2`` each, concat, BN.

    The second path reads ``x`` shifted by one pixel, zero-padded at the bottom
    and right as in the reference, so odd sizes give ``ceil(H/2)`` on both paths.
    """

    def __init__(self, c_in: int, c_out: int, relu: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU() if relu else None
        self.path1 = conv2d(c_in, c_out // 2, 1, stride=2)
        self.path2 = conv2d(c_in, c_out // 2, 1, stride=2)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu is not None:
            x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.path1(x), self.path2(shifted)], dim=1))


class ConvBranch(nn.Sequential):
    """ENAS macro ``_conv_branch``: 1×1 conv, BN, ReLU, k×k conv (or k×k depthwise + 1×1 pointwise), BN, ReLU."""

    def __init__(self, c_in: int, channels: int, kernel: int, separable: bool) -> None:
        padding = (kernel - 1) // 2
        if separable:
            spatial = [conv2d(channels, channels, kernel, 1, padding, groups=channels), conv2d(channels, channels, 1)]
        else:
            spatial = [conv2d(channels, channels, kernel, 1, padding)]
        super().__init__(conv2d(c_in, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(),
                         *spatial, nn.BatchNorm2d(channels), nn.ReLU())


class PoolBranch(nn.Module):
    """ENAS macro ``_pool_branch``: 1×1 conv, BN, ReLU, then a 3×3 stride-1 pool (average without padding)."""

    def __init__(self, c_in: int, channels: int, pool: str) -> None:
        super().__init__()
        self.conv = nn.Sequential(conv2d(c_in, channels, 1), nn.BatchNorm2d(channels), nn.ReLU())
        self.pool = (nn.AvgPool2d(3, 1, 1, count_include_pad=False) if pool == "avg" else nn.MaxPool2d(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x))


class SkipSum(nn.Module):
    """ENAS macro skip aggregation: the sum of the layer's branch and its skip inputs, then BN."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return self.bn(out)


class Classifier(nn.Module):
    """ENAS classifier: [ReLU], global average pool, [dropout], fully connected layer without bias."""

    def __init__(self, c_in: int, num_classes: int, relu: bool, dropout: float) -> None:
        super().__init__()
        self.relu = nn.ReLU() if relu else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.fc = nn.Linear(c_in, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu is not None:
            x = self.relu(x)
        x = x.mean((2, 3))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc(x)


class ConvHW(nn.Sequential):
    """NAS-RL layer: kernel_h×kernel_w conv ('same' padding, stride), BN, ReLU."""

    def __init__(self, c_in: int, channels: int, kernel_h: int, kernel_w: int, stride: int) -> None:
        padding = ((kernel_h - 1) // 2, (kernel_w - 1) // 2)
        super().__init__(conv2d(c_in, channels, (kernel_h, kernel_w), stride, padding), nn.BatchNorm2d(channels),
                         nn.ReLU())


def pad_concat(*xs: torch.Tensor) -> torch.Tensor:
    """Channel concat in slot order; smaller inputs are zero-padded (centred) to the largest height and width."""
    height, width = max(x.shape[2] for x in xs), max(x.shape[3] for x in xs)
    padded = []
    for x in xs:
        dh, dw = height - x.shape[2], width - x.shape[3]
        padded.append(F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)) if dh or dw else x)
    return torch.cat(padded, dim=1)


def channel_mask(x: torch.Tensor, *, keep: int) -> torch.Tensor:
    """The first ``keep`` channels of ``x``, the rest zeroed."""
    return F.pad(x[:, :keep], (0, 0, 0, 0, 0, x.shape[1] - keep))
