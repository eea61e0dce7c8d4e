"""Ops of the NASNet paper's 13-op set (docs/papers.md §3) that the DARTS ops (:mod:`ops.darts`) do not already give.

All keep the input's channel count (inferred) and take ``stride`` (1 or 2), as
the DARTS ops do:

- ``conv_1x1``, ``conv_3x3``: ReLU -> k×k conv -> BN (``affine``);
- ``conv_3x1_1x3``: ReLU -> 1×3 conv (stride along the width) -> 3×1 conv
  (stride along the height) -> BN, named like DARTS' ``conv_7x1_1x7`` (which is
  the paper's "1×7 then 7×1 conv");
- ``max_pool_5x5``, ``max_pool_7x7``: max pools with 'same' padding; ``bn``
  adds a BN without affine after the pool, as DARTS' search-time pools do.

The paper's other ops are DARTS ops: identity = ``skip_connect`` (a
FactorizedReduce when strided), 1×7 then 7×1 = ``conv_7x1_1x7``, 3×3 dilated
conv = ``dil_conv_3x3``, 3×3 pools = ``avg_pool_3x3``/``max_pool_3x3``,
depthwise-separable convs = ``sep_conv_3x3/5x5/7x7``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from . import modules
from .builtin import no_cost
from .cost import Cost, Shape, batch_norm_cost, conv_cost
from .darts import AFFINE, STRIDE, strided
from .registry import OpSpec, Param, register


# -- square ReLU-conv-BN ------------------------------------------------------------


def _square_conv(kernel: int) -> OpSpec:
    name = f"conv_{kernel}x{kernel}"
    return OpSpec(
        name, params={"stride": STRIDE, "affine": AFFINE},
        shape=lambda s, p: strided(name, s[0], p["stride"]),
        cost=lambda s, o, p: conv_cost(s[0][0], o, kernel) + batch_norm_cost(o[0], p["affine"]),
        build=lambda s, o, p: modules.ReLUConvBN(s[0][0], s[0][0], kernel, p["stride"], kernel // 2, 1, p["affine"]),
        doc=f"ReLU -> {kernel}×{kernel} conv (stride) -> BN; channels kept.",
    )


register(_square_conv(1))
register(_square_conv(3))


# -- 1×k then k×1 ---------------------------------------------------------------------


class FactorisedConv(nn.Sequential):
    """ReLU -> 1×k conv (stride along the width) -> k×1 conv (stride along the height) -> BN (DARTS' layout)."""

    def __init__(self, channels: int, kernel: int, stride: int, affine: bool) -> None:
        pad = kernel // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, (1, kernel), stride=(1, stride), padding=(0, pad), bias=False),
            nn.Conv2d(channels, channels, (kernel, 1), stride=(stride, 1), padding=(pad, 0), bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )


def _factorised_cost(kernel: int):
    def cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
        c, h, _ = s[0]
        first = conv_cost(c, (c, h, o[2]), (1, kernel))  # the 1×k conv strides the width only
        return first + conv_cost(c, o, (kernel, 1)) + batch_norm_cost(c, p["affine"])
    return cost


register(OpSpec(
    "conv_3x1_1x3", params={"stride": STRIDE, "affine": AFFINE},
    shape=lambda s, p: strided("conv_3x1_1x3", s[0], p["stride"]), cost=_factorised_cost(3),
    build=lambda s, o, p: FactorisedConv(s[0][0], 3, p["stride"], p["affine"]),
    doc="ReLU -> 1×3 conv -> 3×1 conv -> BN (NASNet's '1×3 then 3×1 conv'); channels kept.",
))


# -- larger max pools ---------------------------------------------------------------------


def _max_pool(kernel: int) -> OpSpec:
    name = f"max_pool_{kernel}x{kernel}"

    def build(s: Sequence[Shape], o: Shape, p: dict) -> nn.Module:
        pool = nn.MaxPool2d(kernel, p["stride"], kernel // 2)
        return nn.Sequential(pool, nn.BatchNorm2d(s[0][0], affine=False)) if p["bn"] else pool

    return OpSpec(
        name, params={"stride": STRIDE, "bn": Param("bool", False)},
        shape=lambda s, p: strided(name, s[0], p["stride"]), cost=no_cost, build=build,
        doc=f"{kernel}×{kernel} max pool (stride, padding {kernel // 2}); `bn`: then BN without affine "
            f"(DARTS search mode).",
    )


register(_max_pool(5))
register(_max_pool(7))
