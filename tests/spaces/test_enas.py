"""ENAS spaces (docs/papers.md §4; reference code melodyguan/enas): paper facts, formats, errors, networks, supernets.

The shared protocol test runs ``SMALL`` (micro); the protocol checks here run both kinds.
"""

import random

import networkx as nx
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import wiring
from spaces import Constraint, SpaceError, enas
from spaces.enas import MICRO_FINAL_ARC, Layer, MicroArch, Node

KINDS = ["micro", "macro"]

# The reference's retrained macro network (scripts/cifar10_macro_final.sh): 24 layers, branches 0..3.
MACRO_FINAL_ARC = " ".join([
    "0", "3 0", "0 1 0", "2 0 0 1", "2 0 0 0 0", "3 1 1 0 1 0", "2 0 0 0 0 0 1", "2 0 1 1 0 1 1 1",
    "1 0 1 1 1 0 1 0 1", "0 0 0 0 0 0 0 0 0 0", "2 0 0 0 0 0 1 0 0 0 0", "0 1 0 0 1 1 0 0 0 0 1 1",
    "2 0 1 0 0 0 0 0 1 0 1 1 0", "1 0 0 1 0 0 0 1 1 1 0 1 0 1", "0 1 1 0 1 0 1 0 0 0 0 0 1 0 0",
    "2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1", "2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0", "2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1",
    "3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0", "3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1",
    "0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0", "3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0",
    "0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0", "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0",
])


def small(kind, **extra):
    options = dict(enas.SMALL if kind == "micro" else enas.SMALL_MACRO, **extra)
    return enas.space(**options)


def runs(G):
    """Validate, compile and run ``G``; its static cost equals the module's parameter count."""
    model = wiring.compile(G, seed=0).eval()
    size = G.graph["space"]["params"]["image_size"]
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert wiring.cost(G).params == sum(p.numel() for p in model.parameters())
    return model


def alpha_shapes(model):
    return {name.split(".")[-1]: tuple(p.shape) for name, p in model.named_parameters() if ".alphas." in f".{name}"}


def set_alphas(model, space, arch):
    """Set every α row to a one-hot (10 at the choice ``arch`` makes): derive must return ``arch``."""
    ones = {}
    for name, p in model.named_parameters():
        if ".alphas." in f".{name}":
            ones[name.split(".")[-1]] = p
    with torch.no_grad():
        for p in ones.values():
            p.zero_()
        if isinstance(space, enas.MicroSpace):
            for cell, nodes in zip(("normal", "reduce"), arch):
                for i, node in enumerate(nodes):
                    ones[f"{cell}_in{i}"][0, node.input_a] = ones[f"{cell}_in{i}"][1, node.input_b] = 10
                    ones[f"{cell}_op"][2 * i, enas.MICRO_OPS.index(node.op_a)] = 10
                    ones[f"{cell}_op"][2 * i + 1, enas.MICRO_OPS.index(node.op_b)] = 10
        else:
            for t, layer in enumerate(arch):
                ones["op"][t, enas.MACRO_OPS.index(layer.op)] = 10
                for i, bit in enumerate(layer.skips):
                    ones["skip"][t * (t - 1) // 2 + i, bit] = 10


# -- the protocol, for both kinds -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_samples_mutants_and_crossovers_compile_run_and_cost_their_parameters(kind):
    space, rng = small(kind), random.Random(0)
    a, b = space.sample(rng), space.sample(rng)
    for arch in (a, space.mutate(a, rng), space.crossover(a, b, rng)):
        hash(arch)
        runs(space.to_graph(arch))


@pytest.mark.parametrize("kind", KINDS)
def test_mutation_changes_one_token_and_crossover_takes_whole_groups(kind):
    space, rng = small(kind), random.Random(1)
    for _ in range(10):
        a, b = space.sample(rng), space.sample(rng)
        ta, tm = space.to_decisions(a), space.to_decisions(space.mutate(a, rng))
        assert sum(x != y for x, y in zip(ta, tm)) == 1
        child = space.crossover(a, b, rng)
        parts = (lambda arch: arch.normal + arch.reduce) if kind == "micro" else (lambda arch: arch)
        assert all(c in (x, y) for c, x, y in zip(parts(child), parts(a), parts(b)))


@pytest.mark.parametrize("kind", KINDS)
def test_encode_decode_decisions_round_trip_and_same_seed(kind):
    space = small(kind)
    for seed in range(5):
        arch = space.sample(random.Random(seed))
        assert space.sample(random.Random(seed)) == arch
        assert space.decode(space.encode(arch)) == arch
        assert space.from_decisions(space.to_decisions(arch)) == arch
        again = space.decode(space.encode(arch))
        assert wiring.graph_hash(space.to_graph(arch)) == wiring.graph_hash(space.to_graph(again))


@pytest.mark.parametrize("kind", KINDS)
def test_constrained_sampling_and_mutation_stay_within_the_limit(kind):
    space, rng = small(kind), random.Random(5)
    params = sorted(wiring.cost(space.to_graph(space.sample(rng))).params for _ in range(8))
    limit = params[len(params) // 2]
    constrained = small(kind, constraint=Constraint(max_params=limit))
    for _ in range(3):
        arch = constrained.sample(rng)
        assert wiring.cost(constrained.to_graph(arch)).params <= limit
        assert wiring.cost(constrained.to_graph(constrained.mutate(arch, rng))).params <= limit


@pytest.mark.parametrize("kind", KINDS)
def test_supernet_runs_and_derive_reads_every_choice_from_alpha(kind):
    space = small(kind)
    model = runs(space.supernet())
    for seed in range(3):
        arch = space.sample(random.Random(seed))
        set_alphas(model, space, arch)
        assert space.derive(model) == arch
    runs(space.to_graph(space.derive(model)))


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_every_token_sequence_is_one_architecture(kind, data):
    space = small(kind)
    indices = [data.draw(st.integers(0, len(d.choices) - 1)) for d in space.decisions()]
    arch = space.from_decisions(indices)
    assert space.to_decisions(arch) == indices
    assert space.decode(space.encode(arch)) == arch


# -- micro: paper and reference facts ------------------------------------------------------


def test_micro_ops_and_decisions_follow_the_controller():
    space = enas.micro()
    assert enas.MICRO_OPS == ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
    decisions = space.decisions()
    assert len(decisions) == 2 * 5 * 4  # two cells, B = 5 nodes, (x_a, x_b, op_a, op_b) each
    assert [d.name for d in decisions[:4]] == ["normal.node0.input_a", "normal.node0.input_b", "normal.node0.op_a",
                                               "normal.node0.op_b"]
    assert decisions[20].name == "reduce.node0.input_a"
    assert [d.choices for d in decisions[:20:4]] == [tuple(range(i + 2)) for i in range(5)]
    for d in decisions:  # inputs are attended over by ENAS' controller; ops carry its b_soft (+ offset: normal)
        node = int(d.name.split(".")[1][4:]) + 2
        assert d.target == node
        if "input" in d.name:
            assert d.kind == "input" and d.bias is None
        else:
            assert d.kind == "choice" and d.bias == (10.0, 10.0, 0.0, 0.0, 0.0)
            assert d.offset == ((0.25, 0.25, -0.25, -0.25, -0.25) if d.name.startswith("normal") else None)


def test_micro_size_counts_both_slots_of_every_node():
    # Per cell: each node picks an (input, op) pair for each of its two slots. The paper's looser
    # count, (5·(B−2)!)^4 ≈ 1.3e11 networks, does not count the slots separately.
    assert enas.micro().size() == (720 ** 2 * 5 ** 10) ** 2
    assert enas.micro(nodes=1).size() == (2 * 2 * 5 * 5) ** 2
    assert len(set(enas.micro(nodes=1).enumerate())) == 10_000


def test_micro_encoding_is_the_reference_fixed_arc():
    space = enas.micro()
    arch = space.decode(MICRO_FINAL_ARC)
    assert arch.normal[0] == Node(0, "avg_pool_3x3", 0, "sep_conv_3x3")
    assert arch.reduce[3] == Node(1, "sep_conv_3x3", 0, "identity")
    assert space.encode(arch) == MICRO_FINAL_ARC
    assert space.decode("  " + MICRO_FINAL_ARC.replace(" ", "\n  ")) == arch
    plain = tuple(tuple(tuple(node) for node in cell) for cell in arch)  # plain tuples are accepted
    assert space.encode(plain) == MICRO_FINAL_ARC


def _cells(G):
    return {label: G.nodes[label]["params"]["graph"] for label in G if G.nodes[label]["op"] == "subgraph"}


def test_micro_search_network_layout():
    space = enas.micro(layers=6, channels=4, image_size=8)
    G = space.to_graph(space.decode(MICRO_FINAL_ARC))
    assert G.nodes["stem"]["params"] == {"channels": 12, "kernel": 3}  # 3C
    assert sorted(_cells(G), key=lambda s: int(s[4:])) == [f"cell{k}" for k in range(8)]
    assert space.pool_layers == (2, 5)
    for k in (2, 5):  # a factorized reduction (no ReLU) before each reduction cell, doubling C
        assert G.nodes[f"reduce{k}"]["op"] == "enas_reduce" and not G.nodes[f"reduce{k}"].get("params", {}).get("relu")
        assert set(G.predecessors(f"cell{k}")) == {f"cell{k - 1}", f"reduce{k}"}
    assert G.nodes["reduce5"]["params"]["channels"] == 16
    assert list(G.predecessors("cell0")) == ["stem"]  # the stem feeds both inputs of the first cell
    assert G.nodes["head"] == {"op": "enas_head", "params": {"num_classes": 10}}
    runs(G)


def test_micro_search_cell_sums_two_ops_and_concatenates_unused_states_into_a_1x1_conv():
    space = enas.micro(layers=3, channels=4, image_size=8)
    normal = ((1, "identity", 1, "sep_conv_5x5"),) + ((2, "max_pool_3x3", 1, "avg_pool_3x3"),) * 4
    arch = MicroArch(tuple(Node(*n) for n in normal), space.decode(MICRO_FINAL_ARC).reduce)
    cell = _cells(space.to_graph(arch))["cell0"]  # the stem feeds both inputs, each calibrated to C
    assert cell.nodes["node0"]["op"] == "sum" and set(cell.predecessors("node0")) == {"node0.a", "node0.b"}
    assert cell.nodes["node0.b"] == {"op": "sep_conv_5x5", "params": {}}
    # state 0 and nodes 1..4 are read by no node: concatenated (state 0 too, as in the reference), then ReLU-1×1conv-BN
    order = sorted(cell.in_edges("concat", data="slot"), key=lambda e: e[2])
    assert [u for u, _, _ in order] == ["calibrate0", "node1", "node2", "node3", "node4"]
    assert cell.nodes["final"] == {"op": "relu_conv_bn", "params": {"channels": 4, "kernel": 1}}


def test_micro_fixed_network_strides_reduction_cell_inputs_and_concatenates_without_a_conv():
    space = enas.micro(layers=3, channels=4, image_size=8, network="fixed")
    G = space.to_graph(space.decode(MICRO_FINAL_ARC))
    assert not [n for n in G if str(n).startswith("reduce")]
    cell = _cells(G)["cell1"]  # the first reduction cell (layers // 3 = 1)
    assert cell.nodes["node0.a"]["params"] == {"stride": 2}  # sep 3×3 on input 1
    assert cell.nodes["node1.a"] == {"op": "max_pool_3x3", "params": {"stride": 2}}
    assert cell.nodes["node2.b"] == {"op": "sep_conv_5x5", "params": {}}  # reads node 3: stride 1
    assert cell.nodes["node3.b"] == {"op": "enas_reduce", "params": {"channels": 8}}  # identity at stride 2
    assert cell.nodes["base"]["op"] == "relu_conv_bn"
    assert "final" not in cell and cell.in_degree("concat") == 4  # states 2, 4, 5, 6 unused: 4·2C channels out
    assert wiring.analysis.analyse(G).nodes["cell1"].out_shape == (32, 4, 4)
    runs(G)
    with pytest.raises(SpaceError, match="network='search'"):
        space.supernet()


def test_micro_supernet_has_one_weight_set_per_node_slot_input_op_and_shares_alpha_by_cell_type():
    space = enas.micro(layers=3, channels=4, image_size=8)
    G = space.supernet()
    cell = _cells(G)["cell0"]
    choices = [n for n in cell if cell.nodes[n]["op"] == "choice"]
    assert len(choices) == 2 * sum(i + 2 for i in range(5))
    assert all(len(cell.nodes[n]["params"]["candidates"]) == 5 for n in choices)
    assert cell.nodes["node3.b.4"]["params"]["index"] == 7 and cell.nodes["node3.b"]["params"]["key"] == "normal_in3"
    assert cell.in_degree("concat") == 7  # every state
    model = wiring.compile(G, seed=0)
    expected = {"normal_op": (10, 5), "reduce_op": (10, 5)}
    expected.update({f"{c}_in{i}": (2, i + 2) for c in ("normal", "reduce") for i in range(5)})
    assert alpha_shapes(model) == expected and len(model.arch_parameters()) == 12


# -- macro: paper and reference facts --------------------------------------------------------


def test_macro_size_and_decisions_are_the_papers():
    space = enas.macro()
    assert space.size() == 6 ** 12 * 2 ** 66 and f"{space.size():.1e}" == "1.6e+29"  # paper: 1.6 × 10^29
    decisions = space.decisions()
    assert len(decisions) == 12 + 66
    assert decisions[0].choices == ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool", "max_pool")
    assert [(d.name, d.kind, d.source, d.target) for d in decisions[3:6]] == [
        ("layer2.op", "choice", None, None), ("layer2.skip0", "skip", 0, 2), ("layer2.skip1", "skip", 1, 2)]


def test_macro_encoding_is_the_reference_arc():
    space = enas.macro(layers=24, channels=96)
    arch = space.decode(MACRO_FINAL_ARC)
    assert arch[0] == Layer("conv_3x3", ()) and arch[1] == Layer("sep_conv_5x5", (0,))
    assert arch[3] == Layer("conv_5x5", (0, 0, 1))
    assert space.encode(arch) == MACRO_FINAL_ARC


def test_macro_skip_bit_i_adds_the_input_of_layer_i_after_pooling():
    space = enas.macro(layers=6, channels=4, image_size=8)
    assert space.pool_layers == (1, 3)
    arch = tuple(Layer("avg_pool", (0,) * t) for t in range(6))
    arch = arch[:3] + (Layer("sep_conv_3x3", (1, 0, 1)),) + arch[4:]
    G = space.to_graph(arch)
    assert G.nodes["layer3"]["params"] == {"channels": 4, "kernel": 3, "separable": True}
    assert set(G.predecessors("layer3.sum")) == {"layer3", "pool1.from0", "pool1.from2"}  # stem, layer 1 (reduced)
    assert list(G.predecessors("layer3")) == ["layer2.sum"]
    assert "layer0.sum" not in G and list(G.predecessors("layer1.sum")) == ["layer1"]  # BN even without skips
    assert "pool1.from1" not in G and "pool3.from0" not in G  # reductions nobody reads are pruned
    assert G.nodes["head"]["params"] == {"num_classes": 10, "relu": False}
    runs(G)


def test_macro_parameter_count_by_hand():
    space = enas.macro(layers=2, channels=4, image_size=8)  # layers // 3 = 0: no pooling
    G = space.to_graph((Layer("conv_3x3", ()), Layer("max_pool", (1,))))
    stem = 3 * 3 * 3 * 4 + 8
    conv_branch = 4 * 4 + 8 + 9 * 4 * 4 + 8
    pool_branch = 4 * 4 + 8
    assert wiring.cost(G).params == stem + conv_branch + pool_branch + 8 + 4 * 10  # + sum BN + fc without bias
    assert set(G.predecessors("layer1.sum")) == {"layer1", "stem"}


def test_macro_supernet_gates_every_skip_with_a_select():
    space = enas.macro(layers=4, channels=4, image_size=8)
    G = space.supernet()
    assert [G.nodes["layer2"]["params"]["candidates"][k]["op"] for k in (0, 4)] == ["enas_conv", "enas_pool"]
    assert G.nodes["layer2.skip1"] == {"op": "select", "params": {"key": "skip", "index": 2, "decision": "layer2.skip1"}}
    assert [u for u, _, _ in sorted(G.in_edges("layer2.skip1", data="slot"), key=lambda e: e[2])] == [
        "pool1.from1.zero", "pool1.from1"]
    assert alpha_shapes(wiring.compile(G)) == {"op": (4, 6), "skip": (6, 2)}


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("call,message", [
    (lambda: enas.space(kind="mezzo"), "kind must be one of"),
    (lambda: enas.micro(layers=0), "layers must be an int >= 1, got layers=0"),
    (lambda: enas.micro(channels="8"), "channels=\'8\'"),
    (lambda: enas.micro(network="final"), "network must be one of"),
    (lambda: enas.micro(depth=3), "unknown option 'depth'"),
    (lambda: enas.macro(nodes=3), "unknown option 'nodes'"),
    (lambda: enas.macro(channels=5), "channels must be even"),
    (lambda: enas.micro(constraint=3), "constraint must be a spaces.Constraint"),
])
def test_bad_options(call, message):
    with pytest.raises(SpaceError, match=message):
        call()


def test_macro_odd_channels_are_fine_without_pooling():
    assert enas.macro(layers=2, channels=5).pool_layers == ()


@pytest.mark.parametrize("kind,text,message", [
    ("micro", "0 0 1 1", "holds 40 integers, got 4"),
    ("micro", "0 0 1 x" + " 0" * 36, r"token 3 \('x'\)"),
    ("micro", "2 0 1 1" + " 0" * 36, "token 0 .*normal node 0 input_a must be in 0..1"),
    ("micro", "0 0 1 5" + " 0" * 36, "token 3 .*normal node 0 op_b must be in 0..4"),
    ("micro", " ".join(["0"] * 24 + ["3"] + ["0"] * 15), "token 24 .*reduce node 1 input_a must be in 0..2"),
    ("micro", "0 0 1 -1" + " 0" * 36, r"token 3 \('-1'\)"),
    ("macro", "0 0 0", "holds 10 integers, got 3"),
    ("macro", "6 0 0 0 0 0 0 0 0 0", "token 0 .*layer0.op must be in 0..5"),
    ("macro", "0 0 2 0 0 0 0 0 0 0", "token 2 .*layer1.skip0 must be in 0..1"),
])
def test_decode_errors_name_the_token(kind, text, message):
    with pytest.raises(SpaceError, match=message):
        small(kind).decode(text)
    with pytest.raises(SpaceError, match="is a string"):
        small(kind).decode(None)


def test_malformed_architectures_are_refused_by_name():
    micro, macro = small("micro"), small("macro")
    arch = micro.sample(random.Random(0))
    bad = arch._replace(normal=(arch.normal[0]._replace(op_a="conv"),) + arch.normal[1:])
    with pytest.raises(SpaceError, match="'normal.node0.op_a' must be one of"):
        micro.to_graph(bad)
    with pytest.raises(SpaceError, match="'normal.node0.input_b' must be one of"):
        micro.encode(arch._replace(normal=(arch.normal[0]._replace(input_b=2),) + arch.normal[1:]))
    with pytest.raises(SpaceError, match="MicroArch"):
        micro.to_graph("0 0 1 1")
    with pytest.raises(SpaceError, match="reduce cell must be a tuple of 5"):
        micro.mutate(arch._replace(reduce=arch.reduce[:4]), random.Random(0))
    layers = macro.sample(random.Random(0))
    with pytest.raises(SpaceError, match="'layer1.skip0' must be one of"):
        macro.to_graph(layers[:1] + (Layer(layers[1].op, (True,)),) + layers[2:])
    with pytest.raises(SpaceError, match="layer 2 must be Layer"):
        macro.to_decisions(layers[:2] + (Layer("conv_3x3", (0,)),) + layers[3:])
    with pytest.raises(SpaceError, match="expected 10 decision indices"):
        macro.from_decisions([0] * 9)
    with pytest.raises(SpaceError, match="'layer0.op' takes an index in 0..5, got 6"):
        macro.from_decisions([6] + [0] * 9)


def test_derive_refuses_a_model_that_is_not_this_supernet():
    space = small("macro")
    discrete = wiring.compile(space.to_graph(space.sample(random.Random(0))))
    with pytest.raises(SpaceError, match="α 'alphas.op' of shape"):
        space.derive(discrete)
    other = wiring.compile(enas.macro(layers=3, channels=4, image_size=8).supernet())
    with pytest.raises(SpaceError, match=r"α 'alphas.op' of shape \(4, 6\), found \(3, 6\)"):
        space.derive(other)


def test_graphs_record_their_provenance():
    space = small("micro")
    arch = space.sample(random.Random(0))
    G = space.to_graph(arch)
    assert G.graph["schema"] == wiring.SCHEMA_VERSION
    assert G.graph["space"]["name"] == "enas" and G.graph["space"]["params"]["kind"] == "micro"
    assert space.decode(G.graph["space"]["encoding"]) == arch
    assert nx.is_directed_acyclic_graph(G) and space.supernet().graph["space"]["supernet"]
