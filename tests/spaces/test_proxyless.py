"""ProxylessNAS' space (docs/papers.md §8): backbone, candidates, zero layers, α per layer, latency constraint."""

import random
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ops
import wiring
from spaces import Constraint, LatencyTable, SpaceError, proxyless

SMALL = proxyless.space(**proxyless.SMALL)

# ProxylessNAS-Mobile as released (pytorchcv's transcription of proxyless_mobile.config): stage widths 32, 40, 80,
# 96, 192, 320 (its first stage is 32 wide, not the search default 24).
MOBILE_WIDTHS = (32, 40, 80, 96, 192, 320)
MOBILE = ("mbconv_k5_e3,mbconv_k3_e3,zero,zero|mbconv_k7_e3,mbconv_k3_e3,mbconv_k5_e3,mbconv_k5_e3|"
          "mbconv_k7_e6,mbconv_k5_e3,mbconv_k5_e3,mbconv_k5_e3|mbconv_k5_e6,mbconv_k5_e3,mbconv_k5_e3,mbconv_k5_e3|"
          "mbconv_k7_e6,mbconv_k7_e6,mbconv_k7_e3,mbconv_k7_e3|mbconv_k7_e6")


def test_candidates_are_the_six_mbconvs_of_the_reference_in_its_order():
    assert proxyless.CANDIDATES == ("mbconv_k3_e3", "mbconv_k3_e6", "mbconv_k5_e3", "mbconv_k5_e6",
                                    "mbconv_k7_e3", "mbconv_k7_e6")
    for k in (3, 5, 7):
        for e in (3, 6):
            alias, generic = ops.get(f"mbconv_k{k}_e{e}"), ops.get("mbconv")
            params = {"channels": 24, "stride": 2, "se": 0.25}
            shape = (16, 9, 9)
            out = alias.shape([shape], alias.resolve(params))
            assert out == (24, 5, 5)
            assert alias.cost([shape], out, alias.resolve(params)) == generic.cost(
                [shape], out, generic.resolve({**params, "kernel": k, "expand": e}))
            module = alias.build([shape], out, alias.resolve(params))
            assert module.depthwise.kernel_size == (k, k) and module.depthwise.out_channels == 16 * e


def test_backbone_and_zero_on_exactly_the_skippable_layers():
    space = proxyless.space()
    assert [c for c, _, _ in space.plan] == [24] * 4 + [40] * 4 + [80] * 4 + [96] * 4 + [192] * 4 + [320]
    assert [s for _, s, _ in space.plan if s != 1] == [2, 2, 2, 2]
    skippable = [i for i, (_, _, skip) in enumerate(space.plan) if skip]
    assert skippable == [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19]  # not first of a stage
    assert all(("zero" in d.choices) == (i in skippable) for i, d in enumerate(space.decisions()))
    assert space.size() == 7 ** 15 * 6 ** 6
    G = space.to_graph(("mbconv_k3_e6",) * 21)
    assert G.nodes["stem"]["params"] == {"channels": 32, "kernel": 3, "stride": 2, "act": "relu6"}
    assert G.nodes["first_block"]["params"]["channels"] == 16 and G.nodes["feature_mix"]["params"]["channels"] == 1280


def test_width_rounds_as_the_reference_and_can_make_a_stage_start_skippable():
    assert [proxyless.make_divisible(v) for v in (4, 10, 20, 24, 33.6, 44.8)] == [8, 16, 24, 24, 32, 48]
    # width 0.25: 80 -> 24 and 96 -> 24, so the 96-stage's first layer (stride 1) keeps the shape
    assert SMALL.plan[5:8] == [(24, 1, True)] * 3 and "zero" in SMALL.decisions()[5].choices
    assert proxyless.space(width=1.5).mix == proxyless.make_divisible(1920)


def test_proxylessnas_mobile_has_its_published_parameter_count():
    """ProxylessNAS-Mobile: 4.1 M parameters (paper); 4,080,512 counted by pytorchcv."""
    space = proxyless.space(widths=MOBILE_WIDTHS)
    assert wiring.cost(space.to_graph(space.decode(MOBILE))).params == 4_080_512


def test_encoding_format_and_round_trip():
    space = proxyless.space()
    arch = space.decode(MOBILE)
    assert arch[:4] == ("mbconv_k5_e3", "mbconv_k3_e3", "zero", "zero") and len(arch) == 21
    assert space.encode(arch) == MOBILE


@pytest.mark.parametrize("text,culprit", [
    (MOBILE.replace("|", ",", 1), "expected 6 stages"),
    (MOBILE.replace("mbconv_k5_e3,", "", 1), "stage 0 needs 4"),
    (MOBILE.replace("mbconv_k5_e3", "mbconv_k9_e3", 1), "stage 0, layer0: bad token 'mbconv_k9_e3'"),
    (MOBILE.replace("mbconv_k7_e3", "zero", 1), "stage 1, layer4: bad token 'zero'"),  # first of a stage
    (3, "a string"),
], ids=["stages", "layers", "token", "zero-first", "type"])
def test_decode_errors_name_the_culprit(text, culprit):
    with pytest.raises(SpaceError, match=re.escape(culprit)):
        proxyless.space().decode(text)


@pytest.mark.parametrize("options,culprit", [
    ({"width": -1.0}, "width=-1.0"), ({"widths": (24, 40)}, "widths="), ({"layers": (4, 4, 4, 4, 4, 0)}, "layers="),
    ({"head_channels": 0}, "head_channels=0"), ({"num_classes": 2.0}, "num_classes=2.0"),
    ({"image_size": None}, "image_size=None"),
])
def test_bad_options(options, culprit):
    with pytest.raises(SpaceError, match=re.escape(culprit)):
        proxyless.space(**options)


@settings(max_examples=25)
@given(st.lists(st.integers(0, 6), min_size=11, max_size=11))
def test_a_zero_layer_is_absent_from_the_graph_and_costs_nothing(values):
    indices = [v % len(d.choices) for v, d in zip(values, SMALL.decisions())]
    arch = SMALL.from_decisions(indices)
    assert SMALL.decode(SMALL.encode(arch)) == arch and SMALL.to_decisions(arch) == indices
    G = SMALL.to_graph(arch)
    assert {f"layer{i}" for i, c in enumerate(arch) if c != "zero"} == {n for n in G if str(n).startswith("layer")}
    full = SMALL.to_graph(tuple("mbconv_k3_e3" if c == "zero" else c for c in arch))
    spec = ops.get("mbconv_k3_e3")
    saved = sum(spec.cost([(c, 4, 4)], (c, 4, 4), spec.resolve({"channels": c})).params
                for (c, _, _), choice in zip(SMALL.plan, arch) if choice == "zero")
    assert wiring.cost(full).params - wiring.cost(G).params == saved


# -- supernet --------------------------------------------------------------------------------------


def test_supernet_has_one_alpha_per_layer_and_identity_after_skippable_choices():
    G = SMALL.supernet()
    assert [G.nodes[f"layer{i}"]["params"]["key"] for i in range(11)] == [f"layer{i}" for i in range(11)]
    assert [G.nodes["layer1"]["params"]["candidates"][i]["op"] for i in (0, 6)] == ["mbconv_k3_e3", "zero"]
    assert G.nodes["layer1"]["params"]["candidates"][0]["params"]["residual"] is False
    assert set(G.predecessors("layer1_add")) == {"layer1", "layer0"} and "layer0_add" not in G
    model = wiring.compile(G, seed=0)
    alphas = {name: tuple(p.shape) for name, p in model.named_parameters() if name.startswith("alphas.")}
    assert alphas == {f"alphas.layer{i}": (1, len(d.choices)) for i, d in enumerate(SMALL.decisions())}


def test_a_zero_layer_passes_its_input_through_and_derive_takes_the_argmax():
    model = wiring.compile(SMALL.supernet(), seed=0).eval()
    target = tuple("zero" if "zero" in d.choices else d.choices[i % 6] for i, d in enumerate(SMALL.decisions()))
    with torch.no_grad():
        for i, (choice, d) in enumerate(zip(target, SMALL.decisions())):
            alpha = model.get_parameter(f"alphas.layer{i}")
            alpha.fill_(-100.0)
            alpha[0, d.choices.index(choice)] = 100.0
    assert SMALL.derive(model) == target
    names = {label: name for name, label in model.node_names.items()}
    seen = {}

    def keep(label):
        def hook(module, args):
            seen[label] = args[0].clone()
        return hook

    for label in ("layer1", "layer2"):  # layer 1 is zero: layer 2 sees layer 1's input
        model.get_submodule(names[label]).register_forward_pre_hook(keep(label))
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    assert target[1] == "zero" and torch.equal(seen["layer1"], seen["layer2"])


def test_derive_refuses_a_model_without_the_layer_alphas():
    with pytest.raises(SpaceError, match="alphas.layer0"):
        SMALL.derive(wiring.compile(SMALL.to_graph(("mbconv_k3_e3",) * 11)))


# -- latency ----------------------------------------------------------------------------------------


def test_latency_constrained_space_never_exceeds_its_limit():
    table = LatencyTable().measure(SMALL.latency_graphs(), repeats=2)
    rng = random.Random(0)
    latencies = sorted(table.latency(SMALL.to_graph(SMALL.sample(rng))) for _ in range(8))  # the table covers all
    limit = latencies[4]
    constrained = proxyless.space(**proxyless.SMALL, constraint=Constraint(max_latency=limit, latency=table))
    for _ in range(4):
        arch = constrained.sample(rng)
        assert table.latency(constrained.to_graph(arch)) <= limit
        assert table.latency(constrained.to_graph(constrained.mutate(arch, rng))) <= limit
