"""Latency lookup tables (ProxylessNAS style): measuring, per-node and per-graph lookups, save and load."""

import json
import re

import pytest

import spaces
import wiring
from graphs import ALL, nested_sep_convs as nested, relu_conv_chain as net
from wiring import GraphError, LatencyTable, latency
from wiring.analysis import analyse
from wiring.latency import leaves, node_key


def test_the_table_has_one_home():
    assert spaces.LatencyTable is spaces.constraint.LatencyTable is wiring.LatencyTable is latency.LatencyTable


# -- measuring and summing --------------------------------------------------------------


def test_measure_times_each_op_params_and_shapes_once(fake_timer):
    table = LatencyTable().measure([nested(), nested()])
    # b and the subgraph's sep have a's op, params and input shape: one entry for the three
    assert fake_timer == ["stem", "a", "add", "head"]
    assert len(table.entries) == 4
    table.measure([nested(), net()])
    assert fake_timer[4:] == ["conv0", "head"]  # only what is new: net's conv and its head (5 classes)


def test_latency_is_the_exact_sum_of_the_entries_of_every_node(fake_timer):
    table = LatencyTable().measure([nested()])
    # stem 1 + a 2 + b 2 + inner sep 2 + sum 4 + head 8
    assert table.latency(nested()) == 1 + 2 + 2 + 2 + 4 + 8
    table.entries = {key: 0.5 for key in table.entries}
    assert table.latency(nested()) == 6 * 0.5


def test_latency_names_the_node_without_an_entry(fake_timer):
    table = LatencyTable().measure([net(width=4)])
    with pytest.raises(GraphError, match="'conv0'.*relu_conv_bn.*measure"):
        table.latency(net(width=8))
    with pytest.raises(GraphError, match="'conv1'"):
        table.latency(net(width=4, depth=2))


def test_measure_runs_the_ops_on_this_machine():
    table = LatencyTable().measure([nested()], repeats=2)
    assert len(table.entries) == 4
    assert all(isinstance(ms, float) and ms > 0 for ms in table.entries.values())
    assert table.latency(nested()) > 0


@pytest.mark.parametrize("repeats", [0, -1, 1.5, "3", True])
def test_measure_refuses_bad_repeats(repeats):
    with pytest.raises(GraphError, match="repeats"):
        LatencyTable().measure([net()], repeats=repeats)


def test_latency_at_another_input_shape(fake_timer):
    table = LatencyTable().measure([net(size=16)])
    assert table.latency(net(size=8), (3, 16, 16)) == table.latency(net(size=16))
    with pytest.raises(GraphError, match="'conv0'"):
        table.latency(net(size=16), (3, 32, 32))


# -- per node -------------------------------------------------------------------------


def test_node_key_is_op_params_and_input_shapes():
    info = analyse(net(width=4)).nodes["conv0"]
    assert json.loads(node_key(info)) == ["relu_conv_bn", info.params, [[3, 8, 8]]]
    assert node_key(info) != node_key(analyse(net(width=8)).nodes["conv0"])
    assert node_key(info) == node_key(analyse(net(width=4, depth=2)).nodes["conv0"])


def test_leaves_expand_subgraphs_and_skip_structural_nodes():
    analysis = analyse(nested())
    assert [info.label for info in leaves(analysis)] == ["stem", "a", "b", "sep", "add", "head"]
    assert [info.label for info in leaves(analysis.nodes["cell"])] == ["sep", "add"]
    assert list(leaves(analysis.nodes["in"])) == [] == list(leaves(analysis.nodes["out"]))
    assert [info.label for info in leaves(analysis.nodes["a"])] == ["a"]


def test_each_nodes_latency_is_its_measured_entry(fake_timer):
    table = LatencyTable().measure([nested()])
    analysis = analyse(nested())
    by_node = table.node_latencies(nested())
    assert list(by_node) == list(analysis.nodes)  # every top-level node, in stable order
    for label in ("stem", "a", "b", "head"):
        assert by_node[label] == table.entries[node_key(analysis.nodes[label])]
        assert table.node_latency(analysis.nodes[label]) == by_node[label]
    inner = analysis.nodes["cell"].sub.nodes
    assert by_node["cell"] == table.entries[node_key(inner["sep"])] + table.entries[node_key(inner["add"])] == 2 + 4
    assert by_node["in"] == by_node["out"] == 0.0
    assert sum(by_node.values()) == table.latency(nested())


@pytest.mark.parametrize("name", sorted(ALL))
def test_per_node_latencies_add_up_to_the_graphs(fake_timer, name):
    G = ALL[name]()
    table = LatencyTable().measure([G])
    entries = {node_key(info): table.entries[node_key(info)] for info in leaves(analyse(G))}
    assert entries == table.entries
    assert sum(table.node_latencies(G).values()) == table.latency(G) == sum(
        table.entries[node_key(info)] for info in leaves(analyse(G)))


def test_a_node_not_in_the_table_is_named_with_its_key(fake_timer):
    table = LatencyTable().measure([net(width=4)])
    info = analyse(net(width=8)).nodes["conv0"]
    with pytest.raises(GraphError, match=f"'conv0' \\({re.escape(node_key(info))}\\); measure") as error:
        table.node_latency(info)
    with pytest.raises(GraphError) as by_graph:
        table.node_latencies(net(width=8))
    assert str(by_graph.value) == str(error.value)
    assert table.node_latency(analyse(net(width=8)).nodes["in"]) == 0.0  # structural: needs no entry


def test_a_missing_entry_inside_a_subgraph_names_the_leaf_and_its_subgraph(fake_timer):
    table = LatencyTable().measure([nested()])
    sep = analyse(nested(kernel=5)).nodes["cell"].sub.nodes["sep"]
    with pytest.raises(GraphError, match=f"'sep' \\(inside 'cell'\\) \\({re.escape(node_key(sep))}\\)"):
        table.node_latencies(nested(kernel=5))


# -- save and load --------------------------------------------------------------------


def test_save_load_round_trip(tmp_path, fake_timer):
    table = LatencyTable(device="cpu").measure([nested(), net()])
    table.save(tmp_path / "latency.json")
    loaded = LatencyTable.load(tmp_path / "latency.json")
    assert loaded == table
    assert loaded.latency(nested()) == table.latency(nested())


@pytest.mark.parametrize("text", [
    "not json",
    "[1, 2]",
    json.dumps({"device": "cpu"}),
    json.dumps({"entries": [1.0]}),
    json.dumps({"entries": {"k": "fast"}}),
    json.dumps({"entries": {"k": None}}),
    json.dumps({"entries": {"k": -1.0}}),
    '{"entries": {"k": NaN}}',
    '{"entries": {"k": Infinity}}',
])
def test_load_of_a_corrupt_file(tmp_path, text):
    path = tmp_path / "latency.json"
    path.write_text(text)
    with pytest.raises(GraphError, match="latency.json: not a latency table"):
        LatencyTable.load(path)


def test_load_of_a_missing_file(tmp_path):
    with pytest.raises(GraphError, match="missing.json"):
        LatencyTable.load(tmp_path / "missing.json")
