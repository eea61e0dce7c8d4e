"""Check a typed DAG and infer every node's shapes: the one pass that validate, cost and compile share.

No malformed graph gets past :func:`analyse`: every problem raises
:class:`~wiring.errors.GraphError` naming the node or edge (and, inside a
subgraph, the path of subgraph nodes leading to it).
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

import ops
from ops import Cost, OpSpec, Shape

from . import limits
from .errors import GraphError

SCHEMA_VERSION = 1
"""Version of the typed-DAG schema, stored as ``G.graph["schema"]``."""

RELAXED_OPS = ("choice", "select")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class NodeInfo:
    """What the analysis knows about one node."""

    label: Hashable
    name: str
    """Stable name ``n<topological index>``; the compiled submodule's name."""
    spec: OpSpec
    params: dict[str, Any]
    inputs: list[Hashable]
    """Predecessors in input order (by edge ``slot``, then topological order)."""
    in_shapes: list[Shape]
    out_shape: Shape | tuple[Shape, ...] = ()
    sub: Analysis | None = None
    alpha_key: str | None = None
    decision: str | None = None
    """Relaxed nodes: the decision they implement (``params["decision"]`` or ``"<key>[<row>]"``)."""
    cost: Cost = field(default_factory=Cost)
    """Parameters and multiply-adds of this node for one sample (a subgraph's: all of its nodes')."""


@dataclass
class Analysis:
    """A checked typed DAG: nodes in stable topological order with their shapes."""

    graph: nx.DiGraph
    nodes: dict[Hashable, NodeInfo]
    inputs: list[Hashable]
    """Input nodes in ``index`` order."""
    output: Hashable
    alphas: dict[str, tuple[int, int]] = field(default_factory=dict)
    """α shape per key, over this graph and its subgraphs."""
    decisions: dict[str, tuple[str, int]] = field(default_factory=dict)
    """α ``(key, row)`` per decision name, over this graph and its subgraphs."""
    cost: Cost = field(default_factory=Cost)
    """Parameters and multiply-adds of all nodes for one sample, α excluded."""

    @property
    def output_shape(self) -> Shape | tuple[Shape, ...]:
        return self.nodes[self.output].out_shape


def order_key(label: Hashable) -> tuple[int, int, str]:
    """Tie-break of :func:`stable_order`: int labels by value first, then any other label as a string.

    Comparing every label as a string would put node 10 before node 2; ints by value
    keep 0..n-1 graphs (generators, ``from_pyg``) in their natural order past 10 nodes.
    """
    if isinstance(label, int) and not isinstance(label, bool):
        return (0, label, "")
    return (1, 0, str(label))


def stable_order(G: nx.DiGraph) -> list[Hashable]:
    """Topological order, ties broken by :func:`order_key` of the node label, then by insertion order.

    The order of ``networkx.lexicographical_topological_sort(G, key=order_key)``,
    computed on the adjacency dicts directly (several times faster: it runs for
    every hash and analysis). A graph with a cycle raises
    ``networkx.NetworkXUnfeasible``, as networkx does.
    """
    succ = G.succ
    position = {label: i for i, label in enumerate(succ)}
    indegree = {label: len(preds) for label, preds in G.pred.items()}
    ready = [(order_key(label), position[label], label) for label, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        label = heapq.heappop(ready)[2]
        order.append(label)
        for child in succ[label]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, (order_key(child), position[child], child))
    if len(order) != len(succ):
        raise nx.NetworkXUnfeasible("Graph contains a cycle")
    return order


def _node(label: Hashable) -> str:
    return f"node {label!r}"


def _fail(where: str, message: str) -> GraphError:
    if len(where) > 240:  # deep nesting: the outermost and innermost levels of the path say where
        head, tail = where[:110], where[-110:]
        hidden = where.count("in subgraph ") - head.count("in subgraph ") - tail.count("in subgraph ")
        where = f"{head}... {hidden} more levels ...{tail}"
    return GraphError(f"{where}{message}")


def analyse(G: Any, input_shapes: Mapping[int, Shape] | None = None, *, where: str = "", scope: str = "_",
            alphas: dict[str, tuple[int, int]] | None = None, in_edges: int | None = None,
            decisions: dict[str, tuple[str, int]] | None = None, enclosing: tuple[int, ...] = ()) -> Analysis:
    """Check ``G`` and infer shapes; ``input_shapes`` overrides inputs' declared shapes by index.

    ``where`` prefixes messages (the subgraph path); ``scope`` prefixes the
    private α key of a node without ``key`` (``_n3``, ``_n3_n5`` when nested);
    ``alphas`` collects α shapes across nesting so that shared keys agree, ``decisions`` the
    decision names so that each names one α row;
    ``in_edges`` is the in-degree of the subgraph node ``G`` is nested in; ``enclosing`` the ids of the
    graphs ``G`` is nested in (a graph inside itself, or nesting deeper than
    :data:`wiring.limits.MAX_NESTING`, is refused).
    """
    _check_structure(G, where)
    order = stable_order(G)
    resolved = {label: _resolve(G, label, where) for label in order}
    inputs, output = _check_ends(G, resolved, where)
    if in_edges is not None and len(inputs) != in_edges:
        # Checked before any shape: a missing in-edge would otherwise show up as a shape clash inside.
        raise _fail(where, f"the nested graph has {len(inputs)} input(s) but the subgraph node has "
                           f"{in_edges} in-edge(s)")
    _check_reachability(G, inputs, output, where)
    alphas = {} if alphas is None else alphas
    decisions = {} if decisions is None else decisions
    nodes: dict[Hashable, NodeInfo] = {}
    index = {label: i for i, label in enumerate(order)}
    for i, label in enumerate(order):
        spec, params = resolved[label]
        preds = _ordered_inputs(G, label, spec, index, where)
        info = NodeInfo(label, f"n{i}", spec, params, preds, [nodes[p].out_shape for p in preds])
        nodes[label] = info
        _infer(info, input_shapes, where, scope, alphas, decisions, (*enclosing, id(G)))
    total = sum((info.cost for info in nodes.values()), Cost())
    analysis = Analysis(G, nodes, inputs, output, alphas, decisions, total)
    if not enclosing:
        _check_totals(analysis, where)
    return analysis


def _check_structure(G: Any, where: str) -> None:
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise _fail(where, f"a typed DAG must be a networkx.DiGraph, got {type(G).__name__}")
    if G.number_of_nodes() == 0:
        raise _fail(where, "the graph is empty: it needs an input node and an output node")
    loops = list(nx.selfloop_edges(G))
    if loops:
        raise _fail(where, f"self-loop on {_node(loops[0][0])}")
    if not nx.is_directed_acyclic_graph(G):
        cycle = [u for u, _ in nx.find_cycle(G)]
        raise _fail(where, f"cycle through nodes {cycle}")


def _resolve(G: nx.DiGraph, label: Hashable, where: str) -> tuple[OpSpec, dict[str, Any]]:
    data = G.nodes[label]
    if "op" not in data:
        raise _fail(where, f"{_node(label)} has no 'op' attribute")
    try:
        spec = ops.get(data["op"])
        return spec, spec.resolve(data.get("params"))
    except ops.OpError as error:
        raise _fail(where, f"{_node(label)}: {error}") from None


def _check_ends(G: nx.DiGraph, resolved: dict, where: str) -> tuple[list[Hashable], Hashable]:
    outputs = [label for label, (spec, _) in resolved.items() if spec.name == "output"]
    if not outputs:
        raise _fail(where, "the graph has no 'output' node")
    if len(outputs) > 1:
        raise _fail(where, f"the graph has {len(outputs)} 'output' nodes ({outputs}); exactly one is allowed")
    if G.out_degree(outputs[0]):
        raise _fail(where, f"output {_node(outputs[0])} has out-edges to {list(G.successors(outputs[0]))}")
    inputs = [label for label, (spec, _) in resolved.items() if spec.name == "input"]
    if not inputs:
        raise _fail(where, "the graph has no 'input' node")
    by_index = sorted(inputs, key=lambda label: resolved[label][1]["index"])
    indices = [resolved[label][1]["index"] for label in by_index]
    if indices != list(range(len(inputs))):
        named = ", ".join(f"{label!r}: {resolved[label][1]['index']}" for label in by_index)
        raise _fail(where, f"input indices must be 0..{len(inputs) - 1}, one each, got {indices} (input nodes "
                           f"{named})")
    return by_index, outputs[0]


def _check_reachability(G: nx.DiGraph, inputs: list[Hashable], output: Hashable, where: str) -> None:
    reached = set(inputs).union(*(nx.descendants(G, i) for i in inputs))
    for label in G:
        if label not in reached:
            raise _fail(where, f"{_node(label)} is unreachable from the inputs")
    live = nx.ancestors(G, output) | {output}
    for label in G:
        if label not in live:
            raise _fail(where, f"{_node(label)} is dead: it never reaches the output")


def _ordered_inputs(G: nx.DiGraph, label: Hashable, spec: OpSpec, index: dict, where: str) -> list[Hashable]:
    preds = list(G.predecessors(label))
    try:
        spec.check_arity(len(preds))
    except ops.OpError as error:
        raise _fail(where, f"{_node(label)}: {error}") from None
    slots = {}
    for p in preds:
        slot = G.edges[p, label].get("slot")
        if slot is not None and (not isinstance(slot, int) or isinstance(slot, bool) or slot < 0):
            raise _fail(where, f"edge ({p!r}, {label!r}): slot must be a non-negative int, got {slot!r}")
        slots[p] = slot
    if spec.ordered and len(preds) > 1:
        given = sorted(s for s in slots.values() if s is not None)
        if given != list(range(len(preds))):
            raise _fail(where, f"{_node(label)} (op {spec.name!r}) takes ordered inputs: it needs in-edges with slots 0..{len(preds) - 1}, "
                               f"one each; got {dict(sorted(slots.items(), key=lambda kv: index[kv[0]]))}")
    return sorted(preds, key=lambda p: (slots[p] if slots[p] is not None else 0, index[p]))


def _infer(info: NodeInfo, input_shapes: Mapping[int, Shape] | None, where: str, scope: str,
           alphas: dict[str, tuple[int, int]], decisions: dict[str, tuple[str, int]],
           enclosing: tuple[int, ...]) -> None:
    label, spec, params = info.label, info.spec, info.params
    if spec.name == "input":
        info.out_shape = _input_shape(label, params, input_shapes, where)
        _check_tensor(info, where)
    elif spec.name == "output":
        info.out_shape = info.in_shapes[0] if len(info.in_shapes) == 1 else tuple(info.in_shapes)
    elif spec.name == "subgraph":
        if id(params["graph"]) in enclosing:
            raise _fail(where, f"subgraph {_node(label)} contains the graph it is part of: a graph cannot hold itself")
        if len(enclosing) > limits.MAX_NESTING:
            raise _fail(where, f"subgraph {_node(label)}: subgraphs nested deeper than {limits.MAX_NESTING} levels "
                               f"(raise wiring.limits.MAX_NESTING to allow more)")
        info.sub = analyse(params["graph"], dict(enumerate(info.in_shapes)),
                           where=f"{where}in subgraph {_node(label)}: ", scope=f"{scope}{info.name}_", alphas=alphas,
                           in_edges=len(info.inputs), decisions=decisions, enclosing=enclosing)
        if len(info.sub.nodes[info.sub.output].inputs) != 1:
            raise _fail(where, f"subgraph {_node(label)}: a nested graph's output must gather exactly one tensor")
        info.out_shape = info.sub.output_shape
        info.cost = info.sub.cost
    else:
        try:
            info.out_shape = tuple(spec.shape(info.in_shapes, params))
        except ops.OpError as error:
            raise _fail(where, f"{_node(label)}: {error}") from None
        _check_tensor(info, where)
        info.cost = spec.cost(info.in_shapes, info.out_shape, params)
    if spec.name in RELAXED_OPS:
        _claim_alpha(info, where, scope, alphas)
        _claim_decision(info, where, decisions)


def _gib(count: int) -> str:
    return f"{4 * count / 2**30:.3g} GiB"


def _check_tensor(info: NodeInfo, where: str) -> None:
    """Refuse an output (for one sample, float32) over :data:`wiring.limits.MAX_TENSOR_BYTES`, before any allocation."""
    elements = math.prod(info.out_shape)
    if 4 * elements > limits.MAX_TENSOR_BYTES:
        raise _fail(where, f"{_node(info.label)}: its output {info.out_shape} takes {_gib(elements)} per sample, over "
                           f"the limit of {_gib(limits.MAX_TENSOR_BYTES // 4)} (raise wiring.limits.MAX_TENSOR_BYTES "
                           f"to allow more)")


def _check_totals(analysis: Analysis, where: str) -> None:
    """Refuse a graph whose multiply-adds or weights exceed :mod:`wiring.limits`, before anything is built."""
    macs = analysis.cost.macs
    if macs > limits.MAX_MACS:
        top = max(analysis.nodes.values(), key=lambda info: info.cost.macs)
        raise _fail(where, f"the graph costs {macs:.3g} multiply-adds per sample ({_node(top.label)}: "
                           f"{top.cost.macs:.3g}), over the limit of {limits.MAX_MACS:.3g} (raise "
                           f"wiring.limits.MAX_MACS to allow more)")
    params = analysis.cost.params + sum(rows * width for rows, width in analysis.alphas.values())
    if 4 * params > limits.MAX_WEIGHT_BYTES:
        top = max(analysis.nodes.values(), key=lambda info: info.cost.params)
        raise _fail(where, f"the graph's {params:.3g} weights take {_gib(params)} ({_node(top.label)}: "
                           f"{top.cost.params:.3g}), over the limit of {_gib(limits.MAX_WEIGHT_BYTES // 4)} (raise "
                           f"wiring.limits.MAX_WEIGHT_BYTES to allow more)")


def _input_shape(label: Hashable, params: dict, input_shapes: Mapping[int, Shape] | None, where: str) -> Shape:
    declared = (params["channels"], *params["size"])
    given = None if input_shapes is None else input_shapes.get(params["index"])
    if given is None:
        return declared
    given = tuple(given)
    if len(given) != len(declared) or given[0] != declared[0]:
        raise _fail(where, f"input {_node(label)} declares shape {declared} (channels first), got {given}")
    return given


def _claim_alpha(info: NodeInfo, where: str, scope: str, alphas: dict[str, tuple[int, int]]) -> None:
    """Record the α shape this node needs; nodes sharing a key must agree on the width."""
    key, row = info.params["key"], info.params["index"]
    width = len(info.params["candidates"]) if info.spec.name == "choice" else len(info.inputs)
    if key is None:
        key = f"{scope}{info.name}"
        if row != 0:
            raise _fail(where, f"{_node(info.label)}: 'index' selects a row of a shared α and needs a 'key'")
    elif not _KEY.match(key):
        raise _fail(where, f"{_node(info.label)}: key must be letters, digits and '_', starting with a letter; "
                           f"got {key!r}")
    rows, known_width = alphas.get(key, (0, width))
    if known_width != width:
        raise _fail(where, f"{_node(info.label)}: key {key!r} is shared by α of width {known_width}, "
                           f"but this node has {width} alternatives")
    alphas[key] = (max(rows, row + 1), width)
    info.alpha_key = key


def _claim_decision(info: NodeInfo, where: str, decisions: dict[str, tuple[str, int]]) -> None:
    """Name the decision this node implements; one name per α row, one α row per name."""
    row = (info.alpha_key, info.params["index"])
    name = info.params.get("decision") or f"{row[0]}[{row[1]}]"
    known = decisions.get(name, row)
    if known != row:
        raise _fail(where, f"{_node(info.label)}: decision {name!r} already names α {known[0]!r} row {known[1]}, "
                           f"not {row[0]!r} row {row[1]}")
    other = next((n for n, r in decisions.items() if r == row and n != name), None)
    if other is not None:
        raise _fail(where, f"{_node(info.label)}: α {row[0]!r} row {row[1]} implements decision {other!r}, "
                           f"not {name!r}")
    decisions[name] = row
    info.decision = name


def input_shapes_arg(input_shape: Shape | Sequence[Shape] | None) -> dict[int, Shape] | None:
    """``(3, 32, 32)`` -> ``{0: (3, 32, 32)}``; ``[(3, 32, 32), (8,)]`` -> one shape per input index."""
    if input_shape is None:
        return None
    if isinstance(input_shape, (tuple, list)) and input_shape and all(
            isinstance(s, (tuple, list)) for s in input_shape):
        return {i: _shape(s, input_shape) for i, s in enumerate(input_shape)}
    return {0: _shape(input_shape, input_shape)}


def check_input_count(analysis: Analysis, input_shapes: Mapping[int, Shape] | None) -> None:
    """Refuse shapes given for inputs the graph does not have (``input_shapes_arg``'s result)."""
    if input_shapes is not None and len(input_shapes) > len(analysis.inputs):
        raise GraphError(f"input_shape gives {len(input_shapes)} shapes but the graph has "
                         f"{len(analysis.inputs)} input(s): {analysis.inputs}")


def _shape(shape: Any, given: Any) -> Shape:
    if not isinstance(shape, (tuple, list)) or not shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise GraphError(f"input_shape must be positive sizes without the batch dimension, e.g. (3, 32, 32), "
                         f"got {given!r}")
    return tuple(shape)
