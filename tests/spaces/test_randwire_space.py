"""The RandWire space: generators (model, parameters, seed) as architectures."""

import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spaces
import wiring
from spaces import Constraint, SpaceError, randwire
from spaces.randwire import Generator

WS = Generator("ws", (("k", 4), ("p", 0.75)), 3)


@pytest.fixture(scope="module")
def small():
    return randwire.space(**randwire.SMALL)


def test_default_grids_defaults_and_size():
    space = randwire.space()
    assert space.grids == {
        "er": {"p": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)},
        "ba": {"m": (1, 2, 3, 4, 5, 6, 7, 8)},
        "ws": {"k": (2, 4, 6, 8), "p": (0.0, 0.25, 0.5, 0.75, 1.0)},
        "ws_flex": {"k": (2.0, 3.0, 4.0, 5.0, 6.0), "p": (0.0, 0.25, 0.5, 0.75, 1.0)},
    }
    # the paper's settings: ER P=0.2, BA M=5, WS K=4 P=0.75
    assert space.defaults == {"er": (("p", 0.2),), "ba": (("m", 5),), "ws": (("k", 4), ("p", 0.75)),
                              "ws_flex": (("k", 4.0), ("p", 0.75))}
    assert space.size() == 100 * (9 + 8 + 4 * 5 + 5 * 5)
    assert spaces.get("randwire").size() == space.size()


@pytest.mark.parametrize("options, grids, defaults", [
    ({"nodes": 5}, {"ba": (1, 2, 3, 4), "ws": (2, 4), "ws_flex": (2.0, 3.0, 4.0)}, {"ba": 4, "ws": 4, "ws_flex": 4.0}),
    ({"nodes": 3}, {"ba": (1, 2), "ws": (2,), "ws_flex": (2.0,)}, {"ba": 2, "ws": 2, "ws_flex": 2.0}),
    ({"regime": "regular", "nodes": 10}, {"ba": (1, 2, 3, 4), "ws": (2, 4), "ws_flex": (2.0, 3.0, 4.0)},
     {"ba": 4, "ws": 4, "ws_flex": 4.0}),  # conv2 has nodes // 2 = 5
])
def test_grids_drop_values_the_smallest_stage_refuses_and_defaults_move_to_the_nearest(options, grids, defaults):
    space = randwire.space(**options)
    assert {m: next(iter(space.grids[m].values())) for m in grids} == grids
    assert {m: space.defaults[m][0][1] for m in defaults} == defaults


def test_every_grid_value_builds_a_valid_network_at_the_smallest_node_count():
    space = randwire.space(regime="regular", channels=4, nodes=6, image_size=16, seeds=1)
    for arch in space.enumerate():
        wiring.validate(space.to_graph(arch))


def test_to_graph_is_the_regime_network_of_the_generator():
    space = randwire.space(regime="small", channels=78, nodes=32, num_classes=1000, image_size=224)
    arch = Generator("ws", (("k", 4), ("p", 0.75)), 0)
    G = space.to_graph(arch)
    assert wiring.graph_hash(G) == wiring.graph_hash(randwire.small(seed=0))  # the paper's small regime, WS(4, 0.75)
    assert G.graph["space"] == {"name": "randwire", "encoding": "ws(k=4,p=0.75)@seed=0", "regime": "small",
                                "channels": 78, "nodes": 32, "num_classes": 1000, "image_size": 224,
                                "in_channels": 3}
    conv3 = G.nodes["conv3"]["params"]["graph"].graph["generator"]
    assert conv3 == {"name": "watts_strogatz", "params": {"n": 32, "k": 4, "p": 0.75},
                     "seed": randwire.stage_seed(0, "conv3")}


def test_seed_changes_the_graph_except_for_deterministic_generators(small):
    hashes = {wiring.graph_hash(small.to_graph(WS._replace(seed=s))) for s in range(3)}
    assert len(hashes) == 3
    lattice = WS._replace(params=(("k", 4), ("p", 0.0)))  # WS with P=0 is the ring lattice: no randomness
    assert len({wiring.graph_hash(small.to_graph(lattice._replace(seed=s))) for s in range(3)}) == 1


def test_encode_format(small):
    assert small.encode(WS) == "ws(k=4,p=0.75)@seed=3"
    assert small.encode(Generator("er", (("p", 0.2),), 0)) == "er(p=0.2)@seed=0"
    assert small.encode(Generator("ba", (("m", 5),), 99)) == "ba(m=5)@seed=99"
    assert small.encode(Generator("ws_flex", (("k", 4.0), ("p", 0.0)), 1)) == "ws_flex(k=4.0,p=0.0)@seed=1"
    assert small.encode(Generator("ws", (("k", 4.0), ("p", 1)), 3)) == "ws(k=4,p=1.0)@seed=3"  # grid values


def test_decode_takes_equal_numbers_and_any_parameter_order(small):
    assert small.decode("ws(p=0.75,k=4.0)@seed=3") == WS
    arch = small.decode("ws_flex(k=4,p=1)@seed=0")
    assert arch == Generator("ws_flex", (("k", 4.0), ("p", 1.0)), 0) and isinstance(arch, Generator)


@pytest.mark.parametrize("text, culprit", [
    ("", "form"),
    ("ws(k=4,p=0.75)", "form"),
    ("ws(k=4,p=0.75)@seed=x", "form"),
    ("ws(k=4,p=0.75)@seed=100", "seed"),
    ("gnp(p=0.2)@seed=0", "'gnp'"),
    ("ws(k=5,p=0.75)@seed=0", "'k=5'"),
    ("ws(k=8,p=0.75)@seed=0", "'k=8'"),  # not below N=8
    ("ws(k=4)@seed=0", "['p']"),
    ("ws(k=4,k=4,p=0.75)@seed=0", "'k=4'"),
    ("ws(k=4,q=1,p=0.75)@seed=0", "'q=1'"),
    ("er(p=nan)@seed=0", "'p=nan'"),
    ("er(p=0.2,)@seed=0", "''"),
    ("er(0.2)@seed=0", "'0.2'"),
])
def test_decode_errors_name_the_bad_token(small, text, culprit):
    with pytest.raises(SpaceError, match="randwire") as error:
        small.decode(text)
    assert culprit in str(error.value)


def test_decode_of_a_non_string(small):
    with pytest.raises(SpaceError, match="string"):
        small.decode(42)


@pytest.mark.parametrize("options, culprit", [
    ({"regime": "tiny"}, "regime='tiny'"),
    ({"channels": 0}, "channels=0"),
    ({"channels": 1}, "channels=1"),
    ({"nodes": 2.5}, "nodes=2.5"),
    ({"nodes": 2}, "nodes=2"),
    ({"regime": "regular", "nodes": 5}, "nodes=5"),
    ({"seeds": 0}, "seeds=0"),
    ({"seeds": True}, "seeds=True"),
    ({"image_size": -1}, "image_size=-1"),
    ({"num_classes": None}, "num_classes=None"),
    ({"in_channels": "3"}, "in_channels='3'"),
    ({"models": ()}, "models=()"),
    ({"models": "er"}, "models='er'"),
    ({"models": ("er", "er")}, "models=('er', 'er')"),
    ({"models": ("gnp",)}, "models=('gnp',)"),
    ({"models": ([],)}, "models=([],)"),
    ({"constraint": {"max_params": 10}}, "constraint"),
])
def test_option_errors_name_the_option(options, culprit):
    with pytest.raises(SpaceError) as error:
        randwire.space(**options)
    assert culprit in str(error.value)


@pytest.mark.parametrize("arch, culprit", [
    ("ws(k=4,p=0.75)@seed=3", "Generator"),
    (("ws", (("k", 4), ("p", 0.75))), "Generator"),
    (("gnp", (("p", 0.2),), 0), "'gnp'"),
    (("ws", (("p", 0.75), ("k", 4)), 0), "in that order"),
    (("ws", (("k", 4),), 0), "in that order"),
    (("ws", [("k", 4), ("p", 0.75)], 0), "in that order"),
    (("ws", (("k", 3), ("p", 0.75)), 0), "k=3"),
    (("ba", (("m", True),), 0), "m=True"),
    (("ws", (("k", 4), ("p", 0.75)), -1), "seed=-1"),
    (("ws", (("k", 4), ("p", 0.75)), 1.0), "seed=1.0"),
])
def test_bad_architectures_are_refused_by_name(small, arch, culprit):
    for use in (small.to_graph, small.encode, small.to_decisions, lambda a: small.mutate(a, random.Random(0))):
        with pytest.raises(SpaceError) as error:
            use(arch)
        assert culprit in str(error.value)


@given(st.integers(0, 2**32))
def test_a_mutant_makes_one_move(seed):
    space, rng = randwire.space(**randwire.SMALL), random.Random(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert child != arch
    if child.model != arch.model:  # a new model starts from its paper defaults, same seed
        assert child == Generator(child.model, space.defaults[child.model], arch.seed)
    elif child.seed != arch.seed:
        assert child.params == arch.params
    else:
        changed = [(name, a, c) for (name, a), (_, c) in zip(arch.params, child.params) if a != c]
        assert len(changed) == 1
        name, a, c = changed[0]
        grid = space.grids[arch.model][name]
        assert abs(grid.index(a) - grid.index(c)) == 1  # a neighbour in its grid


def test_a_one_model_one_seed_space_still_mutates():
    space = randwire.space(nodes=3, seeds=1, models=("ws",))
    assert space.mutate(Generator("ws", (("k", 2), ("p", 0.0)), 0), random.Random(0)) == \
        Generator("ws", (("k", 2), ("p", 0.25)), 0)
    ba = randwire.space(nodes=3, seeds=1, models=("ba",))  # the smallest grid: m in {1, 2}
    assert ba.mutate(Generator("ba", (("m", 1),), 0), random.Random(0)) == Generator("ba", (("m", 2),), 0)


@given(st.integers(0, 2**32))
def test_crossover_takes_the_model_from_a_parent_and_mixes_only_within_one_model(seed):
    space, rng = randwire.space(**randwire.SMALL, models=("ws", "ws_flex")), random.Random(seed)
    a, b = space.sample(rng), space.sample(rng)
    child = space.crossover(a, b, rng)
    if a.model != b.model:
        assert child in (a, b)
    else:
        assert child.model == a.model and child.seed in (a.seed, b.seed)
        assert all(p in (x, y) for p, x, y in zip(child.params, a.params, b.params))


def test_decisions_name_every_parameter_of_every_model(small):
    names = [d.name for d in small.decisions()]
    assert names == ["model", "er.p", "ba.m", "ws.k", "ws.p", "ws_flex.k", "ws_flex.p", "seed"]
    assert small.decisions()[-1].choices == tuple(range(100))
    assert small.to_decisions(WS) == [2, 1, 4, 1, 3, 2, 3, 3]  # unused models at their defaults' indices


def test_from_decisions_ignores_the_parameters_of_other_models(small):
    indices = small.to_decisions(WS)
    indices[1], indices[2], indices[5] = 8, 0, 4  # er.p, ba.m, ws_flex.k
    assert small.from_decisions(indices) == WS


@pytest.mark.parametrize("indices, culprit", [
    ([2, 4, 4, 1, 3, 2, 3], "expected 8"),
    ([4, 4, 4, 1, 3, 2, 3, 3], "'model'"),
    ([2, 4, 4, 3, 3, 2, 3, 3], "'ws.k'"),
    ([2, 4, 4, 1, 3, 2, 3, True], "'seed'"),
    ([2, 4, 4, 1, 3, 2, 3, -1], "'seed'"),
])
def test_from_decisions_errors(small, indices, culprit):
    with pytest.raises(SpaceError) as error:
        small.from_decisions(indices)
    assert culprit in str(error.value)


def test_size_enumerate_and_round_trips_over_the_whole_space():
    space = randwire.space(nodes=5, seeds=2, models=("ba", "ws"))
    archs = list(space.enumerate())
    assert len(archs) == len(set(archs)) == space.size() == 2 * (4 + 2 * 5)
    for arch in archs:
        assert space.decode(space.encode(arch)) == arch
        assert space.from_decisions(space.to_decisions(arch)) == arch


def test_models_option_restricts_the_space_to_the_papers_comparison():
    space = randwire.space(**randwire.SMALL, models=("er", "ba", "ws"))
    rng = random.Random(0)
    assert {space.sample(rng).model for _ in range(60)} == {"er", "ba", "ws"}
    assert [d.name for d in space.decisions()] == ["model", "er.p", "ba.m", "ws.k", "ws.p", "seed"]
    with pytest.raises(SpaceError, match="'ws_flex'"):
        space.decode("ws_flex(k=4.0,p=0.75)@seed=0")


def test_supernet_selects_among_each_models_stage_graphs_with_one_shared_alpha(small):
    G = small.supernet()
    selects = {n: d for n, d in G.nodes(data=True) if d["op"] == "select"}
    assert sorted(selects) == ["conv3", "conv4", "conv5"]
    assert all(d["params"] == {"key": "model", "index": 0} for d in selects.values())
    for stage in selects:
        branches = sorted(G.predecessors(stage), key=lambda n: G.edges[n, stage]["slot"])
        assert branches == [f"{stage}.{m}" for m in ("er", "ba", "ws", "ws_flex")]
        for m, branch in zip(("er", "ba", "ws", "ws_flex"), branches):
            expected = small.to_graph(Generator(m, small.defaults[m], 0)).nodes[stage]["params"]["graph"]
            assert wiring.graph_hash(G.nodes[branch]["params"]["graph"]) == wiring.graph_hash(expected)
    model = wiring.compile(G, seed=0)
    assert [(n, tuple(p.shape)) for n, p in model.named_parameters() if "alphas" in n] == [("alphas.model", (1, 4))]
    assert wiring.cost(G).params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("best, model", [(0, "er"), (2, "ws"), (3, "ws_flex")])
def test_derive_takes_the_model_of_the_largest_alpha_with_default_parameters_and_seed_0(small, best, model):
    compiled = wiring.compile(small.supernet(), seed=0)
    with torch.no_grad():
        compiled.get_parameter("alphas.model")[0, best] = 1.0
    assert small.derive(compiled) == Generator(model, small.defaults[model], 0)


def test_derive_refuses_a_module_that_is_not_the_supernet(small):
    with pytest.raises(SpaceError, match="alphas.model"):
        small.derive(wiring.compile(small.to_graph(WS)))
    narrower = randwire.space(**randwire.SMALL, models=("er", "ws"))
    with pytest.raises(SpaceError, match=r"\(1, 2\)"):
        narrower.derive(wiring.compile(small.supernet()))


def test_constraint_on_multiply_adds_holds_for_samples_and_mutants(small):
    rng = random.Random(0)
    macs = sorted(wiring.cost(small.to_graph(small.sample(rng))).macs for _ in range(8))
    constrained = randwire.space(**randwire.SMALL, constraint=Constraint(max_macs=macs[2]))
    arch = constrained.sample(rng)
    for _ in range(4):
        assert wiring.cost(constrained.to_graph(arch)).macs <= macs[2]
        arch = constrained.mutate(arch, rng)
