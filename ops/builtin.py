"""The built-in ops, registered when :mod:`ops` is imported."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from . import functional as fn
from . import modules
from .cost import Cost, Shape, batch_norm_cost, conv_cost, linear_cost
from .errors import OpError
from .registry import REQUIRED, OpSpec, Param, get, register, window

ANY = (1, None)

# -- shape helpers ------------------------------------------------------------


def image(op: str, shape: Shape) -> Shape:
    """``shape`` if it is an image shape (C, H, W), else :class:`OpError`."""
    if len(shape) != 3:
        raise OpError(f"op {op!r} takes image inputs (C, H, W), got shape {shape}")
    return shape


def same_shapes(op: str, shapes: Sequence[Shape]) -> Shape:
    """The common shape of ``shapes``, or :class:`OpError` naming the mismatch."""
    for i, shape in enumerate(shapes[1:], start=1):
        if shape != shapes[0]:
            raise OpError(f"op {op!r} needs inputs of equal shape, got {shapes[0]} (input 0) and {shape} (input {i})")
    return shapes[0]


def conv_padding(p: dict) -> int:
    """Explicit padding, or 'same' padding for stride 1: dilation·(kernel−1)/2."""
    return p["padding"] if p.get("padding") is not None else p.get("dilation", 1) * (p["kernel"] - 1) // 2


def conv_shape(op: str, shape: Shape, channels: int, p: dict) -> Shape:
    """Output shape of a (possibly dilated) strided convolution or pooling window."""
    c, h, w = image(op, shape)
    pad, dilation = conv_padding(p), p.get("dilation", 1)
    if pad > dilation * (p["kernel"] - 1):
        raise OpError(f"op {op!r}: padding {pad} exceeds dilation·(kernel−1) = {dilation * (p['kernel'] - 1)}: "
                      f"outputs at the border would see padding only")
    size = [(x + 2 * pad - dilation * (p["kernel"] - 1) - 1) // p["stride"] + 1 for x in (h, w)]
    if min(size) < 1:
        raise OpError(f"op {op!r}: kernel {p['kernel']} with stride {p['stride']} leaves no output from input {shape}")
    return (channels, *size)


def no_cost(in_shapes: Sequence[Shape], out_shape: Shape, p: dict) -> Cost:
    return Cost()


def _conv_params(**extra: Param) -> dict[str, Param]:
    return {
        "channels": Param("int", low=1),
        "kernel": window(3),
        "stride": window(1),
        "padding": Param("int", None, optional=True, low=0),
        **extra,
    }


# -- structural ---------------------------------------------------------------

register(OpSpec(
    "input", structural=True, arity=(0, 0),
    params={"index": Param("int", 0, low=0), "channels": Param("int", low=1), "size": Param("ints", [32, 32], low=1)},
    doc="A graph input carrying (channels, *size); `size` is nominal ([] for flat features).",
))
register(OpSpec("output", structural=True, arity=ANY, ordered=True,
                doc="The single output; several inputs are returned as a tuple in slot order."))
register(OpSpec("subgraph", structural=True, arity=ANY, ordered=True, params={"graph": Param("graph")},
                doc="A nested typed DAG; its inputs are fed in slot order (input index = slot)."))

# -- aggregations -------------------------------------------------------------

register(OpSpec("sum", arity=ANY, function=fn.sum_inputs, cost=no_cost,
                shape=lambda s, p: same_shapes("sum", s), doc="Element-wise sum of the inputs."))
register(OpSpec("mean", arity=ANY, function=fn.mean_inputs, cost=no_cost,
                shape=lambda s, p: same_shapes("mean", s), doc="Unweighted element-wise mean of the inputs."))


def _concat_shape(shapes: Sequence[Shape], p: dict) -> Shape:
    for i, shape in enumerate(shapes):
        if len(shape) < 1 or shape[1:] != shapes[0][1:]:
            raise OpError(f"op 'concat' needs inputs that differ in channels only, got {shapes[0]} (input 0) "
                          f"and {shape} (input {i})")
    return (sum(s[0] for s in shapes), *shapes[0][1:])


register(OpSpec("concat", arity=ANY, ordered=True, function=fn.concat, cost=no_cost, shape=_concat_shape,
                doc="Channel concatenation in slot order."))
register(OpSpec(
    "weighted_sum", arity=ANY, shape=lambda s, p: same_shapes("weighted_sum", s),
    cost=lambda s, o, p: Cost(len(s) if len(s) > 1 else 0),
    build=lambda s, o, p: modules.WeightedSum(len(s)),
    doc="Σ sigmoid(w_i)·x_i, one learnable scalar per input (none for a single input), w initialised to 0.",
))

# -- simple ops ---------------------------------------------------------------

register(OpSpec("identity", function=fn.identity, shape=lambda s, p: s[0], cost=no_cost, doc="The input unchanged."))


def _zero_shape(s: Sequence[Shape], p: dict) -> Shape:
    c, h, w = image("zero", s[0])
    return (c, math.ceil(h / p["stride"]), math.ceil(w / p["stride"]))


register(OpSpec("zero", params={"stride": window(1)}, function=fn.zero, shape=_zero_shape,
                cost=no_cost, doc="Zeros (sub-sampled by `stride`): DARTS' `none`."))

# -- convolutions -------------------------------------------------------------


def _relu_conv_bn_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    return conv_cost(s[0][0], o, p["kernel"]) + batch_norm_cost(o[0], p["affine"])


register(OpSpec(
    "relu_conv_bn", params=_conv_params(dilation=window(1), affine=Param("bool", True)),
    shape=lambda s, p: conv_shape("relu_conv_bn", s[0], p["channels"], p),
    cost=_relu_conv_bn_cost,
    build=lambda s, o, p: modules.ReLUConvBN(s[0][0], p["channels"], p["kernel"], p["stride"], conv_padding(p),
                                             p["dilation"], p["affine"]),
    doc="ReLU -> conv -> BN.",
))
register(OpSpec(
    "conv_bn", params=_conv_params(relu=Param("bool", False), affine=Param("bool", True)),
    shape=lambda s, p: conv_shape("conv_bn", s[0], p["channels"], p),
    cost=_relu_conv_bn_cost,
    build=lambda s, o, p: modules.ConvBN(s[0][0], p["channels"], p["kernel"], p["stride"], conv_padding(p),
                                         p["relu"], p["affine"]),
    doc="conv -> BN (-> ReLU when `relu`).",
))


def _sep_conv_cost(c_in: int, o: Shape, kernel: int, affine: bool = True) -> Cost:
    strided = (c_in, *o[1:])
    return conv_cost(c_in, strided, kernel, groups=c_in) + conv_cost(c_in, o, 1) + batch_norm_cost(o[0], affine)


register(OpSpec(
    "sep_conv", params=_conv_params(dilation=window(1), affine=Param("bool", True)),
    shape=lambda s, p: conv_shape("sep_conv", s[0], p["channels"], p),
    cost=lambda s, o, p: _sep_conv_cost(s[0][0], o, p["kernel"], p["affine"]),
    build=lambda s, o, p: modules.SepConv(s[0][0], p["channels"], p["kernel"], p["stride"], conv_padding(p),
                                          p["dilation"], p["affine"]),
    doc="ReLU -> k×k depthwise conv -> 1×1 pointwise conv -> BN.",
))


def _rw_node_shape(s: Sequence[Shape], p: dict) -> Shape:
    shape = same_shapes("rw_node", s)
    return conv_shape("rw_node", shape, p["channels"], {"kernel": 3, "stride": p["stride"]})


register(OpSpec(
    "rw_node", arity=ANY, params={"channels": Param("int", low=1), "stride": window(1)},
    shape=_rw_node_shape,
    cost=lambda s, o, p: Cost(len(s) if len(s) > 1 else 0) + _sep_conv_cost(s[0][0], o, 3),
    build=lambda s, o, p: modules.RandWireNode(len(s), s[0][0], p["channels"], p["stride"]),
    doc="RandWire node: Σ sigmoid(w_i)·x_i, ReLU, 3×3 depthwise (stride), 1×1 pointwise, BN.",
))

# -- pools and heads ----------------------------------------------------------

_POOL_PARAMS = {"kernel": window(3), "stride": window(1),
                "padding": Param("int", None, optional=True, low=0)}


def _pool_shape(op: str):
    def shape(s: Sequence[Shape], p: dict) -> Shape:
        if 2 * conv_padding(p) > p["kernel"]:  # torch refuses more padding than half the window
            raise OpError(f"op {op!r}: padding {p['padding']} exceeds half of kernel {p['kernel']}")
        return conv_shape(op, s[0], s[0][0], p)
    return shape


register(OpSpec("max_pool", params=_POOL_PARAMS, function=fn.max_pool, shape=_pool_shape("max_pool"),
                cost=no_cost, doc="k×k max pool (padding (k−1)//2 by default)."))
register(OpSpec("avg_pool", params={**_POOL_PARAMS, "count_include_pad": Param("bool", False)},
                function=fn.avg_pool, shape=_pool_shape("avg_pool"), cost=no_cost,
                doc="k×k average pool; padding is not counted by default."))
register(OpSpec("global_pool", function=fn.global_pool, shape=lambda s, p: (image("global_pool", s[0])[0],),
                cost=no_cost, doc="Global average pool: (C, H, W) -> (C,)."))


def _flat(op: str, shape: Shape) -> Shape:
    if len(shape) != 1:
        raise OpError(f"op {op!r} takes flat feature inputs (F,), got shape {shape}")
    return shape


register(OpSpec(
    "linear", params={"features": Param("int", low=1), "bias": Param("bool", True)},
    shape=lambda s, p: _flat("linear", s[0]) and (p["features"],),
    cost=lambda s, o, p: linear_cost(s[0][0], p["features"], p["bias"]),
    build=lambda s, o, p: nn.Linear(s[0][0], p["features"], bias=p["bias"]),
    doc="Fully connected layer on flat features.",
))
register(OpSpec(
    "head", params={"num_classes": Param("int", low=1), "dropout": Param("float", 0.0, low=0.0, high=1.0)},
    shape=lambda s, p: image("head", s[0]) and (p["num_classes"],),
    cost=lambda s, o, p: linear_cost(s[0][0], p["num_classes"]),
    build=lambda s, o, p: modules.Head(s[0][0], p["num_classes"], p["dropout"]),
    doc="Classifier: global average pool -> dropout -> fully connected layer with bias.",
))

# -- relaxation ---------------------------------------------------------------


def candidates(p: dict) -> list[tuple[OpSpec, dict]]:
    """The resolved candidate ops of a ``choice`` node."""
    resolved = []
    for i, candidate in enumerate(p["candidates"]):
        spec = get(candidate["op"])
        if spec.structural or spec.arity[0] > 1:
            raise OpError(f"op 'choice': candidate {i} ({spec.name!r}) cannot take a single input")
        if spec.name in ("choice", "select"):  # their module needs an α the mixed op cannot pass
            raise OpError(f"op 'choice': candidate {i} ({spec.name!r}) is itself relaxed; nesting is not supported")
        unknown = set(candidate) - {"op", "params", "name"}
        if unknown:
            raise OpError(f"op 'choice': candidate {i} has unknown keys {sorted(unknown)}; use 'op', 'params' and "
                          f"'name'")
        if not isinstance(candidate.get("name", ""), str):
            raise OpError(f"op 'choice': candidate {i}'s name must be a str, got {candidate['name']!r}")
        resolved.append((spec, spec.resolve(candidate.get("params"))))
    return resolved


def _choice_shape(s: Sequence[Shape], p: dict) -> Shape:
    shapes = [spec.shape(s, params) for spec, params in candidates(p)]
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise OpError(f"op 'choice': candidates must agree on their output shape, got {shapes[0]} "
                          f"(candidate 0) and {shape} (candidate {i})")
    return shapes[0]


def _choice_cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
    return sum((spec.cost(s, o, params) for spec, params in candidates(p)), Cost())


def _choice_build(s: Sequence[Shape], o: Shape, p: dict) -> nn.Module:
    built = [spec.build(s, o, params) if spec.build is not None else modules.FunctionOp(spec.function, params)
             for spec, params in candidates(p)]
    return modules.MixedOp(built)


_RELAXED_PARAMS = {"key": Param("str", None, optional=True), "index": Param("int", 0, low=0),
                   "decision": Param("str", None, optional=True)}

register(OpSpec(
    "choice", params={"candidates": Param("ops", REQUIRED), **_RELAXED_PARAMS},
    shape=_choice_shape, cost=_choice_cost, build=_choice_build,
    doc="Mixed op over candidate ops, weighted by α (softmax by default). Nodes with the same `key` share one "
        "α matrix, of which this node uses row `index`; `decision` names the space's decision it implements "
        "(default `<key>[<index>]`); a candidate may carry a `name`.",
))
register(OpSpec(
    "select", arity=ANY, ordered=True, params=dict(_RELAXED_PARAMS),
    shape=lambda s, p: same_shapes("select", s), cost=no_cost, build=lambda s, o, p: modules.Select(),
    doc="Input choice among the in-edges (slot order), weighted by α; `key`/`index` share α as for `choice`.",
))
