"""The NASNet space (docs/papers.md §3): op sets, counts, encoding, decisions, networks, supernet and derivation."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import ops
import wiring
from spaces import Constraint, SpaceError, nasnet
from spaces.darts import GENOTYPES, freeze, network
from spaces.nasnet import BLOCKS, OP_SETS, Block, Cells, cells_per_type, loose_ends
from wiring.analysis import analyse

SMALL = nasnet.SMALL
NASNET_ENCODING = (
    "normal:[(1,sep_conv_5x5,0,sep_conv_3x3,add),(0,sep_conv_5x5,0,sep_conv_3x3,add),"
    "(1,avg_pool_3x3,0,skip_connect,add),(0,avg_pool_3x3,0,avg_pool_3x3,add),(1,sep_conv_3x3,1,skip_connect,add)];"
    "reduce:[(1,sep_conv_5x5,0,sep_conv_7x7,add),(1,max_pool_3x3,0,sep_conv_7x7,add),"
    "(1,avg_pool_3x3,0,sep_conv_5x5,add),(3,skip_connect,2,avg_pool_3x3,add),(2,sep_conv_3x3,1,max_pool_3x3,add)]"
)


def small(**options):
    return nasnet.space(**{**SMALL, **options})


def params(G):
    return wiring.cost(G).params


def compiled_params(G):
    return sum(p.numel() for p in wiring.compile(G, seed=0).parameters())


def uniform_cells(in1, op1, in2, op2, comb="add"):
    return tuple(Block(in1, op1, in2, op2, comb) for _ in range(BLOCKS))


# -- op sets and counts -----------------------------------------------------------------


def test_op_sets_are_the_papers():
    assert OP_SETS["pnas"] == ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7", "skip_connect",
                               "avg_pool_3x3", "max_pool_3x3", "dil_conv_3x3")
    assert OP_SETS["nasnet"] == ("skip_connect", "conv_3x1_1x3", "conv_7x1_1x7", "dil_conv_3x3", "avg_pool_3x3",
                                 "max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3",
                                 "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7")
    assert set(OP_SETS["pnas"]) < set(OP_SETS["nasnet"])
    registered = set(ops.names())
    assert all(set(names) <= registered for names in OP_SETS.values())
    assert nasnet.COMBINATIONS == {"pnas": ("add",), "nasnet": ("add", "concat"), "amoebanet": ("add",)}


def test_new_ops_follow_their_definitions():
    c = 6
    factorised = ops.get("conv_3x1_1x3").build([(c, 8, 8)], (c, 4, 4), {"stride": 2, "affine": True})
    convs = [m for m in factorised.modules() if isinstance(m, nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(1, 3), (3, 1)] and [m.stride for m in convs] == [(1, 2), (2, 1)]
    assert isinstance(factorised[0], nn.ReLU) and isinstance(factorised[-1], nn.BatchNorm2d)
    for name, kernel in (("conv_1x1", 1), ("conv_3x3", 3)):
        spec = ops.get(name)
        p = spec.resolve({})
        assert spec.cost([(c, 8, 8)], (c, 8, 8), p).params == kernel * kernel * c * c + 2 * c
    x = torch.arange(2 * 7 * 7, dtype=torch.float).reshape(1, 2, 7, 7)
    pool = ops.get("max_pool_7x7").build([(2, 7, 7)], (2, 4, 4), {"stride": 2, "bn": False})
    assert torch.equal(pool(x), torch.nn.functional.max_pool2d(x, 7, 2, 3))


def test_odd_filters_build_and_cost_exactly():
    space = small(filters=3, image_size=8)
    G = space.to_graph(space.sample(random.Random(0)))
    assert params(G) == compiled_params(G)


def test_cells_per_type_is_about_ten_to_the_fourteen():
    per_cell = cells_per_type("pnas")
    assert per_cell == (2 * 3 * 4 * 5 * 6) ** 2 * 8 ** 10 == 556_627_761_561_600
    assert 5.5e14 < per_cell < 5.6e14  # PNAS: "5.6 × 10^14"; docs/papers.md §3: "about 10^14"
    assert cells_per_type("nasnet") == 720 ** 2 * 13 ** 10 * 2 ** 5
    assert small().size() == per_cell ** 2
    assert small(op_set="nasnet").size() == cells_per_type("nasnet") ** 2
    with pytest.raises(SpaceError, match="op_set must be one of"):
        cells_per_type("enas")


def test_enumerate_starts_with_the_first_choices():
    first = next(iter(small().enumerate()))
    assert first == Cells(uniform_cells(0, "sep_conv_3x3", 0, "sep_conv_3x3"),
                          uniform_cells(0, "sep_conv_3x3", 0, "sep_conv_3x3"))


# -- decisions ----------------------------------------------------------------------------


def test_decisions_follow_the_controller_order():
    decisions = small(op_set="nasnet").decisions()
    assert len(decisions) == 2 * BLOCKS * 5
    assert [d.name for d in decisions[:5]] == ["normal_b0_in1", "normal_b0_in2", "normal_b0_op1", "normal_b0_op2",
                                               "normal_b0_comb"]
    assert decisions[25].name == "reduce_b0_in1"
    assert [d.choices for d in decisions[15:17]] == [(0, 1, 2, 3, 4)] * 2
    assert decisions[4].choices == ("add", "concat")
    assert len(small().decisions()) == 2 * BLOCKS * 4  # no combination decision with a single combination


@given(st.data())
def test_decisions_and_encoding_round_trip(data):
    space = small(op_set=data.draw(st.sampled_from(["pnas", "nasnet"])))
    indices = [data.draw(st.integers(0, len(d.choices) - 1)) for d in space.decisions()]
    arch = space.from_decisions(indices)
    assert space.to_decisions(arch) == indices
    assert space.decode(space.encode(arch)) == arch


def test_from_decisions_errors():
    space = small()
    with pytest.raises(SpaceError, match="expected a sequence of 40 decision indices"):
        space.from_decisions([0] * 39)
    with pytest.raises(SpaceError, match=r"decision 'normal_b0_in1' takes an index in 0..1, got 2"):
        space.from_decisions([2] + [0] * 39)


# -- encoding -------------------------------------------------------------------------------


def test_encoding_of_the_nasnet_a_genotype():
    space = small()
    arch = space.from_genotype(GENOTYPES["NASNet"])
    assert space.encode(arch) == NASNET_ENCODING
    assert space.decode(NASNET_ENCODING.replace(",", ", ").replace(";", "; ")) == arch
    assert arch.normal[0] == Block(1, "sep_conv_5x5", 0, "sep_conv_3x3", "add")


@pytest.mark.parametrize("text,culprit", [
    ("certainly not an architecture", "normal:[...];reduce:[...]"),
    (NASNET_ENCODING.replace("sep_conv_5x5", "sep_conv_9x9", 1), "'sep_conv_9x9'"),
    (NASNET_ENCODING.replace("(1,sep_conv_5x5,0", "(2,sep_conv_5x5,0", 1),
     "normal block 0: in1 must be a state in 0..1"),
    (NASNET_ENCODING.replace("(1,sep_conv_5x5,0", "(01,sep_conv_5x5,0", 1), "'01'"),
    (NASNET_ENCODING.replace("skip_connect,add)]", "skip_connect,concat)]", 1), "'concat'"),
    (NASNET_ENCODING.replace("reduce:", "reduction:"), "bad token 'reduction:"),
    (NASNET_ENCODING.replace(",(1,sep_conv_3x3,1,skip_connect,add)]", "]"), "needs 5 blocks, got 4"),
    (NASNET_ENCODING.replace("(1,avg_pool_3x3,0,skip_connect,add)", "(1,avg_pool_3x3,0,skip_connect)"),
     "bad token '(1,avg_pool_3x3,0,skip_connect)'"),
])
def test_decode_errors_name_the_bad_token(text, culprit):
    with pytest.raises(SpaceError) as info:
        small().decode(text)
    assert culprit in str(info.value)


def test_decode_takes_only_strings_and_check_names_the_field():
    space = small()
    with pytest.raises(SpaceError, match="an encoding is a string"):
        space.decode(None)
    arch = space.decode(NASNET_ENCODING)
    bad = arch._replace(reduce=(*arch.reduce[:4], arch.reduce[4]._replace(op2="conv_1x1")))
    with pytest.raises(SpaceError, match="reduce block 4: op2 must be an op of the 'pnas' set"):
        space.encode(bad)
    wide = small(op_set="nasnet")
    assert wide.decode(wide.encode(bad).replace("conv_1x1,add)]", "conv_1x1,concat)]")).reduce[4].comb == "concat"


@pytest.mark.parametrize("option,value", [("repeats", 0), ("filters", -2), ("num_classes", True),
                                          ("image_size", 30), ("image_size", 2.0), ("op_set", "darts"),
                                          ("op_set", ["pnas"])])
def test_bad_options_name_option_and_value(option, value):
    with pytest.raises(SpaceError, match=f"{option}.*{value!r}"):
        nasnet.space(**{option: value})


# -- networks ---------------------------------------------------------------------------------


def test_the_network_is_the_darts_network_of_the_genotype():
    space = nasnet.space()  # NASNet-A CIFAR-10: N = 6, F = 32
    arch = space.from_genotype(GENOTYPES["NASNet"])
    assert freeze(space.to_genotype(arch)) == GENOTYPES["NASNet"]
    G, D = space.to_graph(arch), network(GENOTYPES["NASNet"], channels=32, layers=20)
    assert wiring.graph_hash(G) == wiring.graph_hash(D)
    assert params(G) == params(D) == 3_061_738
    assert G.graph["space"]["name"] == "nasnet" and G.graph["space"]["encoding"] == NASNET_ENCODING
    assert [G.nodes[f"cell{i}"]["params"]["graph"].graph.get("schema") for i in (6, 13)] == [1, 1]


def test_layout_reductions_and_loose_ends():
    space = small(repeats=2)
    arch = space.decode(NASNET_ENCODING)
    G = space.to_graph(arch)
    cells = [n for n in G if str(n).startswith("cell")]
    assert len(cells) == 3 * 2 + 2 == space.layers
    analysis = analyse(G)
    shapes = [analysis.nodes[f"cell{i}"].out_shape for i in range(space.layers)]
    # normal cells concat 5 loose ends of C channels, reduction cells 3 ([4, 5, 6]); C doubles at cells 2 and 5
    assert shapes == [(40, 16, 16)] * 2 + [(48, 8, 8)] + [(80, 8, 8)] * 2 + [(96, 4, 4)] + [(160, 4, 4)] * 2
    assert loose_ends(arch.reduce) == [4, 5, 6] and loose_ends(arch.normal) == [2, 3, 4, 5, 6]


def test_concatenation_projects_back_to_c():
    space = small(op_set="nasnet")
    add = Cells(uniform_cells(0, "conv_1x1", 1, "max_pool_5x5"), uniform_cells(1, "conv_3x1_1x3", 0, "conv_3x3"))
    concat = add._replace(normal=(add.normal[0]._replace(comb="concat"), *add.normal[1:]))
    G_add, G_cat = space.to_graph(add), space.to_graph(concat)
    inner = G_cat.nodes["cell0"]["params"]["graph"]
    assert inner.nodes["node2_concat"]["op"] == "concat" and inner.nodes["node2"]["op"] == "relu_conv_bn"
    assert sorted((u, d["slot"]) for u, _, d in inner.in_edges("node2_concat", data=True)) == [
        ("node2_op0", 0), ("node2_op1", 1)]
    # one ReLU-1×1 conv(2C -> C)-BN per normal cell: C = 8, 16, 32
    assert params(G_cat) - params(G_add) == sum(2 * c * c + 2 * c for c in (8, 16, 32))
    assert params(G_cat) == compiled_params(G_cat)
    with pytest.raises(SpaceError, match="normal cell concatenates"):
        space.to_genotype(concat)


def test_cells_that_skip_h_i_prune_the_dead_cells():
    space = small()
    arch = Cells(uniform_cells(0, "sep_conv_3x3", 0, "skip_connect"),
                 uniform_cells(1, "max_pool_3x3", 1, "sep_conv_3x3"))
    G = space.to_graph(arch)
    # every normal cell reads only h_{i-1}, every reduction cell only h_i: cells 1 and 3 feed nobody
    assert sorted(n for n in G if str(n).startswith("cell")) == ["cell0", "cell2", "cell4"]
    assert params(G) == compiled_params(G)
    model = wiring.compile(G, seed=0).eval()
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_from_genotype_errors():
    space = small()
    with pytest.raises(SpaceError, match="must list 10 \\(op, input\\) pairs"):
        space.from_genotype(GENOTYPES["DARTS_V2"])
    g = GENOTYPES["NASNet"]
    with pytest.raises(SpaceError, match=r"reduce_concat \[2, 3, 4, 5, 6\] is not the cell's loose ends \[4, 5, 6\]"):
        space.from_genotype(g._replace(reduce_concat=[2, 3, 4, 5, 6]))
    with pytest.raises(SpaceError, match="a genotype is Genotype"):
        space.from_genotype("Genotype(...)")


def test_constraint_filters_by_static_cost():
    limit = 60_000
    space = small(constraint=Constraint(max_params=limit))
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(4)]
    assert all(params(space.to_graph(a)) <= limit for a in archs)
    assert all(params(space.to_graph(space.mutate(a, rng))) <= limit for a in archs)


# -- variation --------------------------------------------------------------------------------


def test_mutation_changes_exactly_one_decision_and_crossover_mixes_blocks():
    space, rng = small(op_set="nasnet"), random.Random(3)
    for _ in range(20):
        a, b = space.sample(rng), space.sample(rng)
        mutant = space.mutate(a, rng)
        assert sum(x != y for x, y in zip(space.to_decisions(a), space.to_decisions(mutant))) == 1
        child = space.crossover(a, b, rng)
        for cell in range(2):
            assert all(blk in (a[cell][i], b[cell][i]) for i, blk in enumerate(child[cell]))


# -- supernet ------------------------------------------------------------------------------------


def test_supernet_alpha_keys_are_shared_per_cell_type():
    for op_set, comb in (("pnas", False), ("nasnet", True)):
        space = small(op_set=op_set)
        G = space.supernet()
        width = len(OP_SETS[op_set])
        expected = {f"{kind}_op": (10, width) for kind in ("normal", "reduce")}
        expected.update({f"{kind}_b{b}_in": (2, 2 + b) for kind in ("normal", "reduce") for b in range(BLOCKS)})
        if comb:
            expected.update({f"{kind}_comb": (5, 2) for kind in ("normal", "reduce")})
        assert analyse(G).alphas == expected
    cell = G.nodes["cell1"]["params"]["graph"]  # a reduction cell (layers 5: reductions at 1 and 3)
    choices = [n for n, d in cell.nodes(data=True) if d["op"] == "choice"]
    assert len(choices) == 2 * sum(2 + b for b in range(BLOCKS))  # one weight set per (block, slot, input)
    assert cell.nodes["node3_op1_from0"]["params"]["candidates"][0]["params"]["stride"] == 2
    assert cell.nodes["node3_op1_from2"]["params"]["candidates"][0]["params"]["stride"] == 1
    assert G.graph["space"]["name"] == "nasnet.supernet"


def test_derive_takes_the_argmax_of_every_alpha_row():
    space = small()
    model = wiring.compile(space.supernet(), seed=0)
    target = space.decode(NASNET_ENCODING)
    alphas = model.alphas_by_key()
    with torch.no_grad():
        for decision, index in zip(space.decisions(), space.to_decisions(target)):
            kind, block, field = decision.name.split("_")
            b, j = int(block[1:]), int(field[-1]) - 1
            key, row = (f"{kind}_{block}_in", j) if field.startswith("in") else (f"{kind}_op", 2 * b + j)
            alphas[key][row] = 0.0
            alphas[key][row, index] = 1.0
    assert space.derive(model) == target


def test_derive_reads_the_combination_and_refuses_foreign_models():
    space = small(op_set="nasnet")
    holder = wiring.compile(space.supernet(), seed=0)
    alphas = holder.alphas_by_key()
    with torch.no_grad():
        for a in alphas.values():
            a.zero_()
        alphas["reduce_comb"][3, 1] = 1.0
        alphas["normal_op"][9, 12] = 1.0
    arch = space.derive(holder)
    assert arch.reduce[3].comb == "concat" and arch.normal[4].op2 == "sep_conv_7x7"
    assert arch.normal[0] == Block(0, "skip_connect", 0, "skip_connect", "add")
    with pytest.raises(SpaceError, match="no α 'normal_b0_in'"):
        space.derive(nn.Linear(2, 2))
    with pytest.raises(SpaceError, match="no α 'normal_op' of width 8"):
        small().derive(holder)
