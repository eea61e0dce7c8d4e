"""Ops of the NAS-Bench-201 space (Dong & Yang 2020; docs/papers.md §12) beyond the built-ins.

The cell ops are built-ins with params (``spaces.nasbench201`` maps the
benchmark's names): ``none`` = ``zero``, ``skip_connect`` = ``identity``,
``nor_conv_kxk`` = ``relu_conv_bn`` (kernel k), ``avg_pool_3x3`` =
``avg_pool`` (3×3, stride 1, padding 1, padding not counted), as AutoDL's
``cell_operations.py`` defines them. Added here, as AutoDL's ``TinyNetwork`` has them:

- ``nb201_resblock``: ``ResNetBasicblock`` with stride 2 (the reduction block between stages):
  3×3/2 ReLU-conv-BN, 3×3 ReLU-conv-BN, plus a shortcut of 2×2/2 average pool and
  a 1×1 conv (no BN). Needs an even input height and width (both branches must agree).
- ``nb201_lastact``: BN -> ReLU before the global pool and classifier.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .builtin import image
from .cost import Cost, Shape, batch_norm_cost, conv_cost
from .errors import OpError
from .modules import ReLUConvBN, conv2d
from .registry import OpSpec, Param, register


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's reduction block: ReLU-conv3×3/2-BN, ReLU-conv3×3-BN, + (avgpool 2×2/2, conv 1×1)(x)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2, padding=0), conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def _resblock_shape(s: Sequence[Shape], p: dict) -> Shape:
    c, h, w = image("nb201_resblock", s[0])
    if h % 2 or w % 2:
        raise OpError(f"op 'nb201_resblock' needs an even height and width (its 3×3/2 conv and 2×2/2 pool shortcut "
                      f"must agree), got input shape {s[0]}")
    return (p["channels"], h // 2, w // 2)


def _resblock_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    c_in, c_out = s[0][0], o[0]
    return (conv_cost(c_in, o, 3) + batch_norm_cost(c_out) + conv_cost(c_out, o, 3) + batch_norm_cost(c_out)
            + conv_cost(c_in, o, 1))


register(OpSpec(
    "nb201_resblock", params={"channels": Param("int", low=1)}, shape=_resblock_shape, cost=_resblock_cost,
    build=lambda s, o, p: ResNetBasicBlock(s[0][0], p["channels"]),
    doc="NAS-Bench-201's ResNetBasicblock with stride 2: 3×3/2 and 3×3 ReLU-conv-BN, shortcut 2×2/2 avg pool + "
        "1×1 conv.",
))
register(OpSpec(
    "nb201_lastact", shape=lambda s, p: image("nb201_lastact", s[0]), cost=lambda s, o, p: batch_norm_cost(o[0]),
    build=lambda s, o, p: nn.Sequential(nn.BatchNorm2d(s[0][0]), nn.ReLU()),
    doc="NAS-Bench-201's `lastact`: BN -> ReLU.",
))
