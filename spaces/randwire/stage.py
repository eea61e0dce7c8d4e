"""One RandWire stage: a topology DAG becomes a typed DAG of RandWire nodes (docs/papers.md §1, "Graph → DAG").

The topology's edges keep their direction. An extra ``input`` node feeds every
node of in-degree 0 (these nodes do the down-sampling and the channel change);
an extra ``mean`` node averages, unweighted, every node of out-degree 0 and
feeds the ``output``. Neither extra node has a convolution. Every topology node
becomes an ``rw_node``: Σ sigmoid(w_i)·x_i (w initialised to 0, i.e. gates of
0.5; a node with one input has no weight), ReLU, 3×3 depthwise, 1×1 pointwise, BN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx

from generators.checks import positive_int
from wiring import SCHEMA_VERSION

from ..errors import SpaceError

INPUT, MEAN, OUTPUT = "input", "mean", "output"


def stage(topology: nx.DiGraph, in_channels: int, channels: int, *, stride: int = 2,
          size: Sequence[int] = (32, 32)) -> nx.DiGraph:
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
    """
    _check_topology(topology)
    for name, value in (("in_channels", in_channels), ("channels", channels), ("stride", stride)):
        positive_int(name, value, error=SpaceError)
    pred, succ = topology._pred, topology._succ  # adjacency dicts: this runs once per stage of every network
    sources = [node for node in topology if not pred[node]]
    G = nx.DiGraph(schema=SCHEMA_VERSION, generator=topology.graph.get("generator"))
    G.add_node(INPUT, op="input", params={"channels": in_channels, "size": list(size)})
    G.add_nodes_from((node, {"op": "rw_node", "params": {"channels": channels, "stride": stride if not pred[node] else 1}})
                     for node in topology)
    G.add_node(MEAN, op="mean")
    G.add_node(OUTPUT, op="output")
    G.add_edges_from((INPUT, node) for node in sources)
    G.add_edges_from(topology.edges)
    G.add_edges_from((node, MEAN) for node in topology if not succ[node])
    G.add_edge(MEAN, OUTPUT)
    return G


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
