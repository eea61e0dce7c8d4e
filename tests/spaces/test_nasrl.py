"""NAS-RL space (Zoph & Le 2017, docs/papers.md §5): tokens, the three wiring rules, formats, errors, supernet."""

import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import ops
import wiring
from spaces import Constraint, SpaceError, nasrl
from spaces.nasrl import Layer


def runs(G, size):
    model = wiring.compile(G, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert wiring.cost(G).params == sum(p.numel() for p in model.parameters())
    return model


def test_controller_tokens_per_layer_anchor_first():
    space = nasrl.space()
    decisions = space.decisions()
    assert len(decisions) == 15 * 3 + 15 * 14 // 2
    layer2 = [d for d in decisions if d.name.startswith("layer2.")]
    assert [(d.name, d.kind, d.source, d.target) for d in layer2] == [
        ("layer2.skip0", "skip", 0, 2), ("layer2.skip1", "skip", 1, 2), ("layer2.height", "choice", None, None),
        ("layer2.width", "choice", None, None), ("layer2.filters", "choice", None, None)]
    assert [d.choices for d in layer2[2:]] == [(1, 3, 5, 7), (1, 3, 5, 7), (24, 36, 48, 64)]
    with_strides = [d.name for d in nasrl.space(strides=True).decisions() if d.name.startswith("layer0.")]
    assert with_strides == ["layer0.height", "layer0.width", "layer0.stride", "layer0.filters"]
    assert nasrl.space().size() == 64 ** 15 * 2 ** 105
    assert nasrl.space(layers=2, strides=True).size() == 192 ** 2 * 2


def test_wiring_rules_image_for_no_input_concat_inputs_and_unconsumed_outputs():
    space = nasrl.space(layers=4, image_size=8)
    arch = (Layer(3, 5, 24, 1, ()), Layer(1, 7, 36, 1, ()), Layer(5, 5, 48, 1, (0, 1)), Layer(1, 1, 64, 1, (0,)))
    G = space.to_graph(arch)
    assert G.nodes["layer0"] == {"op": "conv_hw", "params": {"channels": 24, "kernel_h": 3, "kernel_w": 5, "stride": 1}}
    assert list(G.predecessors("layer0")) == list(G.predecessors("layer1")) == ["input"]  # no input: the image
    assert list(G.predecessors("layer3")) == ["layer0"]
    assert [u for u, _, _ in sorted(G.in_edges("layer2.in", data="slot"), key=lambda e: e[2])] == ["layer0", "layer1"]
    assert G.nodes["layer2.in"]["op"] == "pad_concat"
    # layers 2 and 3 feed nothing: concatenated into the final hidden state before the classifier
    assert [u for u, _, _ in sorted(G.in_edges("final", data="slot"), key=lambda e: e[2])] == ["layer2", "layer3"]
    assert list(G.successors("final")) == ["head"] and G.nodes["head"]["params"] == {"num_classes": 10}
    runs(G, 8)


def test_parameter_count_by_hand():
    space = nasrl.space(layers=2, image_size=8)
    G = space.to_graph((Layer(3, 5, 24, 1, ()), Layer(1, 1, 36, 1, (0,))))
    assert wiring.cost(G).params == (3 * 5 * 3 * 24 + 48) + (24 * 36 + 72) + (36 * 10 + 10)
    assert "final" not in G  # layer 0 is consumed: only layer 1 reaches the classifier


def test_strided_layers_are_zero_padded_to_the_largest_before_concatenation():
    space = nasrl.space(layers=3, image_size=9, strides=True)
    arch = (Layer(3, 3, 24, 3, ()), Layer(1, 3, 36, 1, ()), Layer(7, 1, 24, 2, (0, 1)))
    G = space.to_graph(arch)
    shapes = wiring.analysis.analyse(G).nodes
    assert shapes["layer0"].out_shape == (24, 3, 3) and shapes["layer1"].out_shape == (36, 9, 9)
    assert shapes["layer2.in"].out_shape == (60, 9, 9) and shapes["layer2"].out_shape == (24, 5, 5)
    runs(G, 9)


def test_pad_concat_centres_smaller_inputs_and_keeps_slot_order():
    small, large = torch.ones(1, 1, 2, 2), torch.full((1, 2, 5, 5), 2.0)
    out = ops.get("pad_concat").function(small, large)
    assert out.shape == (1, 3, 5, 5) and torch.equal(out[0, 1:], large[0])
    expected = torch.zeros(5, 5)
    expected[1:3, 1:3] = 1  # padding 1 before, 2 after (the odd pixel at the bottom/right)
    assert torch.equal(out[0, 0], expected)


def test_conv_hw_is_conv_bn_relu():
    params = {"channels": 4, "kernel_h": 1, "kernel_w": 7, "stride": 1}
    module = ops.get("conv_hw").build([(3, 6, 6)], (4, 6, 6), params)
    assert [type(m).__name__ for m in module] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert module[0].kernel_size == (1, 7) and module[0].padding == (0, 3) and module[0].bias is None


def test_encoding_format():
    space = nasrl.space(layers=3, strides=True)
    arch = (Layer(3, 5, 24, 2, ()), Layer(1, 1, 36, 1, (0,)), Layer(7, 7, 64, 3, (0, 1)))
    text = "3x5:24:s2 1x1:36:s1:in0 7x7:64:s3:in0,1"
    assert space.encode(arch) == text and space.decode(text) == arch
    assert space.decode(f"  {text.replace(' ', chr(10))} ") == arch
    assert space.to_decisions(arch) == [1, 2, 1, 0, 1, 0, 0, 0, 1, 1, 1, 3, 3, 2, 3]


@pytest.mark.parametrize("text,message", [
    ("3x3:24:s1 3x3:24:s1", "holds 3 layers, got 2"),
    ("3x3:24:s1 3x3:24:s1 3x3:24", r"layer 2 token '3x3:24' is not"),
    ("3x4:24:s1 3x3:24:s1 3x3:24:s1", "layer 0 token '3x4:24:s1': width must be one of"),
    ("3x3:25:s1 3x3:24:s1 3x3:24:s1", "filters must be one of"),
    ("3x3:24:s2 3x3:24:s1 3x3:24:s1", r"stride must be one of \[1\]"),
    ("3x3:24:s1 3x3:24:s1 3x3:24:s1:in1,0", "layer 2 inputs must be a sorted tuple"),
    ("3x3:24:s1 3x3:24:s1:in1 3x3:24:s1", r"layer 1 inputs must be a sorted tuple of distinct earlier layers \(0..0\)"),
    ("certainly not an architecture", "holds 3 layers, got 4"),
])
def test_decode_errors(text, message):
    with pytest.raises(SpaceError, match=message):
        nasrl.space(layers=3).decode(text)


@pytest.mark.parametrize("options,message", [
    ({"layers": 0}, "layers must be an int >= 1, got layers=0"),
    ({"strides": 1}, "strides must be a bool, got strides=1"),
    ({"image_size": 2.5}, "image_size must be an int"),
    ({"filters": 24}, "unknown option 'filters'"),
])
def test_bad_options(options, message):
    with pytest.raises(SpaceError, match=message):
        nasrl.space(**options)


def test_malformed_architectures():
    space = nasrl.space(layers=2)
    with pytest.raises(SpaceError, match="stride must be 1 \\(strides=False\\)"):
        space.to_graph((Layer(3, 3, 24, 2, ()), Layer(3, 3, 24, 1, ())))
    with pytest.raises(SpaceError, match="'layer1.filters' must be one of"):
        space.encode((Layer(3, 3, 24, 1, ()), Layer(3, 3, 32, 1, ())))
    with pytest.raises(SpaceError, match="a tuple of 2 Layer"):
        space.to_decisions((Layer(3, 3, 24, 1, ()),))


def test_samples_mutants_crossovers_and_constraint():
    space, rng = nasrl.space(**nasrl.SMALL, strides=True), random.Random(0)
    for _ in range(3):
        a, b = space.sample(rng), space.sample(rng)
        m = space.mutate(a, rng)
        assert sum(x != y for x, y in zip(space.to_decisions(a), space.to_decisions(m))) == 1
        child = space.crossover(a, b, rng)
        assert all(c in (x, y) for c, x, y in zip(child, a, b))
        for arch in (a, m, child):
            runs(space.to_graph(arch), 16)
    constrained = nasrl.space(**nasrl.SMALL, constraint=Constraint(max_params=20_000))
    for _ in range(5):
        assert wiring.cost(constrained.to_graph(constrained.sample(rng))).params <= 20_000


@given(data=st.data(), strides=st.booleans())
def test_every_token_sequence_is_one_architecture(data, strides):
    space = nasrl.space(layers=4, strides=strides)
    indices = [data.draw(st.integers(0, len(d.choices) - 1)) for d in space.decisions()]
    arch = space.from_decisions(indices)
    assert space.to_decisions(arch) == indices and space.decode(space.encode(arch)) == arch


def test_supernet_alphas_and_derive():
    space = nasrl.space(layers=3, image_size=8, strides=True)
    G = space.supernet()
    assert len(G.nodes["layer1.conv"]["params"]["candidates"]) == 16
    assert {c["params"]["channels"] for c in G.nodes["layer1.conv"]["params"]["candidates"]} == {64}
    assert [u for u, _, _ in sorted(G.in_edges("layer2.in", data="slot"), key=lambda e: e[2])] == [
        "input", "layer2.skip0", "layer2.skip1"]
    model = runs(G, 8)
    alphas = {name.split(".")[-1]: p for name, p in model.named_parameters() if name.startswith("alphas.")}
    assert {k: tuple(p.shape) for k, p in alphas.items()} == {"kernel": (3, 16), "filters": (3, 4), "skip": (3, 2)}
    arch = (Layer(7, 1, 36, 1, ()), Layer(1, 5, 64, 1, (0,)), Layer(3, 3, 24, 1, (1,)))
    with torch.no_grad():
        for p in alphas.values():
            p.zero_()
        for i, layer in enumerate(arch):
            alphas["kernel"][i, nasrl.KERNELS.index((layer.height, layer.width))] = 1
            alphas["filters"][i, nasrl.FILTERS.index(layer.filters)] = 1
        alphas["skip"][0, 1] = alphas["skip"][1, 0] = alphas["skip"][2, 1] = 1  # 0->1 on, 0->2 off, 1->2 on
    assert space.derive(model) == arch
    with pytest.raises(SpaceError, match="α 'alphas.kernel' of shape"):
        space.derive(wiring.compile(space.to_graph(arch)))


def test_channel_mask_keeps_the_first_filters():
    x = torch.randn(2, 6, 3, 3)
    out = ops.get("channel_mask").function(x, keep=4)
    assert torch.equal(out[:, :4], x[:, :4]) and not out[:, 4:].any()
