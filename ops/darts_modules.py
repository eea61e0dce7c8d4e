"""``nn.Module`` classes of the DARTS ops (Liu et al. 2019; reference code quark0/darts, ``operations.py``)."""

from __future__ import annotations

import torch
from torch import nn

from .modules import SepConv, conv2d


class DartsSepConv(nn.Sequential):
    """DARTS' separable conv: (ReLU, k×k depthwise, 1×1 pointwise, BN) twice, the stride on the first."""

    def __init__(self, channels: int, kernel: int, stride: int, affine: bool) -> None:
        padding = (kernel - 1) // 2
        super().__init__(SepConv(channels, channels, kernel, stride, padding, 1, affine),
                         SepConv(channels, channels, kernel, 1, padding, 1, affine))


class FactorizedReduce(nn.Module):
    """ReLU; two 1×1 stride-2 convs to ``c_out/2`` channels each, the second on ``x[:, :, 1:, 1:]``; concat; BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = conv2d(c_in, c_out // 2, 1, stride=2)
        self.conv_2 = conv2d(c_in, c_out // 2, 1, stride=2)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Conv7x1x7(nn.Sequential):
    """ReLU, 1×7 conv (stride (1, s)), 7×1 conv (stride (s, 1)), BN: DARTS' ``conv_7x1_1x7``."""

    def __init__(self, channels: int, stride: int, affine: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(channels, channels, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )


def pool(kind: str, channels: int, stride: int, bn: bool) -> nn.Module:
    """A 3×3 max or average pool (padding 1, padding not counted), followed by BN without affine when ``bn``."""
    layer: nn.Module = (nn.MaxPool2d(3, stride, 1) if kind == "max"
                        else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
    return nn.Sequential(layer, nn.BatchNorm2d(channels, affine=False)) if bn else layer


class DropPath(nn.Module):
    """Drops the whole sample with probability ``p`` in training, scaling survivors by 1/(1−p) (DARTS' drop_path).

    ``p`` is an attribute, set each epoch by ``wiring.train.train(drop_path=...)``;
    in eval mode, or with ``p == 0``, the input passes unchanged.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x / keep * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier (``AuxiliaryHeadCIFAR`` / ``AuxiliaryHeadImageNet``).

    ReLU, 5×5 average pool (stride 3 for CIFAR, 2 for ImageNet, padding not
    counted), 1×1 conv to 128, BN, ReLU, 2×2 conv to 768, [BN: CIFAR only, as in
    the reference code], ReLU, fully connected layer with bias.
    """

    def __init__(self, c_in: int, num_classes: int, imagenet: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False),
            conv2d(c_in, 128, 1), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            conv2d(128, 768, 2),
        ]
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))
