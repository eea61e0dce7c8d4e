"""SPOS, FairNAS and inherited-weight export (wiring.search.oneshot.single_path) on the SMALL SPOS space."""

from __future__ import annotations

import random

import pytest
import torch

from spaces.spos import SMALL, space
from wiring.search.oneshot import SPOS, FairNAS, inherit, recalibrate_bn, set_arch
from wiring.search.strategy import SearchError

from tiny_data import digits

OPTIONS = {"epochs": 1, "batch_size": 32, "search_budget": 6, "population": 4, "top_k": 2, "mutations": 2,
           "crossovers": 2, "bn_batches": 2, "val_size": 64}


@pytest.fixture(scope="module")
def sp():
    return space(**SMALL)


@pytest.fixture(scope="module")
def data(sp):
    return digits(3, sp.image_size, val=64)


def _check_arch(sp, arch):
    sp.check(arch)
    assert len(arch) == len(sp.decisions())


def test_spos_end_to_end_and_deterministic(sp, data):
    a = SPOS(sp, seed=3, **OPTIONS).search(data)
    _check_arch(sp, a.arch)
    history = a.details["history"]
    assert len(history) == OPTIONS["search_budget"]
    assert all(0.0 <= v <= 1.0 for _, v in history)
    assert a.details["best_score"] == max(v for _, v in history)
    b = SPOS(sp, seed=3, **OPTIONS).search(data)
    assert a.arch == b.arch and history == b.details["history"]
    for (_, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(p, q)


def test_spos_flops_bins(sp, data):
    s = SPOS(sp, seed=1, sampler="flops_bins", bins=3, bin_pool=20, **{**OPTIONS, "search_budget": 3})
    r = s.search(data)
    _check_arch(sp, r.arch)
    assert s._macs  # costs were computed to bin the paths


def test_fairnas_counts_and_end_to_end(sp, data):
    f = FairNAS(sp, seed=0, **OPTIONS)
    r = f.search(data)
    _check_arch(sp, r.arch)
    steps = -(-len(data.y_train) // OPTIONS["batch_size"])
    assert len(f.step_counts) == steps
    m = len(sp.decisions()[0].choices)
    for step in f.step_counts:  # every choice of every layer trained exactly once per step
        assert step == [[1] * m for _ in sp.decisions()]
    assert f.counts == {d.name: [steps] * m for d in sp.decisions()}
    assert r.details["counts"] == f.counts
    g = FairNAS(sp, seed=0, **OPTIONS).search(data)
    assert g.arch == r.arch and g.details["history"] == r.details["history"]


def test_fairnas_rejects_sampler(sp):
    with pytest.raises(SearchError):
        FairNAS(sp, sampler="flops_bins")


def test_bn_recalibration_changes_running_stats(sp, data):
    model = SPOS(sp, seed=0).build_model()
    arch = (1, 0, 2, 3, 1)
    set_arch(model, sp, arch)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in bns]
    momenta = [m.momentum for m in bns]
    batches = [data.x_train[:32], data.x_train[32:64]]
    recalibrate_bn(model, batches)
    changed = [not torch.equal(b, m.running_mean) for b, m in zip(before, bns)]
    assert any(changed)
    assert [m.momentum for m in bns] == momenta
    # cumulative average over the batches: the stem's BN mean equals the mean over both batches
    stem_bn = bns[0]
    assert int(stem_bn.num_batches_tracked) == 2
    again = [m.running_mean.clone() for m in bns]
    recalibrate_bn(model, batches)  # reset first: recomputing gives the same statistics
    for a, m in zip(again, bns):
        assert torch.allclose(a, m.running_mean, atol=1e-6)


def test_inherit_equal_outputs(sp, data):
    s = SPOS(sp, seed=2, **OPTIONS)
    r = s.search(data)
    model = r.model
    arch = (3, 1, 0, 2, 1)
    set_arch(model, sp, arch)
    recalibrate_bn(model, [data.x_train[:64]])
    with torch.no_grad():  # make the running stats non-trivial everywhere
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d) and m.running_var is not None:
                m.running_var.add_(0.1)
    net = inherit(sp, model, arch)
    model.eval()
    net.eval()
    x = data.x_val[:16]
    with torch.no_grad():
        expected, got = model(x), net(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    got = got[0] if isinstance(got, tuple) else got
    assert torch.allclose(expected, got, atol=1e-5)
    other = inherit(sp, model, (0, 1, 0, 2, 1)).eval()  # another choice at layer 0: other weights, other output
    with torch.no_grad():
        out = other(x)
    out = out[0] if isinstance(out, tuple) else out
    assert not torch.allclose(expected, out, atol=1e-5)


def test_bn_recalibration_takes_the_reference_amount_of_training_data(sp, data, monkeypatch):
    """SPOS' search.py: 200 batches × 128 training images before each score, or all of them if fewer."""
    from wiring.search.oneshot import single_path

    seen = []
    monkeypatch.setattr(single_path, "recalibrate_bn", lambda model, batches, device: seen.append(
        [len(b) for b in batches]))
    strategy = SPOS(sp, seed=0, progress=False)
    assert (strategy.bn_batches, strategy.bn_batch_size, strategy.label_smoothing) == (200, 128, 0.1)
    model = strategy.build_model()
    strategy.score(model, sp.sample(random.Random(0)), data, torch.Generator().manual_seed(0))
    n = len(data.y_train)  # fewer than 200 × 128: all of them, in batches of 128
    assert seen == [[128] * (n // 128) + ([n % 128] if n % 128 else [])]
    small = SPOS(sp, seed=0, bn_batches=2, bn_batch_size=16, progress=False)
    seen.clear()
    small.score(model, sp.sample(random.Random(0)), data, torch.Generator().manual_seed(0))
    assert seen == [[16, 16]]


def test_flops_bins_over_a_given_range(sp):
    strategy = SPOS(sp, sampler="flops_bins", bins=7, flops_range=(290e6, 360e6), progress=False)
    assert strategy._bin_edges(random.Random(0)) == pytest.approx(
        [290e6 + 10e6 * i for i in range(8)])
    with pytest.raises(SearchError, match="flops_range"):
        SPOS(sp, flops_range=(5, 1))
