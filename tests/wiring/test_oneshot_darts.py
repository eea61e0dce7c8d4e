"""DARTS, DARTS+ and Fair DARTS (wiring.search.oneshot) on a tiny DARTS space with digits."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import wiring

from wiring import supernet
from torch import nn

from spaces.darts import PRIMITIVES, SMALL, network, space
from wiring.data import load_dataset
from wiring.search.oneshot import DARTS, DARTSPlus, FairDARTS, hypergradient

from tiny_data import digits

TINY = {**SMALL, "layers": 3, "channels": 4, "image_size": 8}
SKIP = PRIMITIVES.index("skip_connect")
OPTIONS = {"epochs": 1, "batch_size": 32, "progress": False}


@pytest.fixture(scope="module")
def sp():
    return space(**TINY)


@pytest.fixture(scope="module")
def data(sp):
    return digits(sp.in_channels, sp.image_size)


def _forced(strategy, fill):
    """Make ``strategy`` initialise its supernet's α with ``fill(key, alpha)``."""
    build = strategy.build_model

    def build_model():
        model = build()
        with torch.no_grad():
            for key, alpha in model.alphas_by_key().items():
                fill(key, alpha)
        return model

    strategy.build_model = build_model
    return strategy


@pytest.mark.parametrize("order", [1, 2])
def test_darts_one_epoch(sp, data, order):
    result = DARTS(sp, order=order, **OPTIONS).search(data)
    assert sp.decode(sp.encode(result.arch)) == result.arch
    assert result.epochs_run == 1 and not result.stopped_early
    assert len(result.alpha_history) == 1
    (alphas,) = result.alpha_history
    assert set(alphas) == {"normal", "reduce"}
    assert all(tuple(a.shape) == (14, 8) and torch.isfinite(a).all() for a in alphas.values())
    model = result.model
    # α shared per cell type: one tensor per type, read by the sites of every cell of that type
    assert sorted(n for n, _ in model.named_parameters() if n.startswith("alphas.")) == ["alphas.normal", "alphas.reduce"]
    assert len({len(d.sites) for d in supernet.decisions(model) if d.key == "normal"}) == 1  # one site per cell
    assert torch.equal(alphas["normal"], model.alphas_by_key()["normal"].detach())
    # α moved away from its initialisation (1e-3·N(0, 1)) by the Adam steps
    from wiring import compile as compile_graph
    init = compile_graph(sp.supernet(), seed=0).alphas_by_key()
    assert not torch.equal(init["normal"].detach(), alphas["normal"])


@pytest.mark.parametrize("cls", [DARTS, FairDARTS])
def test_determinism(sp, data, cls):
    a = cls(sp, seed=3, **OPTIONS).search(data)
    b = cls(sp, seed=3, **OPTIONS).search(data)
    assert a.arch == b.arch
    assert all(torch.equal(x[k], y[k]) for x, y in zip(a.alpha_history, b.alpha_history) for k in x)
    c = cls(sp, seed=4, **OPTIONS).search(data)
    assert not torch.equal(a.alpha_history[0]["normal"], c.alpha_history[0]["normal"])


def test_darts_plus_stops_on_skip_connects(sp, data):
    def skip_normal(key, alpha):
        if key == "normal":
            alpha[:, SKIP] = 5.0

    strategy = _forced(DARTSPlus(sp, **{**OPTIONS, "epochs": 3}), skip_normal)
    result = strategy.search(data)
    assert result.stopped_early and result.epochs_run == 1 and len(result.alpha_history) == 1
    assert "skip_connect" in result.reason
    assert sum(op == "skip_connect" for op, _ in result.arch.normal) >= 2
    # the same search without the rule runs every epoch
    plain = _forced(DARTS(sp, **{**OPTIONS, "epochs": 2}), skip_normal).search(data)
    assert not plain.stopped_early and plain.epochs_run == 2


def test_darts_plus_stable_ranking(sp, data):
    sep = PRIMITIVES.index("sep_conv_3x3")

    def dominant(key, alpha):
        alpha[:, sep] = 5.0

    strategy = _forced(DARTS(sp, early_stop="darts+", stable_epochs=1, **{**OPTIONS, "epochs": 4}), dominant)
    result = strategy.search(data)
    assert result.stopped_early and result.epochs_run == 2
    assert "unchanged for 1 epochs" in result.reason


def test_darts_plus_ranks_learnable_ops_only(sp):
    """DARTS+' stable-ranking rule looks at the parametric ops only: the strongest op moving to skip_connect
    (no parameters) while the strongest convolution stays is a stable ranking."""
    strategy = DARTS(sp, early_stop="darts+", stable_epochs=1, max_skips=99, progress=False)
    model = strategy.build_model()
    assert [op for op, yes in zip(PRIMITIVES, supernet.learnable(model, "normal")) if yes] == [
        "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    a = torch.zeros(14, 8)
    a[:, PRIMITIVES.index("sep_conv_3x3")] = 1.0
    b = a.clone()
    b[:, SKIP] = 5.0
    assert strategy._should_stop(1, model, [{"normal": a, "reduce": a}, {"normal": b, "reduce": b}]) is not None
    c = a.clone()
    c[:, PRIMITIVES.index("dil_conv_5x5")] = 5.0  # a learnable op takes over: not stable
    assert strategy._should_stop(1, model, [{"normal": a, "reduce": a}, {"normal": c, "reduce": c}]) is None


def test_darts_plus_on_cells_that_are_not_darts_genotypes(data):
    """ENAS micro cells are not (op, input) pairs: the skip rule does not apply, the ranking rule does."""
    from spaces import enas

    micro = enas.space(**{**enas.SMALL, "layers": 1, "channels": 4, "image_size": 8})
    d = replace(data, x_train=data.x_train[:16], y_train=data.y_train[:16])
    result = DARTSPlus(micro, stable_epochs=1, **{**OPTIONS, "epochs": 3, "batch_size": 8}).search(d)
    assert micro.admits(result.arch)
    assert not result.stopped_early or "unchanged" in result.reason


def test_fair_darts_sigmoid_no_none(sp, data):
    def none_first(key, alpha):
        alpha[:, 0] = 10.0  # would win everywhere if `none` were not masked

    result = _forced(FairDARTS(sp, **OPTIONS), none_first).search(data)
    assert sp.decode(sp.encode(result.arch)) == result.arch
    ops = [op for op, _ in result.arch.normal + result.arch.reduce]
    assert "none" not in ops
    relaxed = [m for m in result.model.modules() if hasattr(m, "mode") and hasattr(m, "candidates")]
    assert relaxed and all(m.mode == "sigmoid" for m in relaxed)
    assert all(torch.all(a[:, 0] == FairDARTS.NONE_ALPHA) for a in result.alpha_history[0].values())
    kept = result.details["kept"]
    assert all("none" not in v and len(v) <= 2 for cell in kept.values() for v in cell.values())


def test_fair_darts_derivation_threshold(sp):
    strategy = FairDARTS(sp, progress=False)
    model = strategy.build_model()
    sep, dil = PRIMITIVES.index("sep_conv_3x3"), PRIMITIVES.index("dil_conv_3x3")
    with torch.no_grad():
        for alpha in model.alphas_by_key().values():
            alpha.fill_(-5.0)
            alpha[:, 0] = 8.0            # `none`: ignored
            alpha[0, sep] = 3.0          # edge 0 -> node 2: two ops above 0.85
            alpha[0, dil] = 2.5
            alpha[1, SKIP] = 2.0         # edge 1 -> node 2
    arch = strategy.derive(model)
    assert arch.normal[:2] == (("sep_conv_3x3", 0), ("skip_connect", 1))
    kept = strategy.details(model)["kept"]["normal"]
    assert kept[(0, 2)] == ["sep_conv_3x3", "dil_conv_3x3"] and kept[(1, 2)] == ["skip_connect"]
    assert kept[(2, 3)] == []
    assert sp.decode(sp.encode(arch)) == arch
    # the reference's sparse reading: node 3's two best edges (σ(−5) < 0.85) are dropped, node 2's are kept
    sparse = strategy.details(model)["sparse"]
    assert sparse.normal[:2] == (("sep_conv_3x3", 0), ("skip_connect", 1))
    assert [op for op, _ in sparse.normal[2:]] == ["none"] * (len(sparse.normal) - 2)
    assert strategy.derive(model).normal[2][0] != "none"  # result.arch stays a member of the space
    wiring.validate(network(sparse, channels=4, layers=3))


class _Toy(nn.Module):
    """One weight, one α: f(x) = tanh(w·x)·σ(α) + α·w²."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.7], dtype=torch.float64))
        self.a = nn.Parameter(torch.tensor([0.3], dtype=torch.float64))

    def forward(self, x):
        return torch.tanh(self.w * x) * torch.sigmoid(self.a) + self.a * self.w ** 2


def _mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


@pytest.mark.parametrize("buf", [None, 0.7])
def test_second_order_hypergradient_matches_brute_force(buf):
    torch.manual_seed(0)
    model = _Toy()
    train = (torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64))
    val = (torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64))
    xi, wd = 0.1, 3e-4
    w0 = model.w.detach().clone()
    mu, buffer = 0.9, None if buf is None else torch.full_like(model.w, buf)
    kwargs = {"alphas": [model.a], "weights": [model.w], "xi": xi, "weight_decay": wd, "loss_fn": _mse,
              "momentum": mu, "buffers": [buffer]}
    (second,) = hypergradient(model, train, val, order=2, **kwargs)
    assert torch.equal(model.w.detach(), w0)  # weights restored
    (first,) = hypergradient(model, train, val, order=1, **kwargs)

    # exact: d/dα L_val(w'(α), α) with w'(α) = w − ξ(μ·buf + ∂w L_train(w, α) + wd·w) (architect.py), by autograd
    def unrolled_val(a):
        w = model.w.detach().clone().requires_grad_(True)
        x, y = train
        l_train = ((torch.tanh(w * x) * torch.sigmoid(a) + a * w ** 2 - y) ** 2).mean()
        (g,) = torch.autograd.grad(l_train, w, create_graph=True)
        w1 = w - xi * (g + wd * w + (0 if buffer is None else mu * buffer))
        x, y = val
        return ((torch.tanh(w1 * x) * torch.sigmoid(a) + a * w1 ** 2 - y) ** 2).mean()

    a = model.a.detach().clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(unrolled_val(a), a)
    # and by central differences in α
    h = 1e-5
    numeric = (unrolled_val(model.a.detach() + h) - unrolled_val(model.a.detach() - h)) / (2 * h)
    assert torch.allclose(exact, numeric, rtol=1e-6, atol=1e-8)
    assert torch.allclose(second, exact, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(first, exact, rtol=1e-3)


def test_bad_options(sp):
    from wiring.search.strategy import SearchError

    with pytest.raises(SearchError):
        DARTS(sp, order=3)
    with pytest.raises(SearchError):
        DARTS(sp, early_stop="nope")
    with pytest.raises(SearchError, match="fit_input"):
        DARTS(sp, **OPTIONS).search(load_dataset("digits"))
