"""Ops of the Single Path One-Shot spaces (Guo et al. 2020): ShuffleNetV2 choice blocks.

As in the reference code (megvii-model/SinglePathOneShot, ``blocks.py``), with
``c`` the input channels, ``C`` = ``channels`` the output channels and
``mid`` = ``mid_channels`` (default ``C // 2``, the reference's base):

- ``shuffle_<k>x<k>`` (k = 3, 5, 7), main branch: 1×1 conv-BN-ReLU to ``mid``,
  k×k depthwise conv (stride)-BN, 1×1 conv-BN-ReLU to ``C − inp``;
- ``shuffle_xception``, main branch: three (3×3 depthwise-BN, 1×1 conv-BN-ReLU)
  units (only the first depthwise strided), to ``mid``, ``mid``, ``C − inp``.

Stride 1: the input is split into its even and odd channels (the reference's
``channel_shuffle``, run at the *start* of each block); the even half passes
through, the odd half (``inp = c/2``) feeds the main branch. Stride 2: both
branches read the whole input (``inp = c``); the projection branch is k×k
depthwise (stride)-BN, 1×1 conv-BN-ReLU to ``c``. The output is
``concat(pass-through or projection, main)``. Convolutions have no bias;
batch norms are affine unless ``affine=False`` (the reference supernet).
Module indices follow the reference (``branch_main.<i>``, ``branch_proj.<i>``),
so reference state dicts load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from .builtin import image
from .cost import Cost, Shape, batch_norm_cost, conv_cost, linear_cost
from .errors import OpError
from .modules import conv2d
from .registry import REQUIRED, OpSpec, Param, register

CHOICE_BLOCKS = ("shuffle_3x3", "shuffle_5x5", "shuffle_7x7", "shuffle_xception")
"""The four SPOS choice blocks, in the reference's block-index order 0..3."""


def channel_split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(even channels, odd channels) of ``x``: the reference's ``channel_shuffle``."""
    return x[:, 0::2], x[:, 1::2]


def channel_shuffle(x: torch.Tensor, *, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: view channels as (groups, C/groups), transpose, flatten."""
    n, c, *rest = x.shape
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)


class Unit(NamedTuple):
    """One conv -> BN (-> ReLU) unit of a branch."""

    c_in: int
    c_out: int
    kernel: int
    stride: int
    depthwise: bool
    relu: bool


def _main_units(inp: int, mid: int, outputs: int, kernel: int, stride: int, xception: bool) -> list[Unit]:
    if xception:
        return [Unit(inp, inp, 3, stride, True, False), Unit(inp, mid, 1, 1, False, True),
                Unit(mid, mid, 3, 1, True, False), Unit(mid, mid, 1, 1, False, True),
                Unit(mid, mid, 3, 1, True, False), Unit(mid, outputs, 1, 1, False, True)]
    return [Unit(inp, mid, 1, 1, False, True), Unit(mid, mid, kernel, stride, True, False),
            Unit(mid, outputs, 1, 1, False, True)]


def _proj_units(c: int, kernel: int, stride: int) -> list[Unit]:
    return [Unit(c, c, kernel, stride, True, False), Unit(c, c, 1, 1, False, True)]


def _branches(c: int, p: dict, kernel: int, xception: bool) -> tuple[list[Unit], list[Unit]]:
    """(main units, projection units) of a block on ``c`` input channels."""
    stride, mid = p["stride"], _mid(p)
    inp = c // 2 if stride == 1 else c
    main = _main_units(inp, mid, p["channels"] - inp, kernel, stride, xception)
    return main, (_proj_units(c, kernel, stride) if stride == 2 else [])


def _mid(p: dict) -> int:
    return p["channels"] // 2 if p["mid_channels"] is None else p["mid_channels"]


def _sequential(units: list[Unit], affine: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for u in units:
        layers.append(conv2d(u.c_in, u.c_out, u.kernel, u.stride, u.kernel // 2, groups=u.c_in if u.depthwise else 1))
        layers.append(nn.BatchNorm2d(u.c_out, affine=affine))
        if u.relu:
            layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def _units_cost(units: list[Unit], height: int, width: int, affine: bool) -> Cost:
    total = Cost()
    for u in units:
        height, width = (height - 1) // u.stride + 1, (width - 1) // u.stride + 1  # odd kernel, padding k // 2
        total += conv_cost(u.c_in, (u.c_out, height, width), u.kernel, groups=u.c_in if u.depthwise else 1)
        total += batch_norm_cost(u.c_out, affine)
    return total


class ShuffleBlock(nn.Module):
    """A SPOS choice block (see the module docstring); stride 1 passes the even channels through."""

    def __init__(self, main: list[Unit], proj: list[Unit], stride: int, affine: bool) -> None:
        super().__init__()
        self.stride = stride
        self.branch_main = _sequential(main, affine)
        self.branch_proj = _sequential(proj, affine) if proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch_proj is None:
            x_proj, x = channel_split(x)
            return torch.cat((x_proj, self.branch_main(x)), 1)
        return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)


_BLOCK_PARAMS = {
    "channels": Param("int", REQUIRED, low=1),
    "stride": Param("int", 1, choices=(1, 2)),
    "mid_channels": Param("int", None, optional=True, low=1),
    "affine": Param("bool", True),
}


def _register_block(name: str, kernel: int, xception: bool) -> None:
    def shape(s: Sequence[Shape], p: dict) -> Shape:
        c, h, w = image(name, s[0])
        if p["stride"] == 1 and c % 2:
            raise OpError(f"op {name!r}: stride 1 splits the input channels in half, got odd input channels {c}")
        inp = c // 2 if p["stride"] == 1 else c
        if p["channels"] <= inp:
            raise OpError(f"op {name!r}: channels must exceed the {inp} channels the main branch takes "
                          f"(input {s[0]}, stride {p['stride']}), got channels={p['channels']}")
        return (p["channels"], (h - 1) // p["stride"] + 1, (w - 1) // p["stride"] + 1)

    def cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
        main, proj = _branches(s[0][0], p, kernel, xception)
        _, h, w = s[0]
        return _units_cost(main, h, w, p["affine"]) + _units_cost(proj, h, w, p["affine"])

    def build(s: Sequence[Shape], o: Shape, p: dict) -> nn.Module:
        main, proj = _branches(s[0][0], p, kernel, xception)
        return ShuffleBlock(main, proj, p["stride"], p["affine"])

    what = "three (3×3 depthwise-BN, 1×1 conv-BN-ReLU) units" if xception else \
        f"1×1 conv-BN-ReLU, {kernel}×{kernel} depthwise-BN, 1×1 conv-BN-ReLU"
    register(OpSpec(name, params=dict(_BLOCK_PARAMS), shape=shape, cost=cost, build=build,
                    doc=f"SPOS ShuffleNetV2 choice block, main branch {what}; stride 1 passes the even "
                        f"input channels through, stride 2 adds a projection branch; concat."))


for _name, _kernel in zip(CHOICE_BLOCKS, (3, 5, 7, 3)):
    _register_block(_name, _kernel, _name == "shuffle_xception")


def _shuffle_shape(s: Sequence[Shape], p: dict) -> Shape:
    if len(s[0]) < 1 or s[0][0] % p["groups"]:
        raise OpError(f"op 'channel_shuffle': channels must be divisible by groups={p['groups']}, got shape {s[0]}")
    return s[0]


register(OpSpec(
    "channel_shuffle", params={"groups": Param("int", 2, low=1)}, function=channel_shuffle, shape=_shuffle_shape,
    cost=lambda s, o, p: Cost(), doc="ShuffleNet channel shuffle: channels as (groups, C/groups), transposed.",
))


class ShuffleHead(nn.Module):
    """Global average pool -> dropout -> fully connected layer without bias (the reference classifier)."""

    def __init__(self, c_in: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(x.mean((2, 3))))


register(OpSpec(
    "shuffle_head",
    params={"num_classes": Param("int", REQUIRED, low=1), "dropout": Param("float", 0.1, low=0.0, high=1.0)},
    shape=lambda s, p: image("shuffle_head", s[0]) and (p["num_classes"],),
    cost=lambda s, o, p: linear_cost(s[0][0], p["num_classes"], bias=False),
    build=lambda s, o, p: ShuffleHead(s[0][0], p["num_classes"], p["dropout"]),
    doc="SPOS classifier: global average pool -> dropout (0.1) -> bias-free fully connected layer.",
))
