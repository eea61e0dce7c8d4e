"""MnasNet's factorized hierarchical search space (Tan et al. 2019; docs/papers.md §7).

The network: a 3×3/2 stem conv (32·width channels), B = 7 blocks, a 1×1 conv to
``head_channels`` (1280), global average pool and a fully connected classifier.
Block ``i`` has a MobileNetV2 base (filters, layers, stride)::

    (16, 1, 1) (24, 2, 2) (32, 3, 2) (64, 4, 2) (96, 3, 1) (160, 3, 2) (320, 1, 1)

and chooses six things, repeated by every layer of the block (the first layer
takes the block's stride and changes the channels):

- conv op: ``conv`` (regular conv, op ``regular_conv``), ``dwconv`` (depthwise
  separable, MnasNet's SepConv), ``mbconv3`` / ``mbconv6`` (inverted
  bottleneck, expansion 3 / 6), all with ReLU (ops in :mod:`ops.mobile`);
- kernel 3 or 5; squeeze-and-excitation ratio 0 or 0.25 (of the layer's input
  channels, MnasNet's reference rule);
- skip op: ``pooling``, ``identity`` or ``none``;
- filter size ×0.75, ×1.0 or ×1.25 of the base: ``max(1, round(base · width · f))``
  channels (no rounding to multiples of 8, which would merge the choices);
- layers −1, 0 or +1 relative to the base, at least 1.

Readings chosen here (the paper names the skip ops but does not define them):

- ``identity`` adds the layer's input where shapes allow (stride 1, equal
  channels), as MnasNet's reference code does for ``id_skip`` blocks; other
  layers have no skip.
- ``pooling`` adds a 3×3 average pool of the input (stride = the layer's
  stride, padding 1, padding not counted) wherever the channels are equal,
  so it also bridges a strided layer; layers that change channels have none.
- ``none``: no skip.

For a base of one layer, ``layers=-1`` and ``0`` give the same network; the
decision keeps its three values so that every block has the same 6 decisions
(``size()`` = 432⁷ counts such duplicates).

The reward ACC·(LAT/T)^w (docs/papers.md §7) belongs to the search strategy, not here.
:meth:`MnasNetSpace.supernet` (MnasNet itself searches with RL; this relaxation
is this library's) relaxes conv op × kernel × SE per block (16 candidates, one
α per block shared by its layers, key ``b<i>_op``), the skip op per block on
layers that keep the shape (key ``b<i>_skip``: pooling, identity, zero) and
the depth (a ``select`` over the outputs after each distinct depth, key
``b<i>_layers``); the filter size stays ×1.0, and :meth:`~MnasNetSpace.derive`
returns ×1.0.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import networkx as nx
from torch import nn

from generators.checks import positive_int, positive_real
from wiring import SCHEMA_VERSION

from .base import Decision, DecisionSpace, supernet_alphas
from .constraint import Constraint
from .errors import SpaceError

OPS = ("conv", "dwconv", "mbconv3", "mbconv6")
KERNELS = (3, 5)
SE_RATIOS = (0.0, 0.25)
SKIPS = ("pooling", "identity", "none")
FILTERS = (0.75, 1.0, 1.25)
LAYERS = (-1, 0, 1)
CHOICES = {"op": OPS, "kernel": KERNELS, "se": SE_RATIOS, "skip": SKIPS, "filters": FILTERS, "layers": LAYERS}
"""Per-block decisions in order; an architecture is 7 × these 6 values, flat."""

MOBILENET_V2_FILTERS = (16, 24, 32, 64, 96, 160, 320)
MOBILENET_V2_LAYERS = (1, 2, 3, 4, 3, 3, 1)
STRIDES = (1, 2, 2, 2, 1, 2, 1)
BLOCKS = len(STRIDES)

SMALL = {"width": 0.25, "layers": (1, 1, 1, 2, 1, 1, 1), "head_channels": 64, "image_size": 32, "num_classes": 10}

_EXPAND = {"mbconv3": 3, "mbconv6": 6}
_TOKENS = {
    "op": lambda v: v, "kernel": lambda v: f"k{v}", "se": lambda v: f"se{float(v)}",
    "skip": lambda v: f"skip={v}", "filters": lambda v: f"f{float(v)}", "layers": lambda v: f"l{v:+d}",
}


class Block(NamedTuple):
    """The six choices of one block."""

    op: str
    kernel: int
    se: float
    skip: str
    filters: float
    layers: int


# -- graph building (shared with spaces.proxyless) ------------------------------------------------


class Chain:
    """A typed DAG grown node by node from one image ``input``; :meth:`add` feeds the last node by default."""

    def __init__(self, space: dict[str, Any], channels: int, image_size: int) -> None:
        self.graph = nx.DiGraph(schema=SCHEMA_VERSION, space=space)
        self.graph.add_node("input", op="input", params={"channels": channels, "size": [image_size, image_size]})
        self.last: Hashable = "input"

    def add(self, label: Hashable, op: str, params: dict[str, Any] | None = None,
            inputs: Sequence[Hashable] | None = None) -> Hashable:
        """Add node ``label`` fed by ``inputs`` in slot order (default: the last node added); it becomes the last."""
        inputs = [self.last] if inputs is None else list(inputs)
        self.graph.add_node(label, op=op, params={} if params is None else params)
        for slot, source in enumerate(inputs):
            self.graph.add_edge(source, label, **({"slot": slot} if len(inputs) > 1 else {}))
        self.last = label
        return label

    def finish(self) -> nx.DiGraph:
        self.add("output", "output")
        return self.graph


def positive_ints(name: str, value: Any, length: int) -> tuple[int, ...]:
    """``value`` as a tuple of ``length`` positive ints, else :class:`SpaceError` naming the option."""
    if not isinstance(value, (tuple, list)) or len(value) != length or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise SpaceError(f"{name} must be {length} positive ints, got {name}={value!r}")
    return tuple(value)


def alpha_row(model: nn.Module, key: str, width: int, space: str) -> list[float]:
    """The one row of α ``key`` in a compiled supernet, or :class:`SpaceError` naming the key."""
    return supernet_alphas(model, {key: (1, width)}, space)[key][0].tolist()


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value, the first on ties."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


# -- the space ---------------------------------------------------------------------------------------


class MnasNetSpace(DecisionSpace):
    """MnasNet's space; an architecture is a flat tuple of 7 × 6 choices (see :data:`CHOICES`)."""

    name = "mnasnet"

    def __init__(self, *, width: float = 1.0, filters: Sequence[int] = MOBILENET_V2_FILTERS,
                 layers: Sequence[int] = MOBILENET_V2_LAYERS, stem_channels: int = 32, head_channels: int = 1280,
                 num_classes: int = 1000, image_size: int = 224, constraint: Constraint | None = None) -> None:
        super().__init__(constraint)
        self.width = float(positive_real("width", width, error=SpaceError))
        self.filters = positive_ints("filters", filters, BLOCKS)
        self.layers = positive_ints("layers", layers, BLOCKS)
        self.stem_channels = positive_int("stem_channels", stem_channels, error=SpaceError)
        self.head_channels = positive_int("head_channels", head_channels, error=SpaceError)
        self.num_classes = positive_int("num_classes", num_classes, error=SpaceError)
        self.image_size = positive_int("image_size", image_size, error=SpaceError)
        self._decisions = [Decision(f"b{i}_{field}", choices)
                           for i in range(BLOCKS) for field, choices in CHOICES.items()]

    @property
    def options(self) -> dict[str, Any]:
        return {"width": self.width, "filters": list(self.filters), "layers": list(self.layers),
                "stem_channels": self.stem_channels, "head_channels": self.head_channels,
                "num_classes": self.num_classes, "image_size": self.image_size}

    def decisions(self) -> list[Decision]:
        return list(self._decisions)

    def blocks(self, arch: tuple) -> tuple[Block, ...]:
        """``arch`` as one :class:`Block` per block."""
        self.check(arch)
        n = len(CHOICES)
        return tuple(Block(*arch[i * n:(i + 1) * n]) for i in range(BLOCKS))

    def channels(self, block: int, filters: float) -> int:
        """Output channels of ``block`` at filter multiplier ``filters``."""
        return max(1, round(self.filters[block] * self.width * filters))

    def depth(self, block: int, layers: int) -> int:
        """Number of layers of ``block`` at offset ``layers``."""
        return max(1, self.layers[block] + layers)

    # -- encoding -------------------------------------------------------------------------------

    def encode(self, arch: tuple) -> str:
        return ";".join(f"b{i}:" + "_".join(_TOKENS[f](v) for f, v in zip(CHOICES, block))
                        for i, block in enumerate(self.blocks(arch)))

    def decode(self, text: str) -> tuple:
        if not isinstance(text, str):
            raise SpaceError(f"{self.name}: an encoding is a string, got {text!r}")
        parts = text.strip().split(";")
        if len(parts) != BLOCKS:
            raise SpaceError(f"{self.name}: expected {BLOCKS} blocks separated by ';', got {len(parts)} in {text!r}")
        arch: list[Any] = []
        for i, part in enumerate(parts):
            prefix, _, body = part.partition(":")
            if prefix != f"b{i}":
                raise SpaceError(f"{self.name}: block {i} must start with 'b{i}:', got {part!r}")
            tokens = body.split("_")
            if len(tokens) != len(CHOICES):
                raise SpaceError(f"{self.name}: block {i} needs {len(CHOICES)} '_'-separated tokens "
                                 f"(op, kernel, se, skip, filters, layers), got {body!r}")
            for (field, choices), token in zip(CHOICES.items(), tokens):
                values = {_TOKENS[field](c): c for c in choices}
                if token not in values:
                    raise SpaceError(f"{self.name}: block {i}: bad {field} token {token!r}; one of {list(values)}")
                arch.append(values[token])
        return tuple(arch)

    # -- graphs ---------------------------------------------------------------------------------

    def _chain(self, provenance: dict[str, Any]) -> tuple[Chain, int]:
        chain = Chain({"name": self.name, **provenance, "options": self.options}, 3, self.image_size)
        stem = max(1, round(self.stem_channels * self.width))
        chain.add("stem", "regular_conv", {"channels": stem, "kernel": 3, "stride": 2})
        return chain, stem

    def _head(self, chain: Chain) -> nx.DiGraph:
        chain.add("head_conv", "regular_conv", {"channels": self.head_channels, "kernel": 1})
        chain.add("classifier", "head", {"num_classes": self.num_classes})
        return chain.finish()

    def to_graph(self, arch: tuple) -> nx.DiGraph:
        chain, c_in = self._chain({"encoding": self.encode(arch)})
        for i, block in enumerate(self.blocks(arch)):
            c_out = self.channels(i, block.filters)
            for j in range(self.depth(i, block.layers)):
                stride = STRIDES[i] if j == 0 else 1
                x = chain.last
                op, params = _layer(block.op, block.kernel, block.se, c_out, stride)
                y = chain.add(f"b{i}_l{j}", op, params)
                if c_in == c_out and (block.skip == "pooling" or (block.skip == "identity" and stride == 1)):
                    shortcut = x
                    if block.skip == "pooling":
                        shortcut = chain.add(f"b{i}_l{j}_pool", "avg_pool", {"kernel": 3, "stride": stride}, [x])
                    chain.add(f"b{i}_l{j}_add", "sum", None, [y, shortcut])
                c_in = c_out
        return self._head(chain)

    def supernet(self) -> nx.DiGraph:
        chain, c_in = self._chain({"supernet": True})
        candidates = [{"op": op, "params": params}
                      for op, params in (_layer(o, k, se, 1, 1) for o, k, se in _op_product())]
        skips = [{"op": "avg_pool", "params": {"kernel": 3}}, {"op": "identity"}, {"op": "zero"}]
        for i in range(BLOCKS):
            c_out = self.channels(i, 1.0)
            ends = []
            for j in range(self.depth(i, max(LAYERS))):
                stride = STRIDES[i] if j == 0 else 1
                x = chain.last
                layer = [{"op": c["op"], "params": {**c["params"], "channels": c_out, "stride": stride}}
                         for c in candidates]
                y = chain.add(f"b{i}_l{j}", "choice", {"candidates": layer, "key": f"b{i}_op"})
                if stride == 1 and c_in == c_out:
                    skip = chain.add(f"b{i}_l{j}_skip", "choice", {"candidates": skips, "key": f"b{i}_skip"}, [x])
                    chain.add(f"b{i}_l{j}_add", "sum", None, [y, skip])
                ends.append(chain.last)
                c_in = c_out
            depths = sorted(self._depth_offsets(i))
            chain.add(f"b{i}_depth", "select", {"key": f"b{i}_layers"}, [ends[d - 1] for d in depths])
        return self._head(chain)

    def _depth_offsets(self, block: int) -> dict[int, int]:
        """Distinct depths of ``block`` -> the layers offset giving it (0 preferred on equal depths)."""
        offsets: dict[int, int] = {}
        for offset in sorted(LAYERS, key=abs):
            offsets.setdefault(self.depth(block, offset), offset)
        return offsets

    def derive(self, model: nn.Module) -> tuple:
        """Argmax of each block's op, skip and depth α (first on ties); filter size ×1.0."""
        product = _op_product()
        arch: list[Any] = []
        for i in range(BLOCKS):
            op, kernel, se = product[argmax(alpha_row(model, f"b{i}_op", len(product), self.name))]
            skip = SKIPS[argmax(alpha_row(model, f"b{i}_skip", len(SKIPS), self.name))]
            depths = sorted(self._depth_offsets(i))
            depth = depths[argmax(alpha_row(model, f"b{i}_layers", len(depths), self.name))]
            arch += [op, kernel, se, skip, 1.0, self._depth_offsets(i)[depth]]
        return tuple(arch)


def _op_product() -> list[tuple[str, int, float]]:
    """The supernet's candidates per layer: conv op × kernel × SE ratio, in this order."""
    return list(itertools.product(OPS, KERNELS, SE_RATIOS))


def _layer(op: str, kernel: int, se: float, channels: int, stride: int) -> tuple[str, dict[str, Any]]:
    """(op name, params) of one layer; residuals are explicit skip nodes, so the ops add none."""
    params: dict[str, Any] = {"channels": channels, "kernel": kernel, "stride": stride, "se": se}
    if op == "conv":
        return "regular_conv", params
    if op == "dwconv":
        return "dwconv", {**params, "residual": False}
    return "mbconv", {**params, "expand": _EXPAND[op], "residual": False}


def space(*, width: float = 1.0, filters: Sequence[int] = MOBILENET_V2_FILTERS,
          layers: Sequence[int] = MOBILENET_V2_LAYERS, stem_channels: int = 32, head_channels: int = 1280,
          num_classes: int = 1000, image_size: int = 224, constraint: Constraint | None = None) -> MnasNetSpace:
    """MnasNet's search space.

    ``width`` scales the stem and every block's filters; ``filters`` and
    ``layers`` are the 7 blocks' base filters and layer counts (MobileNetV2's
    by default; other bases reproduce e.g. MnasNet-A1/B1 layouts);
    ``head_channels`` is the 1×1 conv before the classifier (not scaled).
    """
    return MnasNetSpace(width=width, filters=filters, layers=layers, stem_channels=stem_channels,
                        head_channels=head_channels, num_classes=num_classes, image_size=image_size,
                        constraint=constraint)
