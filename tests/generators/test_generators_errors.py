"""Every invalid argument raises GeneratorError naming the parameter and value."""

import math
import random

import networkx as nx
import numpy as np
import pytest

import generators
from generators import GeneratorError

er, ba, ws, flex = (
    generators.erdos_renyi,
    generators.barabasi_albert,
    generators.watts_strogatz,
    generators.ws_flex,
)

# (generator, keyword arguments, fragments the message must contain)
BAD = [
    (er, {"n": 0, "p": 0.5}, ["n=0", "n >= 1"]),
    (er, {"n": -3, "p": 0.5}, ["n=-3"]),
    (er, {"n": 8.0, "p": 0.5}, ["n=8.0", "int"]),
    (er, {"n": True, "p": 0.5}, ["n=True"]),
    (er, {"n": "8", "p": 0.5}, ["n='8'"]),
    (er, {"n": None, "p": 0.5}, ["n=None"]),
    (er, {"n": 8, "p": -0.1}, ["p=-0.1", "0 <= p <= 1"]),
    (er, {"n": 8, "p": 1.5}, ["p=1.5"]),
    (er, {"n": 8, "p": 2}, ["p=2"]),
    (er, {"n": 8, "p": math.nan}, ["p=nan"]),
    (er, {"n": 8, "p": math.inf}, ["p=inf"]),
    (er, {"n": 8, "p": True}, ["p=True"]),
    (er, {"n": 8, "p": "0.5"}, ["p='0.5'"]),
    (er, {"n": 8, "p": None}, ["p=None"]),
    (ba, {"n": 8, "m": 0}, ["m=0", "n=8", "1 <= m < n"]),
    (ba, {"n": 8, "m": -1}, ["m=-1"]),
    (ba, {"n": 8, "m": 8}, ["m=8", "n=8"]),
    (ba, {"n": 8, "m": 10}, ["m=10"]),
    (ba, {"n": 1, "m": 1}, ["m=1", "n=1"]),
    (ba, {"n": 8, "m": 2.0}, ["m=2.0"]),
    (ba, {"n": 8, "m": True}, ["m=True"]),
    (ba, {"n": 8, "m": None}, ["m=None"]),
    (ba, {"n": 0, "m": 1}, ["n=0"]),
    (ba, {"n": 8.5, "m": 2}, ["n=8.5"]),
    (ws, {"n": 8, "k": 3, "p": 0.5}, ["k=3", "even"]),
    (ws, {"n": 8, "k": 0, "p": 0.5}, ["k=0", "0 < k < n"]),
    (ws, {"n": 8, "k": -2, "p": 0.5}, ["k=-2"]),
    (ws, {"n": 8, "k": 8, "p": 0.5}, ["k=8", "n=8"]),
    (ws, {"n": 8, "k": 10, "p": 0.5}, ["k=10", "n=8"]),
    (ws, {"n": 2, "k": 2, "p": 0.5}, ["k=2", "n=2"]),
    (ws, {"n": 8, "k": 4.0, "p": 0.5}, ["k=4.0", "int"]),
    (ws, {"n": 8, "k": True, "p": 0.5}, ["k=True"]),
    (ws, {"n": 8, "k": 4, "p": 1.01}, ["p=1.01"]),
    (ws, {"n": 8, "k": 4, "p": math.nan}, ["p=nan"]),
    (ws, {"n": 0, "k": 2, "p": 0.5}, ["n=0"]),
    (ws, {"n": "8", "k": 4, "p": 0.5}, ["n='8'"]),
    (flex, {"n": 8, "k": 1.9, "p": 0.5}, ["k=1.9", "2 <= k <= n - 1"]),
    (flex, {"n": 8, "k": 0, "p": 0.5}, ["k=0"]),
    (flex, {"n": 8, "k": 7.5, "p": 0.5}, ["k=7.5", "n=8"]),
    (flex, {"n": 8, "k": 8, "p": 0.5}, ["k=8", "n=8"]),
    (flex, {"n": 2, "k": 2, "p": 0.5}, ["k=2", "n=2"]),
    (flex, {"n": 8, "k": math.nan, "p": 0.5}, ["k=nan", "finite"]),
    (flex, {"n": 8, "k": math.inf, "p": 0.5}, ["k=inf"]),
    (flex, {"n": 8, "k": "4", "p": 0.5}, ["k='4'"]),
    (flex, {"n": 8, "k": True, "p": 0.5}, ["k=True"]),
    (flex, {"n": 8, "k": None, "p": 0.5}, ["k=None"]),
    (flex, {"n": 8, "k": 4, "p": -1}, ["p=-1"]),
    (flex, {"n": 8, "k": 4, "p": math.nan}, ["p=nan"]),
    (flex, {"n": 8.0, "k": 4, "p": 0.5}, ["n=8.0"]),
]

SMALL = [
    (er, {"n": 8, "p": 0.5}),
    (ba, {"n": 8, "m": 2}),
    (ws, {"n": 8, "k": 4, "p": 0.5}),
    (flex, {"n": 8, "k": 3.5, "p": 0.5}),
]
BAD_SEEDS = [
    (True, "seed=True"),
    (1.5, "seed=1.5"),
    ("0", "seed='0'"),
    ([1], "seed=[1]"),
    (np.random.default_rng(0), "seed=Generator(PCG64)"),
]


def name_of(value):
    """Test id: a generator's name, else pytest's default."""
    return getattr(value, "__name__", None)


def test_error_type():
    assert issubclass(GeneratorError, ValueError)


@pytest.mark.parametrize(("generator", "kwargs", "fragments"), BAD, ids=name_of)
def test_bad_parameter(generator, kwargs, fragments):
    with pytest.raises(GeneratorError) as error:
        generator(**kwargs, seed=0)
    for fragment in fragments:
        assert fragment in str(error.value)


@pytest.mark.parametrize(("generator", "kwargs"), SMALL, ids=name_of)
@pytest.mark.parametrize(("seed", "fragment"), BAD_SEEDS, ids=lambda x: type(x).__name__)
def test_bad_seed(generator, kwargs, seed, fragment):
    with pytest.raises(GeneratorError) as error:
        generator(**kwargs, seed=seed)
    assert "seed must be an int, a random.Random or None" in str(error.value)
    assert fragment in str(error.value)


@pytest.mark.parametrize(("generator", "kwargs"), SMALL, ids=name_of)
def test_seed_is_keyword_only(generator, kwargs):
    with pytest.raises(TypeError):
        generator(*kwargs.values(), 0)


def test_bad_parameter_draws_nothing():
    rng = random.Random(0)
    state = rng.getstate()
    with pytest.raises(GeneratorError):
        generators.ws_flex(8, 9, 0.5, seed=rng)
    assert rng.getstate() == state


# -- orient -------------------------------------------------------------------

PATH = nx.path_graph(["a", "b", "c"])

BAD_ORIENT = [
    ([(0, 1)], None, ["graph", "list"]),
    (nx.MultiGraph([(0, 1)]), None, ["multigraph", "MultiGraph"]),
    (nx.Graph([(0, 1), (1, 1)]), None, ["self-loop", "(1, 1)"]),
    (PATH, ["a", "b"], ["misses", "'c'"]),
    (PATH, ["a", "b", "c", "d"], ["'d'", "not in the graph"]),
    (PATH, ["a", "b", "b", "c"], ["repeats", "'b'"]),
    (PATH, ["a", "b", "x"], ["'x'", "not in the graph"]),
    (PATH, "abc", ["order", "str"]),
    (PATH, {"a", "b", "c"}, ["order", "set"]),
    (nx.Graph([(1, "a")]), None, ["order must be given", "order=None"]),
]


@pytest.mark.parametrize(("graph", "order", "fragments"), BAD_ORIENT)
def test_orient_bad_input(graph, order, fragments):
    with pytest.raises(GeneratorError) as error:
        generators.orient(graph, order)
    for fragment in fragments:
        assert fragment in str(error.value)
