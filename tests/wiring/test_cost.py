"""wiring.cost: static params equal the compiled module's, MACs equal FlopCounterMode FLOPs / 2."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import wiring
from graphs import ALL, CANDIDATES, chain, conv_net, multi_input, node, with_choice, with_subgraph


def shape_for(name: str, size: int = 8):
    return [(3, size, size), (6,)] if name == "multi_input" else (3, size, size)


def measured(G, input_shape) -> wiring.Cost:
    """Parameters of the compiled module and FlopCounterMode MACs of one sample."""
    model = wiring.compile(G, seed=0).eval()
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    xs = [torch.randn(1, *shape) for shape in shapes]
    counter = FlopCounterMode(display=False)
    with counter:  # not under no_grad: FlopCounterMode's module hooks then trip over α rows (a torch quirk)
        model(*xs)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return wiring.Cost(sum(p.numel() for p in model.parameters()), flops // 2)


def test_cost_type():
    c = wiring.cost(conv_net(), (3, 8, 8))
    assert isinstance(c, wiring.Cost)
    assert isinstance(c.params, int) and isinstance(c.macs, int)
    assert c.params > 0 and c.macs > 0
    assert c == wiring.Cost(c.params, c.macs)


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("size", [8, 16])
def test_matches_compiled_module(name, size):
    """Exact params (α included, shared α once) and MACs (choices: every candidate) for each example graph."""
    G = ALL[name]()
    assert wiring.cost(G, shape_for(name, size)) == measured(G, shape_for(name, size))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [7, 9, 16])
def test_strided_and_odd_sizes(stride, size):
    G = conv_net(stride=stride)
    assert wiring.cost(G, (3, size, size)) == measured(G, (3, size, size))


@pytest.mark.parametrize("op, params", [
    ("conv_bn", {"channels": 5, "kernel": 1}),
    ("conv_bn", {"channels": 5, "kernel": 5, "stride": 2, "affine": False}),
    ("conv_bn", {"channels": 4, "kernel": 2, "padding": 0, "relu": True}),
    ("relu_conv_bn", {"channels": 6, "kernel": 3, "dilation": 2, "stride": 2}),
    ("sep_conv", {"channels": 6, "kernel": 5, "stride": 2, "padding": 1}),
    ("sep_conv", {"channels": 2, "kernel": 3, "dilation": 2, "affine": False}),
    ("rw_node", {"channels": 5, "stride": 2}),
    ("weighted_sum", {}),
    ("head", {"num_classes": 7, "dropout": 0.5}),
    ("max_pool", {"kernel": 2, "stride": 2, "padding": 0}),
    ("avg_pool", {"stride": 2}),
    ("zero", {"stride": 2}),
    ("global_pool", {}),
    ("choice", {"candidates": [{"op": "sep_conv", "params": {"channels": 3}},
                               {"op": "conv_bn", "params": {"channels": 3, "kernel": 5}}, {"op": "zero"}]}),
])
def test_single_ops(op, params):
    G = chain(op, size=9, **params)
    assert wiring.cost(G, (3, 9, 9)) == measured(G, (3, 9, 9))


def test_linear_on_flat_features():
    G = chain("linear", in_channels=10, features=7)
    G.nodes["in"]["params"]["size"] = []
    assert wiring.cost(G, (10,)) == wiring.Cost(77, 70) == measured(G, (10,))
    G.nodes["x"]["params"]["bias"] = False
    assert wiring.cost(G, (10,)) == wiring.Cost(70, 70) == measured(G, (10,))


def test_weighted_sum_params():
    """weighted_sum has one weight per input, none for a single input."""
    G = nx_two_inputs_into("weighted_sum")
    assert wiring.cost(G, (3, 8, 8)).params == 2 == measured(G, (3, 8, 8)).params
    assert wiring.cost(chain("weighted_sum"), (3, 8, 8)) == wiring.Cost(0, 0)


def nx_two_inputs_into(op):
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[8, 8])
    node(G, "mp", "max_pool")
    node(G, "agg", op)
    node(G, "out", "output")
    G.add_edges_from([("in", "mp"), ("in", "agg"), ("mp", "agg"), ("agg", "out")])
    return G


def test_choice_costs_every_candidate():
    """A choice costs the sum of its candidates plus its α."""
    candidates = [{"op": "sep_conv", "params": {"channels": 3}}, {"op": "conv_bn", "params": {"channels": 3}},
                  {"op": "max_pool"}]
    total = wiring.cost(chain("choice", candidates=candidates), (3, 8, 8))
    parts = [wiring.cost(chain(c["op"], **c.get("params", {})), (3, 8, 8)) for c in candidates]
    assert total.macs == sum(p.macs for p in parts) > 0
    assert total.params == sum(p.params for p in parts) + len(candidates)


def test_shared_alpha_counted_once():
    """Five nodes share one (3, 4) α: it adds 12 params, not 5×."""
    shared, private = wiring.cost(with_subgraph(key="normal"), (3, 8, 8)), wiring.cost(with_subgraph(key=None), (3, 8, 8))
    weights = sum(p.numel() for p in wiring.compile(with_subgraph()).weight_parameters())
    assert shared.params == weights + 12
    assert private.params == weights + 5 * 4
    assert shared.macs == private.macs
    assert wiring.cost(with_choice(key="k"), (3, 8, 8)).params == wiring.cost(with_choice(), (3, 8, 8)).params


def test_input_shape_overrides_declared_size():
    """MACs follow ``input_shape`` (≈ H·W), params do not; the declared size is not used."""
    G = conv_net()
    small, large = wiring.cost(G, (3, 8, 8)), wiring.cost(G, (3, 32, 32))
    assert small.params == large.params
    assert 15 * small.macs < large.macs <= 16 * small.macs
    G.nodes["in"]["params"]["size"] = [32, 32]
    assert wiring.cost(G, (3, 8, 8)) == small


def test_multi_input_shapes():
    G = multi_input()
    assert wiring.cost(G, [(3, 16, 16), (6,)]) == measured(G, [(3, 16, 16), (6,)])
    assert wiring.cost(G, [(3, 16, 16), (6,)]).macs > wiring.cost(G, [(3, 8, 8), (6,)]).macs
    assert wiring.cost(G, ((3, 8, 8), (6,))) == wiring.cost(G, [[3, 8, 8], [6]])


@pytest.mark.parametrize("shape, pattern", [
    ((4, 8, 8), r"'in'.*\(3, 8, 8\).*\(4, 8, 8\)"),
    ((3, -8, 8), r"input_shape.*-8"),
    ("3x8x8", r"input_shape.*'3x8x8'"),
    ([(3, 8, 8), (6,), (2,)], r"3 shapes.*2 input"),
])
def test_bad_input_shape(shape, pattern):
    G = multi_input() if isinstance(shape, list) else conv_net()
    with pytest.raises(wiring.GraphError, match=pattern):
        wiring.cost(G, shape)


def test_invalid_graph():
    G = with_choice()
    G.nodes["c1"]["params"]["candidates"] = CANDIDATES + [{"op": "sep_conv", "params": {"channels": 8}}]
    with pytest.raises(wiring.GraphError, match="'c1'"):
        wiring.cost(G, (3, 8, 8))
