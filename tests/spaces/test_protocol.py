"""Every registered space follows the protocol (timm-style: a new space cannot land untested).

Each space module defines ``SMALL`` (options for a small instance) and may
define ``example_inputs(G)`` (tensors for its inputs; default: random images
or features shaped like the graph's ``input`` nodes).
"""

import random
from importlib import import_module

import pytest
import torch

import spaces
import wiring
from spaces import Constraint, SpaceError
from wiring.testing import example_inputs

DRAWS = 3


def module(name):
    return import_module(f"spaces.{name}")


def small(name):
    return module(name).space(**module(name).SMALL)


def inputs(name, G):
    custom = getattr(module(name), "example_inputs", None)
    return custom(G) if custom is not None else example_inputs(G, batch=2)


def runs(name, G):
    wiring.validate(G)
    model = wiring.compile(G, seed=0).eval()
    with torch.no_grad():
        out = model(*inputs(name, G))
    first = out[0] if isinstance(out, tuple) else out
    assert torch.isfinite(first).all()
    return model


def test_every_space_module_is_registered_and_has_small_options():
    for name in spaces.SPACES:
        assert isinstance(module(name).SMALL, dict), name
        assert isinstance(small(name), spaces.Space), name


@pytest.mark.parametrize("name", spaces.SPACES)
def test_samples_mutants_and_crossovers_compile_and_run(name):
    space, rng = small(name), random.Random(0)
    for _ in range(DRAWS):
        a, b = space.sample(rng), space.sample(rng)
        for arch in (a, space.mutate(a, rng), space.crossover(a, b, rng)):
            hash(arch)
            runs(name, space.to_graph(arch))


@pytest.mark.parametrize("name", spaces.SPACES)
def test_encode_decode_and_decisions_round_trip(name):
    space, rng = small(name), random.Random(1)
    decisions = space.decisions()
    assert decisions and all(isinstance(d, spaces.Decision) for d in decisions)
    for _ in range(DRAWS):
        arch = space.sample(rng)
        text = space.encode(arch)
        assert isinstance(text, str) and space.decode(text) == arch
        indices = space.to_decisions(arch)
        assert len(indices) == len(decisions)
        assert space.from_decisions(indices) == arch
    with pytest.raises(SpaceError):
        space.decode("certainly not an architecture")


@pytest.mark.parametrize("name", spaces.SPACES)
def test_same_seed_same_samples_and_mutants(name):
    space = small(name)
    draw = [space.sample(random.Random(7)) for _ in range(2)]
    assert draw[0] == draw[1]
    assert space.mutate(draw[0], random.Random(3)) == space.mutate(draw[0], random.Random(3))


@pytest.mark.parametrize("name", spaces.SPACES)
def test_mutation_changes_the_architecture(name):
    space, rng = small(name), random.Random(2)
    arch = space.sample(rng)
    assert any(space.mutate(arch, rng) != arch for _ in range(5))


@pytest.mark.parametrize("name", spaces.SPACES)
def test_graph_hash_identifies_equal_architectures(name):
    space, rng = small(name), random.Random(4)
    archs = [space.sample(rng) for _ in range(4)]
    for a in archs:
        assert wiring.graph_hash(space.to_graph(a)) == wiring.graph_hash(space.to_graph(space.decode(space.encode(a))))
    rng, original = random.Random(8), archs[0]
    mutants = [space.mutate(original, rng) for _ in range(5)]
    assert any(wiring.graph_hash(space.to_graph(m)) != wiring.graph_hash(space.to_graph(original)) for m in mutants)


@pytest.mark.parametrize("name", spaces.SPACES)
def test_constrained_sampling_never_exceeds_its_limit(name):
    space, rng = small(name), random.Random(5)
    params = sorted(wiring.cost(space.to_graph(space.sample(rng))).params for _ in range(8))
    limit = params[len(params) // 2]  # the median: about half the space is admitted
    constrained = module(name).space(**module(name).SMALL, constraint=Constraint(max_params=limit))
    for _ in range(DRAWS):
        arch = constrained.sample(rng)
        assert wiring.cost(constrained.to_graph(arch)).params <= limit
        assert wiring.cost(constrained.to_graph(constrained.mutate(arch, rng))).params <= limit


@pytest.mark.parametrize("name", spaces.SPACES)
def test_supernet_compiles_and_derive_returns_a_member(name):
    space = small(name)
    G = space.supernet()
    model = runs(name, G)
    arch = space.derive(model)
    hash(arch)
    assert space.decode(space.encode(arch)) == arch
    runs(name, space.to_graph(arch))


@pytest.mark.parametrize("name", spaces.SPACES)
def test_size_and_enumerate_agree_where_finite(name):
    space = small(name)
    try:
        size = space.size()
    except SpaceError:
        return  # unbounded space: nothing to enumerate
    assert size >= 1
    if size <= 20_000:
        archs = set(space.enumerate())
        assert len(archs) == size


@pytest.mark.parametrize("name", spaces.SPACES)
def test_cli_info_and_draw_work_on_every_space(name, tmp_path, capsys):
    from wiring.cli import main

    G = small(name).to_graph(small(name).sample(random.Random(6)))
    path = tmp_path / f"{name}.json"
    path.write_text(wiring.to_json(G))
    assert main(["info", str(path)]) == 0
    assert f"params {wiring.cost(G).params:,}" in capsys.readouterr().out
    assert main(["draw", str(path), "-o", str(tmp_path / f"{name}.png")]) == 0
    assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
