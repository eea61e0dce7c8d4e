"""Ops of the DARTS space (Liu et al. 2019; docs/papers.md §2), as the reference code quark0/darts defines them.

Every cell op keeps the channels of its input (inferred, not a param) and takes
``stride`` (1 or 2); all but the pools and ``none`` take ``affine`` (BN with
learnable scale and shift, True in evaluation networks, False in the search
network). Output sizes are ``ceil(H / stride)`` for every op.

- ``sep_conv_3x3/5x5/7x7``: (ReLU, k×k depthwise, 1×1 pointwise, BN) twice, stride on the first.
- ``dil_conv_3x3/5x5``: ReLU, k×k depthwise with dilation 2 (padding 2 / 4), 1×1 pointwise, BN.
- ``max_pool_3x3``, ``avg_pool_3x3``: 3×3, padding 1, average without counting
  padding; ``bn=True`` appends BN without affine (DARTS' search-mode mixed op).
- ``skip_connect``: identity at stride 1, :class:`FactorizedReduce` at stride 2.
- ``none``: zeros (sub-sampled when strided).
- ``conv_7x1_1x7``: ReLU, 1×7 conv (stride (1, s)), 7×1 conv (stride (s, 1)), BN.
- ``factorized_reduce``: FactorizedReduce to ``channels`` (cell preprocessing of
  s0 after a reduction cell).

Beyond the cell ops: ``drop_path`` (DARTS' regulariser; its probability is set
by ``wiring.train.train(drop_path=...)``) and ``aux_head`` (DARTS' auxiliary
classifier, CIFAR or ImageNet variant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from . import darts_modules as dm
from . import functional as fn
from .builtin import image, no_cost
from .cost import Cost, Shape, batch_norm_cost, conv_cost, linear_cost
from .errors import OpError
from .modules import SepConv
from .registry import OpSpec, Param, register

STRIDE = Param("int", 1, choices=(1, 2))
AFFINE = Param("bool", True)


def strided(op: str, shape: Shape, stride: int) -> Shape:
    """``(C, ceil(H / stride), ceil(W / stride))``: the output of every DARTS cell op."""
    c, h, w = image(op, shape)
    return (c, math.ceil(h / stride), math.ceil(w / stride))


def _even(op: str, shape: Shape) -> None:
    if shape[1] % 2 or shape[2] % 2:
        raise OpError(f"op {op!r} (FactorizedReduce) needs an even height and width, got input shape {shape}")


def _factorized_cost(c_in: int, out: Shape, affine: bool) -> Cost:
    half = (out[0] // 2, *out[1:])
    return conv_cost(c_in, half, 1) + conv_cost(c_in, half, 1) + batch_norm_cost(out[0], affine)


def _separable_cost(c: int, out: Shape, kernel: int, affine: bool) -> Cost:
    """One ReLU-depthwise-pointwise-BN block producing ``out``."""
    return conv_cost(c, out, kernel, groups=c) + conv_cost(c, out, 1) + batch_norm_cost(c, affine)


def _twice(cost: Cost) -> Cost:
    return cost + cost


def _cell_op(name: str, *, cost, build, extra: dict[str, Param] | None = None, doc: str) -> None:
    params = {"stride": STRIDE, "affine": AFFINE, **(extra or {})}
    register(OpSpec(name, params=params, shape=lambda s, p: strided(name, s[0], p["stride"]), cost=cost,
                    build=build, doc=doc))


for _k in (3, 5, 7):
    _cell_op(
        f"sep_conv_{_k}x{_k}",
        cost=lambda s, o, p, k=_k: _twice(_separable_cost(o[0], o, k, p["affine"])),
        build=lambda s, o, p, k=_k: dm.DartsSepConv(s[0][0], k, p["stride"], p["affine"]),
        doc=f"(ReLU, {_k}×{_k} depthwise, 1×1 pointwise, BN) twice, the stride on the first (DARTS SepConv).",
    )

for _k in (3, 5):
    _cell_op(
        f"dil_conv_{_k}x{_k}",
        cost=lambda s, o, p, k=_k: _separable_cost(o[0], o, k, p["affine"]),
        build=lambda s, o, p, k=_k: SepConv(s[0][0], s[0][0], k, p["stride"], k - 1, 2, p["affine"]),
        doc=f"ReLU, {_k}×{_k} depthwise with dilation 2 (padding {_k - 1}), 1×1 pointwise, BN (DARTS DilConv).",
    )


def _conv_7x1_1x7_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    c, h = o[0], s[0][1]
    return (conv_cost(c, (c, h, o[2]), (1, 7)) + conv_cost(c, o, (7, 1)) + batch_norm_cost(c, p["affine"]))


_cell_op("conv_7x1_1x7", cost=_conv_7x1_1x7_cost,
         build=lambda s, o, p: dm.Conv7x1x7(s[0][0], p["stride"], p["affine"]),
         doc="ReLU, 1×7 conv (stride (1, s)), 7×1 conv (stride (s, 1)), BN.")


def _skip_shape(s: Sequence[Shape], p: dict) -> Shape:
    out = strided("skip_connect", s[0], p["stride"])
    if p["stride"] == 2:
        _even("skip_connect", s[0])
        if s[0][0] % 2:
            raise OpError(f"op 'skip_connect' at stride 2 (FactorizedReduce) needs an even channel count, "
                          f"got input shape {s[0]}")
    return out


def _skip_build(s: Sequence[Shape], o: Shape, p: dict) -> nn.Module:
    return nn.Identity() if p["stride"] == 1 else dm.FactorizedReduce(s[0][0], s[0][0], p["affine"])


register(OpSpec(
    "skip_connect", params={"stride": STRIDE, "affine": AFFINE}, shape=_skip_shape,
    cost=lambda s, o, p: Cost() if p["stride"] == 1 else _factorized_cost(s[0][0], o, p["affine"]),
    build=_skip_build,
    doc="Identity at stride 1; FactorizedReduce (C -> C) at stride 2.",
))


def _factorized_shape(s: Sequence[Shape], p: dict) -> Shape:
    c, h, w = image("factorized_reduce", s[0])
    if p["channels"] % 2:
        raise OpError(f"op 'factorized_reduce': param 'channels' must be even, got {p['channels']}")
    _even("factorized_reduce", s[0])
    return (p["channels"], h // 2, w // 2)


register(OpSpec(
    "factorized_reduce", params={"channels": Param("int", low=2), "affine": AFFINE}, shape=_factorized_shape,
    cost=lambda s, o, p: _factorized_cost(s[0][0], o, p["affine"]),
    build=lambda s, o, p: dm.FactorizedReduce(s[0][0], p["channels"], p["affine"]),
    doc="ReLU; two 1×1 stride-2 convs to channels/2 each, the second on x shifted by one pixel; concat; BN.",
))

for _kind in ("max", "avg"):
    register(OpSpec(
        f"{_kind}_pool_3x3", params={"stride": STRIDE, "bn": Param("bool", False)},
        shape=lambda s, p, kind=_kind: strided(f"{kind}_pool_3x3", s[0], p["stride"]), cost=no_cost,
        build=lambda s, o, p, kind=_kind: dm.pool(kind, s[0][0], p["stride"], p["bn"]),
        doc=f"3×3 {_kind} pool, padding 1{' not counted' if _kind == 'avg' else ''}; "
            f"`bn`: then BN without affine (DARTS search mode).",
    ))

register(OpSpec("none", params={"stride": STRIDE}, function=fn.zero,
                shape=lambda s, p: strided("none", s[0], p["stride"]), cost=no_cost,
                doc="Zeros, sub-sampled by `stride` (DARTS' Zero)."))

# -- training extras --------------------------------------------------------------

register(OpSpec(
    "drop_path", params={"p": Param("float", 0.0, low=0.0, high=0.99)}, shape=lambda s, p: s[0], cost=no_cost,
    build=lambda s, o, p: dm.DropPath(p["p"]),
    doc="Drops whole samples with probability p in training (survivors scaled by 1/(1-p)); "
        "wiring.train.train(drop_path=...) sets p every epoch.",
))

AUX_POOL_STRIDE = {"cifar": 3, "imagenet": 2}


def _aux_shape(s: Sequence[Shape], p: dict) -> Shape:
    c, h, w = image("aux_head", s[0])
    stride = AUX_POOL_STRIDE[p["dataset"]]
    pooled = [(x - 5) // stride + 1 if x >= 5 else 0 for x in (h, w)]
    if pooled != [2, 2]:
        raise OpError(f"op 'aux_head' ({p['dataset']}): its 5×5/{stride} pool and 2×2 conv need an input that pools "
                      f"to 2×2 ({', '.join(str(x) for x in range(5 + stride, 5 + 2 * stride))} pixels), "
                      f"got input shape {s[0]}")
    return (p["num_classes"],)


def _aux_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    total = conv_cost(s[0][0], (128, 2, 2), 1) + batch_norm_cost(128) + conv_cost(128, (768, 1, 1), 2)
    if p["dataset"] == "cifar":  # the reference code's ImageNet head has no BN after its 2×2 conv
        total += batch_norm_cost(768)
    return total + linear_cost(768, p["num_classes"])


register(OpSpec(
    "aux_head", params={"num_classes": Param("int", low=1), "dataset": Param("str", "cifar",
                                                                             choices=tuple(AUX_POOL_STRIDE))},
    shape=_aux_shape, cost=_aux_cost,
    build=lambda s, o, p: dm.AuxiliaryHead(s[0][0], p["num_classes"], p["dataset"] == "imagenet"),
    doc="DARTS' auxiliary classifier: ReLU, 5×5 avg pool (stride 3 CIFAR / 2 ImageNet), 1×1 conv 128, BN, ReLU, "
        "2×2 conv 768, BN (CIFAR only), ReLU, linear.",
))
