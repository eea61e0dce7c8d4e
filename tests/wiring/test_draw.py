"""wiring.draw: PNG drawings of typed DAGs, nested networks and topology DAGs."""

from __future__ import annotations

import re

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import networkx as nx
import pytest
from graphs import ALL, chain, small_cnn, with_subgraph
from hypothesis import given, settings

import generators
import spaces.randwire as randwire
import wiring
from wiring.draw import _panels, draw
from wiring.testing import typed_graphs


def read_png(path):
    """The image at ``path`` (rows, columns, RGBA), after checking it is a real PNG of some size."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    return image


@pytest.mark.parametrize("name", sorted(ALL))
def test_typed_graphs_are_drawn(name, tmp_path):
    path = tmp_path / f"{name}.png"
    draw(ALL[name](), path)
    height, width, _ = read_png(path).shape
    assert 200 <= height <= 4000 and 200 <= width <= 4000


def test_topology_from_a_generator_is_drawn(tmp_path):
    T = generators.watts_strogatz(16, 4, 0.75, seed=0)
    draw(T, tmp_path / "ws.png")
    read_png(tmp_path / "ws.png")
    [panel], title = _panels(T, expand=False)
    assert title.startswith("topology · watts_strogatz(n=16, k=4, p=0.75, seed=0)")
    assert panel.text[3] == "3" and panel.kind[0] == "source" and panel.kind[15] == "sink"


def test_network_gets_a_panel_per_distinct_stage(tmp_path):
    G = randwire.small(channels=8, nodes=16)
    draw(G, tmp_path / "net.png")
    height, width, _ = read_png(tmp_path / "net.png").shape
    assert 500 <= height <= 4000 and 1000 <= width <= 4000
    panels, _ = _panels(G, expand=False)
    assert [panel.graph.number_of_nodes() for panel in panels] == [9, 19, 19, 19]
    assert panels[0].text["conv3"] == "subgraph conv3 (19 nodes)" and panels[0].kind["conv3"] == "subgraph"
    assert panels[1].title.startswith("subgraph conv3 · 19 nodes")
    assert "watts_strogatz(n=16, k=4, p=0.75, seed=" in panels[1].title


def test_a_reused_nested_graph_gets_one_panel():
    panels, _ = _panels(with_subgraph(), expand=False)
    assert len(panels) == 2 and panels[1].title.startswith("subgraph cell1, cell2 ·")


def test_expand_inlines_the_stages(tmp_path):
    G = randwire.cifar(channels=4, nodes=6)
    draw(G, tmp_path / "flat.png", expand=True, title="flat")
    read_png(tmp_path / "flat.png")
    [panel], _ = _panels(G, expand=True)
    assert panel.graph.number_of_nodes() == 27 and panel.text["conv3/0"] == "conv3/0: rw_node /2 · 4"


def test_labels_show_op_params_and_slots():
    [panel], title = _panels(small_cnn(), expand=False)
    assert title == "small_cnn · 10 nodes, 11 edges"
    assert panel.text["down"] == "down: sep_conv 3x3 /2 · 8" and panel.text["in"] == "in: input 3×8×8"
    assert panel.kind["in"] == "input" and panel.kind["out"] == "output" and panel.kind["b"] == "pooling"
    assert panel.slotted == {"cat"}  # ordered with two inputs; the single-input output shows no slot


def test_title_and_dpi(tmp_path):
    draw(chain("identity"), tmp_path / "small.png", title="", dpi=50)
    draw(chain("identity"), tmp_path / "large.png", title="an identity", dpi=200)
    small, large = matplotlib.image.imread(tmp_path / "small.png"), matplotlib.image.imread(tmp_path / "large.png")
    assert large.shape[1] > 3 * small.shape[1]


def test_pyplot_state_is_untouched(tmp_path):
    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    draw(small_cnn(), tmp_path / "g.png")
    draw(generators.erdos_renyi(8, 0.5, seed=1), tmp_path / "t.png")
    assert matplotlib.get_backend() == backend and plt.get_fignums() == figures


def test_malformed_typed_graph_is_refused(tmp_path):
    G = chain("identity")
    G.remove_node("out")
    with pytest.raises(wiring.GraphError, match="no 'output' node"):
        draw(G, tmp_path / "g.png")
    G = chain("identity")
    del G.nodes["x"]["op"]  # some nodes typed, others not: a typed graph with a node lacking its op
    with pytest.raises(wiring.GraphError, match="node 'x' has no 'op'"):
        draw(G, tmp_path / "g.png")
    assert not list(tmp_path.iterdir())


def test_cyclic_topology_is_refused(tmp_path):
    with pytest.raises(wiring.GraphError, match=r"acyclic; cycle through nodes \[0, 1, 2\]"):
        draw(nx.DiGraph([(0, 1), (1, 2), (2, 0)]), tmp_path / "c.png")


@pytest.mark.parametrize("G", [nx.Graph([(0, 1)]), nx.MultiDiGraph([(0, 1)]), "graph"])
def test_non_digraphs_are_refused(G, tmp_path):
    with pytest.raises(wiring.GraphError, match="networkx.DiGraph"):
        draw(G, tmp_path / "g.png")


def test_missing_directory_is_named(tmp_path):
    path = tmp_path / "missing" / "g.png"
    with pytest.raises(wiring.GraphError, match=f"cannot write {re.escape(repr(str(path)))}.*does not exist"):
        draw(small_cnn(), path)
    with pytest.raises(wiring.GraphError, match="is a directory"):
        draw(small_cnn(), tmp_path)


@pytest.mark.parametrize("keyword, value, message", [
    ("dpi", 0, "dpi must be a positive int"), ("dpi", 72.0, "dpi must be a positive int"),
    ("expand", "yes", "expand must be True or False"), ("title", 3, "title must be a string"),
])
def test_bad_arguments(keyword, value, message, tmp_path):
    with pytest.raises(wiring.GraphError, match=message):
        draw(small_cnn(), tmp_path / "g.png", **{keyword: value})


@settings(max_examples=10)
@given(typed_graphs(max_nodes=6, max_depth=1))
def test_random_typed_graphs_are_drawn(tmp_path_factory, G):
    path = tmp_path_factory.mktemp("random") / "g.png"
    draw(G, path, dpi=40)
    draw(G, path, dpi=40, expand=True)
    assert matplotlib.image.imread(path).shape[0] > 50
