"""One RandWire stage: a topology DAG becomes a typed DAG of RandWire nodes (docs/papers.md §1, "Graph → DAG").

The topology's edges keep their direction. An extra ``input`` node feeds every
node of in-degree 0 (these nodes do the down-sampling and the channel change);
an extra ``mean`` node averages, unweighted, every node of out-degree 0 and
feeds the ``output``. Neither extra node has a convolution. Every topology node
becomes an ``rw_node``: Σ sigmoid(w_i)·x_i (w initialised to 0, i.e. gates of
0.5; a node with one input has no weight), ReLU, 3×3 depthwise, 1×1 pointwise, BN.

Node operations (the paper's §4 / Fig. 6 alternatives; ``node_op=``)::

    sep      rw_node: aggregation, ReLU, 3×3 depthwise, 1×1 pointwise, BN   (default, the paper's)
    conv     aggregation, ReLU, 3×3 conv, BN                                 (relu_conv_bn)
    maxpool  aggregation, 3×3 max pool, ReLU, 1×1 conv, BN                   (max_pool, relu_conv_bn)
    avgpool  aggregation, 3×3 average pool, ReLU, 1×1 conv, BN               (avg_pool, relu_conv_bn)

Outside ``sep``, a node is a short chain of registered ops: a ``weighted_sum``
labelled ``"<v>/sum"`` (only for a node of two or more inputs: one input needs
no weight), for the pools a ``max_pool``/``avg_pool`` labelled ``"<v>/pool"``
(3×3, padding 1, the node's stride; the average excludes padding), and the
convolution labelled ``v`` itself, so the topology's labels still name the
nodes' outputs. The stride and the channel change sit where ``rw_node`` has
them: in the 3×3 window (conv or pool) of the nodes fed by the stage input, the
1×1 conv changing the channels. Reading: the paper says "pooling followed by a
1×1 convolution" inside the ReLU-conv-BN triplet without placing the ReLU; here
it comes after the pool (for max pooling the same as before it, as ReLU is
monotone; for average pooling not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx

from generators.checks import positive_int
from wiring import SCHEMA_VERSION

from ..errors import SpaceError

INPUT, MEAN, OUTPUT = "input", "mean", "output"

NODE_OPS: dict[str, str] = {
    "sep": "3×3 separable conv: ReLU, 3×3 depthwise, 1×1 pointwise, BN (the paper's default)",
    "conv": "3×3 regular conv: ReLU, 3×3 conv, BN",
    "maxpool": "3×3 max pool, then ReLU, 1×1 conv, BN",
    "avgpool": "3×3 average pool, then ReLU, 1×1 conv, BN",
}
"""The node operations of the paper's Fig. 6, by name; ``sep`` is the default."""
DEFAULT_NODE_OP = "sep"


def check_node_op(node_op: Any) -> str:
    """``node_op`` if it names a node operation, else :class:`SpaceError` listing the valid ones."""
    if not isinstance(node_op, str) or node_op not in NODE_OPS:
        raise SpaceError(f"node_op must be one of {list(NODE_OPS)}, got node_op={node_op!r}")
    return node_op


def stage(topology: nx.DiGraph, in_channels: int, channels: int, *, stride: int = 2,
          size: Sequence[int] = (32, 32), node_op: str = DEFAULT_NODE_OP) -> nx.DiGraph:
    """The typed DAG of a RandWire stage wired like ``topology``.

    Parameters
    ----------
    topology : networkx.DiGraph
        A DAG (e.g. from :mod:`generators`); its labels must not be the strings
        ``"input"``, ``"mean"`` or ``"output"``.
    in_channels, channels : int
        Channels entering the stage and carried by every node.
    stride : int
        Stride of the nodes fed by the stage input.
    size : sequence of int
        Nominal spatial size of the stage input (used by ``wiring.validate``).
    node_op : str
        The node operation: ``"sep"`` (default), ``"conv"``, ``"maxpool"`` or
        ``"avgpool"`` (see :data:`NODE_OPS` and the module docs).
    """
    _check_topology(topology)
    check_node_op(node_op)
    for name, value in (("in_channels", in_channels), ("channels", channels), ("stride", stride)):
        positive_int(name, value, error=SpaceError)
    pred, succ = topology._pred, topology._succ  # adjacency dicts: this runs once per stage of every network
    sources = [node for node in topology if not pred[node]]
    G = nx.DiGraph(schema=SCHEMA_VERSION, generator=topology.graph.get("generator"))
    G.add_node(INPUT, op="input", params={"channels": in_channels, "size": list(size)})
    if node_op == DEFAULT_NODE_OP:
        G.add_nodes_from((node, {"op": "rw_node",
                                 "params": {"channels": channels, "stride": stride if not pred[node] else 1}})
                         for node in topology)
    G.add_node(MEAN, op="mean")
    G.add_node(OUTPUT, op="output")
    if node_op == DEFAULT_NODE_OP:
        G.add_edges_from((INPUT, node) for node in sources)
        G.add_edges_from(topology.edges)
    else:
        _add_chains(G, topology, channels, stride, node_op)
    G.add_edges_from((node, MEAN) for node in topology if not succ[node])
    G.add_edge(MEAN, OUTPUT)
    return G


def _add_chains(G: nx.DiGraph, topology: nx.DiGraph, channels: int, stride: int, node_op: str) -> None:
    """Every topology node as a chain of registered ops (module docs), wired like ``topology``."""
    pred = topology._pred
    labels = {node: (f"{node}/sum", f"{node}/pool") for node in topology}
    taken = {label for pair in labels.values() for label in pair} & set(topology.nodes)
    if taken:
        raise SpaceError(f"stage topology node labels {sorted(map(str, taken))} clash with the labels node_op="
                         f"{node_op!r} gives to a node's aggregation and pool; relabel them")
    for node in topology:
        inputs = list(pred[node]) or [INPUT]
        node_stride = stride if not pred[node] else 1
        head = inputs[0]
        if len(inputs) > 1:
            head = labels[node][0]
            G.add_node(head, op="weighted_sum", params={})
            G.add_edges_from((u, head) for u in inputs)
        if node_op == "conv":
            G.add_node(node, op="relu_conv_bn", params={"channels": channels, "kernel": 3, "stride": node_stride})
        else:
            pool = labels[node][1]
            G.add_node(pool, op="max_pool" if node_op == "maxpool" else "avg_pool",
                       params={"kernel": 3, "stride": node_stride})
            G.add_edge(head, pool)
            head = pool
            G.add_node(node, op="relu_conv_bn", params={"channels": channels, "kernel": 1})
        G.add_edge(head, node)


def _check_topology(topology: Any) -> None:
    if not isinstance(topology, nx.DiGraph) or topology.is_multigraph():
        hint = "; orient an undirected graph with generators.orient" if isinstance(topology, nx.Graph) else ""
        raise SpaceError(f"a stage topology must be a networkx.DiGraph{hint}, got {type(topology).__name__}")
    if topology.number_of_nodes() == 0:
        raise SpaceError("a stage topology needs at least one node, got an empty graph")
    if not _forward(topology) and not nx.is_directed_acyclic_graph(topology):
        raise SpaceError(f"a stage topology must be acyclic; cycle through {[u for u, _ in nx.find_cycle(topology)]}")
    reserved = {INPUT, MEAN, OUTPUT} & set(topology.nodes)
    if reserved:
        raise SpaceError(f"stage topology node labels {sorted(reserved)} are reserved; relabel them")


def _forward(topology: nx.DiGraph) -> bool:
    """True when every edge goes from a lower to a higher int label (a generator's DAG): acyclic at a glance."""
    try:
        return all(u < v for u, v in topology.edges)
    except TypeError:  # labels that do not compare
        return False
