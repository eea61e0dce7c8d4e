"""The contract of ``wiring.testing``: eager argument checks, the shape of what each
strategy draws, shrinking towards small examples, and the hypothesis profiles."""

import random

import networkx as nx
import pytest
import torch
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import generators
import wiring
from wiring import testing
from wiring.testing import dags, generated_graphs, generator_params, typed_graphs

# -- eager argument checks ----------------------------------------------------------

BAD_ARGUMENTS = [
    (dags, {"min_nodes": 0}, "min_nodes"),
    (dags, {"min_nodes": 5, "max_nodes": 4}, "min_nodes"),
    (dags, {"max_nodes": 1.5}, "max_nodes"),
    (dags, {"max_nodes": True}, "max_nodes"),
    (dags, {"max_in_degree": -1}, "max_in_degree"),
    (dags, {"max_in_degree": "2"}, "max_in_degree"),
    (generator_params, {"names": ()}, "names"),
    (generator_params, {"names": "erdos_renyi"}, "names"),
    (generator_params, {"names": ("er",)}, "'er'"),
    (generator_params, {"names": ("watts_strogatz",), "max_nodes": 2}, "max_nodes=2"),
    (generator_params, {"names": ("barabasi_albert",), "max_nodes": 1}, "max_nodes=1"),
    (generator_params, {"min_nodes": 9, "max_nodes": 8}, "min_nodes"),
    (generated_graphs, {"max_nodes": 0}, "max_nodes"),
    (generated_graphs, {"names": ["ws_flex", "gnp"]}, "'gnp'"),
    (typed_graphs, {"max_nodes": 0}, "max_nodes"),
    (typed_graphs, {"max_depth": -1}, "max_depth"),
    (typed_graphs, {"channels": ()}, "channels"),
    (typed_graphs, {"channels": 0}, "channels"),
    (typed_graphs, {"channels": "4"}, "channels"),
    (typed_graphs, {"channels": (4, 2.0)}, "channels"),
    (typed_graphs, {"size": 0}, "size"),
    (typed_graphs, {"size": (8,)}, "size"),
    (typed_graphs, {"ops": ("sum", "conv2d")}, "'conv2d'"),
    (typed_graphs, {"ops": "sum"}, "ops"),
    (typed_graphs, {"ops": ("identity", "conv_bn")}, "aggregation"),
    (typed_graphs, {"ops": ("sum", "choice")}, "'choice'"),
]


@pytest.mark.parametrize(("strategy", "kwargs", "named"), BAD_ARGUMENTS,
                         ids=[f"{s.__name__}-{k}" for s, k, _ in BAD_ARGUMENTS])
def test_bad_arguments_raise_at_once_naming_them(strategy, kwargs, named):
    with pytest.raises(wiring.GraphError) as caught:
        strategy(**kwargs)  # no example drawn: the check is eager
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)


# -- dags ----------------------------------------------------------------------------


@st.composite
def dag_arguments(draw):
    low = draw(st.integers(1, 8))
    high = draw(st.integers(low, 10))
    return low, high, draw(st.none() | st.integers(0, 3))


@given(dag_arguments(), st.data())
def test_dags_are_forward_with_bounded_size_and_in_degree(arguments, data):
    low, high, cap = arguments
    G = data.draw(dags(min_nodes=low, max_nodes=high, max_in_degree=cap))
    assert isinstance(G, nx.DiGraph)
    assert low <= G.number_of_nodes() <= high
    assert list(G.nodes) == list(range(G.number_of_nodes()))
    assert all(u < v for u, v in G.edges)
    if cap is not None:
        assert max((d for _, d in G.in_degree), default=0) <= cap


def _find(strategy, condition):
    return find(strategy, condition, settings=settings(database=None, max_examples=500),
                random=random.Random(0))


def test_dags_shrink_to_a_minimal_graph():
    G = _find(dags(), lambda g: g.number_of_edges() >= 3)
    assert (G.number_of_nodes(), G.number_of_edges()) == (3, 3)
    G = _find(dags(), lambda g: any(d >= 2 for _, d in g.in_degree))
    assert sorted(G.edges) == [(0, 2), (1, 2)]


def test_dags_can_draw_every_edge():
    G = _find(dags(min_nodes=5, max_nodes=5), lambda g: g.number_of_edges() == 10)
    assert nx.is_isomorphic(G.to_undirected(), nx.complete_graph(5))


# -- generators ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(testing.GENERATORS))
@given(data=st.data())
def test_generator_params_are_accepted(name, data):
    low = data.draw(st.integers(1, 6), label="min_nodes")
    drawn_name, params = data.draw(generator_params(names=[name], min_nodes=low, max_nodes=12))
    assert drawn_name == name
    assert max(low, testing.GENERATORS[name]) <= params["n"] <= 12
    G = getattr(generators, name)(**params, seed=0)
    assert G.number_of_nodes() == params["n"]
    assert G.graph["generator"]["params"] == params


@given(generated_graphs(max_nodes=16))
def test_generated_graphs_are_forward_dags_with_provenance(G):
    provenance = G.graph["generator"]
    assert provenance["name"] in testing.GENERATORS
    assert isinstance(provenance["seed"], int)
    assert list(G.nodes) == list(range(provenance["params"]["n"]))
    assert all(u < v for u, v in G.edges)
    again = getattr(generators, provenance["name"])(**provenance["params"], seed=provenance["seed"])
    assert sorted(again.edges) == sorted(G.edges)


# -- typed graphs ------------------------------------------------------------------------

STRUCTURAL = {"input", "output"}


def _ops_used(G):
    used = set()
    for _, d in G.nodes(data=True):
        used.add(d["op"])
        if d["op"] == "choice":
            used.update(c["op"] for c in d["params"]["candidates"])
        if d["op"] == "subgraph":
            used.update(_ops_used(d["params"]["graph"]))
    return used


def _depth(G):
    return max((1 + _depth(d["params"]["graph"]) for _, d in G.nodes(data=True) if d["op"] == "subgraph"), default=0)


OPS_SUBSETS = [
    ("sum",),
    ("mean", "identity", "max_pool"),
    ("weighted_sum", "zero", "avg_pool", "head"),
    ("rw_node",),
    ("select", "choice", "sep_conv", "conv_bn"),
    ("sum", "subgraph", "relu_conv_bn"),
]


@pytest.mark.parametrize("ops", OPS_SUBSETS, ids="+".join)
@given(data=st.data())
def test_typed_graphs_use_only_the_given_ops_and_run(ops, data):
    size = data.draw(st.sampled_from([5, (6, 4)]), label="size")
    G = data.draw(typed_graphs(max_nodes=5, channels=(3, 6), size=size, ops=ops, max_depth=2))
    assert _ops_used(G) <= set(ops) | STRUCTURAL
    assert _depth(G) <= 2
    assert G.graph["schema"] == wiring.SCHEMA_VERSION
    wiring.validate(G)
    shapes = [(d["params"]["channels"], *d["params"]["size"])
              for _, d in sorted(G.nodes(data=True), key=lambda nd: str(nd[0])) if d["op"] == "input"]
    assert all(s[0] in (3, 6) and list(s[1:]) == ([5, 5] if size == 5 else [6, 4]) for s in shapes)
    model = wiring.compile(G, seed=0).eval()
    with torch.no_grad():
        model(*testing.example_inputs(G, batch=1))


@given(typed_graphs(max_depth=0))
def test_typed_graphs_without_depth_do_not_nest(G):
    assert "subgraph" not in _ops_used(G)


def test_typed_graphs_shrink_to_a_minimal_graph():
    G = _find(typed_graphs(), lambda g: "choice" in _ops_used(g))
    assert sorted(G.nodes, key=str) == [0, "input", "output"]
    assert len(G.nodes[0]["params"]["candidates"]) == 2


def _features(G):
    features = _ops_used(G)
    features.add(f"inputs={sum(d['op'] == 'input' for _, d in G.nodes(data=True))}")
    output = next(n for n in G if G.nodes[n]["op"] == "output")
    features.add("tuple output" if G.in_degree(output) > 1 else "tensor output")
    if any((d.get("params") or {}).get("key") for _, d in G.nodes(data=True)):
        features.add("shared alpha")
    if any("slot" in d for _, _, d in G.edges(data=True)):
        features.add("slots")
    shapes = {(d["params"]["channels"], d["params"].get("stride", 1)) for _, d in G.nodes(data=True)
              if d["op"] in ("conv_bn", "relu_conv_bn", "sep_conv", "rw_node")}
    features.update(f"stride={s}" for _, s in shapes)
    return features


def test_typed_graphs_draw_every_op_and_feature():
    """Every op in TYPED_OPS and every rarer shape of graph occurs, so none is dead code."""
    seen = set()

    @settings(max_examples=200, phases=[Phase.generate], database=None, derandomize=True)
    @given(typed_graphs())
    def collect(G):
        seen.update(_features(G))

    collect()
    expected = set(testing.TYPED_OPS) | STRUCTURAL | {"inputs=1", "inputs=2", "tuple output", "tensor output",
                                                      "shared alpha", "slots", "stride=1", "stride=2"}
    assert expected <= seen, expected - seen


@given(typed_graphs(max_nodes=4), st.integers(1, 3))
def test_example_inputs_fit_the_inputs_in_index_order(G, batch):
    xs = testing.example_inputs(G, batch=batch, seed=3)
    declared = sorted((d["params"]["index"], d["params"]["channels"], tuple(d["params"]["size"]))
                      for _, d in G.nodes(data=True) if d["op"] == "input")
    assert [(batch, c, *size) for _, c, size in declared] == [tuple(x.shape) for x in xs]
    assert all(torch.equal(a, b) for a, b in zip(xs, testing.example_inputs(G, batch=batch, seed=3)))


@pytest.mark.parametrize(("kwargs", "named"), [({"batch": 0}, "batch"), ({"seed": "0"}, "seed")])
def test_example_inputs_check_their_arguments(kwargs, named):
    G = nx.DiGraph()
    G.add_node("x", op="input", params={"channels": 3, "size": [4, 4]})
    G.add_node("y", op="output")
    G.add_edge("x", "y")
    with pytest.raises(wiring.GraphError, match=named):
        testing.example_inputs(G, **kwargs)


# -- profiles ------------------------------------------------------------------------------


def test_profiles_are_registered():
    testing.register_profiles()
    ci, dev = settings.get_profile("ci"), settings.get_profile("dev")
    assert ci.deadline is None and ci.derandomize and ci.database is None and ci.print_blob
    assert ci.max_examples == 25
    assert dev.deadline is None and not dev.derandomize and dev.max_examples == 50


@pytest.mark.parametrize(("env", "expected"), [
    ({"CI": "1"}, "ci"),
    ({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}, "ci"),
    ({"CI": "", "HYPOTHESIS_PROFILE": "ci"}, "ci"),
    ({"CI": "false"}, "dev"),
    ({}, "dev"),
])
def test_load_profile_follows_the_environment(monkeypatch, env, expected):
    before = settings.get_current_profile_name()
    for name in ("CI", "HYPOTHESIS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        assert testing.load_profile() == expected
        assert settings.get_current_profile_name() == expected
        assert settings.default.max_examples == settings.get_profile(expected).max_examples
    finally:
        settings.load_profile(before)
