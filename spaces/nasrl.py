"""The NAS-RL space (Zoph & Le 2017, "Neural Architecture Search with Reinforcement Learning"; docs/papers.md §5).

A network of ``layers`` convolutional layers. For each layer the controller
emits, in the order of the paper's Fig. 4 and §3.1: the anchor point's skip
decisions (one sigmoid per earlier layer j: is layer j an input of this
layer?), filter height ∈ {1, 3, 5, 7}, filter width ∈ {1, 3, 5, 7}, with
``strides=True`` a stride ∈ {1, 2, 3} (one value for both axes), and the number
of filters ∈ {24, 36, 48, 64}. ``strides=False`` (the default) is the paper's
first experiment, with every stride 1.

Network, following §3.3's three rules: a layer's inputs are concatenated along
depth, smaller ones zero-padded (centred) to the largest (op ``pad_concat``);
a layer with no input takes the image; every layer output no later layer
takes is concatenated (the same way) into the final hidden state. A layer is
the conv (``kernel_h × kernel_w``, 'same' padding, bias-free) followed by BN and
ReLU (op ``conv_hw``; the paper gives no order, this is the usual one). The
classifier, which the paper does not specify, is global average pooling and a
fully connected layer with bias (op ``head``).

Encoding: layers separated by spaces, each ``<h>x<w>:<filters>:s<stride>``
followed by ``:in<j>,<k>...`` when it has inputs, e.g. ``3x3:36:s1 5x1:24:s1:in0``.

Supernet (beyond the paper, which trains every child from scratch): per layer
a ``choice`` over the 16 kernel shapes, each a ``conv_hw`` with the largest
filter count (64) at stride 1, then a ``choice`` over keeping the first 24, 36,
48 or 64 filters (``channel_mask``: the filter counts share weights, as in ENAS);
α keys ``kernel`` (row = layer, width 16) and ``filters`` (width 4). Every
layer after the first reads the image (slot 0, standing in for "no input
takes the image") and, per earlier layer j, a ``select`` between zeros and
layer j (α key ``skip``, row i(i−1)/2 + j, width 2: column 1 = connected);
every layer output feeds the final concatenation. Strides are not relaxed:
``derive`` returns stride-1 layers.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, NamedTuple

import networkx as nx
from torch import nn

from wiring import SCHEMA_VERSION

from .base import Decision
from .constraint import Constraint
from .enas.tokens import TokenSpace, alphas, argmax, check_int, construct
from .errors import SpaceError

HEIGHTS = (1, 3, 5, 7)
WIDTHS = (1, 3, 5, 7)
FILTERS = (24, 36, 48, 64)
STRIDES = (1, 2, 3)
KERNELS = tuple(itertools.product(HEIGHTS, WIDTHS))
"""The 16 (height, width) kernel shapes, in the supernet's candidate order."""

SMALL: dict[str, Any] = {"layers": 3, "image_size": 16}


class Layer(NamedTuple):
    """One NAS-RL layer: kernel ``height`` × ``width``, ``filters``, ``stride`` and its input layers (sorted)."""

    height: int
    width: int
    filters: int
    stride: int
    inputs: tuple[int, ...]


class NasRLSpace(TokenSpace):
    """The NAS-RL space; see the module docstring. An architecture is a tuple of :class:`Layer`."""

    name = "nasrl"

    def __init__(self, *, layers: int = 15, strides: bool = False, num_classes: int = 10, image_size: int = 32,
                 in_channels: int = 3, constraint: Constraint | None = None) -> None:
        for option, value in (("layers", layers), ("num_classes", num_classes), ("image_size", image_size),
                              ("in_channels", in_channels)):
            check_int(option, value)
        if not isinstance(strides, bool):
            raise SpaceError(f"strides must be a bool, got strides={strides!r}")
        self.layers, self.strides, self.num_classes = layers, strides, num_classes
        self.image_size, self.in_channels = image_size, in_channels
        decisions, groups = [], []
        for i in range(layers):
            start = len(decisions)
            decisions += [Decision(f"layer{i}.skip{j}", (0, 1), kind="skip", source=j, target=i) for j in range(i)]
            decisions += [Decision(f"layer{i}.height", HEIGHTS), Decision(f"layer{i}.width", WIDTHS)]
            decisions += [Decision(f"layer{i}.stride", STRIDES)] if strides else []
            decisions.append(Decision(f"layer{i}.filters", FILTERS))
            groups.append((start, len(decisions)))
        super().__init__(decisions, groups, constraint)

    def options(self) -> dict[str, Any]:
        return {"layers": self.layers, "strides": self.strides, "num_classes": self.num_classes,
                "image_size": self.image_size, "in_channels": self.in_channels}

    # -- tokens ----------------------------------------------------------------------

    def _flatten(self, arch: Any) -> list:
        if not isinstance(arch, tuple) or len(arch) != self.layers:
            raise SpaceError(f"{self.name}: an architecture is a tuple of {self.layers} Layer(height, width, filters, "
                             f"stride, inputs), got {arch!r}")
        values = []
        for i, layer in enumerate(arch):
            if not isinstance(layer, tuple) or len(layer) != 5:
                raise SpaceError(f"{self.name}: layer {i} must be Layer(height, width, filters, stride, inputs), "
                                 f"got {layer!r}")
            height, width, filters, stride, inputs = layer
            if (not isinstance(inputs, tuple) or not all(isinstance(j, int) and 0 <= j < i for j in inputs)
                    or list(inputs) != sorted(set(inputs))):
                raise SpaceError(f"{self.name}: layer {i} inputs must be a sorted tuple of distinct earlier layers "
                                 f"(0..{i - 1}), got {inputs!r}")
            if not self.strides and stride != 1:
                raise SpaceError(f"{self.name}: layer {i} stride must be 1 (strides=False), got {stride!r}")
            values += [int(j in inputs) for j in range(i)] + [height, width]
            values += [stride] if self.strides else []
            values.append(filters)
        return values

    def from_values(self, values: Any) -> tuple[Layer, ...]:
        layers, k = [], 0
        for i in range(self.layers):
            bits, k = values[k:k + i], k + i
            height, width = values[k:k + 2]
            stride, k = (values[k + 2], k + 3) if self.strides else (1, k + 2)
            layers.append(Layer(height, width, values[k], stride, tuple(j for j in range(i) if bits[j])))
            k += 1
        return tuple(layers)

    def encode(self, arch: tuple[Layer, ...]) -> str:
        self.values(arch)
        return " ".join(f"{h}x{w}:{f}:s{s}" + (f":in{','.join(map(str, inputs))}" if inputs else "")
                        for h, w, f, s, inputs in arch)

    def decode(self, text: str) -> tuple[Layer, ...]:
        if not isinstance(text, str):
            raise SpaceError(f"{self.name}: an encoding is a string, got {text!r}")
        tokens = text.split()
        if len(tokens) != self.layers:
            raise SpaceError(f"{self.name}: an encoding holds {self.layers} layers, got {len(tokens)} in {text!r}")
        layers = []
        for i, token in enumerate(tokens):
            match = _LAYER.match(token)
            if match is None:
                raise SpaceError(f"{self.name}: layer {i} token {token!r} is not "
                                 f"<h>x<w>:<filters>:s<stride>[:in<j>,...]")
            h, w, f, s = (int(g) for g in match.groups()[:4])
            inputs = tuple(int(j) for j in match.group(5).split(",")) if match.group(5) else ()
            for what, value, choices in (("height", h, HEIGHTS), ("width", w, WIDTHS), ("filters", f, FILTERS),
                                         ("stride", s, STRIDES if self.strides else (1,))):
                if value not in choices:
                    raise SpaceError(f"{self.name}: layer {i} token {token!r}: {what} must be one of {list(choices)}, "
                                     f"got {value}")
            layers.append(Layer(h, w, f, s, inputs))
        self.values(tuple(layers))
        return tuple(layers)

    # -- graphs ----------------------------------------------------------------------

    def to_graph(self, arch: tuple[Layer, ...]) -> nx.DiGraph:
        arch = self.canonical(arch)
        G = self._start(self.encode(arch))
        for i, (h, w, f, s, inputs) in enumerate(arch):
            sources = [f"layer{j}" for j in inputs] or ["input"]
            G.add_node(f"layer{i}", op="conv_hw", params={"channels": f, "kernel_h": h, "kernel_w": w, "stride": s})
            G.add_edge(_gather(G, f"layer{i}.in", sources), f"layer{i}")
        consumed = {j for layer in arch for j in layer.inputs}
        return self._finish(G, [f"layer{i}" for i in range(self.layers) if i not in consumed])

    def supernet(self) -> nx.DiGraph:
        G = self._start(None)
        top = max(FILTERS)
        for i in range(self.layers):
            sources = ["input", *(_gate(G, j, i) for j in range(i))]
            G.add_node(f"layer{i}.conv", op="choice", params={"key": "kernel", "index": i, "candidates": [
                {"op": "conv_hw", "params": {"channels": top, "kernel_h": h, "kernel_w": w}} for h, w in KERNELS]})
            G.add_node(f"layer{i}", op="choice", params={"key": "filters", "index": i, "candidates": [
                {"op": "channel_mask", "params": {"keep": f}} for f in FILTERS]})
            G.add_edge(_gather(G, f"layer{i}.in", sources), f"layer{i}.conv")
            G.add_edge(f"layer{i}.conv", f"layer{i}")
        return self._finish(G, [f"layer{i}" for i in range(self.layers)])

    def derive(self, model: nn.Module) -> tuple[Layer, ...]:
        pairs = self.layers * (self.layers - 1) // 2
        shapes = {"kernel": (self.layers, len(KERNELS)), "filters": (self.layers, len(FILTERS)),
                  **({"skip": (pairs, 2)} if pairs else {})}
        alpha = alphas(model, shapes, self.name)
        return tuple(Layer(*KERNELS[argmax(alpha["kernel"][i])], FILTERS[argmax(alpha["filters"][i])], 1,
                           tuple(j for j in range(i) if argmax(alpha["skip"][i * (i - 1) // 2 + j])))
                     for i in range(self.layers))

    def _start(self, encoding: str | None) -> nx.DiGraph:
        G = nx.DiGraph(schema=SCHEMA_VERSION, space={"name": self.name, "params": self.options(),
                                                     "encoding": encoding, "supernet": encoding is None})
        G.add_node("input", op="input", params={"channels": self.in_channels, "size": [self.image_size] * 2})
        return G

    def _finish(self, G: nx.DiGraph, outputs: list[str]) -> nx.DiGraph:
        G.add_node("head", op="head", params={"num_classes": self.num_classes})
        G.add_node("output", op="output")
        nx.add_path(G, [_gather(G, "final", outputs), "head", "output"])
        return G


_LAYER = re.compile(r"^(\d+)x(\d+):(\d+):s(\d+)(?::in(\d+(?:,\d+)*))?$")


def _gather(G: nx.DiGraph, label: str, sources: list[str]) -> str:
    """``sources[0]`` alone, or a ``pad_concat`` node ``label`` of all sources in slot order."""
    if len(sources) == 1:
        return sources[0]
    G.add_node(label, op="pad_concat")
    G.add_edges_from((source, label, {"slot": k}) for k, source in enumerate(sources))
    return label


def _gate(G: nx.DiGraph, j: int, i: int) -> str:
    """The supernet's skip j -> i: a ``select`` between zeros (slot 0) and layer j (slot 1)."""
    zero = f"layer{j}.zero"
    if zero not in G:
        G.add_node(zero, op="zero")
        G.add_edge(f"layer{j}", zero)
    gate = f"layer{i}.skip{j}"
    G.add_node(gate, op="select", params={"key": "skip", "index": i * (i - 1) // 2 + j})
    G.add_edge(zero, gate, slot=0)
    G.add_edge(f"layer{j}", gate, slot=1)
    return gate


def space(**options: Any) -> NasRLSpace:
    """The NAS-RL space (options of :class:`NasRLSpace`)."""
    return construct(NasRLSpace, "nasrl", options)
