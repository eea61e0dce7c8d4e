"""orient: any undirected graph becomes a DAG numbered in a given order."""

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

import generators


def test_default_order_is_sorted_nodes():
    G = generators.orient(nx.Graph([("c", "a"), ("b", "c")]))
    assert list(G.nodes) == [0, 1, 2]
    assert list(G.edges) == [(0, 2), (1, 2)]
    assert G.graph["generator"] == {"name": "orient", "params": {"order": None}, "seed": None}


def test_custom_order_is_respected():
    G = generators.orient(nx.Graph([("c", "a"), ("b", "c")]), order=("c", "a", "b"))
    assert list(G.edges) == [(0, 1), (0, 2)]
    assert G.graph["generator"]["params"] == {"order": ["c", "a", "b"]}


def test_directed_input_is_read_as_undirected():
    cycle = nx.DiGraph([(0, 1), (1, 2), (2, 0), (1, 0)])
    G = generators.orient(cycle)
    assert list(G.edges) == [(0, 1), (0, 2), (1, 2)]
    assert nx.is_directed_acyclic_graph(G)


def test_data_is_kept_and_input_untouched():
    graph = nx.Graph(name="g")
    graph.add_node("x", colour="red")
    graph.add_edge("y", "x", weight=2.0)
    G = generators.orient(graph, order=["y", "x"])
    assert G.nodes[1] == {"colour": "red"}
    assert G.edges[0, 1] == {"weight": 2.0}
    assert G.graph["name"] == "g"
    assert list(graph.nodes) == ["x", "y"] and "generator" not in graph.graph


def test_existing_provenance_is_kept():
    graph = nx.path_graph(3)
    graph.graph["generator"] = {"name": "custom", "params": {}, "seed": 1}
    assert generators.orient(graph, [2, 1, 0]).graph["generator"]["name"] == "custom"


def test_empty_graph():
    G = generators.orient(nx.Graph())
    assert G.number_of_nodes() == 0 and isinstance(G, nx.DiGraph)


@st.composite
def graphs_and_orders(draw):
    n = draw(st.integers(0, 12))
    pairs = st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0)))
    edges = [(u, v) for u, v in draw(st.lists(pairs, max_size=30)) if u != v] if n else []
    graph = nx.Graph(edges)
    graph.add_nodes_from(range(n))
    labels = {v: f"v{v}" for v in range(n)}
    graph = nx.relabel_nodes(graph, labels)
    return graph, draw(st.permutations(list(graph.nodes)))


@given(graphs_and_orders())
def test_orient_properties(case):
    graph, order = case
    G = generators.orient(graph, order)
    index = {node: i for i, node in enumerate(order)}
    assert list(G.nodes) == list(range(len(order)))
    assert all(u < v for u, v in G.edges)
    assert nx.is_directed_acyclic_graph(G)
    assert list(G.edges) == sorted(tuple(sorted((index[u], index[v]))) for u, v in graph.edges)
