"""Ops of the mobile spaces (MnasNet, ProxylessNAS): inverted bottlenecks, separable and regular convs.

- ``mbconv``: mobile inverted bottleneck (MobileNetV2 / MnasNet / ProxylessNAS):
  1×1 expansion conv + BN + act (skipped when ``expand`` is 1), k×k depthwise
  conv (stride) + BN + act, optional squeeze-and-excitation, 1×1 projection
  conv + BN (linear), and the identity added when ``residual`` and the shapes
  allow (stride 1, input channels = ``channels``).
- ``dwconv``: MnasNet's depthwise-separable conv (its "SepConv"), exactly
  ``mbconv`` with ``expand=1``: depthwise k×k + BN + act, 1×1 + BN, optional SE.
- ``mbconv_k{3,5,7}_e{3,6}``: ProxylessNAS' six candidates, ``mbconv`` with the
  kernel and expansion fixed by the name.
- ``regular_conv``: k×k conv (stride) + BN + act, optional SE on its output.

Squeeze-and-excitation follows MnasNet's reference code: global average pool,
1×1 conv down to ``max(1, int(c_in · se))`` channels (``c_in`` the op's *input*
channels) with bias, ReLU, 1×1 conv back up with bias, sigmoid, multiply.
Convs have no bias (a BN follows) except SE's. ``act`` is ``relu`` (MnasNet) or
``relu6`` (ProxylessNAS' reference code); it does not change any cost.
Kernels are odd, padded by ``kernel // 2``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .builtin import conv_shape, image
from .cost import Cost, Shape, batch_norm_cost, conv_cost
from .errors import OpError
from .mobile_modules import MBConv, RegularConv, se_channels
from .registry import OpSpec, Param, register, window

PROXYLESS_KERNELS = (3, 5, 7)
PROXYLESS_EXPANSIONS = (3, 6)

_COMMON = {
    "channels": Param("int", low=1),
    "stride": window(1),
    "se": Param("float", 0.0, low=0.0, high=1.0),
    "act": Param("str", "relu", choices=("relu", "relu6")),
}
_KERNEL = {"kernel": window(3)}
_RESIDUAL = {"residual": Param("bool", True)}


def _out_shape(op: str, shape: Shape, p: dict) -> Shape:
    if p["kernel"] % 2 == 0:
        raise OpError(f"op {op!r}: kernel must be odd, got kernel={p['kernel']}")
    return conv_shape(op, image(op, shape), p["channels"], {"kernel": p["kernel"], "stride": p["stride"]})


def _se_cost(channels: int, reduced: int) -> Cost:
    """Two 1×1 convs with bias on the pooled (C, 1, 1) tensor."""
    return conv_cost(channels, (reduced, 1, 1), 1, bias=True) + conv_cost(reduced, (channels, 1, 1), 1, bias=True)


def _bottleneck_cost(in_shape: Shape, out: Shape, kernel: int, expand: int, se: float) -> Cost:
    """Expansion on the input's size, depthwise and projection on the output's, SE on the pooled tensor."""
    c_in, h, w = in_shape
    mid = c_in * expand
    cost = Cost()
    if expand != 1:
        cost += conv_cost(c_in, (mid, h, w), 1) + batch_norm_cost(mid)
    cost += conv_cost(mid, (mid, *out[1:]), kernel, groups=mid) + batch_norm_cost(mid)
    reduced = se_channels(c_in, se)
    if reduced:
        cost += _se_cost(mid, reduced)
    return cost + conv_cost(mid, out, 1) + batch_norm_cost(out[0])


def _mbconv_spec(name: str, fixed: dict, params: dict[str, Param], doc: str) -> OpSpec:
    def full(p: dict) -> dict:
        return {**fixed, **p}

    def shape(s: Sequence[Shape], p: dict) -> Shape:
        return _out_shape(name, s[0], full(p))

    def cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
        q = full(p)
        return _bottleneck_cost(s[0], o, q["kernel"], q["expand"], q["se"])

    def build(s: Sequence[Shape], o: Shape, p: dict) -> nn.Module:
        q = full(p)
        return MBConv(s[0][0], q["channels"], q["kernel"], q["stride"], q["expand"], q["se"], q["act"],
                      q["residual"])

    return OpSpec(name, params=params, shape=shape, cost=cost, build=build, doc=doc)


register(_mbconv_spec(
    "mbconv", {}, {**_COMMON, **_KERNEL, "expand": Param("int", 6, low=1), **_RESIDUAL},
    "Inverted bottleneck: 1×1 expand (unless expand=1) -> k×k depthwise (stride) -> SE (se>0) -> 1×1 project; "
    "+ identity when residual and the shapes allow.",
))
register(_mbconv_spec(
    "dwconv", {"expand": 1}, {**_COMMON, **_KERNEL, **_RESIDUAL},
    "Depthwise-separable conv (MnasNet's SepConv): k×k depthwise -> SE (se>0) -> 1×1 project; mbconv with expand=1.",
))


def candidate_name(kernel: int, expand: int) -> str:
    """Op name of a ProxylessNAS candidate: ``mbconv_k{kernel}_e{expand}``."""
    return f"mbconv_k{kernel}_e{expand}"


def _register_candidates() -> None:
    for kernel in PROXYLESS_KERNELS:
        for expand in PROXYLESS_EXPANSIONS:
            register(_mbconv_spec(
                candidate_name(kernel, expand), {"kernel": kernel, "expand": expand}, {**_COMMON, **_RESIDUAL},
                f"ProxylessNAS candidate {kernel}x{kernel}_MBConv{expand}: mbconv with kernel={kernel}, "
                f"expand={expand}.",
            ))


_register_candidates()


def _regular_conv_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    cost = conv_cost(s[0][0], o, p["kernel"]) + batch_norm_cost(o[0])
    reduced = se_channels(s[0][0], p["se"])
    return cost + _se_cost(o[0], reduced) if reduced else cost


register(OpSpec(
    "regular_conv", params={**_COMMON, **_KERNEL},
    shape=lambda s, p: _out_shape("regular_conv", s[0], p),
    cost=_regular_conv_cost,
    build=lambda s, o, p: RegularConv(s[0][0], p["channels"], p["kernel"], p["stride"], p["se"], p["act"]),
    doc="Regular k×k conv (stride) -> BN -> act -> SE on the output (se>0).",
))
