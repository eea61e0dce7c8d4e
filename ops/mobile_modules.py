"""The ``nn.Module`` classes of the mobile ops (see :mod:`ops.mobile`).

Flat modules (no nested containers): a supernet holds hundreds of candidates,
and every module object costs construction time.
"""

from __future__ import annotations

import torch
from torch import nn

from .modules import conv2d

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "relu6": nn.ReLU6}


def se_channels(c_in: int, ratio: float) -> int:
    """Squeeze-and-excitation width: ``max(1, int(c_in · ratio))``, 0 (no SE) for ratio 0 (MnasNet's rule)."""
    return max(1, int(c_in * ratio)) if ratio > 0 else 0


class SqueezeExcite(nn.Module):
    """x · sigmoid(expand(relu(reduce(mean(x))))), both 1×1 convs with bias."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: [1×1 expand, BN, act] -> k×k depthwise, BN, act -> [SE] -> 1×1 project, BN [+ x].

    The expansion is left out when ``expand`` is 1; SE when ``se`` is 0; the
    identity is added when ``residual`` and stride 1 and ``c_in == c_out``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, se: float, act: str,
                 residual: bool) -> None:
        super().__init__()
        mid = c_in * expand
        self.act = ACTIVATIONS[act]()
        self.expand_conv = conv2d(c_in, mid, 1) if expand != 1 else None
        self.expand_bn = nn.BatchNorm2d(mid) if expand != 1 else None
        self.depthwise = conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid)
        self.depthwise_bn = nn.BatchNorm2d(mid)
        reduced = se_channels(c_in, se)
        self.se = SqueezeExcite(mid, reduced) if reduced else None
        self.project = conv2d(mid, c_out, 1)
        self.project_bn = nn.BatchNorm2d(c_out)
        self.residual = residual and stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.expand_conv is not None:
            out = self.act(self.expand_bn(self.expand_conv(out)))
        out = self.act(self.depthwise_bn(self.depthwise(out)))
        if self.se is not None:
            out = self.se(out)
        out = self.project_bn(self.project(out))
        return out + x if self.residual else out


class RegularConv(nn.Module):
    """k×k conv (stride), BN, act, then SE on the output when ``se`` > 0 (width from ``c_in``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, se: float, act: str) -> None:
        super().__init__()
        self.conv = conv2d(c_in, c_out, kernel, stride, kernel // 2)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = ACTIVATIONS[act]()
        reduced = se_channels(c_in, se)
        self.se = SqueezeExcite(c_out, reduced) if reduced else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn(self.conv(x)))
        return out if self.se is None else self.se(out)
