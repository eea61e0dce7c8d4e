"""Small hand-built typed DAGs shared by the wiring tests (tiny channels, 8×8 images).

Import with ``from graphs import ...``: pytest's default ``prepend`` import mode puts
this directory (it has no ``__init__.py``) on ``sys.path``; from another test directory,
``from tests.wiring.graphs import ...`` (the project root is on ``sys.path``).
"""

from __future__ import annotations

import networkx as nx

import wiring


def node(G: nx.DiGraph, label, op: str, **params) -> None:
    """Add ``label`` with ``op`` and ``params``."""
    G.add_node(label, op=op, params=params)


def chain(op: str = "identity", *, in_channels: int = 3, size: int = 8, **params) -> nx.DiGraph:
    """``input -> op (node "x", with params) -> output``: the smallest valid graph around one op."""
    G = nx.DiGraph()
    node(G, "in", "input", channels=in_channels, size=[size, size])
    node(G, "x", op, **params)
    node(G, "out", "output")
    G.add_edges_from([("in", "x"), ("x", "out")])
    return G


def relu_conv_chain(width: int = 4, depth: int = 1, size: int = 8) -> nx.DiGraph:
    """``input -> depth × relu_conv_bn(width) -> head(5) -> output`` (latency tables and constraints)."""
    G = nx.DiGraph(schema=wiring.SCHEMA_VERSION)
    node(G, "in", "input", channels=3, size=[size, size])
    previous = "in"
    for i in range(depth):
        node(G, f"conv{i}", "relu_conv_bn", channels=width)
        G.add_edge(previous, f"conv{i}")
        previous = f"conv{i}"
    node(G, "head", "head", num_classes=5)
    node(G, "out", "output")
    nx.add_path(G, [previous, "head", "out"])
    return G


def nested_sep_convs(**inner_params) -> nx.DiGraph:
    """A stem and two identical sep convs at the top, plus a subgraph ``cell`` holding another one
    (with ``inner_params``) and a sum."""
    inner = nx.DiGraph()
    node(inner, "x", "input", channels=4, size=[8, 8])
    node(inner, "sep", "sep_conv", **{"channels": 4, **inner_params})
    node(inner, "add", "sum")
    node(inner, "y", "output")
    inner.add_edges_from([("x", "sep"), ("x", "add"), ("sep", "add"), ("add", "y")])
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[8, 8])
    node(G, "stem", "conv_bn", channels=4)
    node(G, "a", "sep_conv", channels=4)
    node(G, "b", "sep_conv", channels=4)
    node(G, "cell", "subgraph", graph=inner)
    node(G, "head", "head", num_classes=2)
    node(G, "out", "output")
    G.add_edges_from([("in", "stem"), ("stem", "a"), ("a", "b"), ("b", "cell"), ("cell", "head"), ("head", "out")])
    return G


def small_cnn(channels: int = 4, size: int = 8, classes: int = 3) -> nx.DiGraph:
    """A branching CNN: stem conv, a sum of two branches, a strided sep conv, a concat (slots) and a head."""
    G = nx.DiGraph(name="small_cnn")
    node(G, "in", "input", channels=3, size=[size, size])
    node(G, "stem", "conv_bn", channels=channels, relu=True)
    node(G, "a", "relu_conv_bn", channels=channels, kernel=3)
    node(G, "b", "max_pool")
    node(G, "s", "sum")
    node(G, "down", "sep_conv", channels=2 * channels, stride=2)
    node(G, "pool", "avg_pool", stride=2)
    node(G, "cat", "concat")
    node(G, "head", "head", num_classes=classes)
    node(G, "out", "output")
    G.add_edges_from([("in", "stem"), ("stem", "a"), ("stem", "b"), ("a", "s"), ("b", "s"), ("s", "down"),
                      ("s", "pool"), ("head", "out")])
    G.add_edge("down", "cat", slot=0)
    G.add_edge("pool", "cat", slot=1)
    G.add_edge("cat", "head")
    return G


def conv_net(channels: int = 4, size: int = 8, stride: int = 1, classes: int = 3) -> nx.DiGraph:
    """``input -> conv_bn (stride) -> sep_conv; both -> rw_node (stride) -> head -> output``: convs and a linear."""
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[size, size])
    node(G, "c", "conv_bn", channels=channels, kernel=3, stride=stride)
    node(G, "sep", "sep_conv", channels=channels, kernel=5)
    node(G, "rw", "rw_node", channels=channels, stride=stride)
    node(G, "head", "head", num_classes=classes)
    node(G, "out", "output")
    G.add_edges_from([("in", "c"), ("c", "sep"), ("c", "rw"), ("sep", "rw"), ("rw", "head"), ("head", "out")])
    return G


CANDIDATES = [
    {"op": "sep_conv", "params": {"channels": 4, "kernel": 3}},
    {"op": "max_pool", "params": {"kernel": 3}},
    {"op": "identity"},
    {"op": "zero"},
]


def with_choice(key: str | None = None, classes: int = 3) -> nx.DiGraph:
    """DARTS-like: two ``choice`` nodes (shared α row 0/1 when ``key`` is given) and a ``select``."""
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[8, 8])
    node(G, "stem", "conv_bn", channels=4)
    node(G, "c1", "choice", candidates=CANDIDATES, key=key, index=0)
    node(G, "c2", "choice", candidates=CANDIDATES, key=key, index=1 if key else 0)
    node(G, "sel", "select")
    node(G, "head", "head", num_classes=classes)
    node(G, "out", "output")
    G.add_edges_from([("in", "stem"), ("stem", "c1"), ("c1", "c2"), ("sel", "head"), ("head", "out")])
    G.add_edge("stem", "sel", slot=0)
    G.add_edge("c1", "sel", slot=1)
    G.add_edge("c2", "sel", slot=2)
    return G


def cell(channels: int = 4, key: str | None = "normal") -> nx.DiGraph:
    """A two-input cell: a ``choice`` on each input (α shared by ``key``), summed, then a conv."""
    C = nx.DiGraph(name="cell")
    node(C, 0, "input", index=0, channels=channels)
    node(C, 1, "input", index=1, channels=channels)
    node(C, 2, "choice", candidates=CANDIDATES, key=key, index=0)
    node(C, 3, "choice", candidates=CANDIDATES, key=key, index=1 if key else 0)
    node(C, 4, "sum")
    node(C, 5, "relu_conv_bn", channels=channels, kernel=1)
    node(C, 6, "output")
    C.add_edges_from([(0, 2), (1, 3), (2, 4), (3, 4), (4, 5), (5, 6)])
    return C


def with_subgraph(key: str | None = "normal", inner: nx.DiGraph | None = None) -> nx.DiGraph:
    """Two ``subgraph`` nodes reusing one cell, plus a parent ``choice`` with the same ``key`` as the cell."""
    inner = cell(key=key) if inner is None else inner
    G = nx.DiGraph(name="with_subgraph")
    node(G, "in", "input", channels=3, size=[8, 8])
    node(G, "stem", "conv_bn", channels=4)
    node(G, "cell1", "subgraph", graph=inner)
    node(G, "cell2", "subgraph", graph=inner)
    node(G, "mix", "choice", candidates=CANDIDATES, key=key, index=2 if key else 0)
    node(G, "head", "head", num_classes=3)
    node(G, "out", "output")
    node(G, "pool", "max_pool")
    G.add_edges_from([("in", "stem"), ("stem", "pool"), ("cell2", "mix"), ("mix", "head"), ("head", "out")])
    G.add_edge("stem", "cell1", slot=0)
    G.add_edge("pool", "cell1", slot=1)
    G.add_edge("pool", "cell2", slot=0)
    G.add_edge("cell1", "cell2", slot=1)
    return G


def multi_input(classes: int = 4) -> nx.DiGraph:
    """An image input (index 0, 3×8×8) and a flat feature input (index 1, 6 features), summed as logits."""
    G = nx.DiGraph()
    node(G, "img", "input", index=0, channels=3, size=[8, 8])
    node(G, "feat", "input", index=1, channels=6, size=[])
    node(G, "conv", "conv_bn", channels=4)
    node(G, "head", "head", num_classes=classes)
    node(G, "fc", "linear", features=classes)
    node(G, "s", "sum")
    node(G, "out", "output")
    G.add_edges_from([("img", "conv"), ("conv", "head"), ("head", "s"), ("feat", "fc"), ("fc", "s"), ("s", "out")])
    return G


def multi_output() -> nx.DiGraph:
    """Logits (slot 0, 3 classes) and auxiliary logits (slot 1, 5 classes) from one trunk."""
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[8, 8])
    node(G, "trunk", "conv_bn", channels=4, stride=2)
    node(G, "aux", "head", num_classes=5)
    node(G, "main", "head", num_classes=3)
    node(G, "out", "output")
    G.add_edges_from([("in", "trunk"), ("trunk", "aux"), ("trunk", "main")])
    G.add_edge("main", "out", slot=0)
    G.add_edge("aux", "out", slot=1)
    return G


def nested(depth: int) -> nx.DiGraph:
    """``depth`` levels of ``subgraph`` around an identity (depth 0: the plain chain)."""
    G = chain("identity")
    for _ in range(depth):
        G = chain("subgraph", graph=G)
    return G


ALL = {"small_cnn": small_cnn, "conv_net": conv_net, "with_choice": with_choice,
       "with_shared_choice": lambda: with_choice(key="k"), "with_subgraph": with_subgraph,
       "with_private_subgraph": lambda: with_subgraph(key=None), "multi_input": multi_input,
       "multi_output": multi_output}
"""Every example graph builder by name, for parametrised tests."""
