"""ProxylessNAS and GDAS (wiring.search.oneshot.proxyless) on a tiny ProxylessNAS space with digits."""

from __future__ import annotations

import json

import pytest
import torch

from wiring.supernet import last_index, set_generator, sites, states
from spaces.constraint import LatencyTable
from spaces.proxyless import SMALL, space
from wiring.data import load_dataset
from wiring.search.oneshot.proxyless import GDAS, ProxylessNAS, layer_latencies
from wiring.search.strategy import SearchError

from tiny_data import digits

OPTIONS = {"epochs": 1, "batch_size": 64, "progress": False}
PX = {**OPTIONS, "epochs": 2, "warmup_epochs": 0, "arch_every": 1}  # α steps in the 2nd search epoch, every step


@pytest.fixture(scope="module")
def sp():
    return space(**SMALL)


@pytest.fixture(scope="module")
def data(sp):
    return digits(3, sp.image_size)



@pytest.fixture(scope="module")
def table(sp):
    """A deterministic table with the measured keys: an MBConv costs kernel·expand/10 ms, anything else 0.1 ms."""
    measured = LatencyTable().measure(sp.latency_graphs(), repeats=1)
    entries = {}
    for key in measured.entries:
        op, params, _ = json.loads(key)
        if op.startswith("mbconv_k"):
            k, e = op[len("mbconv_k"):].split("_e")
            entries[key] = int(k) * int(e) / 10
        else:
            entries[key] = 0.1
    return LatencyTable(entries)


def test_layer_latencies(sp, table):
    base, vectors = layer_latencies(sp, table)
    decisions = sp.decisions()
    assert set(vectors) == {d.name for d in decisions}
    for d in decisions:
        row = vectors[d.name].tolist()
        for c, v in zip(d.choices, row):
            expected = 0.0 if c == "zero" else int(c[len("mbconv_k")]) * int(c.split("_e")[1]) / 10
            assert v == pytest.approx(expected)
    arch = tuple(d.choices[-1] for d in decisions)  # zero where allowed
    total = base + sum(float(vectors[d.name][-1]) for d in decisions)
    assert table.latency(sp.to_graph(arch)) == pytest.approx(total, rel=1e-5)


def test_proxyless_end_to_end_and_deterministic(sp, data, table):
    runs = [ProxylessNAS(sp, seed=3, latency=table, latency_weight=0.1, **PX).search(data) for _ in range(2)]
    r = runs[0]
    sp.check(r.arch)
    assert r.epochs_run == 2 and len(r.alpha_history) == 2
    assert len(r.latency_history) == 1 + 1  # initial + one α step in epoch 1 (64 of 128 images per half)
    assert runs[1].arch == r.arch and runs[1].latency_history == r.latency_history
    for key, a in r.alpha_history[0].items():
        assert torch.equal(a, runs[1].alpha_history[0][key])


def test_proxyless_one_path_per_forward(sp, data):
    strategy = ProxylessNAS(sp, estimator="two", **OPTIONS)
    model = strategy.build_model()
    set_generator(model, 0)
    found = sites(model)
    assert found
    calls = {s.path: 0 for s in found}
    handles = []
    for s in found:
        for cand in s.module.candidates:
            handles.append(cand.register_forward_hook(lambda *_, p=s.path: calls.__setitem__(p, calls[p] + 1)))
    model.train()
    for _ in range(3):
        for p in calls:
            calls[p] = 0
        out = model(data.x_train[:4])
        assert all(n == 1 for n in calls.values()), calls
    # the two-path α gradient touches exactly two entries of each row with ≥ 2 candidates
    out = out[0] if isinstance(out, tuple) else out
    torch.nn.functional.cross_entropy(out, data.y_train[:4]).backward()
    for key, alpha in model.alphas_by_key().items():
        assert int((alpha.grad != 0).sum()) <= 2
    for h in handles:
        h.remove()


def test_latency_weight_lowers_expected_latency(sp, data, table):
    options = {**PX, "batch_size": 16, "arch_lr": 0.3}  # 4 α steps, in epoch 1, large enough to beat the CE noise
    free = ProxylessNAS(sp, seed=1, latency=table, latency_weight=0.0, **options).search(data)  # E[LAT] tracked
    heavy = ProxylessNAS(sp, seed=1, latency=table, latency_weight=10.0, **options).search(data)
    assert len(free.latency_history) == len(heavy.latency_history) == 5
    assert free.latency_history[0] == heavy.latency_history[0]
    assert heavy.latency_history[-1] < heavy.latency_history[0]
    assert heavy.latency_history[-1] < free.latency_history[-1]
    # the reference code's multiplicative loss also lowers it
    code = ProxylessNAS(sp, seed=1, latency=table, latency_weight=1.0, loss="code", target=2.0, **options)
    lat = code.search(data).latency_history
    assert lat[-1] < lat[0]


def test_gdas_end_to_end_and_tau(sp, data):
    runs = [GDAS(sp, seed=5, **OPTIONS).search(data) for _ in range(2)]
    sp.check(runs[0].arch)
    assert runs[0].arch == runs[1].arch
    for key, a in runs[0].alpha_history[0].items():
        assert torch.equal(a, runs[1].alpha_history[0][key])
    assert runs[0].tau_history == [10.0]
    g = GDAS(sp, epochs=5, progress=False)
    assert [g.tau(e) for e in range(5)] == pytest.approx([10.0, 7.525, 5.05, 2.575, 0.1])
    # τ reaches the modules during the search
    model = g.build_model()
    g.before_epoch(model, 4)
    assert all(state.tau == pytest.approx(0.1) for _, state in states(model))


def test_bad_options(sp, data):
    with pytest.raises(SearchError, match="loss"):
        ProxylessNAS(sp, loss="mul")
    with pytest.raises(SearchError, match="latency_weight"):
        ProxylessNAS(sp, latency_weight=-1)
    with pytest.raises(SearchError, match="tau"):
        GDAS(sp, tau_max=0.1, tau_min=1.0)
    with pytest.raises(SearchError, match="fit_input"):
        GDAS(sp, **OPTIONS).search(load_dataset("digits"))


def test_gdas_on_darts_space():
    from spaces.darts import SMALL as DARTS_SMALL
    from spaces.darts import space as darts_space

    dsp = darts_space(**{**DARTS_SMALL, "layers": 3, "channels": 4, "image_size": 8})
    d = digits(dsp.in_channels, dsp.image_size, train=64)
    r = GDAS(dsp, **{**OPTIONS, "batch_size": 32}).search(d)
    assert dsp.decode(dsp.encode(r.arch)) == r.arch


def test_exports():
    from wiring.search import oneshot

    assert oneshot.ProxylessNAS is ProxylessNAS and oneshot.GDAS is GDAS


def test_derived_subnet_keeps_its_inherited_weights(sp, data, table):
    """``inherit`` on the binarised supernet: the discrete network computes what the supernet computes on that
    path (run by a single-path copy of the trained supernet: binary mode samples its paths)."""
    from wiring import compile as compile_graph
    from wiring.search.oneshot import inherit, set_arch

    model = ProxylessNAS(sp, seed=0, latency=table, **OPTIONS).search(data).model.eval()
    on_path = compile_graph(sp.supernet(), mode="single_path").eval()
    on_path.load_state_dict(model.state_dict())
    x = data.x_val[:8]
    outputs = []
    for arch in (tuple(d.choices[-1] for d in sp.decisions()),  # zero (a dropped layer) wherever allowed
                 tuple(d.choices[1] for d in sp.decisions())):
        sp.check(arch)
        set_arch(on_path, sp, arch)
        net = inherit(sp, model, arch).eval()
        with torch.no_grad():
            expected, got = on_path(x), net(x)
        assert torch.allclose(expected, got, atol=1e-5), sp.encode(arch)
        outputs.append(got)
    assert not torch.allclose(*outputs, atol=1e-4)  # other paths, other weights


class _CountingProxyless(ProxylessNAS):
    """Records the epoch of every α step."""

    def before_epoch(self, model, epoch):
        self.epoch = epoch
        super().before_epoch(model, epoch)

    def after_alpha_step(self, model):
        self.alpha_epochs.append(self.epoch)
        super().after_alpha_step(model)


def test_proxyless_warm_up_and_one_alpha_step_per_five_weight_steps(sp, data):
    """The reference schedule: no α step in warm-up or in the first search epoch, then one after every 5th weight
    step (64 weight-half images / batch 8 = 8 weight steps per epoch: one α step each)."""
    strategy = _CountingProxyless(sp, seed=0, epochs=3, warmup_epochs=1, batch_size=8, progress=False)
    strategy.alpha_epochs = []
    result = strategy.search(data)
    assert strategy.alpha_epochs == [2, 3]
    initial = strategy.build_model().alphas_by_key()
    for key, a in result.alpha_history[1].items():  # after the warm-up and the first search epoch: untouched
        assert torch.equal(a, initial[key].detach()), key
    assert any(not torch.equal(a, initial[key].detach()) for key, a in result.alpha_history[-1].items())


def test_no_alpha_update_for_a_decision_whose_active_path_is_zero(sp, data):
    """The reference's set_arch_param_grad: an α whose active op is the zero op gets no gradient (Adam skips it)."""
    strategy = ProxylessNAS(sp, progress=False)
    model = strategy.build_model()
    set_generator(model, 0)
    out = model(data.x_train[:4])
    torch.nn.functional.cross_entropy(out[0] if isinstance(out, tuple) else out, data.y_train[:4]).backward()
    skippable = [d for d in sp.decisions() if "zero" in d.choices]
    assert skippable
    zero_layer, other = skippable[0].name, sp.decisions()[0].name
    state = dict(states(model))[zero_layer]
    state.last.index[0] = skippable[0].choices.index("zero")  # as if this forward had drawn zero there
    dict(states(model))[other].last.index[0] = 0  # and a real op here
    alphas = model.alphas_by_key()
    before = alphas[other].grad.clone()
    strategy.before_alpha_update(model)
    assert alphas[zero_layer].grad is None
    assert torch.equal(alphas[other].grad, before)
