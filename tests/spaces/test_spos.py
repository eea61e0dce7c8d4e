"""SPOS (Guo et al. 2020): ShuffleNetV2 choice blocks, the reference space, the generic one-choice-per-layer space.

Reference numbers come from megvii-model/SinglePathOneShot; block outputs, parameter counts and
network FLOPs (its ``get_flops``: conv + linear multiply-adds) were also checked side by side with
the reference modules while writing this file.
"""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ops
import ops.shuffle
import wiring
from spaces import Constraint, SpaceError, spos

SEARCHED = (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)
"""The reference README's searched architecture: 323M FLOPs, 3.5M params."""
SEARCHED_TEXT = "7x7-5x5-3x3-5x5-7x7-3x3-7x7-3x3-7x7-3x3-7x7-xception-3x3-3x3-3x3-3x3-xception-7x7-xception-xception"

FULL = spos.space()


def block(name, params, shape):
    spec = ops.get(name)
    p = spec.resolve(params)
    out = spec.shape([shape], p)
    return spec, p, out, spec.build([shape], out, p)


def n_params(module):
    return sum(t.numel() for t in module.parameters())


# -- blocks ------------------------------------------------------------------------------


def test_shuffle_block_stride_2_parameters_by_hand():
    # 16 -> 64 channels, mid 32; main: 1x1 16->32, 3x3 dw 32, 1x1 32->48; proj: 3x3 dw 16, 1x1 16->16; 5 affine BNs
    _, _, out, module = block("shuffle_3x3", {"channels": 64, "stride": 2}, (16, 112, 112))
    convs = 16 * 32 + 32 * 9 + 32 * 48 + 16 * 9 + 16 * 16
    assert out == (64, 56, 56)
    assert n_params(module) == convs + 2 * (32 + 32 + 48 + 16 + 16) == 3024


def test_xception_block_stride_1_parameters_by_hand():
    # 64 in (32 pass through), 64 out, mid 32: three (3x3 dw 32, 1x1 32->32) units, six affine BNs
    _, _, out, module = block("shuffle_xception", {"channels": 64}, (64, 56, 56))
    assert out == (64, 56, 56)
    assert n_params(module) == 3 * (32 * 9 + 32 * 32) + 6 * 2 * 32 == 4320


def test_non_affine_block_and_explicit_mid_channels():
    # 7x7, 64 -> 160 at stride 2, mid 80: convs only
    _, _, _, module = block("shuffle_7x7", {"channels": 160, "stride": 2, "affine": False}, (64, 56, 56))
    assert n_params(module) == 64 * 80 + 80 * 49 + 80 * 96 + 64 * 49 + 64 * 64
    _, _, _, module = block("shuffle_5x5", {"channels": 8, "mid_channels": 3, "affine": False}, (8, 4, 4))
    assert n_params(module) == 4 * 3 + 3 * 25 + 3 * 4


def test_block_macs_by_hand():
    spec, p, out, _ = block("shuffle_3x3", {"channels": 64, "stride": 2}, (16, 112, 112))
    at_112, at_56 = 112 * 112, 56 * 56  # the first 1x1 runs before the strided depthwise
    expected = 16 * 32 * at_112 + (32 * 9 + 32 * 48 + 16 * 9 + 16 * 16) * at_56
    assert spec.cost([(16, 112, 112)], out, p).macs == expected == 13_396_992


def test_state_dict_layout_is_the_reference_one():
    """Same keys and shapes as the reference blocks.py (conv, BN[, ReLU] per unit), so its checkpoints load."""
    _, _, _, module = block("shuffle_3x3", {"channels": 64, "stride": 2}, (16, 8, 8))
    weights = {k: tuple(v.shape) for k, v in module.state_dict().items() if k.endswith("weight")}
    assert weights == {
        "branch_main.0.weight": (32, 16, 1, 1), "branch_main.1.weight": (32,),
        "branch_main.3.weight": (32, 1, 3, 3), "branch_main.4.weight": (32,),
        "branch_main.5.weight": (48, 32, 1, 1), "branch_main.6.weight": (48,),
        "branch_proj.0.weight": (16, 1, 3, 3), "branch_proj.1.weight": (16,),
        "branch_proj.2.weight": (16, 16, 1, 1), "branch_proj.3.weight": (16,),
    }
    _, _, _, module = block("shuffle_xception", {"channels": 64, "affine": False}, (64, 8, 8))
    convs = [k for k, v in module.state_dict().items() if k.endswith("weight")]
    assert convs == [f"branch_main.{i}.weight" for i in (0, 2, 5, 7, 10, 12)] and module.branch_proj is None
    assert all(not isinstance(m, torch.nn.Conv2d) or m.bias is None for m in module.modules())


def test_channel_split_is_the_reference_shuffle():
    x = torch.randn(2, 8, 3, 3)
    # the reference's channel_shuffle: reshape(B*C/2, 2, HW), permute(1, 0, 2), reshape(2, -1, C/2, H, W)
    ref = x.reshape(2 * 8 // 2, 2, 9).permute(1, 0, 2).reshape(2, -1, 4, 3, 3)
    even, odd = ops.shuffle.channel_split(x)
    assert torch.equal(even, ref[0]) and torch.equal(odd, ref[1])
    assert torch.equal(torch.cat((even, odd), 1), ops.shuffle.channel_shuffle(x, groups=4))  # groups = C/2


def test_channel_shuffle_permutation():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert ops.shuffle.channel_shuffle(x, groups=2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert ops.shuffle.channel_shuffle(x, groups=3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_stride_1_block_passes_the_even_channels_through():
    _, _, _, module = block("shuffle_7x7", {"channels": 12}, (8, 5, 5))
    x = torch.randn(2, 8, 5, 5)
    y = module.eval()(x)
    assert y.shape == (2, 12, 5, 5) and torch.equal(y[:, :4], x[:, 0::2])


def test_stride_2_block_concatenates_projection_and_main():
    _, _, _, module = block("shuffle_xception", {"channels": 10, "stride": 2}, (4, 6, 6))
    x = torch.randn(1, 4, 6, 6)
    module.eval()
    y = module(x)
    assert torch.equal(y[:, :4], module.branch_proj(x)) and torch.equal(y[:, 4:], module.branch_main(x))


@pytest.mark.parametrize("name,params,shape,text", [
    ("shuffle_3x3", {"channels": 8}, (7, 4, 4), "odd input channels 7"),
    ("shuffle_5x5", {"channels": 4}, (8, 4, 4), "exceed the 4 channels"),
    ("shuffle_xception", {"channels": 6, "stride": 2}, (6, 4, 4), "got channels=6"),
    ("shuffle_7x7", {"channels": 8}, (8,), "image inputs"),
    ("channel_shuffle", {"groups": 4}, (6, 2, 2), "divisible by groups=4"),
    ("shuffle_head", {"num_classes": 3}, (8,), "image inputs"),
])
def test_shape_errors_name_the_op(name, params, shape, text):
    spec = ops.get(name)
    with pytest.raises(ops.OpError, match=f"op '{name}'") as info:
        spec.shape([shape], spec.resolve(params))
    assert text in str(info.value)


def test_only_strides_1_and_2():
    with pytest.raises(ops.OpError, match=r"param 'stride' must be one of \[1, 2\], got 3"):
        ops.get("shuffle_3x3").resolve({"channels": 8, "stride": 3})


def test_head_is_bias_free_with_dropout():
    _, p, out, module = block("shuffle_head", {"num_classes": 5}, (16, 7, 7))
    assert p["dropout"] == 0.1 and module.dropout.p == 0.1
    assert module.classifier.bias is None and n_params(module) == 16 * 5 and out == (5,)


# -- the reference space -----------------------------------------------------------------


def test_reference_layout():
    assert len(FULL.decisions()) == 20 and FULL.size() == 4 ** 20
    assert all(d.choices == (0, 1, 2, 3) for d in FULL.decisions())
    G = FULL.to_graph((0,) * 20)
    layers = [G.nodes[f"layer{i}"] for i in range(20)]
    assert [n["params"]["stride"] for n in layers].count(2) == 4
    assert [i for i, n in enumerate(layers) if n["params"]["stride"] == 2] == [0, 4, 8, 16]
    assert [n["params"]["channels"] for n in layers] == [64] * 4 + [160] * 4 + [320] * 8 + [640] * 4
    assert G.nodes["stem0"] == {"op": "conv_bn", "params": {"channels": 16, "stride": 2, "relu": True}}
    assert G.nodes["head0"]["params"] == {"channels": 1024, "kernel": 1, "relu": True}
    assert G.nodes["head1"] == {"op": "shuffle_head", "params": {"num_classes": 1000, "dropout": 0.1}}
    assert G.graph["space"]["name"] == "spos" and G.graph["space"]["encoding"] == "-".join(["3x3"] * 20)


def test_searched_architecture_reproduces_the_reference_numbers():
    """README: 323M FLOPs, 3.5M params (its get_flops gives exactly these multiply-adds)."""
    assert FULL.encode(SEARCHED) == SEARCHED_TEXT and FULL.decode(SEARCHED_TEXT) == SEARCHED
    assert FULL.from_decisions(list(SEARCHED)) == SEARCHED  # reference candidate tuples are architectures
    cost = wiring.cost(FULL.to_graph(SEARCHED))
    assert cost.macs == 322_918_720 and round(cost.macs / 1e6) == 323
    assert cost.params == 3_558_464


def test_macs_range_of_the_space():
    """Per-layer costs add up: min = xception at the 4 stride-2 layers and 3x3 elsewhere; max = 7x7 / xception."""
    macs = {b: wiring.cost(FULL.to_graph((i,) * 20)).macs for i, b in enumerate(spos.BLOCKS)}
    assert macs == {"3x3": 295_842_496, "5x5": 313_654_976, "7x7": 340_373_696, "xception": 358_825_920}
    strided = (0, 4, 8, 16)
    cheapest = tuple(3 if i in strided else 0 for i in range(20))
    dearest = tuple(2 if i in strided else 3 for i in range(20))
    assert wiring.cost(FULL.to_graph(cheapest)).macs == 270_359_360
    assert wiring.cost(FULL.to_graph(dearest)).macs == 398_609_216


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=20, max_size=20))
def test_every_architecture_lies_in_the_macs_range_and_round_trips(indices):
    arch = FULL.from_decisions(indices)
    assert FULL.decode(FULL.encode(arch)) == arch and FULL.to_decisions(arch) == indices
    assert 270_359_360 <= wiring.cost(FULL.to_graph(arch)).macs <= 398_609_216


def test_330m_constraint_by_static_cost_without_building(monkeypatch):
    def no_building(*args, **kwargs):
        raise AssertionError("a module was built")

    monkeypatch.setattr(ops.shuffle, "ShuffleBlock", no_building)
    rng = random.Random(0)
    unconstrained = [wiring.cost(FULL.to_graph(FULL.sample(rng))).macs for _ in range(20)]
    assert max(unconstrained) > 330e6 > min(unconstrained)  # the limit bites
    limited = spos.space(constraint=Constraint(max_macs=330e6))
    for _ in range(10):
        arch = limited.sample(rng)
        assert wiring.cost(limited.to_graph(arch)).macs <= 330e6
        assert wiring.cost(limited.to_graph(limited.mutate(arch, rng))).macs <= 330e6
    assert not limited.admits(tuple(2 if i in (0, 4, 8, 16) else 3 for i in range(20)))


def test_enumerate_is_lazy():
    archs = FULL.enumerate()
    assert next(archs) == (0,) * 20 and next(archs) == (0,) * 19 + (1,)


@pytest.mark.parametrize("text,match", [
    ("3x3-5x5", "expected 20 layer tokens separated by '-', got 2"),
    (SEARCHED_TEXT.replace("xception", "9x9", 1), "bad token '9x9' for layer 11"),
    (SEARCHED_TEXT + "-", "got 21"),
    ("-".join(["3"] * 20), "bad token '3' for layer 0; expected one of"),
    (42, "an encoding is a string, got 42"),
])
def test_decode_errors(text, match):
    with pytest.raises(SpaceError, match=match):
        FULL.decode(text)


@pytest.mark.parametrize("arch", [list(SEARCHED), SEARCHED[:-1], SEARCHED[:-1] + (4,), ("3x3",) * 20])
def test_bad_architectures(arch):
    with pytest.raises(SpaceError, match="spos"):
        FULL.to_graph(arch)


@pytest.mark.parametrize("options,match", [
    ({"channels": 0}, "channels must be a positive int, got channels=0"),
    ({"num_classes": True}, "num_classes=True"),
    ({"stage_layers": ()}, "stage_layers must be a non-empty sequence"),
    ({"stage_layers": (4, 0, 8, 4)}, "stage_layers="),
    ({"stage_layers": (4, 4)}, "one entry per stage"),
    ({"stage_channels": (64, 161, 320, 640)}, r"stage_channels\[1\] must be even"),
    ({"stage_channels": (64, 64, 320, 640)}, "exceed the stage's input channels 64"),
    ({"channels": 64}, r"stage_channels\[0\]"),
    ({"image_size": 100}, "image_size must be divisible by 32"),
    ({"dropout": 1.5}, "dropout=1.5"),
    ({"constraint": "330M"}, "constraint must be a spaces.Constraint"),
])
def test_option_errors(options, match):
    with pytest.raises(SpaceError, match=match):
        spos.space(**options)


def test_small_space_compiles_with_the_declared_cost():
    small = spos.space(**spos.SMALL)
    assert small.decisions()[1].name == "layer1" and len(small.decisions()) == 5
    G = small.to_graph((3, 0, 1, 2, 3))
    model = wiring.compile(G, seed=0).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert wiring.cost(G).params == n_params(model)


# -- supernet and derive -------------------------------------------------------------------


def test_supernet_has_one_alpha_per_layer_and_non_affine_batch_norm():
    G = FULL.supernet()
    choices = [G.nodes[f"layer{i}"]["params"] for i in range(20)]
    assert [c["key"] for c in choices] == [f"layer{i}" for i in range(20)]
    assert all([x["op"] for x in c["candidates"]] == list(ops.shuffle.CHOICE_BLOCKS) for c in choices)
    assert all(x["params"]["affine"] is False for c in choices for x in c["candidates"])
    assert G.nodes["stem0"]["params"]["affine"] is False and G.nodes["head0"]["params"]["affine"] is False
    assert "affine" not in G.nodes["head1"]["params"] and G.graph["space"]["supernet"] is True
    assert "affine" not in FULL.to_graph(SEARCHED).nodes["layer0"]["params"]  # trained networks: affine BN


def test_derive_takes_the_argmax_of_each_layer():
    small = spos.space(**spos.SMALL)
    model = wiring.compile(small.supernet(), seed=0)
    assert [tuple(a.shape) for a in model.arch_parameters()] == [(1, 4)] * 5
    assert not any(isinstance(m, torch.nn.BatchNorm2d) and m.affine for m in model.modules())
    wanted = (3, 1, 0, 2, 3)
    with torch.no_grad():
        for i, j in enumerate(wanted):
            alpha = dict(model.named_parameters())[f"alphas.layer{i}"]
            alpha.zero_()
            alpha[0, j] = 1.0
    assert small.derive(model) == wanted


def test_derive_needs_the_supernet():
    small = spos.space(**spos.SMALL)
    with pytest.raises(SpaceError, match=r"'alphas.layer0' of shape \(1, 4\)"):
        small.derive(wiring.compile(small.to_graph((0,) * 5), seed=0))


# -- the generic one-choice-per-layer space -------------------------------------------------

STEM = [{"op": "conv_bn", "params": {"channels": 8, "relu": True}}]
CANDIDATES = [
    [{"op": "sep_conv", "params": {"channels": 8}}, {"op": "max_pool"}, {"op": "identity"}],
    [{"op": "sep_conv", "params": {"channels": 8, "kernel": 5, "stride": 2}},
     {"op": "max_pool", "params": {"stride": 2}}],
]


def test_generic_layers_chain_the_chosen_ops():
    space = spos.layers(CANDIDATES, input_channels=3, image_size=16, num_classes=4, stem=STEM)
    assert space.size() == 6 and sorted(space.enumerate()) == [(i, j) for i in range(3) for j in range(2)]
    G = space.to_graph((2, 1))
    assert list(G.nodes) == ["input", "stem0", "layer0", "layer1", "head0", "output"]
    assert G.nodes["layer1"] == {"op": "max_pool", "params": {"stride": 2}}
    assert G.nodes["head0"] == {"op": "head", "params": {"num_classes": 4}}
    assert space.encode((2, 1)) == "2-1" and space.decode("0-1") == (0, 1)
    assert wiring.compile(G, seed=0)(torch.randn(2, 3, 16, 16)).shape == (2, 4)
    assert wiring.cost(G).macs == 3 * 8 * 9 * 256 + 8 * 4


def test_generic_supernet_and_overrides():
    space = spos.layers(CANDIDATES, input_channels=3, image_size=16, stem=STEM, supernet_params={"affine": False})
    G = space.supernet()
    assert G.nodes["layer0"]["op"] == "choice" and G.nodes["layer1"]["params"]["key"] == "layer1"
    assert G.nodes["layer1"]["params"]["candidates"][0]["params"]["affine"] is False
    assert G.nodes["layer1"]["params"]["candidates"][1] == {"op": "max_pool", "params": {"stride": 2}}
    assert G.nodes["stem0"]["params"]["affine"] is False
    assert space.to_graph((0, 0)).nodes["layer0"]["params"] == {"channels": 8}
    model = wiring.compile(G, seed=0)
    with torch.no_grad():
        model.get_parameter("alphas.layer0")[0, 1] = 5.0
        model.get_parameter("alphas.layer1")[0, 0] = 5.0
    assert space.derive(model) == (1, 0)


def test_generic_space_owns_its_candidates():
    candidates = [[{"op": "identity"}, {"op": "max_pool", "params": {"stride": 1}}]]
    space = spos.layers(candidates, input_channels=4, image_size=8)
    candidates[0][1]["params"]["stride"] = 2
    G = space.to_graph((1,))
    assert G.nodes["layer0"]["params"] == {"stride": 1}
    G.nodes["layer0"]["params"]["stride"] = 3
    assert space.to_graph((1,)).nodes["layer0"]["params"] == {"stride": 1}


@pytest.mark.parametrize("candidates,options,match", [
    ([], {}, "candidates must be a non-empty list"),
    ({"op": "identity"}, {}, "candidates must be a non-empty list"),
    ([[]], {}, r"candidates\[0\] must be a non-empty list of op dicts"),
    ([[{"op": "identity"}, "max_pool"]], {}, r"candidates\[0\]\[1\] must be an op dict"),
    ([[{"op": "identity", "param": {}}]], {}, r"candidates\[0\]\[0\] must be an op dict"),
    ([[{"op": "sep_konv"}]], {}, "unknown op 'sep_konv'"),
    ([[{"op": "identity"}, {"op": "sep_conv", "params": {"channels": 8}}]], {}, "layer0.*agree on their output shape"),
    ([[{"op": "identity"}]], {"stem": [{"op": "identity", "params": []}]}, r"stem\[0\] must be an op dict"),
    ([[{"op": "identity"}]], {"image_size": 0}, "image_size must be a positive int, got image_size=0"),
    ([[{"op": "identity"}]], {"num_classes": 0}, "num_classes=0"),
    ([[{"op": "identity"}]], {"supernet_params": ["affine"]}, "supernet_params must be a dict"),
])
def test_generic_errors(candidates, options, match):
    with pytest.raises(SpaceError, match=match):
        spos.layers(candidates, **{"input_channels": 3, **options})


def test_tokens_errors():
    with pytest.raises(SpaceError, match=r"tokens\[0\] must be 2 distinct non-empty names without '-'"):
        spos.LayerSpace([[{"op": "identity"}, {"op": "max_pool"}]], input_channels=3, image_size=8,
                        tokens=[["a", "a"]])
    with pytest.raises(SpaceError, match="tokens must give one list of names per layer"):
        spos.LayerSpace([[{"op": "identity"}]], input_channels=3, image_size=8, tokens=["a", "b"])
