"""Properties every generator promises, across its parameter range."""

import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import generators

probabilities = st.floats(0.0, 1.0)
seeds = st.integers(-(2**63), 2**64)


@st.composite
def erdos_renyi_params(draw):
    return {"n": draw(st.integers(1, 40)), "p": draw(probabilities)}


@st.composite
def barabasi_albert_params(draw):
    n = draw(st.integers(2, 40))
    return {"n": n, "m": draw(st.integers(1, n - 1))}


@st.composite
def watts_strogatz_params(draw):
    n = draw(st.integers(3, 40))
    return {"n": n, "k": 2 * draw(st.integers(1, (n - 1) // 2)), "p": draw(probabilities)}


@st.composite
def ws_flex_params(draw):
    n = draw(st.integers(3, 40))
    return {"n": n, "k": draw(st.floats(2.0, n - 1.0)), "p": draw(probabilities)}


MODELS = {
    "erdos_renyi": (generators.erdos_renyi, erdos_renyi_params()),
    "barabasi_albert": (generators.barabasi_albert, barabasi_albert_params()),
    "watts_strogatz": (generators.watts_strogatz, watts_strogatz_params()),
    "ws_flex": (generators.ws_flex, ws_flex_params()),
}


def assert_topology_dag(G: nx.DiGraph, n: int) -> None:
    assert type(G) is nx.DiGraph
    assert list(G.nodes) == list(range(n))
    assert all(type(u) is int and u < v for u, v in G.edges)
    assert nx.is_directed_acyclic_graph(G)


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_output_is_a_topology_dag_with_provenance(name, data):
    generator, params = MODELS[name]
    kwargs = data.draw(params)
    seed = data.draw(seeds)
    G = generator(**kwargs, seed=seed)
    assert_topology_dag(G, kwargs["n"])
    assert G.graph["generator"] == {"name": name, "params": kwargs, "seed": seed}
    assert list(G.graph["generator"]["params"]) == list(kwargs)


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_same_int_seed_same_graph(name, data):
    generator, params = MODELS[name]
    kwargs = data.draw(params)
    seed = data.draw(seeds)
    a, b = generator(**kwargs, seed=seed), generator(**kwargs, seed=seed)
    assert list(a.edges) == list(b.edges)
    assert a.graph == b.graph


@pytest.mark.parametrize("name", MODELS)
@given(data=st.data())
def test_random_instance_seed(name, data):
    generator, params = MODELS[name]
    kwargs = data.draw(params)
    seed = data.draw(seeds)
    G = generator(**kwargs, seed=random.Random(seed))
    assert_topology_dag(G, kwargs["n"])
    assert G.graph["generator"]["seed"] is None
    assert list(G.edges) == list(generator(**kwargs, seed=seed).edges)


SMALL = {
    "erdos_renyi": {"n": 16, "p": 0.5},
    "barabasi_albert": {"n": 16, "m": 3},
    "watts_strogatz": {"n": 16, "k": 4, "p": 0.5},
    "ws_flex": {"n": 16, "k": 4.5, "p": 0.5},
}


@pytest.mark.parametrize("name", MODELS)
def test_random_instance_is_advanced(name):
    generator, _ = MODELS[name]
    rng = random.Random(0)
    first = generator(**SMALL[name], seed=rng)
    second = generator(**SMALL[name], seed=rng)
    assert list(first.edges) != list(second.edges)


@pytest.mark.parametrize("name", MODELS)
def test_seed_none_leaves_global_random_alone(name):
    generator, _ = MODELS[name]
    state = random.getstate()
    G = generator(**SMALL[name])
    assert random.getstate() == state
    assert G.graph["generator"]["seed"] is None
    assert_topology_dag(G, 16)


def test_numpy_integers_are_int_parameters_and_seeds():
    G = generators.watts_strogatz(np.int64(8), np.int32(4), 0.5, seed=np.int64(3))
    provenance = G.graph["generator"]
    assert provenance == {"name": "watts_strogatz", "params": {"n": 8, "k": 4, "p": 0.5}, "seed": 3}
    params = provenance["params"]
    assert {type(provenance["seed"]), type(params["n"]), type(params["k"])} == {int}
    assert list(G.edges) == list(generators.watts_strogatz(8, 4, 0.5, seed=3).edges)


@given(n=st.integers(3, 40), data=st.data())
def test_ws_flex_edge_count_for_any_real_degree(n, data):
    k = data.draw(st.floats(2.0, n - 1.0))
    p = data.draw(probabilities)
    assert generators.ws_flex(n, k, p, seed=data.draw(seeds)).number_of_edges() == round(k * n / 2)


@given(n=st.integers(2, 40), data=st.data())
def test_barabasi_albert_sources_are_the_initial_nodes(n, data):
    m = data.draw(st.integers(1, n - 1))
    G = generators.barabasi_albert(n, m, seed=data.draw(seeds))
    assert G.number_of_edges() == m * (n - m)
    assert [v for v, d in G.in_degree() if d == 0] == list(range(m))
    assert all(d == m for v, d in G.in_degree() if v >= m)
