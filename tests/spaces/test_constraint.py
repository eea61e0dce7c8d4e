"""Constraints (params, multiply-adds, latency), checked without building modules."""

import itertools
import math
import random
from importlib import import_module

import pytest
import torch

import spaces
import wiring
from spaces import Constraint, Decision, DecisionSpace, LatencyTable, SpaceError, base
from tests.wiring.graphs import nested_sep_convs as nested, relu_conv_chain as net
from wiring import latency


# -- Constraint ---------------------------------------------------------------------


@pytest.mark.parametrize("options, culprit", [
    ({"max_params": 0}, "max_params=0"),
    ({"max_params": -1}, "max_params=-1"),
    ({"max_params": math.nan}, "max_params=nan"),
    ({"max_params": math.inf}, "max_params=inf"),
    ({"max_params": True}, "max_params=True"),
    ({"max_params": "10"}, "max_params='10'"),
    ({"max_macs": -5.0}, "max_macs=-5.0"),
    ({"max_latency": 0}, "max_latency=0"),
    ({"max_latency": 1.0}, "latency=None"),
    ({"max_latency": 1.0, "latency": {"k": 1.0}}, "latency={'k': 1.0}"),
    ({"input_shape": (3, 0, 8)}, "input_shape"),
    ({"input_shape": "3x8x8"}, "input_shape"),
])
def test_bad_limits_are_refused_by_name(options, culprit):
    with pytest.raises(SpaceError) as error:
        Constraint(**options)
    assert culprit in str(error.value)


def test_limits_are_inclusive_and_violations_read_well():
    G = net(width=8)
    cost = wiring.cost(G)
    assert Constraint(max_params=cost.params, max_macs=cost.macs).violations(G) == []
    assert Constraint(max_params=cost.params, max_macs=float(cost.macs)).admits(G)
    assert Constraint(max_params=cost.params - 1).violations(G) == [f"params {cost.params:,} > {cost.params - 1:,}"]
    both = Constraint(max_params=10, max_macs=100)
    assert both.violations(G) == [f"params {cost.params:,} > 10", f"multiply-adds {cost.macs:,} > 100"]
    assert not both.admits(G)
    assert str(both) == "Constraint(max_params=10, max_macs=100)"


def test_admits_follows_static_cost_over_hand_built_graphs():
    graphs = [net(width, depth) for width, depth in itertools.product((2, 4, 8), (1, 2, 3))] + [nested()]
    costs = [wiring.cost(G) for G in graphs]
    for limit in sorted({c.params for c in costs}):
        assert [Constraint(max_params=limit).admits(G) for G in graphs] == [c.params <= limit for c in costs]
    for limit in sorted({c.macs for c in costs}):
        assert [Constraint(max_macs=limit).admits(G) for G in graphs] == [c.macs <= limit for c in costs]


def test_input_shape_sets_the_image_the_costs_are_computed_for():
    G = net(width=8, size=8)
    at_8, at_16 = wiring.cost(G).macs, wiring.cost(G, (3, 16, 16)).macs
    assert at_16 == wiring.cost(net(width=8, size=16)).macs > at_8
    assert Constraint(max_macs=at_8).admits(G)
    limited = Constraint(max_macs=at_8, input_shape=(3, 16, 16))
    assert limited.violations(G) == [f"multiply-adds {at_16:,} > {at_8:,}"]


def test_a_malformed_graph_raises_the_graph_error():
    G = net()
    G.nodes["conv0"]["op"] = "no_such_op"
    with pytest.raises(wiring.GraphError, match="no_such_op"):
        Constraint(max_params=10).admits(G)


# -- latency limits (the table itself: tests/wiring/test_latency.py) ------------------


def test_latency_limit(fake_timer):
    table = LatencyTable().measure([net(width=4, depth=2)])  # conv0 1, conv1 2, head 4
    assert table.latency(net(width=4, depth=2)) == 7
    assert Constraint(max_latency=7, latency=table).admits(net(width=4, depth=2))
    assert Constraint(max_latency=6.5, latency=table).violations(net(width=4, depth=2)) == ["latency 7.000 ms > 6.5 ms"]


def test_latency_is_looked_up_at_the_constraints_input_shape(fake_timer):
    table = LatencyTable().measure([net(size=16)])
    limited = Constraint(max_latency=100, latency=table, input_shape=(3, 16, 16))
    assert limited.admits(net(size=8))  # declared 8×8, costed at 16×16: the entries measured at 16×16
    assert table.latency(net(size=8), (3, 16, 16)) == table.latency(net(size=16))
    table.measure([net(size=8)], input_shape=(3, 32, 32))
    assert table.latency(net(size=16), (3, 32, 32)) == 4 + 8


# -- constrained sampling in a space --------------------------------------------------


class Toy(DecisionSpace):
    """Chains of ``depth`` convolutions of ``width`` channels."""

    name = "toy"

    def decisions(self):
        return [Decision("width", (2, 4, 8, 16)), Decision("depth", (1, 2, 3))]

    def to_graph(self, arch):
        self.check(arch)
        return net(*arch)

    def encode(self, arch):
        return f"{arch[0]}x{arch[1]}"

    def decode(self, text):
        return tuple(int(t) for t in text.split("x"))


def toy_costs():
    return {arch: wiring.cost(net(*arch)) for arch in Toy().enumerate()}


def test_constrained_sampling_and_mutation_stay_within_the_limit():
    costs = toy_costs()
    limit = sorted(c.params for c in costs.values())[len(costs) // 2]
    space, rng = Toy(Constraint(max_params=limit)), random.Random(0)
    seen = set()
    for _ in range(40):
        arch = space.sample(rng)
        seen.add(arch)
        assert costs[arch].params <= limit and space.admits(arch)
        assert costs[space.mutate(arch, rng)].params <= limit
    assert seen == {arch for arch, c in costs.items() if c.params <= limit}  # nothing admitted is left out


def test_constrained_sampling_by_latency(fake_timer):
    table = LatencyTable().measure(net(*arch) for arch in Toy().enumerate())
    latencies = {arch: table.latency(net(*arch)) for arch in Toy().enumerate()}
    limit = sorted(latencies.values())[3]
    space, rng = Toy(Constraint(max_latency=limit, latency=table)), random.Random(1)
    assert all(latencies[space.sample(rng)] <= limit for _ in range(20))


def test_an_impossible_constraint_gives_up_after_max_tries(monkeypatch):
    monkeypatch.setattr(base, "MAX_TRIES", 7)
    space = Toy(Constraint(max_params=1))
    draws = []
    monkeypatch.setattr(space, "_sample", lambda rng: draws.append(1) or (2, 1))
    with pytest.raises(SpaceError, match=r"toy: no architecture satisfying Constraint\(max_params=1\) in 7 sample"):
        space.sample(random.Random(0))
    assert len(draws) == 7
    with pytest.raises(SpaceError, match="in 7 mutate draws"):
        space.mutate((2, 1), random.Random(0))


def test_a_space_refuses_a_constraint_of_another_type():
    with pytest.raises(SpaceError, match="spaces.Constraint"):
        Toy({"max_params": 10})


def make(name, constraint=None):
    if name == "toy":
        return Toy(constraint)
    module = import_module(f"spaces.{name}")
    return module.space(**module.SMALL, constraint=constraint)


@pytest.mark.parametrize("name", ["toy", *spaces.SPACES])
def test_constrained_sampling_builds_no_module(monkeypatch, name):
    space, rng = make(name), random.Random(0)
    limit = sorted(wiring.cost(space.to_graph(space.sample(rng))).params for _ in range(4))[2]
    constrained = make(name, Constraint(max_params=limit))

    def refuse(*args, **kwargs):
        raise AssertionError("a module was built")

    monkeypatch.setattr(torch.nn.Module, "__init__", refuse)
    monkeypatch.setattr(wiring, "compile", refuse)
    arch = constrained.sample(rng)
    constrained.mutate(arch, rng)
    assert constrained.admits(arch)
