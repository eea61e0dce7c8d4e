"""Compiled graphs under ``torch.export`` and ``torch.compile`` (dynamo): same outputs as eager, α stays live.

Tiny graphs, batch 2, 8×8 images (16×16 for the RandWire network): dynamo and
AOT tracing dominate the cost here, not the arithmetic.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo

import wiring
from graphs import chain, multi_output, small_cnn, with_choice
from spaces import randwire

ATOL, RTOL = 1e-5, 1e-4


def tiny_randwire():
    """A whole RandWire network whose three wiring stages are nested ``subgraph`` modules."""
    return randwire.cifar(channels=4, nodes=6, seed=0, image_size=16)


EXPORTED = {"small_cnn": (small_cnn, 8), "randwire": (tiny_randwire, 16), "multi_output": (multi_output, 8)}


def image(size: int = 8, seed: int = 123) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def assert_same(actual, expected) -> None:
    """Tensors, or tuples of tensors of the same structure, equal within the tolerance."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor)
        torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)
        return
    assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, atol=ATOL, rtol=RTOL)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Every test starts (and leaves) dynamo without cached frames, so no recompile limit carries over."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


# -- torch.export ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPORTED))
def test_export_matches_eager(name):
    """A conv graph, a network of nested subgraph modules and a tuple output all export and run the same."""
    build, size = EXPORTED[name]
    model = wiring.compile(build(), seed=0).eval()
    x = image(size)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        expected = model(x)
        actual = program.module()(x)
    if name == "multi_output":
        assert isinstance(actual, tuple) and [tuple(t.shape) for t in actual] == [(2, 3), (2, 5)]
    assert_same(actual, expected)
    # the exported program holds the weights, not the eager module: a second input still agrees
    other = image(size, seed=7)
    with torch.no_grad():
        assert_same(program.module()(other), model(other))


@pytest.mark.parametrize("key", [None, "k"], ids=["private", "shared"])
def test_export_keeps_alpha_a_parameter(key):
    """Under ``mode="softmax"`` every α is a lifted parameter of the exported program, not a baked constant."""
    model = wiring.compile(with_choice(key=key), seed=0, mode="softmax").eval()
    alphas = [name for name, p in model.named_parameters() if any(p is a for a in model.arch_parameters())]
    assert len(alphas) == (2 if key else 3)  # the select node keeps its own α
    x = image()
    program = torch.export.export(model, (x,))
    signature = program.graph_signature
    assert set(alphas) <= set(signature.parameters)
    assert not set(alphas) & set(signature.buffers)
    assert not set(alphas) & set(signature.lifted_tensor_constants)
    exported = program.module()
    with torch.no_grad():
        before = model(x)
        assert_same(exported(x), before)
        # new α in both: the exported module follows, so α was not folded into the graph
        for name in alphas:
            new = torch.randn(model.get_parameter(name).shape, generator=torch.Generator().manual_seed(1))
            model.get_parameter(name).copy_(new)
            exported.get_parameter(name).copy_(new)
        changed = model(x)
        assert_same(exported(x), changed)
    assert not torch.allclose(changed, before, atol=ATOL, rtol=RTOL)


# -- torch.compile ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
@pytest.mark.parametrize("name", ["small_cnn", "with_choice"])
def test_compile_matches_eager_with_backward(name, backend):
    """Training mode, whole graph (no graph breaks), no recompilation on a second step; gradients reach α."""
    build = {"small_cnn": small_cnn, "with_choice": with_choice}[name]
    model, reference = wiring.compile(build(), seed=0), wiring.compile(build(), seed=0)
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for step in range(2):
            x = image(seed=step)
            model.zero_grad(set_to_none=True)
            reference.zero_grad(set_to_none=True)
            actual, expected = compiled(x), reference(x)
            assert_same(actual, expected)
            actual.square().mean().backward()
            expected.square().mean().backward()
            for (label, p), q in zip(model.named_parameters(), reference.parameters()):
                assert p.grad is not None, label
                torch.testing.assert_close(p.grad, q.grad, atol=ATOL, rtol=RTOL, msg=label)
    # batch-norm running statistics were updated the same way
    for (label, b), c in zip(model.named_buffers(), reference.buffers()):
        torch.testing.assert_close(b, c, atol=ATOL, rtol=RTOL, msg=label)
    if name == "with_choice":
        alpha = model.arch_parameters()[0]
        assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_compile_inductor():
    """The default backend (inductor, which builds C++ on CPU) on the smallest conv graph."""
    model = wiring.compile(chain("conv_bn", channels=4), seed=0).eval()
    compiled = torch.compile(model)
    x = image()
    with torch.no_grad():
        assert_same(compiled(x), model(x))
