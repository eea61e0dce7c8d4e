"""Properties every typed DAG has: it validates, compiles, runs like the reference
interpreter, costs what its module measures, round-trips through JSON and files,
hashes independently of its labels; and every corruption of it is refused,
naming the culprit.
"""

import ast
import os
import re
import tempfile

import networkx as nx
import pytest
import torch
from hypothesis import event, example, given
from hypothesis import strategies as st
from interpreter import interpret
from torch.utils.flop_counter import FlopCounterMode

import ops
import wiring
from spaces import randwire
from wiring.analysis import analyse, stable_order
from wiring.testing import example_inputs, generated_graphs, typed_graphs

# -- helpers ---------------------------------------------------------------------


def input_params(G):
    """The params of G's input nodes, in index order."""
    params = [d["params"] for _, d in G.nodes(data=True) if d["op"] == "input"]
    return sorted(params, key=lambda p: p.get("index", 0))


def input_shapes(G):
    return [(p["channels"], *p["size"]) for p in input_params(G)]


def randomise(model, seed=1):
    """Random weights, α and BN statistics, so that a wrong input order, α row or module shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=generator))
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=generator))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=generator))


def as_tuple(y):
    return y if isinstance(y, tuple) else (y,)


def assert_close(got, expected):
    got, expected = as_tuple(got), as_tuple(expected)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


def names_node(message, label):
    """Whether ``message`` names the node ``label`` (``node 3``, ``node 'gather'``), not a longer label."""
    return re.search(rf"node {re.escape(repr(label))}(?![\w'])", message) is not None


# -- compile and run ------------------------------------------------------------------


RELAXED = ("sum", "identity", "conv_bn", "select", "choice", "subgraph")


@pytest.mark.parametrize("strategy", [typed_graphs(), typed_graphs(ops=RELAXED)], ids=["all_ops", "relaxed"])
@given(data=st.data())
def test_typed_graph_compiles_and_matches_the_interpreter(strategy, data):
    G = data.draw(strategy)
    wiring.validate(G)
    model = wiring.compile(G, seed=0)
    randomise(model)
    xs = example_inputs(G)
    out = analyse(G).output_shape
    shapes = list(out) if isinstance(out[0], tuple) else [out]
    model.eval()
    with torch.no_grad():
        got = model(*xs)
        assert_close(got, interpret(G, model, *xs))
    assert [tuple(y.shape) for y in as_tuple(got)] == [(2, *s) for s in shapes]
    model.train()  # batch statistics, head dropout: same RNG state for both
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        got = model(*xs)
        torch.manual_seed(0)
        assert_close(got, interpret(G, model, *xs))


@given(generated_graphs(max_nodes=24), st.sampled_from([1, 2]), st.sampled_from([3, 4]), st.sampled_from([4, 8]))
def test_generated_topology_makes_a_stage_that_compiles(topology, stride, c_in, channels):
    G = randwire.stage(topology, c_in, channels, stride=stride, size=(8, 8))
    wiring.validate(G)
    assert sum(d["op"] == "rw_node" for _, d in G.nodes(data=True)) == topology.number_of_nodes()
    model = wiring.compile(G, seed=0)
    randomise(model)
    model.eval()
    x = torch.randn(2, c_in, 8, 8)
    with torch.no_grad():
        y = model(x)
        assert_close(y, interpret(G, model, x))
    assert y.shape == (2, channels, 8 // stride, 8 // stride)
    assert wiring.cost(G, (c_in, 8, 8)).params == sum(p.numel() for p in model.parameters())


# -- cost -------------------------------------------------------------------------------


@given(typed_graphs())
def test_cost_matches_the_compiled_module(G):
    shapes = input_shapes(G)
    cost = wiring.cost(G, shapes if len(shapes) > 1 else shapes[0])
    model = wiring.compile(G, seed=0).eval()
    assert cost.params == sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter:  # not under no_grad: FlopCounterMode's module tracker needs autograd
        model(*example_inputs(G, batch=1))
    assert 2 * cost.macs == counter.get_total_flops()


# -- serialisation ------------------------------------------------------------------------


@given(typed_graphs())
def test_json_round_trip_keeps_text_and_hash(G):
    text = wiring.to_json(G)
    H = wiring.from_json(text)
    assert wiring.to_json(H) == text
    assert wiring.graph_hash(H) == wiring.graph_hash(G)
    assert set(H.nodes) == set(G.nodes) and set(H.edges) == set(G.edges)


@given(typed_graphs(max_nodes=5))
def test_save_load_round_trip_gives_the_same_outputs(G):
    model = wiring.compile(G, seed=0)
    randomise(model)
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "graph.pt")
        wiring.save(path, G, model)
        H, loaded = wiring.load(path)
        wiring.save(path, G)
        _, none = wiring.load(path)
    assert none is None
    assert wiring.to_json(H) == wiring.to_json(G)
    loaded.eval()
    xs = example_inputs(G)
    with torch.no_grad():
        for got, expected in zip(as_tuple(loaded(*xs)), as_tuple(model(*xs))):
            assert torch.equal(got, expected)


# -- hash -----------------------------------------------------------------------------------

ORDER_PRESERVING = {
    "prefix": lambda label: f"v{label}",  # str order kept: "v10" < "v2" as "10" < "2"
    "as_str": str,  # ints become the strings they sort as
}


@given(typed_graphs(), st.sampled_from(sorted(ORDER_PRESERVING)))
def test_hash_ignores_an_order_preserving_relabelling(G, how):
    H = nx.relabel_nodes(G, {label: ORDER_PRESERVING[how](label) for label in G})
    assert [ORDER_PRESERVING[how](label) for label in stable_order(G)] == stable_order(H)
    assert wiring.graph_hash(H) == wiring.graph_hash(G)
    # same hash, same module: names, and with the same seed, weights
    got, expected = wiring.compile(H, seed=0).state_dict(), wiring.compile(G, seed=0).state_dict()
    assert list(got) == list(expected)
    assert all(torch.equal(got[name], expected[name]) for name in got)


@given(typed_graphs())
def test_hash_changes_with_an_op(G):
    swappable = [n for n in stable_order(G) if G.nodes[n]["op"] in ("sum", "mean")]
    before = wiring.graph_hash(G)
    if not swappable:
        event("no sum or mean node")
        return
    node = swappable[0]
    G.nodes[node]["op"] = "mean" if G.nodes[node]["op"] == "sum" else "sum"
    assert wiring.graph_hash(G) != before


# -- malformed graphs -------------------------------------------------------------------------


def _sorted(nodes):
    return sorted(nodes, key=str)


def back_edge(G, data):
    u = data.draw(st.sampled_from(_sorted(n for n in G if G.out_degree(n))), label="u")
    v = data.draw(st.sampled_from(_sorted(nx.descendants(G, u))), label="v")
    G.add_edge(v, u)

    def check(message):
        listed = ast.literal_eval(re.search(r"cycle through nodes (\[.*?\])", message).group(1))
        return u in listed and v in listed
    return check


def self_loop(G, data):
    x = data.draw(st.sampled_from(_sorted(G)), label="x")
    G.add_edge(x, x)
    return lambda message: "self-loop" in message and names_node(message, x)


def missing_op(G, data):
    x = data.draw(st.sampled_from(_sorted(G)), label="x")
    del G.nodes[x]["op"]
    return lambda message: "'op'" in message and names_node(message, x)


def unknown_op(G, data):
    x = data.draw(st.sampled_from(_sorted(G)), label="x")
    G.nodes[x]["op"] = "no_such_op"
    return lambda message: "unknown op 'no_such_op'" in message and names_node(message, x)


def wrong_param_type(G, data):
    x = data.draw(st.sampled_from(_sorted(n for n in G if G.nodes[n].get("params"))), label="x")
    name = data.draw(st.sampled_from(sorted(G.nodes[x]["params"])), label="param")
    kind = ops.get(G.nodes[x]["op"]).params[name].kind
    G.nodes[x]["params"][name] = 3 if kind == "str" else "3"
    return lambda message: names_node(message, x) and repr(name) in message


def second_output(G, data):
    x = data.draw(st.sampled_from(_sorted(n for n in G if G.nodes[n]["op"] != "output")), label="x")
    G.add_node("output2", op="output")
    G.add_edge(x, "output2")
    return lambda message: "2 'output' nodes" in message and "'output2'" in message


def no_output(G, data):
    G.remove_nodes_from([n for n in list(G) if G.nodes[n]["op"] == "output"])
    return lambda message: "no 'output' node" in message


def dead_node(G, data):
    x = data.draw(st.sampled_from(_sorted(n for n in G if G.nodes[n]["op"] != "output")), label="x")
    G.add_node("dead", op="identity")
    G.add_edge(x, "dead")
    return lambda message: "never reaches the output" in message and names_node(message, "dead")


def unreachable_node(G, data):
    y = data.draw(st.sampled_from(_sorted(n for n in G if G.nodes[n]["op"] != "input")), label="y")
    G.add_node("orphan", op="identity")
    G.add_edge("orphan", y)
    return lambda message: "unreachable" in message and names_node(message, "orphan")


CORRUPTIONS = [back_edge, self_loop, missing_op, unknown_op, wrong_param_type, second_output, no_output, dead_node,
               unreachable_node]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__)
@given(G=typed_graphs(max_nodes=6), data=st.data())
def test_corrupted_graph_is_refused_naming_the_culprit(corrupt, G, data):
    wiring.validate(G)
    check = corrupt(G, data)
    with pytest.raises(wiring.GraphError) as caught:
        wiring.validate(G)
    assert check(str(caught.value)), str(caught.value)
    with pytest.raises(wiring.GraphError):
        wiring.compile(G)


AGGREGATIONS = ("sum", "mean", "weighted_sum", "rw_node", "select")


def _mismatch_example():
    """input -> 0, 1 (conv_bn) -> 2 (sum) -> output: changing 1's channels breaks the sum."""
    G = nx.DiGraph()
    G.add_node("input", op="input", params={"channels": 4, "size": [8, 8]})
    G.add_node(0, op="conv_bn", params={"channels": 4})
    G.add_node(1, op="conv_bn", params={"channels": 4})
    G.add_node(2, op="sum")
    G.add_node("output", op="output")
    G.add_edges_from([("input", 0), ("input", 1), (0, 2), (1, 2), (2, "output")])
    return G


@given(typed_graphs(max_nodes=6))
@example(_mismatch_example())
def test_channel_mismatch_is_refused_downstream(G):
    wiring.validate(G)
    # p feeds the aggregation m directly, and m has another input that does not depend on p
    pairs = [(p, m) for m in stable_order(G) if G.nodes[m]["op"] in AGGREGATIONS
             for p in G.predecessors(m) if G.nodes[p]["op"] != "input" and "channels" in G.nodes[p].get("params", {})
             and set(G.predecessors(m)) - nx.descendants(G, p) - {p}]
    if not pairs:
        event("no aggregation fed by a node with channels and an independent input")
        return
    p, m = min(pairs, key=lambda pair: (str(pair[1]), str(pair[0])))
    G.nodes[p]["params"]["channels"] += 1
    with pytest.raises(wiring.GraphError) as caught:
        wiring.validate(G)
    message = str(caught.value)
    assert any(names_node(message, d) for d in nx.descendants(G, p)), message
    assert "shape" in message


@given(typed_graphs(max_nodes=5), st.data())
def test_corruption_inside_a_subgraph_names_the_path(G, data):
    nested = [n for n in stable_order(G) if G.nodes[n]["op"] == "subgraph"]
    if nested:
        outer, sub = G, nested[0]
    else:  # wrap G as the only node of an outer graph
        inputs = input_params(G)
        output = next(n for n in G if G.nodes[n]["op"] == "output")
        if G.in_degree(output) != 1:  # a nested graph must return one tensor
            event("tuple output, no subgraph")
            return
        outer, sub = nx.DiGraph(), "cell"
        outer.add_node(sub, op="subgraph", params={"graph": G})
        for p in inputs:
            outer.add_node(f"x{p['index']}", op="input", params=dict(p))
            outer.add_edge(f"x{p['index']}", sub, **({"slot": p["index"]} if len(inputs) > 1 else {}))
        outer.add_node("y", op="output")
        outer.add_edge(sub, "y")
    wiring.validate(outer)
    inner = outer.nodes[sub]["params"]["graph"]
    x = data.draw(st.sampled_from(_sorted(inner)), label="x")
    inner.nodes[x]["op"] = "no_such_op"
    with pytest.raises(wiring.GraphError) as caught:
        wiring.validate(outer)
    message = str(caught.value)
    assert message.startswith(f"in subgraph node {sub!r}: ") and names_node(message, x), message
