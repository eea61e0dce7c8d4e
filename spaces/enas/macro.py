"""The ENAS macro (whole network) space (Pham et al. 2018, docs/papers.md §4), after melodyguan/enas ``general_child``.

Each of ``layers`` layers picks a branch from :data:`OPS` (ENAS branch ids 0..5)
applied to the previous layer's output, and a set of skip inputs, summed with
the branch and then batch-normalised (``_enas_layer`` with whole channels).
The reference's list ``layers`` holds the stem output and every layer output;
layer t reads its last entry and has t skip bits, bit i adding entry i, i.e.
**the input of layer i** (the stem output for i = 0, else layer i−1's output).
The immediate predecessor is therefore never a skip source, and every layer
but the first ends with the sum's BN even when no bit is set.

Network: 3×3 conv stem to C with BN; the layers, all with C channels (the
search child keeps C constant); after layers ``layers//3 − 1`` and
``2·(layers//3) − 1`` (ENAS ``pool_layers``) every entry of the list is
factorized-reduced (two 1×1 stride-2 convs, concat, BN; no ReLU) to half the
size, one reduction per entry; then global average pool and a fully connected
layer without bias (no ReLU before it, as in the reference). Reductions of
entries no later layer reads are pruned from a discrete graph.

Branches: ``conv_kxk`` = 1×1 conv, BN, ReLU, k×k conv, BN, ReLU;
``sep_conv_kxk`` the same with a k×k depthwise + 1×1 pointwise conv; pools =
1×1 conv, BN, ReLU, 3×3 stride-1 pool (ops ``enas_conv`` and ``enas_pool``).

Not reproduced: the reference's fixed-arc macro network (``_fixed_layer``),
which concatenates skips into a ReLU-1×1conv-BN, doubles channels at the
pooling layers, treats separable branches as plain convs and leaves its pool
branches unimplemented; nor the ``whole_channels=False`` variant.

Supernet: per layer a ``choice`` over the six branches (α key ``op``, row =
layer) and per (layer t, bit i) a ``select`` between zeros and entry i (α key
``skip``, row t(t−1)/2 + i, width 2: column 1 = skip on); the sum with BN as in
the child. ``derive`` takes the argmax of each row.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import networkx as nx
from torch import nn

from wiring import SCHEMA_VERSION

from ..base import Decision
from ..constraint import Constraint
from ..errors import SpaceError
from .tokens import TokenSpace, alphas, argmax, check_int, int_tokens

OPS = ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool", "max_pool")
"""The macro branches in ENAS branch-id order 0..5."""


class Layer(NamedTuple):
    """One macro layer: its branch and one skip bit per earlier entry (see the module docstring)."""

    op: str
    skips: tuple[int, ...]


def branch(op: str, channels: int) -> tuple[str, dict]:
    """The registered op (name, params) of macro branch ``op``."""
    if op.endswith("pool"):
        return "enas_pool", {"channels": channels, "pool": op[:3]}
    return "enas_conv", {"channels": channels, "kernel": int(op[-1]), "separable": op.startswith("sep")}


class MacroSpace(TokenSpace):
    """The ENAS macro space; see the module docstring.

    Options: ``layers`` (12 in the paper), ``channels`` (36 in the reference's
    search script; even when the network pools, i.e. ``layers >= 3``),
    ``num_classes``, ``image_size``, ``in_channels``, ``constraint``.

    An architecture is a tuple of :class:`Layer`. Encoding: the reference's
    arc string, per layer the branch id then its skip bits, space-separated.
    Decisions follow the controller: per layer the branch, then one
    ``kind="skip"`` decision per earlier layer (``source`` = i, ``target`` = t).
    """

    name = "enas.macro"

    def __init__(self, *, layers: int = 12, channels: int = 36, num_classes: int = 10, image_size: int = 32,
                 in_channels: int = 3, constraint: Constraint | None = None) -> None:
        for option, value in (("layers", layers), ("channels", channels), ("num_classes", num_classes),
                              ("image_size", image_size), ("in_channels", in_channels)):
            check_int(option, value)
        distance = layers // 3
        self.pool_layers = (distance - 1, 2 * distance - 1) if distance else ()
        if self.pool_layers and channels % 2:
            raise SpaceError(f"channels must be even (factorized reductions halve them), got channels={channels}")
        self.layers, self.channels, self.num_classes = layers, channels, num_classes
        self.image_size, self.in_channels = image_size, in_channels
        decisions, groups = [], []
        for t in range(layers):
            groups.append((len(decisions), len(decisions) + 1 + t))
            decisions.append(Decision(f"layer{t}.op", OPS))
            decisions += [Decision(f"layer{t}.skip{i}", (0, 1), kind="skip", source=i, target=t) for i in range(t)]
        super().__init__(decisions, groups, constraint)

    def options(self) -> dict[str, Any]:
        return {"kind": "macro", "layers": self.layers, "channels": self.channels, "num_classes": self.num_classes,
                "image_size": self.image_size, "in_channels": self.in_channels}

    def _flatten(self, arch: Any) -> list:
        if not isinstance(arch, tuple) or len(arch) != self.layers:
            raise SpaceError(f"{self.name}: an architecture is a tuple of {self.layers} Layer(op, skips), got {arch!r}")
        values = []
        for t, layer in enumerate(arch):
            if not isinstance(layer, tuple) or len(layer) != 2 or not isinstance(layer[1], tuple) or len(layer[1]) != t:
                raise SpaceError(f"{self.name}: layer {t} must be Layer(op, skips) with {t} skip bits, got {layer!r}")
            values += [layer[0], *layer[1]]
        return values

    def from_values(self, values: Any) -> tuple[Layer, ...]:
        layers, k = [], 0
        for t in range(self.layers):
            layers.append(Layer(values[k], tuple(values[k + 1:k + 1 + t])))
            k += 1 + t
        return tuple(layers)

    def encode(self, arch: tuple[Layer, ...]) -> str:
        arch = self.canonical(arch)
        return " ".join(str(t) for layer in arch for t in (OPS.index(layer.op), *layer.skips))

    def decode(self, text: str) -> tuple[Layer, ...]:
        ints = int_tokens(text, len(self._decisions), self.name)
        values = []
        for k, (d, value) in enumerate(zip(self._decisions, ints)):
            if value >= len(d.choices):
                raise SpaceError(f"{self.name}: token {k} ({value}) of {text!r}: {d.name} must be in "
                                 f"0..{len(d.choices) - 1}")
            values.append(d.choices[value])
        return self.from_values(values)

    def to_graph(self, arch: tuple[Layer, ...]) -> nx.DiGraph:
        arch = self.canonical(arch)
        G = self._network(arch, self.encode(arch))
        G.remove_nodes_from(set(G) - nx.ancestors(G, "output") - {"output"})
        return G

    def supernet(self) -> nx.DiGraph:
        return self.tag_decisions(self._network(None, None))

    def decision_rows(self) -> dict[str, tuple[str, int]]:
        rows = {}
        for t in range(self.layers):
            rows[f"layer{t}.op"] = ("op", t)
            rows.update({f"layer{t}.skip{i}": ("skip", t * (t - 1) // 2 + i) for i in range(t)})
        return rows

    def derive(self, model: nn.Module) -> tuple[Layer, ...]:
        pairs = self.layers * (self.layers - 1) // 2
        shapes = {"op": (self.layers, len(OPS)), **({"skip": (pairs, 2)} if pairs else {})}
        alpha = alphas(model, shapes, self.name)
        return tuple(Layer(OPS[argmax(alpha["op"][t])],
                           tuple(argmax(alpha["skip"][t * (t - 1) // 2 + i]) for i in range(t)))
                     for t in range(self.layers))

    def _network(self, arch: tuple[Layer, ...] | None, encoding: str | None) -> nx.DiGraph:
        c = self.channels
        G = nx.DiGraph(schema=SCHEMA_VERSION, space={"name": "enas", "params": self.options(), "encoding": encoding,
                                                     "supernet": arch is None})
        G.add_node("input", op="input", params={"channels": self.in_channels, "size": [self.image_size] * 2})
        G.add_node("stem", op="conv_bn", params={"channels": c, "kernel": 3})
        G.add_edge("input", "stem")
        entries = ["stem"]
        for t in range(self.layers):
            label = f"layer{t}"
            if arch is None:
                G.add_node(label, op="choice", params={"candidates": [dict(zip(("op", "params"), branch(op, c)))
                                                                      for op in OPS], "key": "op", "index": t})
            else:
                op, params = branch(arch[t].op, c)
                G.add_node(label, op=op, params=params)
            G.add_edge(entries[-1], label)
            if t > 0:
                G.add_node(f"{label}.sum", op="enas_skip_sum")
                G.add_edge(label, f"{label}.sum")
                for i in range(t):
                    if arch is None:
                        G.add_edge(_gate(G, entries[i], t, i), f"{label}.sum")
                    elif arch[t].skips[i]:
                        G.add_edge(entries[i], f"{label}.sum")
                label = f"{label}.sum"
            entries.append(label)
            if t in self.pool_layers:
                for i, entry in enumerate(entries):
                    G.add_node(f"pool{t}.from{i}", op="enas_reduce", params={"channels": c})
                    G.add_edge(entry, f"pool{t}.from{i}")
                entries = [f"pool{t}.from{i}" for i in range(len(entries))]
        G.add_node("head", op="enas_head", params={"num_classes": self.num_classes, "relu": False})
        G.add_node("output", op="output")
        nx.add_path(G, [entries[-1], "head", "output"])
        return G


def _gate(G: nx.DiGraph, entry: str, t: int, i: int) -> str:
    """A ``select`` between zeros (slot 0) and ``entry`` (slot 1): the supernet's skip bit i of layer t."""
    zero = f"{entry}.zero"
    if zero not in G:
        G.add_node(zero, op="zero")
        G.add_edge(entry, zero)
    gate = f"layer{t}.skip{i}"
    G.add_node(gate, op="select", params={"key": "skip", "index": t * (t - 1) // 2 + i})
    G.add_edge(zero, gate, slot=0)
    G.add_edge(entry, gate, slot=1)
    return gate
