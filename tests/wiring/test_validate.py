"""wiring.validate: every malformed graph raises GraphError naming the culprit; valid graphs pass untouched."""

from __future__ import annotations

import copy

import networkx as nx
import pytest

import wiring
from graphs import ALL, CANDIDATES, cell, chain, multi_input, nested, node, small_cnn, with_choice, with_subgraph


def snapshot(G):
    """A deep, comparable copy of everything in ``G`` (nested subgraphs included)."""
    if not isinstance(G, nx.Graph):
        return copy.deepcopy(G)

    def freeze(value):
        if isinstance(value, nx.Graph):
            return snapshot(value)
        if isinstance(value, dict):
            return {k: freeze(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(freeze(v) for v in value)
        return value

    return (freeze(dict(G.graph)), [(n, freeze(d)) for n, d in G.nodes(data=True)],
            [(u, v, freeze(d)) for u, v, d in G.edges(data=True)])


# -- helpers building malformed variants ----------------------------------------


def edit(build, fn):
    """``build()`` changed in place by ``fn(G)``."""
    def make():
        G = build()
        fn(G)
        return G
    return make


def set_param(label, name, value, build=small_cnn):
    return edit(build, lambda G: G.nodes[label]["params"].__setitem__(name, value))


def set_slot(u, v, slot, build=small_cnn):
    return edit(build, lambda G: G.edges[u, v].__setitem__("slot", slot))


def two_convs_into_sum(size=8, c1=8, c2=8, s1=1, s2=1):
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[size, size])
    node(G, "a", "conv_bn", channels=c1, stride=s1)
    node(G, "b", "conv_bn", channels=c2, stride=s2)
    node(G, "s", "sum")
    node(G, "out", "output")
    G.add_edges_from([("in", "a"), ("in", "b"), ("a", "s"), ("b", "s"), ("s", "out")])
    return G


def add_edges(*edges, build=small_cnn):
    return edit(build, lambda G: G.add_edges_from(edges))


def add_nodes_edges(nodes, edges, build=small_cnn):
    def fn(G):
        for label, op in nodes:
            node(G, label, op)
        G.add_edges_from(edges)
    return edit(build, fn)


def inner_edit(fn, key="normal"):
    """``with_subgraph`` whose cell was changed by ``fn``."""
    def make():
        inner = cell(key=key)
        fn(inner)
        return with_subgraph(key=key, inner=inner)
    return make


def choice_param(label, name, value, key=None):
    return set_param(label, name, value, build=lambda: with_choice(key=key))


def _relabel_op(G, label, op, **params):
    G.nodes[label].update(op=op, params=params)


MALFORMED = [
    # (id, builder, substrings the message must contain)
    ("undirected", lambda: nx.Graph(small_cnn()), ["networkx.DiGraph", "Graph"]),
    ("multidigraph", lambda: nx.MultiDiGraph(small_cnn()), ["MultiDiGraph"]),
    ("list", lambda: [1, 2], ["DiGraph", "list"]),
    ("none", lambda: None, ["NoneType"]),
    ("empty", nx.DiGraph, ["empty"]),
    ("self_loop", add_edges(("s", "s")), ["self-loop", "'s'"]),
    ("cycle", add_edges(("s", "stem")), ["cycle", "'stem'", "'s'"]),
    ("no_op", edit(small_cnn, lambda G: G.nodes["a"].pop("op")), ["'a'", "'op'"]),
    ("unknown_op", edit(small_cnn, lambda G: G.nodes["a"].update(op="conv9x9")),
     ["'a'", "'conv9x9'", "known ops", "sep_conv", "max_pool"]),
    ("op_not_str", edit(small_cnn, lambda G: G.nodes["a"].update(op=3)), ["'a'", "3"]),
    ("missing_param", edit(small_cnn, lambda G: G.nodes["a"]["params"].pop("channels")),
     ["'a'", "'channels'", "missing"]),
    ("bool_for_int", set_param("a", "channels", True), ["'a'", "'channels'", "True"]),
    ("str_for_int", set_param("a", "kernel", "3"), ["'a'", "'kernel'", "'3'"]),
    ("float_for_int", set_param("a", "stride", 1.0), ["'a'", "'stride'", "1.0"]),
    ("below_low", set_param("a", "channels", 0), ["'a'", "'channels'", "0"]),
    ("unknown_param", set_param("a", "colour", "red"), ["'a'", "'colour'", "unknown"]),
    ("params_not_dict", edit(small_cnn, lambda G: G.nodes["a"].update(params=[4])), ["'a'", "[4]"]),
    ("identity_two_inputs", edit(small_cnn, lambda G: (_relabel_op(G, "b", "identity"), G.add_edge("in", "b"))),
     ["'b'", "'identity'", "exactly 1", "got 2"]),
    ("input_in_edge", add_edges(("img", "feat"), build=multi_input), ["'feat'", "'input'", "exactly 0", "got 1"]),
    ("island", add_nodes_edges([("p", "identity"), ("q", "identity")], [("p", "q")]), ["'p'", "unreachable"]),
    ("dead", add_nodes_edges([("dead", "identity")], [("stem", "dead")]), ["'dead'", "never reaches the output"]),
    ("no_output", edit(small_cnn, lambda G: _relabel_op(G, "out", "identity")), ["no 'output'"]),
    ("two_outputs", add_nodes_edges([("out2", "output")], [("head", "out2")]), ["2 'output'", "'out'", "'out2'"]),
    ("output_out_edge", add_nodes_edges([("post", "identity")], [("out", "post")]),
     ["output node 'out'", "out-edges", "'post'"]),
    ("no_input", edit(chain, lambda G: G.remove_node("in")), ["no 'input'"]),
    ("input_never_reaches_output", edit(multi_input, lambda G: G.remove_edge("fc", "s")),
     ["'feat'", "never reaches the output"]),
    ("input_index_gap", set_param("feat", "index", 2, build=multi_input), ["0..1", "[0, 2]", "'img': 0", "'feat': 2"]),
    ("input_index_dup", set_param("feat", "index", 0, build=multi_input), ["0..1", "[0, 0]", "'img': 0", "'feat': 0"]),
    ("input_size_bad", set_param("in", "size", [8, 0]), ["'in'", "'size'", "[8, 0]"]),
    ("slot_str", set_slot("down", "cat", "0"), ["('down', 'cat')", "slot", "'0'"]),
    ("slot_negative", set_slot("down", "cat", -1), ["('down', 'cat')", "slot", "-1"]),
    ("slot_bool", set_slot("pool", "cat", True), ["('pool', 'cat')", "slot", "True"]),
    ("slot_on_unordered", set_slot("a", "s", 1.5), ["('a', 's')", "1.5"]),
    ("slot_duplicate", set_slot("pool", "cat", 0), ["'cat'", "'concat'", "slots 0..1", "'down': 0", "'pool': 0"]),
    ("slot_missing", edit(small_cnn, lambda G: G.edges["pool", "cat"].pop("slot")), ["'cat'", "'pool': None"]),
    ("slot_gap", set_slot("pool", "cat", 2), ["'cat'", "'pool': 2"]),
    ("output_slots_missing", edit(small_cnn, lambda G: G.add_edge("cat", "out")), ["'out'", "'output'", "slots"]),
    ("sum_channels", lambda: two_convs_into_sum(c1=8, c2=16), ["'s'", "'sum'", "(8, 8, 8)", "(16, 8, 8)"]),
    ("sum_sizes", lambda: two_convs_into_sum(size=16, c1=4, c2=4, s2=2), ["'s'", "(4, 16, 16)", "(4, 8, 8)"]),
    ("concat_sizes", set_param("pool", "stride", 1), ["'cat'", "'concat'", "(8, 4, 4)", "(4, 8, 8)"]),
    ("linear_on_image", edit(small_cnn, lambda G: _relabel_op(G, "head", "linear", features=3)),
     ["'head'", "'linear'", "(12, 4, 4)"]),
    ("kernel_too_big", edit(small_cnn, lambda G: G.nodes["a"]["params"].update(kernel=11, padding=0)),
     ["'a'", "kernel 11", "(4, 8, 8)"]),
    ("subgraph_inner_cycle", inner_edit(lambda C: C.add_edge(5, 4)), ["in subgraph node 'cell1'", "cycle", "4", "5"]),
    ("subgraph_inner_unknown_op", inner_edit(lambda C: C.nodes[5].update(op="nope")),
     ["in subgraph node 'cell1'", "node 5", "'nope'"]),
    ("subgraph_nested_path", lambda: chain("subgraph", graph=chain("subgraph", graph=add_edges(("x", "x"), build=chain)())),
     ["in subgraph node 'x': in subgraph node 'x': self-loop on node 'x'"]),
    ("subgraph_missing_in_edge", edit(with_subgraph, lambda G: G.remove_edge("pool", "cell1")),
     ["in subgraph node 'cell1'", "2 input(s)", "1 in-edge(s)"]),
    ("subgraph_extra_in_edge", edit(with_subgraph, lambda G: G.add_edge("in", "cell1", slot=2)),
     ["in subgraph node 'cell1'", "2 input(s)", "3 in-edge(s)"]),
    ("subgraph_inner_channels", inner_edit(lambda C: C.nodes[1]["params"].update(channels=5)),
     ["in subgraph node 'cell1'", "input node 1", "(5, 32, 32)", "(4, 8, 8)"]),
    ("subgraph_not_graph", lambda: chain("subgraph", graph=5), ["'x'", "'graph'", "5"]),
    ("subgraph_undirected", lambda: chain("subgraph", graph=nx.Graph(chain())), ["in subgraph node 'x'", "DiGraph"]),
    ("subgraph_two_tensors", lambda: chain("subgraph", graph=edit(chain, lambda G: (
        G.add_edge("in", "out", slot=1), G.edges["x", "out"].__setitem__("slot", 0)))()),
     ["'x'", "exactly one tensor"]),
    ("choice_shapes", choice_param("c1", "candidates", [{"op": "sep_conv", "params": {"channels": 8}},
                                                      {"op": "identity"}]),
     ["'c1'", "(8, 8, 8)", "(4, 8, 8)", "candidate 1"]),
    ("choice_empty", choice_param("c1", "candidates", []), ["'c1'", "'candidates'", "[]"]),
    ("choice_candidate_unknown_op", choice_param("c1", "candidates", [{"op": "nope"}]), ["'c1'", "'nope'"]),
    ("choice_candidate_bad_param", choice_param("c1", "candidates", [{"op": "max_pool", "params": {"kernel": -3}}]),
     ["'c1'", "'kernel'", "-3"]),
    ("shared_key_widths", choice_param("c2", "candidates", CANDIDATES[:2], key="k"),
     ["'c2'", "'k'", "width 4", "2 alternatives"]),
    ("shared_key_select_width", edit(lambda: with_choice(key="k"), lambda G: G.nodes["sel"]["params"].update(key="k")),
     ["'sel'", "'k'", "width 4", "3 alternatives"]),
    ("shared_key_across_subgraph", inner_edit(lambda C: C.nodes[2]["params"].update(candidates=CANDIDATES[:3])),
     ["in subgraph node 'cell1'", "node 3", "'normal'", "width 3", "4 alternatives"]),
    ("shared_key_parent_vs_subgraph", set_param("mix", "candidates", CANDIDATES[:2], build=with_subgraph),
     ["'mix'", "'normal'", "width 4", "2 alternatives"]),
    ("bad_key_dash", choice_param("c1", "key", "a-b"), ["'c1'", "'a-b'"]),
    ("bad_key_digit", choice_param("c1", "key", "1a"), ["'c1'", "'1a'"]),
    ("bad_key_empty", choice_param("c1", "key", ""), ["'c1'", "''"]),
    ("bad_key_type", choice_param("c1", "key", 3), ["'c1'", "'key'", "3"]),
    ("index_without_key", choice_param("c1", "index", 1), ["'c1'", "'index'", "'key'"]),
    ("index_negative", choice_param("c1", "index", -1, key="k"), ["'c1'", "'index'", "-1"]),
]


@pytest.mark.parametrize("build, needles", [pytest.param(b, n, id=i) for i, b, n in MALFORMED])
def test_malformed_graph_raises_naming_the_culprit(build, needles):
    """Each malformed variant raises GraphError whose message carries the culprit."""
    G = build()
    with pytest.raises(wiring.GraphError) as info:
        wiring.validate(G)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_variant_ids_unique():
    """The table's ids are distinct, so no case silently shadows another."""
    ids = [i for i, _, _ in MALFORMED]
    assert len(ids) == len(set(ids))


def test_graph_error_is_value_error():
    assert issubclass(wiring.GraphError, ValueError)
    with pytest.raises(ValueError):
        wiring.validate(nx.DiGraph())


@pytest.mark.parametrize("name", sorted(ALL))
def test_valid_graph_returns_none_and_is_not_mutated(name):
    """validate returns None on each example graph and leaves its data untouched (defaults not written)."""
    G = ALL[name]()
    before = snapshot(G)
    assert wiring.validate(G) is None
    assert snapshot(G) == before


@pytest.mark.parametrize("build", [pytest.param(b, id=i) for i, b, _ in MALFORMED])
def test_invalid_graph_is_not_mutated(build):
    """A failed validation leaves the graph (or whatever was passed) as it was."""
    G = build()
    before = snapshot(G)
    with pytest.raises(wiring.GraphError):
        wiring.validate(G)
    assert snapshot(G) == before


def test_nested_depth_is_valid():
    for depth in range(4):
        assert wiring.validate(nested(depth)) is None


def test_normalised_op_names_are_accepted():
    """Op names are looked up normalised (``Conv-BN`` is ``conv_bn``)."""
    G = small_cnn()
    G.nodes["stem"]["op"] = "Conv-BN"
    assert wiring.validate(G) is None


def test_slots_optional_where_order_cannot_matter():
    """Unordered ops (``sum`` in small_cnn) and a single input to an ordered op need no slots."""
    assert all("slot" not in small_cnn().edges[u, "s"] for u in ("a", "b"))
    assert wiring.validate(small_cnn()) is None
    assert wiring.validate(chain("concat")) is None
    assert wiring.validate(chain("subgraph", graph=chain())) is None


@pytest.mark.parametrize("shape", [(3, 8, 8), [3, 8, 8], (3, 16, 16), (3, 4, 4)])
def test_input_shape_overrides_size(shape):
    assert wiring.validate(small_cnn(), input_shape=shape) is None


def test_multi_input_shapes():
    G = multi_input()
    assert wiring.validate(G, input_shape=[(3, 16, 16), (6,)]) is None
    with pytest.raises(wiring.GraphError, match=r"'feat'.*\(6,\).*\(7,\)"):
        wiring.validate(G, input_shape=[(3, 16, 16), (7,)])


@pytest.mark.parametrize("shape, needles", [
    ((4, 8, 8), ["'in'", "(3, 8, 8)", "(4, 8, 8)"]),
    ((3, 8), ["'in'", "(3, 8)"]),
    ((3, -1, 8), ["input_shape", "-1"]),
    ((3, 0, 8), ["input_shape", "(3, 0, 8)"]),
    ((True, 8, 8), ["input_shape", "True"]),
    ((3.0, 8, 8), ["input_shape", "3.0"]),
    ("abc", ["input_shape", "'abc'"]),
    ((), ["input_shape", "()"]),
    (5, ["input_shape", "5"]),
    ([(3, 8, 8), (6,)], ["2 shapes", "1 input(s)"]),
    ([(3, 8, 8), ()], ["input_shape"]),
])
def test_bad_input_shape(shape, needles):
    """A wrong or malformed ``input_shape`` argument raises GraphError naming it."""
    with pytest.raises(wiring.GraphError) as info:
        wiring.validate(small_cnn(), input_shape=shape)
    for needle in needles:
        assert needle in str(info.value)


def test_input_shape_too_small_for_strided_conv():
    """Shapes are re-inferred from ``input_shape``: a 2×2 input leaves nothing after a 3×3 unpadded conv."""
    G = chain("conv_bn", channels=4, padding=0)
    assert wiring.validate(G) is None
    with pytest.raises(wiring.GraphError, match="'x'.*no output"):
        wiring.validate(G, input_shape=(3, 2, 2))


def _holding(graph):
    """input -> subgraph(graph) -> output."""
    G = nx.DiGraph()
    node(G, "x", "input", channels=4, size=[8, 8])
    node(G, "s", "subgraph", graph=graph)
    node(G, "o", "output")
    G.add_edges_from([("x", "s"), ("s", "o")])
    return G


def test_a_graph_holding_itself_is_refused():
    G = _holding(None)
    G.nodes["s"]["params"]["graph"] = G
    with pytest.raises(wiring.GraphError, match="'s' contains the graph it is part of"):
        wiring.validate(G)
    A = _holding(None)
    B = _holding(A)
    A.nodes["s"]["params"]["graph"] = B  # A holds B, B holds A
    with pytest.raises(wiring.GraphError, match="contains the graph it is part of"):
        wiring.validate(A)


def test_nesting_is_bounded_with_a_clear_error(monkeypatch):
    from wiring import analysis

    monkeypatch.setattr(wiring.limits, "MAX_NESTING", 3)
    assert wiring.validate(nested(3)) is None
    with pytest.raises(wiring.GraphError, match="deeper than 3 levels.*MAX_NESTING"):
        wiring.validate(nested(4))
