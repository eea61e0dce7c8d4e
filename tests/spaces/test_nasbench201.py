"""NAS-Bench-201 (docs/papers.md §12): the cell, string form, published parameter and FLOP counts, supernet, derive."""

import random

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import wiring
from spaces import Constraint, SpaceError, nasbench201
from spaces.nasbench201 import EDGES, OPS, SMALL

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ALL_3X3 = ("nor_conv_3x3",) * 6
NO_PARAMS = ("avg_pool_3x3", "skip_connect", "none", "avg_pool_3x3", "none", "skip_connect")


@pytest.fixture(scope="module")
def space():
    return nasbench201.space()


def test_space_has_every_cell_once_and_every_string_round_trips(space):
    archs = list(space.enumerate())
    assert space.size() == 5 ** 6 == 15_625 == len(set(archs))
    texts = [space.encode(a) for a in archs]
    assert len(set(texts)) == 15_625
    assert all(space.decode(t) == a for t, a in zip(texts, archs))
    assert all(space.from_decisions(space.to_decisions(a)) == a for a in archs[::97])


def test_string_form_is_the_benchmarks():
    s = nasbench201.space()
    arch = ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")
    assert s.encode(arch) == ("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|"
                              "nor_conv_3x3~2|")
    assert s.decode(BEST_C10) == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3",
                                  "skip_connect")
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert [d.name for d in s.decisions()] == ["edge0_1", "edge0_2", "edge1_2", "edge0_3", "edge1_3", "edge2_3"]


@pytest.mark.parametrize("text,token", [
    ("|nor_conv_3x3~0|+|none~0|skip_connect~1|", "got 2"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv~0'"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "'none~1'"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|", "'|none~0|none~1|'"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'none~0|'"),
    ("|none~0|+|none~0|none 1|+|none~0|none~1|none~2|", "'none 1'"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+", "got 4"),
    ("", "got 1"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2||none~3|", "got 5"),  # a surplus token
    (" |none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "' |none~0|'"),  # whitespace padding
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2| ", "none~2| '"),
])
def test_decode_errors_name_the_bad_token(text, token):
    with pytest.raises(SpaceError) as info:
        nasbench201.space().decode(text)
    assert token in str(info.value)


def test_decode_and_check_refuse_non_strings_and_bad_archs():
    s = nasbench201.space()
    with pytest.raises(SpaceError, match="is a str"):
        s.decode(["none"] * 6)
    with pytest.raises(SpaceError, match="'conv'"):
        s.encode(("conv",) * 6)
    with pytest.raises(SpaceError, match="tuple of 6"):
        s.to_graph(ALL_3X3[:5])


@pytest.mark.parametrize("options,text", [
    ({"channels": 0}, "channels=0"),
    ({"cells_per_stage": True}, "cells_per_stage=True"),
    ({"num_classes": "10"}, "num_classes='10'"),
    ({"image_size": 30}, "image_size=30"),
    ({"constraint": 5}, "constraint"),
])
def test_bad_options_name_option_and_value(options, text):
    with pytest.raises(SpaceError) as info:
        nasbench201.space(**options)
    assert text in str(info.value)


@pytest.mark.parametrize("options,arch,params,mflops", [
    # The benchmark's extremes (CIFAR-10, CIFAR-100, ImageNet16-120): params as published; its FLOPs count
    # the classifier's bias additions too (num_classes), multiply-adds here do not.
    ({}, ALL_3X3, 1_531_546, 220.11969),
    ({}, NO_PARAMS, 73_306, 7.78305),
    ({"num_classes": 100}, ALL_3X3, 1_537_396, 220.12554),
    ({"num_classes": 100}, NO_PARAMS, 79_156, 7.7889),
    ({"num_classes": 120, "image_size": 16}, NO_PARAMS, 80_456, None),
])
def test_published_parameter_and_flop_counts(options, arch, params, mflops):
    s = nasbench201.space(**options)
    cost = wiring.cost(s.to_graph(arch))
    assert cost.params == params
    if mflops is not None:
        assert (cost.macs + s.num_classes) / 1e6 == pytest.approx(mflops, abs=1e-5)


def test_full_size_network_compiles_to_autodl_modules(space):
    model = wiring.compile(space.to_graph(ALL_3X3), seed=0)
    assert sum(p.numel() for p in model.parameters()) == 1_531_546
    modules = list(model.modules())
    convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    assert len(convs) == 1 + 15 * 6 + 2 * 3  # stem, 6 nor_conv per cell, 3 convs per reduction block
    bns = [m for m in modules if isinstance(m, nn.BatchNorm2d)]
    assert all(b.affine and b.track_running_stats for b in bns)
    assert len(bns) == 1 + 15 * 6 + 2 * 2 + 1  # the reduction shortcut has no BN; lastact has one
    block = next(m for m in modules if type(m).__name__ == "ResNetBasicBlock")
    assert block.conv_a[1].stride == (2, 2) and block.conv_b[1].stride == (1, 1)
    pool, conv = block.downsample
    assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2 and pool.stride == 2
    assert conv.kernel_size == (1, 1)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cell_ops_and_sums():
    G = nasbench201.cell(("nor_conv_1x1", "none", "skip_connect", "avg_pool_3x3", "nor_conv_3x3", "none"), 8, 8)
    assert {n: G.nodes[n]["op"] for n in G if n.startswith("edge")} == {
        "edge0_1": "relu_conv_bn", "edge0_2": "zero", "edge1_2": "identity", "edge0_3": "avg_pool",
        "edge1_3": "relu_conv_bn", "edge2_3": "zero"}
    assert G.nodes["edge0_1"]["params"]["kernel"] == 1 and G.nodes["edge1_3"]["params"]["kernel"] == 3
    assert G.nodes["edge0_3"]["params"] == {"kernel": 3, "stride": 1, "count_include_pad": False}
    assert sorted(G.predecessors("node3")) == ["edge0_3", "edge1_3", "edge2_3"]
    assert [n for n in G if G.nodes[n]["op"] == "output"] == ["out"] and list(G.predecessors("out")) == ["node3"]
    x = torch.randn(1, 8, 8, 8)
    model = wiring.compile(G, seed=0).eval()
    with torch.no_grad():
        conv1, conv3 = (model.get_submodule(name) for name, label in model.node_names.items()
                        if label in ("edge0_1", "edge1_3"))
        n1 = conv1(x)
        pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x)
        assert torch.allclose(model(x), pool + conv3(n1), atol=1e-6)


def test_cells_whose_output_ignores_the_input_are_valid_members(space):
    s = nasbench201.space(**SMALL)
    arch = ("nor_conv_3x3", "none", "none", "none", "none", "none")  # node 3 reads nothing but zeros
    G = s.to_graph(arch)
    wiring.validate(G)
    model = wiring.compile(G, seed=0).eval()
    with torch.no_grad():
        assert torch.equal(model(torch.randn(2, 3, 16, 16)), model(torch.randn(2, 3, 16, 16)))


def test_cost_matches_module_and_flop_counter():
    s, rng = nasbench201.space(**SMALL), random.Random(0)
    for G in [s.to_graph(s.sample(rng)) for _ in range(3)]:
        cost = wiring.cost(G)
        model = wiring.compile(G, seed=0).eval()
        assert cost.params == sum(p.numel() for p in model.parameters())
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.randn(1, 3, 16, 16))
        assert 2 * cost.macs == counter.get_total_flops()
    supernet = s.supernet()
    assert wiring.cost(supernet).params == sum(p.numel() for p in wiring.compile(supernet).parameters())


def test_equal_archs_hash_equal_and_different_archs_differ():
    s, rng = nasbench201.space(**SMALL), random.Random(3)
    archs = list({s.sample(rng) for _ in range(20)})
    hashes = [wiring.graph_hash(s.to_graph(a)) for a in archs]
    assert len(set(hashes)) == len(archs)
    assert all(wiring.graph_hash(s.to_graph(s.decode(s.encode(a)))) == h for a, h in zip(archs, hashes))


def test_constraint_admits_only_parameter_free_cells_at_the_minimum():
    minimum = wiring.cost(nasbench201.space(**SMALL).to_graph(NO_PARAMS)).params
    s = nasbench201.space(**SMALL, constraint=Constraint(max_params=minimum))
    rng = random.Random(0)
    for _ in range(3):
        arch = s.sample(rng)
        assert set(arch) <= {"none", "skip_connect", "avg_pool_3x3"}
        assert set(s.mutate(arch, rng)) <= {"none", "skip_connect", "avg_pool_3x3"}


def test_supernet_shares_one_alpha_and_derive_takes_argmax_with_none():
    s = nasbench201.space(**SMALL)
    G = s.supernet()
    choices = [data["params"] for _, sub in ((n, G.nodes[n]) for n in G) if sub["op"] == "subgraph"
               for _, data in sub["params"]["graph"].nodes(data=True) if data["op"] == "choice"]
    assert len(choices) == 3 * 6 and {p["key"] for p in choices} == {"cell"}
    assert sorted({p["index"] for p in choices}) == list(range(6))
    model = wiring.compile(G, seed=0)
    assert [tuple(a.shape) for a in model.arch_parameters()] == [(6, 5)]
    alpha = model.arch_parameters()[0]
    with torch.no_grad():
        alpha.copy_(torch.tensor([[9., 0, 0, 0, 0], [0, 9, 0, 0, 0], [0, 0, 9, 0, 0],
                                  [0, 0, 0, 9, 0], [0, 0, 0, 0, 9], [1, 1, 0, 0, 0]]))
    assert s.derive(model) == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none")
    assert len(EDGES) == 6


def test_derive_refuses_a_model_without_the_supernet_alpha():
    s = nasbench201.space(**SMALL)
    with pytest.raises(SpaceError, match="alphas.cell"):
        s.derive(wiring.compile(s.to_graph(ALL_3X3)))
