"""spaces.darts and ops.darts: DARTS (Liu et al. 2019) as the reference code quark0/darts defines it.

Reference numbers were computed with the reference code's own ``model.py`` /
``model_search.py`` (``utils.count_parameters_in_MB``, which skips the
auxiliary head), on the CPU.
"""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ops
import wiring
from wiring import supernet
from ops.darts_modules import DropPath
from spaces import Constraint, SpaceError, darts
from spaces.darts import GENOTYPES, OPS, PRIMITIVES, Genotype, network
from wiring.analysis import analyse

# (CIFAR-10: 20 cells, C=36; ImageNet mobile: 14 cells, C=48, 1000 classes) parameters, auxiliary head excluded
REFERENCE_PARAMS = {
    "DARTS_V1": (3_169_414, 4_510_432),
    "DARTS_V2": (3_349_342, 4_718_752),
    "NASNet": (3_830_950, 5_564_320),
    "AmoebaNet": (3_145_078, 4_627_360),
}
IMAGENET = {"channels": 48, "layers": 14, "num_classes": 1000, "dataset": "imagenet"}
V2 = GENOTYPES["DARTS_V2"]
V2_TEXT = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
           "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
           "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
           "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
           "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def small_space(**options):
    return darts.space(**{**darts.SMALL, **options})


def build(name, params, shape):
    spec = ops.get(name)
    p = spec.resolve(params)
    return spec.build([shape], spec.shape([shape], p), p)


# -- published and reference parameter counts ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS))
def test_parameter_counts_equal_the_reference_code(name):
    cifar, imagenet = REFERENCE_PARAMS[name]
    assert wiring.cost(network(GENOTYPES[name])).params == cifar
    assert wiring.cost(network(GENOTYPES[name], **IMAGENET)).params == imagenet


def test_published_sizes_of_darts_v2():
    assert round(wiring.cost(network(V2)).params / 1e6, 1) == 3.3  # CIFAR-10, paper: 3.3M
    assert round(wiring.cost(network(V2, **IMAGENET)).params / 1e6, 1) == 4.7  # ImageNet mobile, paper: 4.7M


def test_auxiliary_heads_match_the_reference_and_are_extra():
    assert wiring.cost(network(V2, auxiliary=True)).params - 3_349_342 == 476_426
    assert wiring.cost(network(V2, auxiliary=True, **IMAGENET)).params - 4_718_752 == 1_260_776


def test_search_network_parameters_equal_the_reference_plus_shared_alphas():
    # model_search.Network(16, 10, 8): 1,930,618 weights; α: two (14, 8) matrices shared by all cells of a type
    assert wiring.cost(darts.space().supernet()).params == 1_930_618 + 2 * 14 * 8
    assert wiring.cost(small_space().supernet()).params == 394_210 + 2 * 14 * 8


# -- ops -------------------------------------------------------------------------------------------------------


def test_sep_conv_is_two_separable_blocks_with_the_stride_on_the_first():
    m = build("sep_conv_5x5", {"stride": 2}, (6, 8, 8))
    first, second = m
    assert [type(x).__name__ for x in first] == ["ReLU", "Conv2d", "Conv2d", "BatchNorm2d"]
    assert (first[1].stride, first[1].groups, first[1].kernel_size, first[1].padding) == ((2, 2), 6, (5, 5), (2, 2))
    assert (second[1].stride, second[2].kernel_size) == ((1, 1), (1, 1))
    assert sum(p.numel() for p in m.parameters()) == 2 * (6 * 25 + 6 * 6 + 2 * 6)
    assert m(torch.randn(1, 6, 8, 8)).shape == (1, 6, 4, 4)


def test_dil_conv_and_conv_7x1_1x7():
    dil = build("dil_conv_5x5", {"stride": 2, "affine": False}, (4, 8, 8))
    assert (dil[1].dilation, dil[1].padding, dil[1].stride) == ((2, 2), (4, 4), (2, 2))
    assert not dil[3].affine and sum(p.numel() for p in dil.parameters()) == 4 * 25 + 4 * 4
    conv = build("conv_7x1_1x7", {"stride": 2}, (4, 8, 8))
    assert (conv[1].kernel_size, conv[1].stride, conv[2].kernel_size, conv[2].stride) == ((1, 7), (1, 2), (7, 1),
                                                                                          (2, 1))


def test_factorized_reduce_shifts_the_second_half():
    m = build("factorized_reduce", {"channels": 6}, (4, 8, 8)).eval()
    assert sum(p.numel() for p in m.parameters()) == 2 * 4 * 3 + 2 * 6
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        y = m(x)
        r = x.relu()
        expected = torch.cat([m.conv_1(r), torch.nn.functional.conv2d(r[:, :, 1::2, 1::2], m.conv_2.weight)], 1)
        assert torch.allclose(y, m.bn(expected))
    assert y.shape == (2, 6, 4, 4)
    skip = build("skip_connect", {"stride": 2}, (4, 8, 8))
    assert type(skip).__name__ == "FactorizedReduce" and type(build("skip_connect", {}, (4, 8, 8))).__name__ == \
        "Identity"


@pytest.mark.parametrize(("name", "params", "shape", "text"), [
    ("skip_connect", {"stride": 2}, (3, 8, 8), "even channel count"),
    ("skip_connect", {"stride": 2}, (4, 7, 8), "even height and width"),
    ("factorized_reduce", {"channels": 5}, (4, 8, 8), "'channels' must be even"),
    ("aux_head", {"num_classes": 10}, (4, 16, 16), "8, 9, 10 pixels"),
    ("sep_conv_3x3", {}, (4,), "image inputs"),
])
def test_op_errors(name, params, shape, text):
    spec = ops.get(name)
    with pytest.raises(ops.OpError, match=text):
        spec.shape([shape], spec.resolve(params))


def test_stride_is_one_or_two():
    with pytest.raises(ops.OpError, match="param 'stride' must be one of \\[1, 2\\], got 3"):
        ops.get("sep_conv_3x3").resolve({"stride": 3})


def test_pools_do_not_count_padding_and_add_a_plain_bn_in_search_mode():
    x = torch.ones(1, 2, 4, 4)
    assert torch.equal(build("avg_pool_3x3", {}, (2, 4, 4))(x), x)  # corners average 4 ones, not 4/9
    pool = build("max_pool_3x3", {"stride": 2, "bn": True}, (2, 4, 4))
    assert isinstance(pool[1], torch.nn.BatchNorm2d) and not pool[1].affine
    assert "affine" not in ops.get("max_pool_3x3").params


def test_none_is_zeros_sub_sampled():
    spec = ops.get("none")
    x = torch.randn(1, 2, 5, 5)
    y = spec.function(x, **spec.resolve({"stride": 2}))
    assert y.shape == (1, 2, 3, 3) and not y.any()


def test_drop_path_module():
    m, x = DropPath(0.5), torch.ones(400, 2, 3, 3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        y = m(x)
    kept = y.flatten(1).amax(1)
    assert set(kept.unique().tolist()) == {0.0, 2.0} and torch.equal(y, kept.view(-1, 1, 1, 1).expand_as(y))
    assert 150 < int((kept == 0).sum()) < 250
    assert torch.equal(m.eval()(x), x) and torch.equal(DropPath(0.0)(x), x)


# -- networks ----------------------------------------------------------------------------------------------------


def test_cifar_network_layout():
    A = analyse(network(V2))
    reductions = [i for i in range(20) if A.nodes[f"cell{i}"].out_shape[1] < A.nodes[f"cell{i}"].in_shapes[-1][1]]
    assert reductions == [6, 13]
    assert A.nodes["stem"].out_shape == (108, 32, 32)
    assert [A.nodes[f"cell{i}"].out_shape for i in (5, 6, 13, 19)] == [(144, 32, 32), (288, 16, 16), (576, 8, 8),
                                                                       (576, 8, 8)]
    assert A.nodes["cell0"].inputs == ["stem"] and A.nodes["cell1"].inputs == ["stem", "cell0"]
    cell7 = A.nodes["cell7"].sub  # after a reduction: s0 through FactorizedReduce
    assert cell7.nodes["pre0"].spec.name == "factorized_reduce" and cell7.nodes["pre1"].spec.name == "relu_conv_bn"
    strides = {label: info.params.get("stride") for label, info in A.nodes["cell6"].sub.nodes.items()
               if label.startswith("node")}
    assert strides["node2_op0"] == 2 and strides["node3_op0"] == 1  # max_pool from s0 vs skip_connect from node 2


def test_imagenet_network_layout():
    A = analyse(network(V2, **IMAGENET))
    assert [A.nodes[n].out_shape for n in ("stem0_conv1", "stem0_conv2", "stem1")] == [(24, 112, 112),
                                                                                        (48, 56, 56), (48, 28, 28)]
    assert A.nodes["cell0"].inputs == ["stem0_conv2", "stem1"]
    assert A.nodes["cell0"].sub.nodes["pre0"].spec.name == "factorized_reduce"
    assert A.nodes["cell13"].out_shape == (768, 7, 7)  # the reference's 7×7 average pool is global here


def test_network_compiles_counts_and_returns_auxiliary_logits():
    G = network(V2, channels=4, layers=3, auxiliary=True)
    assert G.graph["space"]["encoding"] == V2_TEXT
    model = wiring.compile(G, seed=0)
    assert wiring.cost(G).params == sum(p.numel() for p in model.parameters())
    logits, aux = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    assert analyse(G).nodes["aux"].inputs == ["cell2"]  # after cell 2·layers//3


def test_drop_path_nodes_follow_every_non_identity_op():
    G = network(V2, channels=4, layers=3, drop_path=True)
    normal, reduce = (G.nodes[c]["params"]["graph"] for c in ("cell0", "cell1"))
    drops = {cell: sorted(n for n, d in g.nodes(data=True) if d["op"] == "drop_path") for cell, g in
             (("normal", normal), ("reduce", reduce))}
    # normal: 5 sep_conv + 1 dil_conv (the two stride-1 skip_connects are identities); reduce: 5 max pools
    assert len(drops["normal"]) == 6 and "node4_drop1" not in drops["normal"]
    assert len(drops["reduce"]) == 5
    assert wiring.cost(G).params == wiring.cost(network(V2, channels=4, layers=3)).params


def test_cells_prune_what_is_dead():
    g = Genotype(normal=[("sep_conv_3x3", 1), ("skip_connect", 1), ("max_pool_3x3", 1), ("avg_pool_3x3", 2)],
                 normal_concat=[3], reduce=V2.reduce, reduce_concat=range(2, 6))
    G = network(g, channels=4, layers=5)
    cell = G.nodes["cell2"]["params"]["graph"]  # a normal cell after a reduction that never reads s0
    assert "pre0" not in cell and [n for n, d in cell.nodes(data=True) if d["op"] == "input"] == ["in0"]
    assert list(G.predecessors("cell2")) == ["cell1"]
    model = wiring.compile(G, seed=0)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"dataset": "mnist"}, "unknown dataset 'mnist'"),
    ({"channels": 0}, "channels=0"),
    ({"layers": True}, "layers=True"),
    ({"image_size": 30}, "image_size=30: reduction cell 13 gets a 15×15 input"),
    ({"dataset": "imagenet", "channels": 47}, "even channel count"),
    ({"auxiliary": True, "image_size": 16}, "auxiliary head needs a 8–10 pixel input after cell 13"),
    ({"auxiliary": 1}, "auxiliary=1"),
])
def test_network_option_errors(kwargs, text):
    with pytest.raises(SpaceError, match=text):
        network(V2, **kwargs)


# -- genotype strings ------------------------------------------------------------------------------------------


def test_primitives_and_genotype_fields():
    assert PRIMITIVES == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                          "dil_conv_3x3", "dil_conv_5x5")
    assert Genotype._fields == ("normal", "normal_concat", "reduce", "reduce_concat") and OPS == PRIMITIVES[1:]
    assert [len(GENOTYPES[n].normal) for n in ("DARTS_V1", "DARTS_V2", "NASNet", "AmoebaNet")] == [8, 8, 10, 10]


def test_format_is_the_reference_repr_and_parse_reads_ranges():
    assert darts.format_genotype(V2) == V2_TEXT
    listed = Genotype(**{k: list(v) for k, v in V2._asdict().items()})
    assert repr(listed) == V2_TEXT and darts.parse_genotype(V2_TEXT) == V2 == darts.freeze(listed)
    ranged = V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert darts.parse_genotype(ranged) == V2
    for name, g in GENOTYPES.items():
        assert darts.parse_genotype(darts.format_genotype(g)) == g, name


@pytest.mark.parametrize(("text", "needle"), [
    ("certainly not an architecture", "not a genotype string"),
    ("__import__('os').system('true')", "reads 'Genotype(normal=..., ...)', got \"__import__('os')"),
    ("Genotype(normal=[], normal_concat=[2], reduce=[], reduce_concat=[2], extra=1)", "field 'extra'"),
    ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2])", "missing field 'reduce'"),
    (V2_TEXT.replace("('sep_conv_3x3', 0)", "('sep_conv_9x9', 0)", 1), "unknown op 'sep_conv_9x9'"),
    (V2_TEXT.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "input must be a state index in 0..4, got 5"),
    (V2_TEXT.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', -1)"), "got '-1'"),
    (V2_TEXT.replace("('dil_conv_3x3', 2)", "(dil_conv_3x3, 2)"), "op name in quotes, got 'dil_conv_3x3'"),
    (V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 6]"), "state indices lie in 0..5, got 6"),
    (V2_TEXT.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=sorted([2])"), "expected a list, got 'sorted([2])'"),
])
def test_parse_errors_name_the_culprit(text, needle):
    with pytest.raises(SpaceError) as info:
        darts.parse_genotype(text)
    assert needle in str(info.value)


# -- the space -------------------------------------------------------------------------------------------------


def test_space_members_are_canonical_and_decode_canonicalises():
    space = small_space()
    member = space.decode(V2_TEXT)
    assert member.normal[8 - 4:] == (("skip_connect", 0), ("sep_conv_3x3", 1), ("skip_connect", 0),
                                     ("dil_conv_3x3", 2))  # node 4's pairs now by input
    assert space.decode(space.encode(V2)) == member == space.canonical(V2)
    assert wiring.graph_hash(space.to_graph(V2)) == wiring.graph_hash(space.to_graph(member))


@pytest.mark.parametrize(("genotype", "text"), [
    (GENOTYPES["NASNet"], "must have 4 nodes"),
    (V2._replace(normal_concat=(2, 3, 4)), "normal_concat must be [2, 3, 4, 5]"),
    (V2._replace(reduce=(("none", 0), *V2.reduce[1:])), "op 'none' is not in the space's ops"),
    (V2._replace(normal=(("sep_conv_3x3", 1), *V2.normal[1:])), "normal node 2 reads state 1 twice"),
    ("DARTS_V2", "a genotype is Genotype("),
])
def test_space_refuses_non_members(genotype, text):
    with pytest.raises(SpaceError) as info:
        small_space().encode(genotype)
    assert text in str(info.value)


def test_size_and_lazy_enumeration():
    assert darts.space().size() == (1 * 3 * 6 * 10 * 7 ** 8) ** 2  # ≈ 1.08e18, the paper's 10^18
    assert 1e18 < darts.space().size() < 1.1e18
    one = small_space(nodes=1)
    archs = list(one.enumerate())
    assert len(archs) == len(set(archs)) == one.size() == 49 ** 2
    assert all(one.canonical(a) == a for a in archs[:50])
    first = next(darts.space().enumerate())
    assert first.normal == first.reduce == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4


def test_sample_draws_two_distinct_inputs_and_no_none():
    space, rng = small_space(), random.Random(0)
    for _ in range(20):
        g = space.sample(rng)
        for pairs in (g.normal, g.reduce):
            assert len(pairs) == 8 and all(op in OPS for op, _ in pairs)
            for k in range(4):
                (_, a), (_, b) = pairs[2 * k:2 * k + 2]
                assert a < b < 2 + k


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_mutation_changes_exactly_one_op_or_one_input(seed):
    space, rng = small_space(), random.Random(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    changed = [(cell, k) for cell in ("normal", "reduce") for k in range(4)
               if getattr(arch, cell)[2 * k:2 * k + 2] != getattr(child, cell)[2 * k:2 * k + 2]]
    assert len(changed) == 1
    cell, k = changed[0]
    before, after = getattr(arch, cell)[2 * k:2 * k + 2], getattr(child, cell)[2 * k:2 * k + 2]
    assert len(set(before) - set(after)) == 1 and len(set(after) - set(before)) == 1
    (op0, i0), = set(before) - set(after)
    (op1, i1), = set(after) - set(before)
    assert (op0 == op1) != (i0 == i1)  # an op mutation or a hidden-state mutation, not both


def test_crossover_takes_each_node_from_a_parent():
    space, rng = small_space(), random.Random(3)
    a, b = space.sample(rng), space.sample(rng)
    child = space.crossover(a, b, rng)
    for cell in ("normal", "reduce"):
        for k in range(4):
            node = getattr(child, cell)[2 * k:2 * k + 2]
            assert node in (getattr(a, cell)[2 * k:2 * k + 2], getattr(b, cell)[2 * k:2 * k + 2])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_decision_sequence_is_a_member(data):
    space = small_space()
    indices = [data.draw(st.integers(0, len(d.choices) - 1)) for d in space.decisions()]
    arch = space.from_decisions(indices)
    assert space.canonical(arch) == arch
    assert space.from_decisions(space.to_decisions(arch)) == arch


def test_decisions_per_node():
    decisions = small_space().decisions()
    assert len(decisions) == 2 * 4 * 4
    assert [d.name for d in decisions[:4]] == ["normal.node2.input1", "normal.node2.op1", "normal.node2.input2",
                                               "normal.node2.op2"]
    assert decisions[12].choices == (0, 1, 2, 3, 4) and decisions[14].choices == (0, 1, 2, 3)
    assert small_space().to_decisions(V2)[:12] == [0, 3, 0, 3,  # node 2: sep_conv_3x3 from 0 and from 1 (rank 0)
                                                   0, 3, 0, 3,  # node 3: the same (1 is the first state other than 0)
                                                   0, 2, 0, 3]  # node 4: skip_connect from 0, sep_conv_3x3 from 1
    with pytest.raises(SpaceError, match="'normal.node2.input1' takes an index in 0..1, got 2"):
        small_space().from_decisions([2] + [0] * 31)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"layers": 2}, "layers must be an int >= 3"),
    ({"nodes": 0}, "nodes=0"),
    ({"image_size": 14}, "image_size=14: reduction cell 3 gets a 7×7 input"),
    ({"constraint": {"max_params": 1}}, "constraint must be a spaces.Constraint"),
])
def test_space_option_errors(kwargs, text):
    with pytest.raises(SpaceError, match=text):
        small_space(**kwargs)


def test_constraint_filters_by_static_cost():
    limit = wiring.cost(small_space().to_graph(small_space().sample(random.Random(0)))).params
    space, rng = small_space(constraint=Constraint(max_params=limit)), random.Random(1)
    assert all(wiring.cost(space.to_graph(space.sample(rng))).params <= limit for _ in range(5))


# -- supernet and derivation -----------------------------------------------------------------------------------


def test_supernet_cells_hold_14_shared_choices_over_the_primitives():
    G = small_space().supernet()
    cells = [G.nodes[f"cell{i}"]["params"]["graph"] for i in range(5)]
    for i, cell in enumerate(cells):
        reduction = i in (1, 3)
        choices = {n: d["params"] for n, d in cell.nodes(data=True) if d["op"] == "choice"}
        assert len(choices) == 14
        assert {p["key"] for p in choices.values()} == {"reduce" if reduction else "normal"}
        assert sorted(p["index"] for p in choices.values()) == list(range(14))
        assert choices["edge0_2"]["index"] == 0 and choices["edge2_3"]["index"] == 4  # rows in the reference order
        for label, p in choices.items():
            assert [c["op"] for c in p["candidates"]] == list(PRIMITIVES)
            stride = 2 if reduction and label.startswith(("edge0_", "edge1_")) else 1
            for c in p["candidates"]:
                assert c["params"].get("stride", 1) == stride
                assert c["params"].get("bn") is (True if "pool" in c["op"] else None)
                assert c["params"].get("affine") is (None if "pool" in c["op"] or c["op"] == "none" else False)
        assert cell.nodes["pre1"]["params"]["affine"] is False


def test_supernet_alpha_is_one_parameter_per_cell_type():
    model = wiring.compile(small_space().supernet(), seed=0)
    alphas = model.arch_parameters()
    assert [tuple(a.shape) for a in alphas] == [(14, 8), (14, 8)]
    assert 0 < float(alphas[0].detach().abs().max()) < 1e-2  # 1e-3·N(0, 1)
    module = {label: getattr(model, name) for name, label in model.node_names.items()}
    normal = [module[f"cell{i}"] for i in (0, 2, 4)]
    cells = {next(n for n, m in model.named_children() if m is c) for c in normal}
    for d in supernet.decisions(model):  # three normal cells, one α: each row is read once in every cell
        if d.key == "normal":
            assert {site.split(".")[0] for site in d.sites} == cells


def test_derive_applies_the_top2_rule():
    space = small_space()
    model = wiring.compile(space.supernet(), seed=0)
    alpha = {n.split(".")[-1]: p for n, p in model.named_parameters() if "alphas" in n}
    normal = torch.zeros(14, 8)
    normal[:, 0] = 10.0  # 'none' dominates every edge: ignored
    # node 2 (rows 0, 1): sep_conv_3x3 from 1, max_pool from 0
    normal[1, 4], normal[0, 1] = 3.0, 2.0
    # node 3 (rows 2-4): strongest edges 2 (dil_conv_5x5) and 0 (skip_connect); edge 1 weaker
    normal[4, 7], normal[2, 3], normal[3, 5] = 5.0, 4.0, 1.0
    # node 4 (rows 5-8): edges 3 and 1
    normal[8, 6], normal[6, 2] = 2.0, 1.5
    # node 5 (rows 9-13): edges 4 and 2
    normal[13, 5], normal[11, 4] = 2.0, 1.0
    with torch.no_grad():
        alpha["normal"].copy_(normal)
        alpha["reduce"].zero_()  # all ties: first edges (0, 1), first op other than none (max_pool_3x3)
    g = space.derive(model)
    assert g.normal == (("max_pool_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_5x5", 2),
                        ("avg_pool_3x3", 1), ("dil_conv_3x3", 3), ("sep_conv_3x3", 2), ("sep_conv_5x5", 4))
    assert g.reduce == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


def test_derive_needs_the_supernet():
    with pytest.raises(SpaceError, match="'alphas.normal' of shape \\(14, 8\\), found None"):
        small_space().derive(torch.nn.Linear(2, 2))
    other = wiring.compile(small_space(nodes=3).supernet(), seed=0)
    with pytest.raises(SpaceError, match="found \\(9, 8\\)"):
        small_space().derive(other)


def test_supernet_trains_alpha_and_weights_apart():
    model = wiring.compile(small_space().supernet(), seed=0)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in model.arch_parameters())
    assert sum(p.numel() for p in model.weight_parameters()) == 394_210


def test_networks_and_supernet_survive_json():
    for G in (network(GENOTYPES["AmoebaNet"], channels=4, layers=5, auxiliary=True, drop_path=True),
              small_space().supernet()):
        assert wiring.graph_hash(wiring.from_json(wiring.to_json(G))) == wiring.graph_hash(G)


def test_network_refuses_cells_that_never_read_the_previous_cell_with_a_clear_error():
    v2 = darts.GENOTYPES["DARTS_V2"]
    only_s0 = darts.Genotype(normal=[("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 0), ("sep_conv_3x3", 2),
                                     ("sep_conv_3x3", 0), ("sep_conv_3x3", 3), ("sep_conv_3x3", 0), ("sep_conv_3x3", 4)],
                             normal_concat=[2, 3, 4, 5], reduce=v2.reduce, reduce_concat=v2.reduce_concat)
    with pytest.raises(SpaceError, match="normal cell never reads the previous cell"):
        darts.network(only_s0, channels=8, layers=5, image_size=16)
