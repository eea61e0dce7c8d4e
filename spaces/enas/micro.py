"""The ENAS micro (cell) search space (Pham et al. 2018, docs/papers.md §4), after melodyguan/enas ``micro_child.py``.

A cell has two inputs (states 0 and 1) and B nodes (states 2..B+1); node i is
``op_a(state[input_a]) + op_b(state[input_b])`` with inputs among the states
before it and ops from :data:`OPS` (ENAS op ids 0..4: 5×5 and 3×3 separable
convs stacked twice, 3×3 average and max pool, identity). Normal and
reduction cells have separate arcs.

Network (``network="search"``, the default: the child network ENAS trains with
shared weights, ``_enas_layer``). A 3×3 conv stem to 3C with BN feeds both
inputs of the first cell; ``layers + 2`` cells follow, the reduction cells at
``layers // 3`` and ``2 * (layers // 3) + 1`` (so ``layers // 3`` normal cells
per stage, ENAS ``pool_layers``), each doubling C. Before a reduction cell the
previous cell's output goes through a factorized reduction (no ReLU) to 2C,
and the cell reads (previous output, its reduction) with every op at stride 1.
Inside a cell the inputs are calibrated (``_maybe_calibrate_size``): input 0
through ReLU + factorized reduction when its size differs, else ReLU-1×1conv-BN
when its channels differ from C; input 1 through ReLU-1×1conv-BN when its
channels differ. Every state no node reads (the cell inputs included, as in
the reference) is concatenated, then ReLU-1×1conv-BN to C. Classifier: ReLU,
global average pool, fully connected layer without bias.

``network="fixed"`` is the reference's retraining network (``_fixed_layer``):
reduction cells apply their ops at stride 2 to the cell inputs (identity
becomes a factorized reduction), input 1 always passes a further
ReLU-1×1conv-BN (``layer_base``), and the cell output is the concatenation of
the unused states (larger ones factorized-reduced) without a final conv, so it
has (unused states)·C channels. Drop-path, dropout and the auxiliary head are
training devices and are not in the graph (the reference's parameter count
leaves the auxiliary head out too).

Supernet (search network, every path): for each node and each of its two
input slots, a ``choice`` over :data:`OPS` on every candidate input (one
weight set per (node, slot, input, op), as ENAS's ``x``/``y`` variable scopes
index their weights by ``prev_cell``), then a ``select`` among those inputs;
every state is concatenated into the final ReLU-1×1conv-BN (ENAS's
``final_conv`` holds one C×C block per state). α keys are shared by every cell
of a type: ``<cell>_op`` (row 2·node + slot, width 5) and ``<cell>_in<node>``
(row = slot, width node + 2).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import networkx as nx
from torch import nn

from wiring import SCHEMA_VERSION

from ..base import Decision
from ..constraint import Constraint
from ..errors import SpaceError
from .tokens import TokenSpace, alphas, argmax, check_int, int_tokens

OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
OP_BIAS = (10.0, 10.0, 0.0, 0.0, 0.0)
"""The reference micro controller's initial, learnt op-logit bias ``b_soft`` (favours the separable convs)."""
OP_OFFSET = (0.25, 0.25, -0.25, -0.25, -0.25)
"""Its fixed offset ``b_soft_no_learn``, added to normal cells' op logits after the tanh: with ``OP_BIAS``,
initial normal-cell op probabilities ≈ (0.315, 0.315, 0.123, 0.123, 0.123)."""
"""The micro ops in ENAS op-id order 0..4 (the names of the registered ops that compute them at stride 1)."""

CELLS = ("normal", "reduce")
SLOTS = ("a", "b")
NETWORKS = ("search", "fixed")


class Node(NamedTuple):
    """One cell node: ``op_a(state[input_a]) + op_b(state[input_b])``."""

    input_a: int
    op_a: str
    input_b: int
    op_b: str


class MicroArch(NamedTuple):
    """An ENAS micro architecture: the normal and the reduction cell's nodes."""

    normal: tuple[Node, ...]
    reduce: tuple[Node, ...]


class _State(NamedTuple):
    label: Any
    channels: int
    size: int


class MicroSpace(TokenSpace):
    """The ENAS micro space; see the module docstring.

    Options: ``layers`` (ENAS ``num_layers``; ``layers + 2`` cells), ``channels``
    (C of the first stage), ``nodes`` (B), ``num_classes``, ``image_size``,
    ``in_channels``, ``network`` (``"search"`` or ``"fixed"``), ``constraint``.
    Defaults are the reference's search settings (6 layers, 20 channels, B=5);
    its retraining network is ``network="fixed", layers=15, channels=36``.

    Encoding: the reference's ``--child_fixed_arc`` string, ``x_a op_a x_b op_b``
    per node, normal cell then reduction cell, space-separated. Decisions follow
    the controller's token order: per node ``input_a``, ``input_b``, ``op_a``, ``op_b``.
    """

    name = "enas.micro"

    def __init__(self, *, layers: int = 6, channels: int = 20, nodes: int = 5, num_classes: int = 10,
                 image_size: int = 32, in_channels: int = 3, network: str = "search",
                 constraint: Constraint | None = None) -> None:
        for option, value in (("layers", layers), ("channels", channels), ("nodes", nodes),
                              ("num_classes", num_classes), ("image_size", image_size), ("in_channels", in_channels)):
            check_int(option, value)
        if network not in NETWORKS:
            raise SpaceError(f"network must be one of {list(NETWORKS)}, got network={network!r}")
        self.layers, self.channels, self.nodes, self.num_classes = layers, channels, nodes, num_classes
        self.image_size, self.in_channels, self.network = image_size, in_channels, network
        distance = layers // 3
        self.pool_layers = (distance, 2 * distance + 1)
        decisions, groups = [], []
        for cell in CELLS:
            for i in range(nodes):
                groups.append((len(decisions), len(decisions) + 4))
                inputs = tuple(range(i + 2))
                decisions += [Decision(f"{cell}.node{i}.input_{s}", inputs, kind="input", target=i + 2)
                              for s in SLOTS]
                decisions += [Decision(f"{cell}.node{i}.op_{s}", OPS, target=i + 2, bias=OP_BIAS,
                                       offset=OP_OFFSET if cell == "normal" else None) for s in SLOTS]
        super().__init__(decisions, groups, constraint)

    def options(self) -> dict[str, Any]:
        return {"kind": "micro", "layers": self.layers, "channels": self.channels, "nodes": self.nodes,
                "num_classes": self.num_classes, "image_size": self.image_size, "in_channels": self.in_channels,
                "network": self.network}

    # -- tokens ----------------------------------------------------------------------

    def _flatten(self, arch: Any) -> list:
        if not isinstance(arch, tuple) or len(arch) != 2:
            raise SpaceError(f"{self.name}: an architecture is MicroArch(normal, reduce), got {arch!r}")
        values = []
        for cell, nodes in zip(CELLS, arch):
            if not isinstance(nodes, tuple) or len(nodes) != self.nodes or not all(
                    isinstance(n, tuple) and len(n) == 4 for n in nodes):
                raise SpaceError(f"{self.name}: the {cell} cell must be a tuple of {self.nodes} Node(input_a, op_a, "
                                 f"input_b, op_b), got {nodes!r}")
            for a, op_a, b, op_b in nodes:
                values += [a, b, op_a, op_b]
        return values

    def from_values(self, values: Any) -> MicroArch:
        cells = []
        for c in range(2):
            chunk = values[4 * self.nodes * c: 4 * self.nodes * (c + 1)]
            cells.append(tuple(Node(chunk[k], chunk[k + 2], chunk[k + 1], chunk[k + 3])
                               for k in range(0, len(chunk), 4)))
        return MicroArch(*cells)

    def encode(self, arch: MicroArch) -> str:
        arch = self.canonical(arch)
        return " ".join(str(t) for nodes in arch for n in nodes
                        for t in (n.input_a, OPS.index(n.op_a), n.input_b, OPS.index(n.op_b)))

    def decode(self, text: str) -> MicroArch:
        ints = int_tokens(text, 8 * self.nodes, self.name)
        values = []
        for k in range(0, len(ints), 4):
            cell, i = CELLS[k // (4 * self.nodes)], (k // 4) % self.nodes
            for offset, (what, bound) in enumerate((("input_a", i + 1), ("op_a", len(OPS) - 1),
                                                    ("input_b", i + 1), ("op_b", len(OPS) - 1))):
                if ints[k + offset] > bound:
                    raise SpaceError(f"{self.name}: token {k + offset} ({ints[k + offset]}) of {text!r}: {cell} node "
                                     f"{i} {what} must be in 0..{bound}")
            a, op_a, b, op_b = ints[k:k + 4]
            values += [a, b, OPS[op_a], OPS[op_b]]
        return self.from_values(values)

    # -- graphs ----------------------------------------------------------------------

    def to_graph(self, arch: MicroArch) -> nx.DiGraph:
        arch = self.canonical(arch)
        return self._network(arch, self.encode(arch))

    def supernet(self) -> nx.DiGraph:
        if self.network != "search":
            raise SpaceError(f"{self.name}: the supernet is the search network; build it with network='search', "
                             f"got network={self.network!r}")
        return self.tag_decisions(self._network(None, None))

    def decision_rows(self) -> dict[str, tuple[str, int]]:
        rows = {}
        for cell in CELLS:
            for i in range(self.nodes):
                for j, s in enumerate(SLOTS):
                    rows[f"{cell}.node{i}.input_{s}"] = (f"{cell}_in{i}", j)
                    rows[f"{cell}.node{i}.op_{s}"] = (f"{cell}_op", 2 * i + j)
        return rows

    def derive(self, model: nn.Module) -> MicroArch:
        shapes = {}
        for cell in CELLS:
            shapes[f"{cell}_op"] = (2 * self.nodes, len(OPS))
            shapes.update({f"{cell}_in{i}": (2, i + 2) for i in range(self.nodes)})
        alpha = alphas(model, shapes, self.name)
        cells = []
        for cell in CELLS:
            op, nodes = alpha[f"{cell}_op"], []
            for i in range(self.nodes):
                inputs = alpha[f"{cell}_in{i}"]
                nodes.append(Node(argmax(inputs[0]), OPS[argmax(op[2 * i])], argmax(inputs[1]),
                                  OPS[argmax(op[2 * i + 1])]))
            cells.append(tuple(nodes))
        return MicroArch(*cells)

    def _network(self, arch: MicroArch | None, encoding: str | None) -> nx.DiGraph:
        fixed = self.network == "fixed"
        G = nx.DiGraph(schema=SCHEMA_VERSION, space={"name": "enas", "params": self.options(), "encoding": encoding,
                                                     "supernet": arch is None})
        G.add_node("input", op="input", params={"channels": self.in_channels, "size": [self.image_size] * 2})
        G.add_node("stem", op="conv_bn", params={"channels": 3 * self.channels, "kernel": 3})
        G.add_edge("input", "stem")
        layers = [_State("stem", 3 * self.channels, self.image_size)] * 2
        c = self.channels
        for layer in range(self.layers + 2):
            reduce = layer in self.pool_layers
            cell = CELLS[reduce]
            if reduce:
                c *= 2
                if not fixed:
                    G.add_node(f"reduce{layer}", op="enas_reduce", params={"channels": c})
                    G.add_edge(layers[1].label, f"reduce{layer}")
                    layers = [layers[1], _State(f"reduce{layer}", c, math.ceil(layers[1].size / 2))]
            stride = 2 if reduce and fixed else 1
            graph, out_channels = _cell(None if arch is None else getattr(arch, cell), self.nodes, cell, layers, c,
                                        stride, fixed)
            G.add_node(f"cell{layer}", op="subgraph", params={"graph": graph})
            for slot, state in enumerate(layers[:1] if layers[0] == layers[1] else layers):
                G.add_edge(state.label, f"cell{layer}", slot=slot)
            layers = [layers[1], _State(f"cell{layer}", out_channels, math.ceil(layers[1].size / stride))]
        G.add_node("head", op="enas_head", params={"num_classes": self.num_classes})
        G.add_node("output", op="output")
        nx.add_path(G, [layers[1].label, "head", "output"])
        return G


def _cell(nodes: tuple[Node, ...] | None, count: int, cell: str, inputs: list[_State], c: int, stride: int,
          fixed: bool) -> tuple[nx.DiGraph, int]:
    """One cell of ``count`` nodes as a typed DAG (relaxed when ``nodes`` is None) and its output channels."""
    g = nx.DiGraph(schema=SCHEMA_VERSION)
    sources = ["in0", "in0" if inputs[0] == inputs[1] else "in1"]
    for k, state in enumerate(inputs[:1] if inputs[0] == inputs[1] else inputs):
        g.add_node(f"in{k}", op="input", params={"index": k, "channels": state.channels, "size": [state.size] * 2})
    states = [sources[0], sources[1]]
    if inputs[0].size != inputs[1].size:
        states[0] = _add(g, "calibrate0", "enas_reduce", {"channels": c, "relu": True}, sources[0])
    elif inputs[0].channels != c:
        states[0] = _add(g, "calibrate0", "relu_conv_bn", {"channels": c, "kernel": 1}, sources[0])
    if inputs[1].channels != c:
        states[1] = _add(g, "calibrate1", "relu_conv_bn", {"channels": c, "kernel": 1}, sources[1])
    if fixed:
        states[1] = _add(g, "base", "relu_conv_bn", {"channels": c, "kernel": 1}, states[1])
    sizes = [inputs[1].size] * 2
    used = set()
    for i in range(count):
        label = f"node{i}"
        g.add_node(label, op="sum")
        for s, slot in enumerate(SLOTS):
            if nodes is None:
                branch = _relaxed_slot(g, cell, i, s, states)
            else:
                source, op = (nodes[i].input_a, nodes[i].op_a) if s == 0 else (nodes[i].input_b, nodes[i].op_b)
                used.add(source)
                op_stride = stride if source < 2 else 1
                branch = _add(g, f"{label}.{slot}", *_discrete_op(op, op_stride, c), states[source])
            g.add_edge(branch, label)
        states.append(label)
        sizes.append(math.ceil(sizes[1] / stride))
    out = [k for k in range(len(states)) if k not in used]
    if fixed:
        smallest = min(sizes[k] for k in out)
        gathered = [states[k] if sizes[k] == smallest else
                    _add(g, f"combine{k}", "enas_reduce", {"channels": c}, states[k]) for k in out]
    else:
        gathered = [states[k] for k in out]
    last = gathered[0]
    if len(gathered) > 1:
        last = "concat"
        g.add_node(last, op="concat")
        g.add_edges_from((label, last, {"slot": k}) for k, label in enumerate(gathered))
    if not fixed:
        last = _add(g, "final", "relu_conv_bn", {"channels": c, "kernel": 1}, last)
    g.add_node("output", op="output")
    g.add_edge(last, "output")
    return g, (len(out) * c if fixed else c)


def _add(g: nx.DiGraph, label: str, op: str, params: dict, source: str) -> str:
    g.add_node(label, op=op, params=params)
    g.add_edge(source, label)
    return label


def _discrete_op(op: str, stride: int, c: int) -> tuple[str, dict]:
    """The registered op computing micro op ``op`` at ``stride`` (identity at stride 2: factorized reduction)."""
    if op == "identity":
        return ("enas_reduce", {"channels": c}) if stride == 2 else ("identity", {})
    return op, ({"stride": 2} if stride == 2 else {})


def _relaxed_slot(g: nx.DiGraph, cell: str, i: int, s: int, states: list[str]) -> str:
    """A ``select`` over every state before node ``i``, each through its own ``choice`` over :data:`OPS`."""
    select = f"node{i}.{SLOTS[s]}"
    g.add_node(select, op="select", params={"key": f"{cell}_in{i}", "index": s})
    for j, state in enumerate(states[:i + 2]):
        choice = f"{select}.{j}"
        g.add_node(choice, op="choice", params={"candidates": [{"op": op} for op in OPS], "key": f"{cell}_op",
                                                "index": 2 * i + s})
        g.add_edge(state, choice)
        g.add_edge(choice, select, slot=j)
    return select
