"""Relaxation modes (softmax, sigmoid, gumbel, single_path, binary) and the helpers over compiled models."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

import ops
import wiring
from ops import OpError, functional as fn, modules, relax

MODES = ["softmax", "sigmoid", "gumbel", "single_path", "binary"]
CANDIDATES = [{"op": "sep_conv", "params": {"channels": 3}}, {"op": "max_pool"}, {"op": "zero"}, {"op": "identity"}]


def build(name, params, shapes):
    spec = ops.get(name)
    p = spec.resolve(params)
    return spec.build(shapes, spec.shape(shapes, p), p)


def mixed(mode="softmax"):
    m = build("choice", {"candidates": CANDIDATES}, [(3, 6, 6)]).eval()
    m.mode = mode
    return m


def outputs(m, x):
    with torch.no_grad():
        return [m.candidates[0](x), fn.max_pool(x, kernel=3, stride=1, padding=None), torch.zeros_like(x), x]


def count_calls(m):
    calls = [0] * len(m.candidates)
    for i, c in enumerate(m.candidates):
        c.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    return calls


def test_all_modes_registered():
    assert set(MODES) <= set(ops.modes()) and ops.modes() == sorted(ops.modes())


@pytest.mark.parametrize("make", [mixed, modules.Select])
def test_unknown_mode_lists_all(make):
    m = make()
    with pytest.raises(OpError, match="unknown relaxation mode") as info:
        m.mode = "gdas"
    assert all(mode in str(info.value) for mode in MODES)
    with pytest.raises(wiring.GraphError, match="binary"):
        wiring.compile(supernet(), mode="proxyless")


@pytest.mark.parametrize("mode", ["softmax", "sigmoid"])
def test_dense_modes_run_every_candidate(mode):
    x, alpha = torch.randn(2, 3, 6, 6), torch.randn(4)
    m = mixed(mode)
    w = torch.softmax(alpha, 0) if mode == "softmax" else torch.sigmoid(alpha)
    expected = sum(w[i] * y for i, y in enumerate(outputs(m, x)))
    calls = count_calls(m)
    torch.testing.assert_close(m(x, alpha), expected)
    assert calls == [1, 1, 1, 1]


# -- gumbel ----------------------------------------------------------------------------


def gumbel_by_hand(alpha, seed, tau):
    noise = torch.empty(alpha.shape).exponential_(generator=torch.Generator().manual_seed(seed)).clamp_min(1e-20)
    return torch.softmax((alpha.detach() - noise.log()) / tau, 0)


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_gumbel_forward_is_the_sampled_candidate_only(tau):
    x = torch.randn(2, 3, 6, 6)
    m = mixed("gumbel")
    assert m.tau == 1.0
    m.tau = tau
    ys = outputs(m, x)
    calls = count_calls(m)
    for seed in range(6):
        alpha = torch.randn(4)
        m.generator = torch.Generator().manual_seed(seed)
        k = int(gumbel_by_hand(alpha, seed, tau).argmax())
        out = m(x, alpha)
        assert m.sampled == k
        torch.testing.assert_close(out, ys[k])
    assert sum(calls) == 6  # one candidate per forward


def test_gumbel_gradient_reaches_alpha():
    x = torch.randn(2, 3, 6, 6)
    m = mixed("gumbel")
    m.tau = 0.5
    alpha = torch.tensor([0.3, -0.2, 0.1, 0.5], requires_grad=True)
    m.generator = torch.Generator().manual_seed(7)
    out = m(x, alpha)
    out.sum().backward()
    soft = gumbel_by_hand(alpha, 7, 0.5)
    k = m.sampled
    s = outputs(m, x)[k].sum()
    # straight-through: d(out.sum())/dα_i = Σ y_k · ∂soft_k/∂α_i = Σ y_k · soft_k(δ_ik − soft_i)/τ
    expected = s * soft[k] * (torch.eye(4)[k] - soft) / 0.5
    torch.testing.assert_close(alpha.grad, expected)
    assert alpha.grad.abs().sum() > 0


# -- single path -----------------------------------------------------------------------


def test_single_path_runs_exactly_the_active_candidate():
    x = torch.randn(2, 3, 6, 6)
    m = mixed("single_path")
    ys = outputs(m, x)
    calls = count_calls(m)
    alpha = torch.randn(4, requires_grad=True)
    for k in range(4):
        m.active = k
        before = list(calls)
        torch.testing.assert_close(m(x, alpha), ys[k])
        assert [c - b for c, b in zip(calls, before)] == [int(i == k) for i in range(4)]
    m.active = 0
    m(x, alpha).sum().backward()
    assert alpha.grad is None  # α ignored
    m.active = 4
    with pytest.raises(OpError, match="out of range"):
        m(x, alpha)


def test_single_path_samples_uniformly_from_its_generator_when_no_active():
    x = torch.randn(1, 3, 6, 6)
    m = mixed("single_path")
    calls = count_calls(m)
    m.generator = torch.Generator().manual_seed(0)
    picks = []
    for _ in range(40):
        m(x, torch.zeros(4))
        picks.append(m.sampled)
    assert sum(calls) == 40 and set(picks) == {0, 1, 2, 3}
    m.generator = torch.Generator().manual_seed(0)
    assert [m(x, torch.zeros(4)) is not None and m.sampled for _ in range(40)] == picks


# -- binary (ProxylessNAS two-path) ----------------------------------------------------


def test_binary_runs_one_candidate_per_forward():
    x = torch.randn(2, 3, 6, 6)
    m = mixed("binary")
    ys = outputs(m, x)
    calls = count_calls(m)
    m.generator = torch.Generator().manual_seed(1)
    alpha = torch.randn(4, requires_grad=True)
    for n in range(1, 9):
        out = m(x, alpha)
        assert sum(calls) == n  # one path's activations
        torch.testing.assert_close(out, ys[m.sampled])
    # only the backward (for ∂L/∂g of the inactive path) recomputes the second path
    out.sum().backward()
    assert sum(calls) == 9


def binary_grad_by_hand(alpha, xs, w, pair):
    dg = torch.stack([(w * xs[j]).sum() for j in pair])
    p = torch.softmax(alpha.detach()[list(pair)], 0)
    grad = torch.zeros_like(alpha)
    for i in range(2):
        for j in range(2):
            grad[pair[i]] += dg[j] * p[j] * (float(i == j) - p[i])
    return grad


def test_binary_alpha_gradient_follows_the_two_path_formula():
    m = modules.Select(mode="binary")
    xs = [torch.randn(2, 3, requires_grad=True) for _ in range(4)]
    w = torch.randn(2, 3)
    for seed in range(5):
        for x in xs:
            x.grad = None
        alpha = torch.tensor([0.2, -0.4, 0.7, 0.0], requires_grad=True)
        m.generator = torch.Generator().manual_seed(seed)
        out = m(*xs, alpha)
        row, pair, old = m.last_paths
        assert pair[0] == m.sampled != pair[1]
        torch.testing.assert_close(out, xs[m.sampled])
        (w * out).sum().backward()
        torch.testing.assert_close(alpha.grad, binary_grad_by_hand(alpha, xs, w, pair))
        assert set(alpha.grad.nonzero().flatten().tolist()) <= set(pair)
        for j, x in enumerate(xs):  # gate value 1: the active path gets ∂L/∂y unchanged
            if j == m.sampled:
                torch.testing.assert_close(x.grad, w)
            else:
                assert x.grad is None


def test_binary_alpha_gradient_tiny_example_by_hand():
    """α = (0, 0, log 3): the pair (2, 0) with p over the pair = (3/4, 1/4)."""
    m = modules.Select(mode="binary")
    xs = [torch.tensor([1.0]), torch.tensor([5.0]), torch.tensor([2.0])]
    alpha = torch.tensor([0.0, 0.0, torch.log(torch.tensor(3.0))], requires_grad=True)
    for seed in range(50):  # find a draw whose pair is (active 2, inactive 0)
        m.generator = torch.Generator().manual_seed(seed)
        out = m(*xs, alpha)
        if m.last_paths[1] == (2, 0):
            break
    else:
        pytest.fail("no draw of the pair (2, 0)")
    (3 * out).sum().backward()
    # ∂L/∂g_2 = 3·2 = 6, ∂L/∂g_0 = 3·1 = 3; p_2 = 3/4, p_0 = 1/4
    # ∂L/∂α_2 = 6·¾·(1−¾) + 3·¼·(0−¾) = 1.125 − 0.5625 = 0.5625; ∂L/∂α_0 = −0.5625
    torch.testing.assert_close(alpha.grad, torch.tensor([-0.5625, 0.0, 0.5625]))


def test_binary_without_alpha_grad_skips_the_second_path():
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    m = mixed("binary")
    calls = count_calls(m)
    m(x, torch.randn(4)).sum().backward()
    assert sum(calls) == 1


def test_binary_rescale_keeps_the_pair_mass():
    alpha = torch.nn.Parameter(torch.tensor([[0.1, 0.5, -0.3, 0.2]]))
    model = torch.nn.Module()
    model.m = modules.Select(mode="binary")
    model.m.generator = torch.Generator().manual_seed(3)
    xs = [torch.randn(3) for _ in range(4)]
    model.m(*xs, alpha[0]).sum().backward()
    _, pair, old = model.m.last_paths
    before = torch.logsumexp(alpha.detach()[0, list(pair)], 0)
    with torch.no_grad():
        alpha -= 0.5 * alpha.grad
    relax.rescale(model)
    torch.testing.assert_close(torch.logsumexp(alpha.detach()[0, list(pair)], 0), before)
    assert model.m.last_paths is None


# -- compiled supernets ----------------------------------------------------------------


def node(G, label, op, **params):
    G.add_node(label, op=op, params=params)


SUPER_CANDIDATES = [{"op": "sep_conv", "params": {"channels": 4, "kernel": 3}},
                    {"op": "max_pool", "params": {"kernel": 3}}, {"op": "identity"}]


def supernet():
    """Two ``choice`` nodes sharing key "k" (rows 0 and 1) and a ``select``."""
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[6, 6])
    node(G, "stem", "conv_bn", channels=4)
    node(G, "c1", "choice", candidates=SUPER_CANDIDATES, key="k", index=0)
    node(G, "c2", "choice", candidates=SUPER_CANDIDATES, key="k", index=1)
    node(G, "sel", "select")
    node(G, "head", "head", num_classes=3)
    node(G, "out", "output")
    G.add_edges_from([("in", "stem"), ("stem", "c1"), ("c1", "c2"), ("sel", "head"), ("head", "out")])
    G.add_edge("stem", "sel", slot=0)
    G.add_edge("c1", "sel", slot=1)
    G.add_edge("c2", "sel", slot=2)
    return G


@pytest.mark.parametrize("mode", MODES)
def test_compiled_supernet_forward_backward(mode):
    model = wiring.compile(supernet(), seed=0, mode=mode)
    relax.set_generator(model, 0)
    found = relax.sites(model)
    assert len(found) == 3 and all(s.module.mode == mode for s in found)
    assert sorted((s.key, s.row) for s in found if s.key == "k") == [("k", 0), ("k", 1)]
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    out = model(x)
    assert out.shape == (2, 3)
    # Not out.sum(): when a sampled path ends in batch norm, the gradient of a sum of
    # logits is constant per channel and batch norm's zero-mean output cancels it exactly.
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 2])).backward()
    weights_with_grad = [p for p in model.weight_parameters() if p.grad is not None]
    assert weights_with_grad
    alpha_grads = [a.grad for a in model.arch_parameters()]
    if mode == "single_path":
        assert all(g is None for g in alpha_grads)
    else:
        assert any(g is not None and g.abs().sum() > 0 for g in alpha_grads)
    if mode in ("gumbel", "single_path", "binary"):  # reproducible from the generator
        first = [s.module.sampled for s in found]
        relax.set_generator(model, 0)
        again = model(x)
        assert [s.module.sampled for s in found] == first
        relax.set_generator(model, 0)
        torch.testing.assert_close(model(x), again)


def test_set_paths_by_key_row_and_by_path():
    model = wiring.compile(supernet(), seed=0, mode="single_path")
    found = {(s.key, s.row): s for s in relax.sites(model) if s.key == "k"}
    sel = next(s for s in relax.sites(model) if s.key != "k")
    chosen = relax.set_paths(model, {("k", 0): 2, ("k", 1): 1, sel.path: 0})
    assert chosen == {found["k", 0].path: 2, found["k", 1].path: 1, sel.path: 0}
    calls = {key: count_calls(s.module) for key, s in found.items()}
    model(torch.randn(1, 3, 6, 6))
    assert calls["k", 0] == [0, 0, 1] and calls["k", 1] == [0, 1, 0]
    relax.set_paths(model, lambda site: None)
    assert all(s.module.active is None for s in relax.sites(model))
    with pytest.raises(OpError, match="out of range"):
        relax.set_paths(model, {("k", 0): 3})


def test_set_tau_and_generator_validation():
    model = wiring.compile(supernet(), seed=0, mode="gumbel")
    relax.set_tau(model, 0.25)
    assert all(s.module.tau == 0.25 for s in relax.sites(model))
    with pytest.raises(OpError):
        relax.set_tau(model, 0)
    with pytest.raises(OpError):
        relax.set_generator(model, "seed")
    relax.set_generator(model, None)
    assert all(s.module.generator is None for s in relax.sites(model))
