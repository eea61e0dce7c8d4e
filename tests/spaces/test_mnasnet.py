"""MnasNet's space (docs/papers.md §7) and the mobile ops: definitions, published counts, encoding, skips, supernet."""

import random
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ops
import wiring
from ops.mobile_modules import MBConv
from spaces import Constraint, SpaceError, mnasnet

FIELDS = len(mnasnet.CHOICES)


def arch_of(*blocks):
    """A flat architecture from 7 (op, kernel, se, skip, filters, layers) tuples."""
    return tuple(v for block in blocks for v in block)


def uniform(op="mbconv6", kernel=3, se=0.0, skip="identity", filters=1.0, layers=0, first="dwconv"):
    return arch_of((first, kernel, se, skip, filters, layers), *[(op, kernel, se, skip, filters, layers)] * 6)


MOBILENET_V2 = uniform()
SMALL = mnasnet.space(**mnasnet.SMALL)


def cost(name, params, shape):
    spec = ops.get(name)
    p = spec.resolve(params)
    return spec.cost([shape], spec.shape([shape], p), p)


# -- ops ------------------------------------------------------------------------------------------


def test_mbconv_cost_by_hand():
    # 4 -> 4 channels, 8×8, k3, expansion 3 (12 mid), SE of max(1, int(4·0.25)) = 1 channel
    params = 4 * 12 + 24 + 12 * 9 + 24 + (12 * 1 + 1) + (1 * 12 + 12) + 12 * 4 + 8
    macs = 4 * 12 * 64 + 12 * 9 * 64 + 12 + 12 + 12 * 4 * 64
    assert cost("mbconv", {"channels": 4, "expand": 3, "se": 0.25}, (4, 8, 8)) == ops.Cost(params, macs)
    # stride 2, expansion 1: no 1×1 expansion; depthwise and projection on the 4×4 output
    assert cost("mbconv", {"channels": 6, "kernel": 5, "stride": 2, "expand": 1}, (4, 8, 8)) == ops.Cost(
        4 * 25 + 8 + 4 * 6 + 12, (4 * 25 + 4 * 6) * 16)


def test_dwconv_is_mbconv_with_expansion_1_and_regular_conv_is_conv_bn_relu_plus_se():
    for params in ({"channels": 8}, {"channels": 3, "kernel": 5, "stride": 2, "se": 0.25}):
        assert cost("dwconv", params, (6, 9, 9)) == cost("mbconv", {**params, "expand": 1}, (6, 9, 9))
    assert cost("regular_conv", {"channels": 8, "kernel": 5}, (4, 8, 8)) == cost(
        "conv_bn", {"channels": 8, "kernel": 5, "relu": True}, (4, 8, 8))
    # SE on the 8 output channels, reduced to int(4 · 0.25) = 1
    assert cost("regular_conv", {"channels": 8, "se": 0.25}, (4, 8, 8)).params == 4 * 8 * 9 + 16 + 8 + 1 + 8 + 8


def test_se_width_follows_the_input_channels_and_sits_on_the_expanded_tensor():
    module = ops.get("mbconv").build([(24, 8, 8)], (40, 4, 4), ops.get("mbconv").resolve(
        {"channels": 40, "kernel": 5, "stride": 2, "expand": 3, "se": 0.25}))
    assert (module.se.reduce.in_channels, module.se.reduce.out_channels) == (72, 6)
    assert module.se.reduce.bias is not None and module.depthwise.bias is None and module.project.bias is None
    assert MBConv(8, 8, 3, 1, 1, 0.0, "relu", True).expand_conv is None


@pytest.mark.parametrize("stride,c_out,adds", [(1, 8, True), (2, 8, False), (1, 6, False)])
def test_mbconv_residual_only_where_shapes_allow(stride, c_out, adds):
    torch.manual_seed(0)
    module = MBConv(8, c_out, 3, stride, 3, 0.25, "relu6", residual=True).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        out = module(x)
        module.residual = False
        plain = module(x)
    assert torch.allclose(out, plain + x) if adds else torch.equal(out, plain)


def test_even_kernels_are_refused():
    with pytest.raises(ops.OpError, match="kernel must be odd"):
        ops.get("mbconv").shape([(4, 8, 8)], ops.get("mbconv").resolve({"channels": 4, "kernel": 4}))


# -- published networks ---------------------------------------------------------------------------


def test_mobilenet_v2_is_in_the_space_with_torchvisions_counts():
    """torchvision mobilenet_v2: 3,504,872 parameters, 300.77 M multiply-adds (ReLU6 there, ReLU here: same count)."""
    assert wiring.cost(mnasnet.space().to_graph(MOBILENET_V2)) == ops.Cost(3_504_872, 300_774_272)


def test_mnasnet_b1_with_its_base_matches_torchvision_mnasnet1_0():
    """torchvision's mnasnet1_0 (the B1 variant, no SE): 4,383,312 parameters."""
    b1 = mnasnet.space(filters=(16, 24, 40, 80, 96, 192, 320), layers=(1, 3, 3, 3, 2, 4, 1))
    ops_, kernels = ["dwconv", "mbconv3", "mbconv3", "mbconv6", "mbconv6", "mbconv6", "mbconv6"], [3, 3, 5, 5, 3, 5, 3]
    arch = arch_of(*[(o, k, 0.0, "identity", 1.0, 0) for o, k in zip(ops_, kernels)])
    assert wiring.cost(b1.to_graph(arch)).params == 4_383_312


def test_mnasnet_a1_with_its_base_matches_the_paper():
    """Paper, Table 1: MnasNet-A1 has 3.9 M parameters and 312 M multiply-adds (SE in blocks 2, 4, 5)."""
    a1 = mnasnet.space(filters=(16, 24, 40, 80, 112, 160, 320), layers=(1, 2, 3, 4, 2, 3, 1))
    blocks = [("dwconv", 3, 0.0), ("mbconv6", 3, 0.0), ("mbconv3", 5, 0.25), ("mbconv6", 3, 0.0),
              ("mbconv6", 3, 0.25), ("mbconv6", 5, 0.25), ("mbconv6", 3, 0.0)]
    found = wiring.cost(a1.to_graph(arch_of(*[(*b, "identity", 1.0, 0) for b in blocks])))
    assert round(found.params / 1e5) == 39 and round(found.macs / 1e6) == 312


# -- decisions and encoding -----------------------------------------------------------------------


def test_decisions_are_seven_blocks_of_six():
    decisions = mnasnet.space().decisions()
    assert len(decisions) == 42
    assert [d.name for d in decisions[:FIELDS]] == ["b0_op", "b0_kernel", "b0_se", "b0_skip", "b0_filters",
                                                     "b0_layers"]
    assert decisions[FIELDS].choices == ("conv", "dwconv", "mbconv3", "mbconv6")
    assert [d.choices for d in decisions[1:FIELDS]] == [(3, 5), (0.0, 0.25), ("pooling", "identity", "none"),
                                                       (0.75, 1.0, 1.25), (-1, 0, 1)]
    assert mnasnet.space().size() == 432 ** 7


def test_encoding_format():
    space = mnasnet.space()
    arch = arch_of(("conv", 5, 0.25, "pooling", 0.75, -1), *[("mbconv3", 3, 0.0, "none", 1.25, 1)] * 6)
    text = space.encode(arch)
    assert text.split(";")[:2] == ["b0:conv_k5_se0.25_skip=pooling_f0.75_l-1",
                                   "b1:mbconv3_k3_se0.0_skip=none_f1.25_l+1"]
    assert space.encode(MOBILENET_V2).startswith("b0:dwconv_k3_se0.0_skip=identity_f1.0_l+0;b1:mbconv6_k3_")
    assert space.decode(text) == arch and space.blocks(arch)[0] == mnasnet.Block("conv", 5, 0.25, "pooling", 0.75, -1)


@pytest.mark.parametrize("text,culprit", [
    ("b0:conv_k3_se0.0_skip=none_f1.0_l+0", "expected 7 blocks"),
    (";".join(f"b{i}:conv_k3_se0.0_skip=none_f1.0_l+0" for i in (0, 1, 2, 3, 4, 6, 5)), "start with 'b5:'"),
    (";".join(f"b{i}:conv_k3_se0.0_skip=none_f1.0" for i in range(7)), "6 '_'-separated tokens"),
    (";".join(f"b{i}:conv_k4_se0.0_skip=none_f1.0_l+0" for i in range(7)), "kernel token 'k4'"),
    (";".join(f"b{i}:sepconv_k3_se0.0_skip=none_f1.0_l+0" for i in range(7)), "op token 'sepconv'"),
    (";".join(f"b{i}:conv_k3_se0.5_skip=none_f1.0_l+0" for i in range(7)), "se token 'se0.5'"),
    (";".join(f"b{i}:conv_k3_se0.0_skip=max_f1.0_l+0" for i in range(7)), "skip token 'skip=max'"),
    (";".join(f"b{i}:conv_k3_se0.0_skip=none_f1_l+0" for i in range(7)), "filters token 'f1'"),
    (";".join(f"b{i}:conv_k3_se0.0_skip=none_f1.0_l0" for i in range(7)), "layers token 'l0'"),
    (None, "a string"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "")
def test_decode_errors_name_the_token(text, culprit):
    with pytest.raises(SpaceError, match=re.escape(culprit)):
        mnasnet.space().decode(text)


@pytest.mark.parametrize("options,culprit", [
    ({"width": 0}, "width=0"), ({"width": True}, "width=True"), ({"filters": (16, 24)}, "filters="),
    ({"layers": (1, 2, 3, 4, 3, 3, 0)}, "layers="), ({"num_classes": 0}, "num_classes=0"),
    ({"image_size": "32"}, "image_size='32'"), ({"head_channels": 1.5}, "head_channels=1.5"),
    ({"constraint": 5}, "constraint"),
])
def test_bad_options(options, culprit):
    with pytest.raises(SpaceError, match=culprit):
        mnasnet.space(**options)


@settings(max_examples=25)
@given(st.lists(st.integers(0, 11), min_size=42, max_size=42), st.integers(0, 6))
def test_round_trips_and_wider_filters_cost_more(values, block):
    space = mnasnet.space()
    indices = [v % len(d.choices) for v, d in zip(values, space.decisions())]
    arch = space.from_decisions(indices)
    assert space.decode(space.encode(arch)) == arch and space.to_decisions(arch) == indices
    at = block * FIELDS + 4  # the block's filter multiplier
    narrow, wide = (space.to_graph((*arch[:at], f, *arch[at + 1:])) for f in (0.75, 1.25))
    assert wiring.cost(wide).params > wiring.cost(narrow).params


# -- graphs: filters, layers, skips ---------------------------------------------------------------


def layer_nodes(G, block):
    return sorted(n for n in G if isinstance(n, str) and n.startswith(f"b{block}_l") and n.count("_") == 1)


def test_filters_and_layers_per_block():
    space = mnasnet.space()
    arch = arch_of(("mbconv6", 3, 0.0, "none", 1.0, -1), ("mbconv6", 3, 0.0, "none", 0.75, -1),
                   ("mbconv6", 3, 0.0, "none", 1.25, 1), *[("conv", 3, 0.0, "none", 1.0, 0)] * 4)
    G = space.to_graph(arch)
    assert [len(layer_nodes(G, i)) for i in range(7)] == [1, 1, 4, 4, 3, 3, 1]  # base 1 − 1 stays 1
    assert [G.nodes[f"b{i}_l0"]["params"]["channels"] for i in range(3)] == [16, 18, 40]
    assert [G.nodes[f"b2_l{j}"]["params"]["stride"] for j in range(4)] == [2, 1, 1, 1]
    assert G.nodes["b3_l0"]["op"] == "regular_conv" and G.nodes["b0_l0"]["params"]["expand"] == 6


def test_identity_skip_adds_the_input_where_shapes_allow():
    G = mnasnet.space().to_graph(MOBILENET_V2)
    for i in range(1, 7):
        assert f"b{i}_l0_add" not in G  # the first layer changes channels
    assert set(G.predecessors("b2_l1_add")) == {"b2_l1", "b2_l0"}
    assert sum(1 for n in G if str(n).endswith("_add")) == sum(mnasnet.MOBILENET_V2_LAYERS) - 7


def test_pooling_skip_also_bridges_a_strided_layer_with_equal_channels():
    space = mnasnet.space(filters=(16,) * 7)
    pooled = space.to_graph(uniform(skip="pooling"))
    assert pooled.nodes["b1_l0_pool"]["params"] == {"kernel": 3, "stride": 2}
    assert set(pooled.predecessors("b1_l0_add")) == {"b1_l0", "b1_l0_pool"}
    assert pooled.nodes["b1_l1_pool"]["params"]["stride"] == 1
    identity = space.to_graph(uniform(skip="identity"))
    assert "b1_l0_add" not in identity and set(identity.predecessors("b1_l1_add")) == {"b1_l1", "b1_l0"}
    none = space.to_graph(uniform(skip="none"))
    assert not any(str(n).endswith(("_add", "_pool")) for n in none)
    for G in (pooled, identity, none):
        wiring.validate(G)


def test_constraint_filters_by_multiply_adds():
    limit = 400_000  # about half the SMALL space (0.22–0.78 M in a sample of 12)
    space = mnasnet.space(**mnasnet.SMALL, constraint=Constraint(max_macs=limit))
    rng = random.Random(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert wiring.cost(space.to_graph(arch)).macs <= limit
        assert wiring.cost(space.to_graph(space.mutate(arch, rng))).macs <= limit


# -- supernet --------------------------------------------------------------------------------------


def test_supernet_shares_alpha_within_a_block():
    G = SMALL.supernet()
    keys = {n: G.nodes[n]["params"].get("key") for n in G if G.nodes[n]["op"] in ("choice", "select")}
    assert {keys[n] for n in layer_nodes(G, 3)} == {"b3_op"}
    assert len(layer_nodes(G, 3)) == 3  # base 2 + 1: the deepest choice
    assert len(G.nodes["b3_l0"]["params"]["candidates"]) == 16
    model = wiring.compile(G, seed=0)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters() if name.startswith("alphas.")}
    assert shapes["alphas.b3_op"] == (1, 16) and shapes["alphas.b3_skip"] == (1, 3)
    assert shapes["alphas.b3_layers"] == (1, 3) and shapes["alphas.b0_layers"] == (1, 2)  # depths {1, 2}
    assert len(shapes) == 21


def test_derive_reads_the_argmax_of_each_block():
    model = wiring.compile(SMALL.supernet(), seed=0)
    target = arch_of(("conv", 5, 0.25, "pooling", 1.0, 0), ("mbconv3", 3, 0.0, "none", 1.0, 1),
                     *[("dwconv", 5, 0.0, "identity", 1.0, -1)] * 5)
    product = [(o, k, se) for o in mnasnet.OPS for k in mnasnet.KERNELS for se in mnasnet.SE_RATIOS]
    with torch.no_grad():
        for i, block in enumerate(SMALL.blocks(target)):
            model.get_parameter(f"alphas.b{i}_op")[0, product.index(block[:3])] = 1.0
            model.get_parameter(f"alphas.b{i}_skip")[0, mnasnet.SKIPS.index(block.skip)] = 1.0
            depths = sorted({SMALL.depth(i, offset) for offset in mnasnet.LAYERS})
            model.get_parameter(f"alphas.b{i}_layers")[0, depths.index(SMALL.depth(i, block.layers))] = 1.0
    derived = SMALL.blocks(SMALL.derive(model))
    assert derived[:2] == SMALL.blocks(target)[:2]
    assert derived[2] == mnasnet.Block("dwconv", 5, 0.0, "identity", 1.0, 0)  # base 1: −1 and 0 are one depth
    assert derived[3] == mnasnet.Block("dwconv", 5, 0.0, "identity", 1.0, -1)


def test_derive_refuses_a_model_of_another_space():
    with pytest.raises(SpaceError, match="alphas.b0_op"):
        SMALL.derive(wiring.compile(SMALL.to_graph(MOBILENET_V2)))
