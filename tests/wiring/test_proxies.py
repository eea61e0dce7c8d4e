"""Zero-cost proxies: agreement with the reference procedures, closed forms, invariances, state restored, the
evaluator in a search, proxy features of the model-based strategies."""

import gc
import math
import pickle
import random

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import proxy_reference as ref
import wiring
from spaces.nasbench201 import NasBench201Space
from tiny_data import digits
from wiring.search import BayesianOptimization, PredictorSearch, RandomSearch, SearchError, run
from wiring.search.proxies import PROXIES, ProxyFeatures, ZeroCostEvaluator, nwot_kernel, pre_pool, score, scores
from wiring.search.runner import fingerprint

MODEL_PROXIES = [name for name, p in PROXIES.items() if p.needs != "graph"]
TINY_NB201 = {"channels": 4, "cells_per_stage": 1, "image_size": 8}
ALL_NONE = ("none",) * 6


def tiny_graph() -> nx.DiGraph:
    """3×8×8 → conv-BN-ReLU (4) → ReLU-conv-BN (6) → head (10): small enough to rebuild in plain torch."""
    G = nx.DiGraph(schema=wiring.SCHEMA_VERSION)
    G.add_node("x", op="input", params={"channels": 3, "size": [8, 8]})
    G.add_node("stem", op="conv_bn", params={"channels": 4, "relu": True})
    G.add_node("body", op="relu_conv_bn", params={"channels": 6})
    G.add_node("head", op="head", params={"num_classes": 10})
    G.add_node("out", op="output")
    nx.add_path(G, ["x", "stem", "body", "head", "out"])
    return G


class PlainNet(nn.Module):
    """``tiny_graph`` written as a plain torch module, with Zen-NAS' ``forward_pre_GAP``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6))
        self.fc = nn.Linear(6, 10)

    def forward_pre_GAP(self, x):
        return self.body(x)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


def twins(seed: int = 0):
    """The compiled ``tiny_graph`` and a ``PlainNet`` holding the same weights."""
    compiled = wiring.compile(tiny_graph(), seed=seed)
    plain = PlainNet()
    theirs, ours = plain.state_dict(), compiled.state_dict()
    assert [v.shape for v in theirs.values()] == [v.shape for v in ours.values()]
    plain.load_state_dict(dict(zip(theirs, ours.values())))
    return compiled, plain


@pytest.fixture(scope="module")
def batch():
    data = digits(3, 8, train=32)
    return data.x_train, data.y_train


REFERENCE = {
    "grad_norm": lambda net, x, y: ref.grad_norm(net, x, y), "snip": lambda net, x, y: ref.snip(net, x, y),
    "grasp": lambda net, x, y: ref.grasp(net, x, y), "fisher": lambda net, x, y: ref.fisher(net, x, y),
    "plain": lambda net, x, y: ref.plain(net, x, y), "synflow": lambda net, x, y: ref.synflow(net, x),
    "l2_norm": lambda net, x, y: ref.l2_norm(net), "jacov": lambda net, x, y: ref.jacov(net, x),
    "epe_nas": lambda net, x, y: ref.epe_nas(net, x, y), "nwot": lambda net, x, y: ref.nwot(net, x),
    "zen": lambda net, x, y: ref.zen(net, x),
}


@pytest.mark.parametrize("name", MODEL_PROXIES)
def test_every_proxy_agrees_with_its_reference_procedure_on_the_same_weights(name, batch):
    compiled, plain = twins()
    compiled.double(), plain.double()  # float64 on both sides: float32 rounding would blur the comparison
    x, y = batch[0].double(), batch[1]
    ours = score(name, compiled, x, y, seed=3)
    torch.manual_seed(3)  # zen draws its weights and inputs from the global RNG in the reference
    plain.train()
    theirs = REFERENCE[name](plain, x, y)
    assert math.isfinite(ours) and ours != 0
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_the_float32_proxies_agree_with_the_reference_to_float32_rounding(batch):
    x, y = batch
    for name in MODEL_PROXIES:
        compiled, plain = twins()
        ours = score(name, compiled, x, y, seed=3)
        torch.manual_seed(3)
        plain.train()
        assert ours == pytest.approx(REFERENCE[name](plain, x, y), rel=1e-4), name


def test_params_and_macs_come_from_wiring_cost(batch):
    G = tiny_graph()
    size = wiring.cost(G)
    model = wiring.compile(G, seed=0)
    assert score("params", model, batch[0], graph=G) == size.params == sum(p.numel() for p in model.parameters())
    assert score("macs", model, batch[0], graph=G) == size.macs
    with pytest.raises(SearchError, match="graph="):
        score("params", model, batch[0])


def linear_net(widths, bias=False) -> nx.DiGraph:
    G = nx.DiGraph(schema=wiring.SCHEMA_VERSION)
    G.add_node("x", op="input", params={"channels": widths[0], "size": []})
    names = ["x"]
    for i, width in enumerate(widths[1:]):
        G.add_node(f"fc{i}", op="linear", params={"features": width, "bias": bias})
        names.append(f"fc{i}")
    G.add_node("out", op="output")
    nx.add_path(G, [*names, "out"])
    return G


@given(seed=st.integers(0, 2**16), inputs=st.integers(1, 6), outputs=st.integers(1, 6))
@settings(max_examples=15)
def test_synflow_of_one_linear_layer_is_the_l1_norm_of_its_weight(seed, inputs, outputs):
    model = wiring.compile(linear_net([inputs, outputs], bias=True), seed=seed)
    weight = model.get_submodule("n1").weight.detach().double()
    # R = 1ᵀ|W|1 + Σ|b|, so ∂R/∂|W_ij| = 1 and Σ |W ⊙ ∂R/∂W| = ‖W‖₁ (the bias is not scored)
    assert score("synflow", model, torch.zeros(2, inputs)) == pytest.approx(float(weight.abs().sum()), rel=1e-12)


def test_synflow_of_a_bias_free_linear_chain_is_depth_times_the_path_sum():
    model = wiring.compile(linear_net([5, 4, 3]), seed=1)
    w1, w2 = (model.get_submodule(n).weight.detach().double().abs() for n in ("n1", "n2"))
    paths = float(torch.ones(3, dtype=torch.float64) @ w2 @ w1 @ torch.ones(5, dtype=torch.float64))
    assert score("synflow", model, torch.zeros(1, 5)) == pytest.approx(2 * paths, rel=1e-12)


def test_grad_norm_plain_and_l2_norm_of_a_linear_softmax_classifier_by_hand():
    model = wiring.compile(linear_net([4, 3]), seed=2)
    W = model.get_submodule("n1").weight.detach().double().numpy()
    x = torch.tensor([[1.0, 0.0, 2.0, -1.0], [0.5, 1.0, 0.0, 0.0]])
    y = torch.tensor([2, 0])
    logits = x.double().numpy() @ W.T
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    grad = (p - np.eye(3)[y.numpy()]).T @ x.double().numpy() / len(x)  # ∂ mean CE / ∂W
    assert score("grad_norm", model, x, y) == pytest.approx(np.linalg.norm(grad), rel=1e-5)
    assert score("plain", model, x, y) == pytest.approx(float((grad * W).sum()), rel=1e-4, abs=1e-7)
    assert score("snip", model, x, y) == pytest.approx(float(np.abs(grad * W).sum()), rel=1e-5)
    assert score("l2_norm", model) == pytest.approx(np.linalg.norm(W), rel=1e-6)


@given(seed=st.integers(0, 2**16), scale=st.floats(0.01, 100.0), negate=st.booleans())
@settings(max_examples=10)
def test_synflow_reads_neither_the_data_nor_its_sign(seed, scale, negate):
    model = wiring.compile(tiny_graph(), seed=0)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * scale
    base = score("synflow", model, torch.zeros(2, 3, 8, 8))
    assert score("synflow", model, -x if negate else x) == base


@given(seed=st.integers(0, 2**16), size=st.integers(2, 12))
@settings(max_examples=10)
def test_naswot_kernel_is_symmetric_psd_with_the_relu_count_on_its_diagonal(seed, size):
    model = wiring.compile(tiny_graph(), seed=seed % 7)
    x = torch.randn(size, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    K = nwot_kernel(model, x)
    units = 4 * 8 * 8 + 4 * 8 * 8  # the stem's ReLU and the body's ReLU see 4×8×8 values each
    assert K.shape == (size, size) and np.array_equal(K, K.T)
    assert np.all(np.diag(K) == units) and K.min() >= 0 and K.max() <= units
    assert np.linalg.eigvalsh(K).min() >= -1e-9 * units * size
    assert score("nwot", model, x) == pytest.approx(np.linalg.slogdet(K)[1])


@given(seed=st.integers(0, 2**16), arch=st.tuples(*[st.sampled_from(("skip_connect", "nor_conv_1x1",
                                                                       "nor_conv_3x3", "avg_pool_3x3"))] * 6))
@settings(max_examples=8)
def test_grad_norm_and_snip_are_non_negative(seed, arch):
    G = NasBench201Space(**TINY_NB201).to_graph(arch)
    data = digits(3, 8, train=8)
    values = scores(["grad_norm", "snip", "fisher"], wiring.compile(G, seed=seed), data.x_train, data.y_train)
    assert all(v >= 0 for v in values.values())


def _state(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()],
            [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()])


@pytest.mark.parametrize("name", MODEL_PROXIES)
def test_scoring_leaves_the_model_and_the_global_rng_as_they_were(name):
    arch = ("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none", "nor_conv_3x3")
    model = wiring.compile(NasBench201Space(**TINY_NB201).to_graph(arch), seed=0)
    data = digits(3, 8, train=16)
    model.train()
    model(data.x_train).sum().backward()  # gradients and moved BN statistics to keep
    model.get_submodule("n1").eval()  # mixed modes: the stem in eval mode, the rest in train mode
    frozen = next(iter(model.parameters()))
    frozen.requires_grad_(False)
    before, rng = _state(model), torch.get_rng_state()
    first = score(name, model, data.x_train, data.y_train, seed=5)
    assert score(name, model, data.x_train, data.y_train, seed=5) == first  # score twice, same value
    after = _state(model)
    assert before[0].keys() == after[0].keys() and all(torch.equal(before[0][k], after[0][k]) for k in before[0])
    assert before[1] == after[1]
    assert [r for r, _ in before[2]] == [r for r, _ in after[2]]
    assert all((a is None and b is None) or torch.equal(a, b) for (_, a), (_, b) in zip(before[2], after[2]))
    assert torch.equal(torch.get_rng_state(), rng)


def test_bad_calls_are_refused_with_the_library_error(batch):
    model = wiring.compile(tiny_graph(), seed=0)
    with pytest.raises(SearchError, match="unknown zero-cost proxy 'synflw'"):
        score("synflw", model, *batch)
    with pytest.raises(SearchError, match="'snip' needs the batch's labels"):
        score("snip", model, batch[0])
    with pytest.raises(SearchError, match="'nwot' needs a batch"):
        score("nwot", model)
    with pytest.raises(SearchError, match="zen needs exactly one top-level global average pool"):
        score("zen", wiring.compile(linear_net([4, 3]), seed=0), torch.zeros(2, 4))


def test_zen_reads_the_feature_map_before_the_pool():
    model = wiring.compile(tiny_graph(), seed=0)
    x = torch.randn(2, 3, 8, 8)
    body = nn.Sequential(model.get_submodule("n1"), model.get_submodule("n2"))
    assert torch.equal(pre_pool(model)(x), body(x))


def test_undefined_values_are_nan_or_minus_infinity_as_in_the_references():
    model = wiring.compile(NasBench201Space(**TINY_NB201).to_graph(ALL_NONE), seed=0)
    data = digits(3, 8, train=8)
    assert math.isnan(score("jacov", model, data.x_train))  # the output ignores the input: a zero Jacobian
    assert score("nwot", model, data.x_train) == -math.inf  # every sample has the same codes: a singular kernel


class Listed(NasBench201Space):
    """A tiny NAS-Bench-201 whose samples are drawn from ``archs``; ``broken`` builds a graph that cannot compile."""

    def __init__(self, archs, broken=None):
        super().__init__(**TINY_NB201)
        self.archs, self.broken = archs, broken

    def _sample(self, rng):
        return rng.choice(self.archs)

    def to_graph(self, arch):
        G = super().to_graph(arch)
        if arch == self.broken:
            G.nodes["head"]["params"] = {"num_classes": 0}
        return G


GOOD = ("nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1")
BROKEN = ("skip_connect",) * 6


def test_a_zero_cost_search_records_undefined_and_unbuildable_candidates_as_failed_trials():
    space = Listed([GOOD, ALL_NONE, BROKEN], broken=BROKEN)
    evaluator = ZeroCostEvaluator(space, "nwot", digits(3, 8, train=64), batch_size=16, metrics=["synflow"])
    result = run(RandomSearch(space, seed=0), evaluator, budget=5, progress=False)
    assert len(result.trials) == 5
    for trial in result.trials:
        arch = space.decode(trial.encoding)
        if arch == GOOD:
            assert trial.status == "complete" and trial.score == evaluator(GOOD)["score"]
            assert {"nwot", "synflow", "params", "macs", "proxy_seconds"} <= set(trial.metrics)
        else:
            assert trial.status == "failed"
            assert ("proxy 'nwot' is -inf" if arch == ALL_NONE else "num_classes") in trial.error
    assert {space.decode(t.encoding) for t in result.trials} == {GOOD, ALL_NONE, BROKEN}


def test_the_evaluator_is_seeded_and_pickles_without_its_batch():
    space = NasBench201Space(**TINY_NB201)
    evaluator = ZeroCostEvaluator(space, "synflow", "digits", batch_size=8, seed=1)
    first = evaluator(GOOD)
    assert set(first) == {"score", "synflow", "params", "macs", "proxy_seconds"}
    assert first["params"] == wiring.cost(space.to_graph(GOOD)).params
    copied = pickle.loads(pickle.dumps(evaluator))
    assert copied.minibatch._batch is None and copied(GOOD)["score"] == first["score"]
    x, y = evaluator.minibatch.fitted((3, 8, 8))
    assert x.shape == (8, 3, 8, 8) and torch.equal(ZeroCostEvaluator(space, "nwot", "digits", batch_size=8, seed=1)
                                                   .minibatch.fitted((3, 8, 8))[1], y)
    assert not torch.equal(ZeroCostEvaluator(space, "nwot", "digits", batch_size=8, seed=2)
                           .minibatch.fitted((3, 8, 8))[1], y)


def test_the_evaluator_keeps_no_model_between_calls():
    evaluator = ZeroCostEvaluator(NasBench201Space(**TINY_NB201), "snip", "digits", batch_size=8)

    def models():
        gc.collect()
        return sum(issubclass(type(o), wiring.compiler.CompiledGraph) for o in gc.get_objects())

    evaluator(GOOD)  # the minibatch is drawn and kept
    before = models()
    evaluator(GOOD), evaluator(ALL_NONE)
    assert models() == before


def test_the_evaluator_refuses_bad_settings():
    space = NasBench201Space(**TINY_NB201)
    with pytest.raises(SearchError, match="unknown zero-cost proxy"):
        ZeroCostEvaluator(space, "naswot")
    with pytest.raises(SearchError, match="batch_size"):
        ZeroCostEvaluator(space, "nwot", batch_size=1)
    with pytest.raises(SearchError, match="sequence of proxy names"):
        ZeroCostEvaluator(space, "nwot", metrics="synflow")
    with pytest.raises(SearchError, match="to_graph"):
        ZeroCostEvaluator(object(), "nwot")


def test_proxy_features_are_standardised_over_the_told_archs_and_log_scaled_for_synflow():
    space = NasBench201Space(**TINY_NB201)
    features = ProxyFeatures(space, ["synflow", "nwot"], digits(3, 8, train=32), batch_size=16)
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(6)] + [ALL_NONE]
    fitted = features.fit(archs)
    raw = np.array([features.raw(a) for a in archs])
    assert raw[-1, 1] != raw[-1, 1] and fitted[-1, 1] == 0.0  # nwot undefined (NaN) -> the column's mean
    assert np.allclose(fitted[:, 0].mean(), 0) and np.allclose(fitted[:, 0].std(), 1)
    synflow = score("synflow", wiring.compile(space.to_graph(archs[0]), seed=0), torch.zeros(1, 3, 8, 8))
    assert raw[0, 0] == pytest.approx(math.log1p(synflow))


def _objective(space):
    return lambda arch: float(sum(op == "nor_conv_3x3" for op in arch))


@pytest.mark.parametrize("cls", [BayesianOptimization, PredictorSearch])
def test_model_based_strategies_take_proxies_as_extra_features(cls):
    space = NasBench201Space(**TINY_NB201)
    data = digits(3, 8, train=32)
    strategy = cls(space, seed=0, initial=3, candidates=6, proxy_features=("synflow", "nwot"), proxy_data=data)
    plain = cls(space, seed=0, initial=3, candidates=6)
    assert plain._proxies is None and plain.proxy_features == () and strategy.proxy_features == ("synflow", "nwot")
    # off, the setup fingerprint is the one storages written before proxy features hold; on, it names them
    assert "proxy" not in fingerprint(plain, _objective(space))["settings"]
    assert '"proxy_features": ["synflow", "nwot"]' in fingerprint(strategy, _objective(space))["settings"]
    result = run(strategy, _objective(space), budget=5, progress=False)
    assert len(result.complete) == 5
    told = [a for a, _ in strategy.history]
    if cls is BayesianOptimization:
        width = len(space.features(told[0]))
        assert strategy._inputs(told, fit=False).shape == (5, width + 2)
    else:
        assert strategy.model.out[0].in_features == strategy.hidden + 2
    with pytest.raises(SearchError, match="unknown zero-cost proxy"):
        cls(space, proxy_features=("synflw",))
    with pytest.raises(SearchError, match="sequence of proxy names"):
        cls(space, proxy_features="synflow")
