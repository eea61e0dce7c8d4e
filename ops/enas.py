"""Ops of the ENAS spaces (Pham et al. 2018) and the NAS-RL space (Zoph & Le 2017); docs/papers.md §4, §5.

ENAS ops follow the reference code melodyguan/enas (the micro cell ops reuse
DARTS' ``sep_conv_3x3/5x5``, ``avg_pool_3x3``, ``max_pool_3x3`` and ``identity``):

- ``enas_reduce``: ``_factorized_reduction`` to ``channels`` (even): two 1×1
  stride-2 convs, the second on the input shifted by one pixel, concat, BN;
  ``relu=True`` puts a ReLU first (the micro cell's input calibration does,
  the pre-reduction and macro poolings do not). Output ``ceil(H/2)``.
- ``enas_conv``: the macro conv branch: 1×1 conv, BN, ReLU, k×k conv (or with
  ``separable``: k×k depthwise + 1×1 pointwise), BN, ReLU.
- ``enas_pool``: the macro pool branch: 1×1 conv, BN, ReLU, 3×3 stride-1 pool.
- ``enas_skip_sum``: the macro layer's branch plus its skip inputs, summed, then BN.
- ``enas_head``: [ReLU,] global average pool, [dropout,] fully connected layer
  without bias (the reference's ``fc`` is a bare ``matmul``).

NAS-RL ops:

- ``conv_hw``: kernel_h × kernel_w conv with 'same' padding and ``stride``, BN, ReLU.
- ``pad_concat``: channel concat in slot order; inputs smaller in height or
  width are zero-padded (centred, the odd pixel at the bottom/right) to the largest.
- ``channel_mask``: keeps the first ``keep`` channels and zeroes the rest (the
  NAS-RL supernet's filter-count choice, ENAS-style weight sharing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import enas_modules as em
from .builtin import ANY, image, no_cost, same_shapes
from .cost import Cost, Shape, batch_norm_cost, conv_cost, linear_cost
from .errors import OpError
from .registry import OpSpec, Param, register, window

# -- ENAS -----------------------------------------------------------------------------


def _reduce_shape(s: Sequence[Shape], p: dict) -> Shape:
    c, h, w = image("enas_reduce", s[0])
    if p["channels"] % 2:
        raise OpError(f"op 'enas_reduce': param 'channels' must be even, got {p['channels']}")
    return (p["channels"], math.ceil(h / 2), math.ceil(w / 2))


def _reduce_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    half = conv_cost(s[0][0], (o[0] // 2, *o[1:]), 1)
    return half + half + batch_norm_cost(o[0])


register(OpSpec(
    "enas_reduce", params={"channels": Param("int", low=2), "relu": Param("bool", False)},
    shape=_reduce_shape, cost=_reduce_cost,
    build=lambda s, o, p: em.FactorizedReduce(s[0][0], p["channels"], p["relu"]),
    doc="ENAS factorized reduction: [ReLU], 1×1/2 conv on x and on x shifted by one pixel (channels/2 each), "
        "concat, BN.",
))


def _branch_shape(op: str):
    def shape(s: Sequence[Shape], p: dict) -> Shape:
        c, h, w = image(op, s[0])
        if op == "enas_conv" and p["kernel"] % 2 == 0:
            raise OpError(f"op 'enas_conv': param 'kernel' must be odd ('same' padding), got {p['kernel']}")
        return (p["channels"], h, w)
    return shape


def _conv_branch_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    c = o[0]
    if p["separable"]:
        spatial = conv_cost(c, o, p["kernel"], groups=c) + conv_cost(c, o, 1)
    else:
        spatial = conv_cost(c, o, p["kernel"])
    return conv_cost(s[0][0], o, 1) + batch_norm_cost(c) + spatial + batch_norm_cost(c)


register(OpSpec(
    "enas_conv",
    params={"channels": Param("int", low=1), "kernel": window(3), "separable": Param("bool", False)},
    shape=_branch_shape("enas_conv"), cost=_conv_branch_cost,
    build=lambda s, o, p: em.ConvBranch(s[0][0], p["channels"], p["kernel"], p["separable"]),
    doc="ENAS macro conv branch: 1×1 conv, BN, ReLU, k×k conv (or depthwise k×k + pointwise 1×1), BN, ReLU.",
))
register(OpSpec(
    "enas_pool", params={"channels": Param("int", low=1), "pool": Param("str", "avg", choices=("avg", "max"))},
    shape=_branch_shape("enas_pool"),
    cost=lambda s, o, p: conv_cost(s[0][0], o, 1) + batch_norm_cost(o[0]),
    build=lambda s, o, p: em.PoolBranch(s[0][0], p["channels"], p["pool"]),
    doc="ENAS macro pool branch: 1×1 conv, BN, ReLU, 3×3 stride-1 pool (average without padding).",
))


def _skip_sum_shape(s: Sequence[Shape], p: dict) -> Shape:
    return image("enas_skip_sum", same_shapes("enas_skip_sum", s))


register(OpSpec(
    "enas_skip_sum", arity=ANY, shape=_skip_sum_shape, cost=lambda s, o, p: batch_norm_cost(o[0]),
    build=lambda s, o, p: em.SkipSum(o[0]),
    doc="ENAS macro: sum of a layer's branch and its skip inputs, then BN.",
))
register(OpSpec(
    "enas_head",
    params={"num_classes": Param("int", low=1), "relu": Param("bool", True),
            "dropout": Param("float", 0.0, low=0.0, high=0.99)},
    shape=lambda s, p: image("enas_head", s[0]) and (p["num_classes"],),
    cost=lambda s, o, p: linear_cost(s[0][0], p["num_classes"], bias=False),
    build=lambda s, o, p: em.Classifier(s[0][0], p["num_classes"], p["relu"], p["dropout"]),
    doc="ENAS classifier: [ReLU], global average pool, [dropout], fully connected layer without bias.",
))

# -- NAS-RL ---------------------------------------------------------------------------


def _conv_hw_shape(s: Sequence[Shape], p: dict) -> Shape:
    c, h, w = image("conv_hw", s[0])
    size = [(x + 2 * ((k - 1) // 2) - k) // p["stride"] + 1 for x, k in ((h, p["kernel_h"]), (w, p["kernel_w"]))]
    if min(size) < 1:
        raise OpError(f"op 'conv_hw': kernel {p['kernel_h']}×{p['kernel_w']} leaves no output from input {s[0]}")
    return (p["channels"], *size)


register(OpSpec(
    "conv_hw",
    params={"channels": Param("int", low=1), "kernel_h": window(3), "kernel_w": window(3),
            "stride": window(1)},
    shape=_conv_hw_shape,
    cost=lambda s, o, p: conv_cost(s[0][0], o, (p["kernel_h"], p["kernel_w"])) + batch_norm_cost(o[0]),
    build=lambda s, o, p: em.ConvHW(s[0][0], p["channels"], p["kernel_h"], p["kernel_w"], p["stride"]),
    doc="NAS-RL layer: kernel_h×kernel_w conv, padding (k-1)//2 per side, stride; BN; ReLU.",
))


def _pad_concat_shape(s: Sequence[Shape], p: dict) -> Shape:
    for shape in s:
        image("pad_concat", shape)
    return (sum(x[0] for x in s), max(x[1] for x in s), max(x[2] for x in s))


register(OpSpec(
    "pad_concat", arity=ANY, ordered=True, function=em.pad_concat, shape=_pad_concat_shape, cost=no_cost,
    doc="Channel concat in slot order; smaller inputs zero-padded (centred) to the largest height and width.",
))


def _mask_shape(s: Sequence[Shape], p: dict) -> Shape:
    c = image("channel_mask", s[0])[0]
    if p["keep"] > c:
        raise OpError(f"op 'channel_mask': param 'keep' ({p['keep']}) exceeds the input's {c} channels")
    return s[0]


register(OpSpec(
    "channel_mask", params={"keep": Param("int", low=1)}, function=em.channel_mask, shape=_mask_shape,
    cost=no_cost, doc="The first `keep` channels, the others zeroed.",
))
