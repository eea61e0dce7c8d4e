"""wiring.pyg: typed DAGs as torch_geometric Data (subgraphs expanded) and back."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import torch
from graphs import ALL, chain, node, small_cnn, with_choice, with_subgraph
from hypothesis import given
from torch_geometric.loader import DataLoader

import ops
import spaces.randwire as randwire
import wiring
from wiring.analysis import analyse, stable_order
from wiring.pyg import DEFAULT_VOCAB, expand, from_pyg, to_pyg
from wiring.testing import typed_graphs


def flat_graphs():
    return {name: build for name, build in ALL.items() if "subgraph" not in name}


# -- features and edges ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(flat_graphs()))
def test_one_hot_rows_and_edges_match_the_graph(name):
    G = ALL[name]()
    data = to_pyg(G)
    order = stable_order(G)
    assert data.num_nodes == len(order) and data.node_labels == order
    assert data.x.dtype == torch.float32 and data.x.shape == (len(order), len(data.vocab))
    assert torch.equal(data.x.sum(dim=1), torch.ones(len(order)))
    assert [data.vocab[i] for i in data.x.argmax(dim=1).tolist()] == data.node_ops
    assert data.node_ops == [G.nodes[label]["op"] for label in order]
    assert data.edge_index.dtype == torch.long and data.edge_slot.dtype == torch.long
    edges = {(order[u], order[v]): s for (u, v), s in zip(data.edge_index.t().tolist(), data.edge_slot.tolist())}
    assert edges == {(u, v): d.get("slot", -1) for u, v, d in G.edges(data=True)}
    for label, text in zip(order, data.node_params):
        assert json.loads(text) == ops.get(G.nodes[label]["op"]).resolve(G.nodes[label].get("params"))


def test_default_vocab_is_the_registry_without_subgraph_read_at_each_use(monkeypatch):
    assert list(DEFAULT_VOCAB) == [name for name in ops.names() if name != "subgraph"]
    assert to_pyg(small_cnn()).vocab == list(DEFAULT_VOCAB)
    monkeypatch.setattr(ops, "names", lambda: ["a_user_op", "input", "subgraph"])
    assert list(DEFAULT_VOCAB) == ["a_user_op", "input"] and len(DEFAULT_VOCAB) == 2 and DEFAULT_VOCAB[0] == "a_user_op"


def test_explicit_vocab_sets_the_columns():
    G = chain("identity")
    data = to_pyg(G, vocab=["output", "zero", "identity", "input"])
    assert data.vocab == ["output", "zero", "identity", "input"]
    assert data.x.tolist() == [[0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0]]


def test_op_outside_the_vocab_is_named_with_the_vocab():
    with pytest.raises(wiring.GraphError, match=r"node 'x': op 'max_pool' is not in the vocabulary .*'identity'"):
        to_pyg(chain("max_pool"), vocab=["input", "output", "identity"])


@pytest.mark.parametrize("vocab, message", [
    ("input", "list of op names"),
    (["input", 3], r"\(strings\), got 3"),
    (["input", "output", "input"], r"\['input'\] more than once"),
])
def test_bad_vocab(vocab, message):
    with pytest.raises(wiring.GraphError, match=message):
        to_pyg(chain("identity"), vocab=vocab)


def test_malformed_graph_is_refused():
    G = chain("identity")
    G.remove_node("out")
    with pytest.raises(wiring.GraphError, match="no 'output' node"):
        to_pyg(G)


# -- subgraph expansion -------------------------------------------------------------


def test_randwire_network_expands_every_stage():
    G = randwire.cifar(channels=4, nodes=6)
    stages = [label for label in G if G.nodes[label]["op"] == "subgraph"]
    inner = {label: G.nodes[label]["params"]["graph"] for label in stages}
    data = to_pyg(G)
    # every stage loses its input and output node; its in-edges become the edges leaving its input;
    # its out-edges leave its mean instead of its output
    assert data.num_nodes == (G.number_of_nodes() - len(stages)) + sum(S.number_of_nodes() - 2 for S in inner.values())
    assert data.edge_index.size(1) == (G.number_of_edges() - sum(G.in_degree(s) for s in stages)
                                       + sum(S.number_of_edges() - 1 for S in inner.values()))
    assert data.num_nodes == 6 + 3 * (6 + 1) and "subgraph" not in data.node_ops
    assert {"conv3/0", "conv4/mean", "conv5/5", "classifier"} <= set(data.node_labels)
    assert not {"conv3/input", "conv3/output", "conv3"} & set(data.node_labels)
    labels = data.node_labels
    edges = {(labels[u], labels[v]) for u, v in data.edge_index.t().tolist()}
    assert ("conv2", "conv3/0") in edges and ("conv3/mean", "conv4/0") in edges and ("conv5/mean", "classifier") in edges
    F = from_pyg(data)
    assert wiring.cost(F, (3, 32, 32)) == wiring.cost(G, (3, 32, 32))
    assert analyse(F).output_shape == analyse(G).output_shape


def test_expand_keeps_slots_and_labels_paths():
    G = with_subgraph()
    H = expand(G)
    assert "cell1" not in H and "cell2/4" in H and H.nodes["cell2/4"]["op"] == "sum"
    # the nested input 0 of cell2 is its slot-0 predecessor (pool), input 1 the output of cell1 (its conv, node 5)
    assert H.has_edge("pool", "cell2/2") and H.has_edge("cell1/5", "cell2/3")
    assert H.has_edge("cell2/5", "mix") and H.graph["name"] == "with_subgraph"
    wiring.validate(H)
    assert wiring.cost(H, (3, 8, 8)) == wiring.cost(G, (3, 8, 8))


def test_nested_subgraphs_expand_recursively():
    inner = chain("identity")
    middle = chain("subgraph", graph=inner)
    G = chain("subgraph", graph=middle)
    data = to_pyg(G)
    assert data.node_labels == ["in", "x/x/x", "out"] and data.node_ops == ["input", "identity", "output"]


def test_a_nested_graph_that_passes_its_input_through_becomes_an_identity():
    passthrough = nx.DiGraph()
    node(passthrough, "i", "input", channels=3)
    node(passthrough, "o", "output")
    passthrough.add_edge("i", "o")
    G = chain("subgraph", graph=passthrough)
    G.add_node("s", op="sum")
    G.remove_edge("x", "out")
    G.add_edges_from([("in", "s"), ("x", "s"), ("s", "out")])  # without the identity, in -> s would be doubled
    H = expand(G)
    assert H.nodes["x/o"]["op"] == "identity" and set(H.edges) == {("in", "x/o"), ("in", "s"), ("x/o", "s"),
                                                                  ("s", "out")}
    wiring.validate(H)


def test_an_expanded_label_that_clashes_is_refused():
    G = chain("subgraph", graph=chain("identity"))
    G.add_node("x/x", op="identity")
    G.remove_edge("x", "out")
    G.add_edges_from([("x", "x/x"), ("x/x", "out")])
    with pytest.raises(wiring.GraphError, match="label 'x/x' is taken"):
        expand(G)


# -- from_pyg ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(flat_graphs()))
def test_round_trip_keeps_the_graph_hash(name):
    G = ALL[name]()
    assert wiring.graph_hash(from_pyg(to_pyg(G))) == wiring.graph_hash(G)


def test_ops_come_from_x_when_node_ops_are_missing():
    G = with_choice(key="k")
    data = to_pyg(G)
    del data.node_ops
    assert wiring.graph_hash(from_pyg(data)) == wiring.graph_hash(G)


def test_without_node_params_required_params_cannot_be_inverted():
    data = to_pyg(small_cnn())
    del data.node_params
    with pytest.raises(wiring.GraphError, match=r"cannot be inverted: node 0 \(op 'input'\) needs params \['channels'\]"):
        from_pyg(data)


def test_from_pyg_refuses_inconsistent_data():
    data = to_pyg(small_cnn())
    data.edge_index = data.edge_index.clone()
    data.edge_index[1, 0] = 99
    with pytest.raises(wiring.GraphError, match=r"edge \(0, 99\) names a node outside"):
        from_pyg(data)
    data = to_pyg(small_cnn())
    data.edge_slot = data.edge_slot[:-1]
    with pytest.raises(wiring.GraphError, match="edge_slot has"):
        from_pyg(data)
    data = to_pyg(small_cnn())
    data.edge_slot = torch.full_like(data.edge_slot, -1)  # concat needs its slots
    with pytest.raises(wiring.GraphError, match="ordered inputs"):
        from_pyg(data)


@given(typed_graphs(max_nodes=6, max_depth=0))
def test_from_pyg_inverts_to_pyg(G):
    data = to_pyg(G)
    rebuilt = from_pyg(data)
    same_labels = nx.relabel_nodes(G, {label: i for i, label in enumerate(data.node_labels)})
    assert wiring.graph_hash(rebuilt) == wiring.graph_hash(same_labels)


@given(typed_graphs(max_nodes=5, max_depth=2))
def test_expanded_graphs_validate_and_cost_the_same(G):
    data = to_pyg(G)
    assert "subgraph" not in data.node_ops
    assert torch.equal(data.x.sum(dim=1), torch.ones(data.num_nodes))
    F = from_pyg(data)
    assert wiring.cost(F, None) == wiring.cost(G, None)
    assert analyse(F).output_shape == analyse(G).output_shape


# -- batching ----------------------------------------------------------------------


def test_two_graphs_batch_with_the_data_loader():
    first, second = to_pyg(small_cnn()), to_pyg(randwire.cifar(channels=4, nodes=6))
    batch = next(iter(DataLoader([first, second], batch_size=2)))
    assert batch.num_graphs == 2 and batch.num_nodes == first.num_nodes + second.num_nodes
    assert batch.x.shape == (first.num_nodes + second.num_nodes, len(first.vocab))
    assert torch.equal(batch.edge_index[:, first.edge_index.size(1):], second.edge_index + first.num_nodes)
    assert torch.equal(batch.edge_slot, torch.cat([first.edge_slot, second.edge_slot]))
    assert batch.batch.bincount().tolist() == [first.num_nodes, second.num_nodes]
    assert batch.node_ops == [first.node_ops, second.node_ops]
