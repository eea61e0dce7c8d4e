"""Relaxation modes (softmax, sigmoid, gumbel, single_path, binary) and the helpers over compiled models."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

import ops
import wiring
from ops import OpError, functional as fn, modules
from wiring import supernet as supernet_core

MODES = ["softmax", "sigmoid", "gumbel", "single_path", "binary", "path_dropout"]
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


@pytest.mark.parametrize("estimator, recomputed", [("two", 1), ("full_v2", 3)])
def test_binary_runs_one_candidate_per_forward(estimator, recomputed):
    x = torch.randn(2, 3, 6, 6)
    m = mixed("binary")
    m.estimator = estimator
    ys = outputs(m, x)
    calls = count_calls(m)
    m.generator = torch.Generator().manual_seed(1)
    alpha = torch.randn(4, requires_grad=True)
    for n in range(1, 9):
        out = m(x, alpha)
        assert sum(calls) == n  # one path's activations
        torch.testing.assert_close(out, ys[m.sampled])
    # only the backward (for ∂L/∂g of the inactive paths) recomputes them: one for "two", all others for "full_v2"
    out.sum().backward()
    assert sum(calls) == 8 + recomputed


def binary_grad_by_hand(alpha, xs, w, involved):
    dg = torch.stack([(w * xs[j]).sum() for j in involved])
    p = torch.softmax(alpha.detach()[list(involved)], 0)
    grad = torch.zeros_like(alpha)
    for i in range(len(involved)):
        for j in range(len(involved)):
            grad[involved[i]] += dg[j] * p[j] * (float(i == j) - p[i])
    return grad


@pytest.mark.parametrize("estimator", ["two", "full_v2"])
def test_binary_alpha_gradient_follows_the_reference_formula(estimator):
    m = modules.Select(mode="binary")
    m.estimator = estimator
    xs = [torch.randn(2, 3, requires_grad=True) for _ in range(4)]
    w = torch.randn(2, 3)
    for seed in range(5):
        for x in xs:
            x.grad = None
        alpha = torch.tensor([0.2, -0.4, 0.7, 0.0], requires_grad=True)
        m.generator = torch.Generator().manual_seed(seed)
        out = m(*xs, alpha)
        involved = m.last_draw.involved[0]
        assert involved[0] == m.sampled and len(involved) == (2 if estimator == "two" else 4)
        torch.testing.assert_close(out, xs[m.sampled])
        (w * out).sum().backward()
        torch.testing.assert_close(alpha.grad, binary_grad_by_hand(alpha, xs, w, involved))
        assert set(alpha.grad.nonzero().flatten().tolist()) <= set(involved)
        for j, x in enumerate(xs):  # gate value 1: the active path gets ∂L/∂y unchanged
            if j == m.sampled:
                torch.testing.assert_close(x.grad, w)
            else:
                assert x.grad is None


def test_binary_alpha_gradient_tiny_example_by_hand():
    """α = (0, 0, log 3): the pair (2, 0) with p over the pair = (3/4, 1/4)."""
    m = modules.Select(mode="binary")
    m.estimator = "two"
    xs = [torch.tensor([1.0]), torch.tensor([5.0]), torch.tensor([2.0])]
    alpha = torch.tensor([0.0, 0.0, torch.log(torch.tensor(3.0))], requires_grad=True)
    for seed in range(50):  # find a draw whose pair is (active 2, inactive 0)
        m.generator = torch.Generator().manual_seed(seed)
        out = m(*xs, alpha)
        if m.last_draw.involved[0] == (2, 0):
            break
    else:
        pytest.fail("no draw of the pair (2, 0)")
    (3 * out).sum().backward()
    # ∂L/∂g_2 = 3·2 = 6, ∂L/∂g_0 = 3·1 = 3; p_2 = 3/4, p_0 = 1/4
    # ∂L/∂α_2 = 6·¾·(1−¾) + 3·¼·(0−¾) = 1.125 − 0.5625 = 0.5625; ∂L/∂α_0 = −0.5625
    torch.testing.assert_close(alpha.grad, torch.tensor([-0.5625, 0.0, 0.5625]))


def test_binary_without_alpha_grad_skips_the_other_paths_and_draws_from_p():
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    m = mixed("binary")
    calls = count_calls(m)
    m(x, torch.randn(4)).sum().backward()
    assert sum(calls) == 1
    # a weight step draws its one path from p = softmax(α), as the reference's binarize() in weight mode
    alpha = torch.tensor([2.0, 0.0, -1.0, 0.5])
    m.generator = torch.Generator().manual_seed(0)
    picks = [m(x, alpha) is not None and m.sampled for _ in range(4000)]
    freq = torch.bincount(torch.tensor(picks), minlength=4).double() / len(picks)
    torch.testing.assert_close(freq, torch.softmax(alpha.double(), 0), atol=0.03, rtol=0)


def test_binary_rescale_keeps_the_pair_mass():
    model = wiring.compile(supernet(), seed=0, mode="binary")
    supernet_core.set_estimator(model, "two")
    alpha = model.alphas_by_key()["k"]
    for seed in range(20):  # a draw whose select reads c2, so that both rows of "k" get a gradient
        supernet_core.set_generator(model, seed)
        torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 6, 6)), torch.tensor([0, 1])).backward()
        if alpha.grad is not None and (alpha.grad != 0).any(dim=1).all():
            break
        model.zero_grad(set_to_none=True)
    pairs = dict(supernet_core.states(model))["k"].last.involved
    before = [torch.logsumexp(alpha.detach()[r, list(pair)], 0) for r, pair in enumerate(pairs)]
    with torch.no_grad():
        alpha -= 0.5 * alpha.grad
    supernet_core.rescale(model)
    for r, pair in enumerate(pairs):  # once per row, though two sites could read it
        torch.testing.assert_close(torch.logsumexp(alpha.detach()[r, list(pair)], 0), before[r])
    assert dict(supernet_core.states(model))["k"].last is None


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
    supernet_core.set_generator(model, 0)
    found = supernet_core.sites(model)
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
    if mode in ("single_path", "path_dropout"):
        assert all(g is None for g in alpha_grads)
    else:
        assert any(g is not None and g.abs().sum() > 0 for g in alpha_grads)
    if mode in ("gumbel", "single_path", "binary", "path_dropout"):  # reproducible from the generator
        first = supernet_core.last_index(model)
        assert set(first) <= {"k[0]", "k[1]"} | {s.decision for s in found if s.key != "k"}
        supernet_core.set_generator(model, 0)
        again = model(x)
        assert supernet_core.last_index(model) == first
        supernet_core.set_generator(model, 0)
        torch.testing.assert_close(model(x), again)


def test_set_paths_by_decision_by_key_row_and_site_override():
    model = wiring.compile(supernet(), seed=0, mode="single_path")
    found = {(s.key, s.row): s for s in supernet_core.sites(model) if s.key == "k"}
    sel = next(s for s in supernet_core.sites(model) if s.key != "k")
    chosen = supernet_core.set_paths(model, {"k[0]": 2, ("k", 1): 1, sel.decision: 0})
    assert chosen == {"k[0]": 2, "k[1]": 1, sel.decision: 0}
    calls = {key: count_calls(s.module) for key, s in found.items()}
    model(torch.randn(1, 3, 6, 6))
    assert calls["k", 0] == [0, 0, 1] and calls["k", 1] == [0, 1, 0]
    supernet_core.set_paths(model, {"k[0]": 2}, sites_too={found["k", 0].path: 0})  # one site overridden
    model(torch.randn(1, 3, 6, 6))
    assert calls["k", 0] == [1, 0, 1]
    assert supernet_core.set_paths(model, lambda d: None) == {"k[0]": None, "k[1]": None, sel.decision: None}
    with pytest.raises(wiring.GraphError, match="index in 0..2"):
        supernet_core.set_paths(model, {"k[0]": 3})


def test_set_tau_and_generator_validation():
    model = wiring.compile(supernet(), seed=0, mode="gumbel")
    supernet_core.set_tau(model, 0.25)
    assert all(state.tau == 0.25 for _, state in supernet_core.states(model))
    with pytest.raises(wiring.GraphError):
        supernet_core.set_tau(model, 0)
    with pytest.raises(wiring.GraphError):
        supernet_core.set_generator(model, "seed")
    supernet_core.set_generator(model, None)
    assert all(state.generator is None for _, state in supernet_core.states(model))


def test_path_dropout_drops_each_of_k_candidates_with_probability_r_to_the_1_over_k():
    """Bender et al.'s rate: all k paths of a row dropped with probability r (then one is kept), each alone with
    r^(1/k); a site sums the kept candidates; with a row's path set, that candidate alone runs."""
    model = wiring.compile(supernet(), seed=0, mode="path_dropout")
    supernet_core.set_generator(model, 0)
    supernet_core.set_drop_rate(model, 0.3)
    kept = []
    for _ in range(3000):
        model(torch.randn(1, 3, 6, 6))
        kept.append(dict(supernet_core.states(model))["k"].last.weights.clone())
    kept = torch.stack(kept)  # (draws, rows, 3 candidates)
    one_kept = (kept.sum(-1) == 1).double()
    p_drop = 0.3 ** (1 / 3)
    # P(exactly one kept) = P(all dropped) + P(exactly one kept by chance)
    expected = p_drop ** 3 + 3 * (1 - p_drop) * p_drop ** 2
    torch.testing.assert_close(one_kept.mean(), torch.tensor(expected, dtype=torch.float64), atol=0.03, rtol=0)
    assert (kept.sum(-1) >= 1).all()  # never every path dropped
    supernet_core.set_paths(model, {"k[0]": 1, "k[1]": 2})
    calls = {row: count_calls(s.module) for s in supernet_core.sites(model) if s.key == "k" for row in [s.row]}
    model(torch.randn(1, 3, 6, 6))
    assert calls[0] == [0, 1, 0] and calls[1] == [0, 0, 1]
    with pytest.raises(wiring.GraphError, match="rate"):
        supernet_core.set_drop_rate(model, 1.5)
