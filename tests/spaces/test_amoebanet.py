"""The AmoebaNet space (docs/papers.md §6): its op set, AmoebaNet-A as a member, and the paper's mutations."""

from __future__ import annotations

import random
from collections import Counter

import pytest

import wiring
from spaces import SpaceError, amoebanet, nasnet
from spaces.darts import GENOTYPES, network
from spaces.nasnet import OP_SETS, Block, Cells

AMOEBANET_A = (
    "normal:[(0,avg_pool_3x3,1,max_pool_3x3,add),(0,sep_conv_3x3,2,sep_conv_5x5,add),"
    "(0,sep_conv_3x3,3,avg_pool_3x3,add),(1,sep_conv_3x3,1,skip_connect,add),(0,skip_connect,1,avg_pool_3x3,add)];"
    "reduce:[(0,avg_pool_3x3,1,sep_conv_3x3,add),(0,max_pool_3x3,2,sep_conv_7x7,add),"
    "(0,sep_conv_7x7,1,avg_pool_3x3,add),(0,max_pool_3x3,1,max_pool_3x3,add),(0,conv_7x1_1x7,5,sep_conv_3x3,add)]"
)


def small():
    return amoebanet.space(**amoebanet.SMALL)


def changes(a: Cells, b: Cells) -> list[tuple[int, int, str]]:
    """(cell, block, field) of every field that differs."""
    return [(c, i, field) for c in range(2) for i, (x, y) in enumerate(zip(a[c], b[c]))
            for field in Block._fields if getattr(x, field) != getattr(y, field)]


def test_op_set_is_the_papers():
    space = small()
    assert space.ops == ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "avg_pool_3x3",
                         "max_pool_3x3", "dil_conv_3x3", "conv_7x1_1x7")
    assert set(space.ops) == set(OP_SETS["pnas"]) and space.combinations == ("add",)
    assert space.size() == nasnet.space().size() and len(space.decisions()) == 40
    with pytest.raises(SpaceError, match="'conv_1x1'"):
        space.decode(AMOEBANET_A.replace("max_pool_3x3", "conv_1x1", 1))


def test_amoebanet_a_is_a_member_with_the_darts_network_parameter_count():
    space = amoebanet.space()  # AmoebaNet-A on CIFAR-10: N = 6, F = 36
    arch = space.from_genotype(GENOTYPES["AmoebaNet"])
    assert space.encode(arch) == AMOEBANET_A and space.decode(AMOEBANET_A) == arch
    G, D = space.to_graph(arch), network(GENOTYPES["AmoebaNet"], channels=36, layers=20)
    assert wiring.cost(G).params == wiring.cost(D).params == 3_145_078  # the paper: 3.2M
    assert wiring.graph_hash(G) == wiring.graph_hash(D)
    assert G.graph["space"]["name"] == "amoebanet"


def test_hidden_state_mutation_rewires_one_input_to_an_earlier_state():
    space, rng = small(), random.Random(0)
    arch = space.decode(AMOEBANET_A)
    hit = set()
    for _ in range(200):
        mutant = space.mutate_with(arch, rng, "hidden_state")
        [(c, b, field)] = changes(arch, mutant)
        assert field in ("in1", "in2")
        assert 0 <= getattr(mutant[c][b], field) <= 1 + b
        space.check(mutant)
        hit.add((c, b, field))
    assert len(hit) == 2 * 5 * 2  # every cell, block and element can be picked


def test_op_mutation_replaces_one_op_by_another():
    space, rng = small(), random.Random(1)
    arch = space.decode(AMOEBANET_A)
    new_ops = Counter()
    for _ in range(300):
        mutant = space.mutate_with(arch, rng, "op")
        [(c, b, field)] = changes(arch, mutant)
        assert field in ("op1", "op2")
        new_ops[getattr(mutant[c][b], field)] += 1
    assert set(new_ops) == set(space.ops)


def test_mutate_draws_the_three_kinds_and_identity_keeps_the_arch():
    space, rng = small(), random.Random(2)
    arch = space.decode(AMOEBANET_A)
    assert space.mutate_with(arch, rng, "identity") is arch
    kinds = Counter()
    for _ in range(300):
        found = changes(arch, space.mutate(arch, rng))
        kinds["identity" if not found else "op" if found[0][2].startswith("op") else "hidden_state"] += 1
    assert set(kinds) == set(amoebanet.MUTATIONS) and min(kinds.values()) > 60  # about 100 each


def test_mutation_errors():
    space, rng = small(), random.Random(0)
    arch = space.decode(AMOEBANET_A)
    with pytest.raises(SpaceError, match="unknown mutation kind 'crossover'"):
        space.mutate_with(arch, rng, "crossover")
    with pytest.raises(SpaceError, match="rng must be a random.Random"):
        space.mutate_with(arch, 0, "op")
    with pytest.raises(SpaceError, match="normal block 0: in1 must be a state in 0..1"):
        space.mutate_with(arch._replace(normal=(arch.normal[0]._replace(in1=4), *arch.normal[1:])), rng, "op")


def test_bad_options_name_option_and_value():
    with pytest.raises(SpaceError, match="filters must be a positive int, got filters=0"):
        amoebanet.space(filters=0)
    with pytest.raises(SpaceError, match="image_size must be a multiple of 4.*image_size=18"):
        amoebanet.space(image_size=18)
