"""Hyperparameter spaces (docs/papers.md §11) and Joint architecture × hyperparameter spaces, on the space protocol."""

import dataclasses
import math
import random
from collections import namedtuple

import networkx as nx
import pytest

import spaces
import wiring
import wiring.search
from spaces import Categorical, Decision, DecisionSpace, Float, HyperparameterSpace, Int, Joint, SpaceError
from wiring.search import model_based


class Pair(DecisionSpace):
    """Two decisions of three values; the graph is a chain of parameter-free ops."""

    name = "pair"

    def decisions(self):
        return [Decision(name, ("identity", "max_pool", "avg_pool")) for name in "ab"]

    def to_graph(self, arch):
        self.check(arch)
        G = nx.DiGraph(schema=wiring.SCHEMA_VERSION)
        G.add_node("x", op="input", params={"channels": 2, "size": [4, 4]})
        G.add_node(0, op=arch[0], params={})
        G.add_node(1, op=arch[1], params={})
        G.add_node("out", op="output", params={})
        nx.add_path(G, ["x", 0, 1, "out"])
        return G

    def encode(self, arch):
        return ",".join(arch)

    def decode(self, text):
        return tuple(text.split(","))


def hparams():
    return HyperparameterSpace(lr=Float(1e-4, 1e-1, log=True), layers=Int(1, 8), act=Categorical(["relu", "gelu"]))


def test_one_class_under_every_name():
    for name in ("HyperparameterSpace", "Float", "Int", "Categorical", "Joint"):
        assert getattr(spaces, name) is getattr(spaces.hparams, name) is getattr(wiring.search, name)
        assert name in spaces.__all__ and name in wiring.search.__all__


def test_hyperparameters_validate_at_construction():
    with pytest.raises(SpaceError, match="log=True needs low > 0"):
        Float(0.0, 1.0, log=True)
    with pytest.raises(SpaceError, match="low must be below high"):
        Float(1.0, 1.0)
    with pytest.raises(SpaceError, match="must be an int"):
        Int(0.5, 3)
    with pytest.raises(SpaceError, match="distinct"):
        Categorical(["a", "a"])
    with pytest.raises(SpaceError, match="Float, Int or Categorical"):
        HyperparameterSpace(lr=0.1)
    with pytest.raises(SpaceError, match="HyperparameterSpace second"):
        Joint(Pair(), {"lr": Float(0.0, 1.0)})


def test_log_scale_parameters_are_sampled_log_uniformly():
    space = hparams()
    rng = random.Random(0)
    configs = [dict(space.sample(rng)) for _ in range(2000)]
    below = sum(c["lr"] < 1e-2 for c in configs) / len(configs)
    assert 0.62 < below < 0.72  # log-uniform: 2/3 of the mass below 1e-2 (uniform would give 0.09)
    assert {c["layers"] for c in configs} == set(range(1, 9))
    config = space.sample(rng)
    assert space.decode(space.encode(config)) == config
    with pytest.raises(SpaceError, match="must be in"):
        space.decode('{"lr": 5, "layers": 2, "act": "relu"}')


def test_a_configuration_has_no_graph():
    space = hparams()
    with pytest.raises(SpaceError, match="Joint"):
        space.to_graph(space.sample(random.Random(0)))


def test_joint_pairs_an_architecture_with_a_configuration():
    space, rng = Joint(Pair(), hparams()), random.Random(0)
    for _ in range(10):
        pair = space.sample(rng)
        assert space.decode(space.encode(pair)) == pair
        assert wiring.graph_hash(space.to_graph(pair)) == wiring.graph_hash(Pair().to_graph(pair[0]))
        assert space.from_decisions(space.to_decisions(pair))[0] == pair[0]
    assert space.size() == Pair().size() * hparams().size()
    assert len(list(space.enumerate())) == space.size()


# -- the protocol's answers for the runner and the model-based strategies ---------------


Point = namedtuple("Point", "x y")


@dataclasses.dataclass(frozen=True)
class Setting:
    depth: int
    width: int


def test_hyperparameters_of_an_architecture():
    config = hparams().sample(random.Random(0))
    assert hparams().hyperparameters(config) == dict(config)
    assert Joint(Pair(), hparams()).hyperparameters((("identity", "max_pool"), config)) == dict(config)
    assert Pair().hyperparameters(("identity", "max_pool")) is None  # a plain tuple carries none
    assert Pair().hyperparameters(Point(1, 2)) == {"x": 1, "y": 2}  # the default: a namedtuple's fields
    assert Pair().hyperparameters(Setting(3, 4)) == {"depth": 3, "width": 4}  # ... or a dataclass's


def test_features_of_an_architecture():
    assert Pair().features(("max_pool", "identity")) == [0, 1, 0, 1, 0, 0]  # one-hot per decision
    space = hparams()
    config = (("lr", 1e-4), ("layers", 8), ("act", "gelu"))
    assert space.features(config) == pytest.approx([0.0, 1.0, 0.0, 1.0])  # log-scaled lr, layers, one-hot act
    assert space.features((("lr", 10 ** -2.5), ("layers", 1), ("act", "relu"))) == pytest.approx([0.5, 0.0, 1, 0])
    joint = Joint(Pair(), space)
    assert joint.features((("max_pool", "identity"), config)) == pytest.approx([0, 1, 0, 1, 0, 0, 0, 1, 0, 1])
    assert all(math.isfinite(v) for v in joint.features(joint.sample(random.Random(1))))


def test_model_based_strategies_read_the_spaces_features():
    class Custom(Pair):
        def features(self, arch):
            return [float(len(arch[0]))]

    class Duck:  # follows the protocol without deriving from spaces.Space: gets the default one-hot
        decisions, to_decisions = Pair().decisions, Pair().to_decisions

    config = hparams().sample(random.Random(0))
    assert model_based.features(Custom(), ("identity", "max_pool")) == [8.0]
    assert model_based.features(Joint(Custom(), hparams()), (("identity", "max_pool"), config))[0] == 8.0
    assert model_based.features(Duck(), ("identity", "max_pool")) == Pair().features(("identity", "max_pool"))
