"""Modules, parameter-free functions and relaxation modes, checked against hand computations."""

from __future__ import annotations

import pytest
import torch

import ops
from ops import OpError, functional as fn, modules


def build(name, params, shapes):
    spec = ops.get(name)
    p = spec.resolve(params)
    return spec.build(shapes, spec.shape(shapes, p), p)


CANDIDATES = [{"op": "sep_conv", "params": {"channels": 3}}, {"op": "max_pool"}, {"op": "zero"}, {"op": "identity"}]


def mixed():
    return build("choice", {"candidates": CANDIDATES}, [(3, 6, 6)]).eval()


def by_hand(x):
    m = mixed()  # only for the sep_conv weights
    return [m.candidates[0](x), fn.max_pool(x, kernel=3, stride=1, padding=None), torch.zeros_like(x), x], m


# -- relaxation modes ------------------------------------------------------------------


def test_modes():
    assert {"softmax", "sigmoid"} <= set(ops.modes())
    assert ops.modes() == sorted(ops.modes())
    assert ops.DEFAULT_MODE == "softmax" in ops.modes()


def test_mixed_op_softmax():
    x, alpha = torch.randn(2, 3, 6, 6), torch.randn(4)
    outs, m = by_hand(x)
    assert m.mode == "softmax" and "softmax" in repr(m)
    w = torch.exp(alpha) / torch.exp(alpha).sum()
    expected = sum(w[i] * outs[i] for i in range(4))
    torch.testing.assert_close(m(x, alpha), expected)


def test_mixed_op_sigmoid():
    x, alpha = torch.randn(2, 3, 6, 6), torch.randn(4)
    outs, m = by_hand(x)
    m.mode = "sigmoid"
    assert "mode='sigmoid'" in repr(m)
    expected = sum(1 / (1 + torch.exp(-alpha[i])) * outs[i] for i in range(4))
    torch.testing.assert_close(m(x, alpha), expected)
    m2 = modules.MixedOp(list(m.candidates), mode="sigmoid")
    torch.testing.assert_close(m2(x, alpha), expected)


def test_mixed_op_one_hot_alpha_picks_a_candidate():
    x = torch.randn(2, 3, 6, 6)
    outs, m = by_hand(x)
    for i in range(4):
        alpha = torch.full((4,), -1e4)
        alpha[i] = 0.0
        torch.testing.assert_close(m(x, alpha), outs[i])


def test_mixed_op_has_only_candidate_weights():
    m = mixed()
    assert sum(t.numel() for t in m.parameters()) == sum(t.numel() for t in m.candidates[0].parameters())
    assert len(m.candidates) == 4 and isinstance(m.candidates[1], modules.FunctionOp)


@pytest.mark.parametrize("bad", ["gumbel_typo", "", "Softmax", None, ["softmax"]])
@pytest.mark.parametrize("make", [mixed, modules.Select])
def test_unknown_mode(make, bad):
    m = make()
    with pytest.raises(OpError, match="unknown relaxation mode") as info:
        m.mode = bad
    for mode in ops.modes():
        assert mode in str(info.value)
    assert m.mode == "softmax"  # unchanged


def test_unknown_mode_at_construction():
    with pytest.raises(OpError, match="known modes: "):
        modules.MixedOp([modules.FunctionOp(fn.identity, {})], mode="nope")
    with pytest.raises(OpError, match="'nope'"):
        modules.Select(mode="nope")


def test_select():
    xs, alpha = [torch.randn(2, 3, 4, 4) for _ in range(3)], torch.randn(3)
    m = build("select", {}, [(3, 4, 4)] * 3)
    assert list(m.parameters()) == []
    w = torch.softmax(alpha, 0)
    torch.testing.assert_close(m(*xs, alpha), w[0] * xs[0] + w[1] * xs[1] + w[2] * xs[2])
    m.mode = "sigmoid"
    w = torch.sigmoid(alpha)
    torch.testing.assert_close(m(*xs, alpha), w[0] * xs[0] + w[1] * xs[1] + w[2] * xs[2])
    torch.testing.assert_close(modules.Select()(xs[0], torch.randn(1)), xs[0])


# -- aggregations ---------------------------------------------------------------------


def test_weighted_sum():
    xs = [torch.randn(2, 3, 4, 4) for _ in range(3)]
    m = build("weighted_sum", {}, [(3, 4, 4)] * 3)
    torch.testing.assert_close(torch.sigmoid(m.weight), torch.full((3,), 0.5))
    torch.testing.assert_close(m(*xs), 0.5 * (xs[0] + xs[1] + xs[2]))
    with torch.no_grad():
        m.weight.copy_(torch.tensor([1.0, -2.0, 0.0]))
    g = torch.sigmoid(m.weight.detach())
    torch.testing.assert_close(m(*xs), g[0] * xs[0] + g[1] * xs[1] + g[2] * xs[2])


def test_weighted_sum_single_input_passes_through():
    x = torch.randn(2, 3, 4, 4)
    m = build("weighted_sum", {}, [(3, 4, 4)])
    assert m.weight is None and list(m.parameters()) == []
    assert torch.equal(m(x), x)


def test_rw_node_aggregates_then_transforms():
    xs = [torch.randn(2, 3, 5, 5) for _ in range(2)]
    m = build("rw_node", {"channels": 4, "stride": 2}, [(3, 5, 5)] * 2).eval()
    transform = torch.nn.Sequential(m.relu, m.depthwise, m.pointwise, m.bn)
    torch.testing.assert_close(m(*xs), transform(0.5 * (xs[0] + xs[1])))
    assert m.weight.shape == (2,)
    assert build("rw_node", {"channels": 4}, [(3, 5, 5)]).weight is None


def test_sum_mean_concat():
    a, b, c = (torch.randn(2, 3, 4, 4) for _ in range(3))
    torch.testing.assert_close(fn.sum_inputs(a, b, c), a + b + c)
    torch.testing.assert_close(fn.mean_inputs(a, b, c), (a + b + c) / 3)
    assert torch.equal(fn.mean_inputs(a), a)
    y = ops.get("concat").function(a, b[:, :1])
    assert y.shape == (2, 4, 4, 4) and torch.equal(y[:, :3], a) and torch.equal(y[:, 3:], b[:, :1])


# -- parameter-free ops ---------------------------------------------------------------


def test_zero_stride_2_odd_sizes():
    spec = ops.get("zero")
    p = spec.resolve({"stride": 2})
    assert spec.shape([(3, 5, 7)], p) == (3, 3, 4)
    y = spec.function(torch.randn(2, 3, 5, 7), **p)
    assert y.shape == (2, 3, 3, 4) and torch.count_nonzero(y) == 0
    y = spec.function(torch.randn(2, 3, 5, 7), **spec.resolve({}))
    assert y.shape == (2, 3, 5, 7) and torch.count_nonzero(y) == 0


def test_avg_pool_excludes_padding_by_default():
    spec = ops.get("avg_pool")
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = spec.function(x, **spec.resolve({}))
    assert y.shape == x.shape
    assert y[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert y[0, 0, 1, 1].item() == pytest.approx(x[0, 0, :3, :3].mean().item())
    y = spec.function(x, **spec.resolve({"count_include_pad": True}))
    assert y[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 9)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("name", ["max_pool", "avg_pool"])
def test_pool_default_padding_keeps_size(name, kernel):
    spec = ops.get(name)
    p = spec.resolve({"kernel": kernel})
    assert spec.shape([(2, 7, 9)], p) == (2, 7, 9)
    assert spec.function(torch.randn(1, 2, 7, 9), **p).shape == (1, 2, 7, 9)


def test_max_pool_values():
    spec = ops.get("max_pool")
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = spec.function(x, **spec.resolve({}))
    assert y[0, 0, 0, 0] == 5 and y[0, 0, 3, 3] == 15 and y[0, 0, 1, 1] == 10


def test_global_pool_and_identity():
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(ops.get("global_pool").function(x), x.mean((2, 3)))
    assert ops.get("identity").function(x) is x


# -- modules with weights -------------------------------------------------------------


def test_head():
    x = torch.randn(2, 8, 3, 3)
    m = build("head", {"num_classes": 5}, [(8, 3, 3)])
    assert m.dropout is None
    torch.testing.assert_close(m(x), m.fc(x.mean((2, 3))))
    m = build("head", {"num_classes": 5, "dropout": 0.5}, [(8, 3, 3)])
    assert m.dropout.p == 0.5
    torch.testing.assert_close(m.eval()(x), m.fc(x.mean((2, 3))))


def test_conv_layers_layout():
    m = build("sep_conv", {"channels": 6, "kernel": 5, "stride": 2, "dilation": 2}, [(4, 9, 9)])
    relu, dw, pw, bn = m
    assert isinstance(relu, torch.nn.ReLU) and not relu.inplace
    assert (dw.groups, dw.kernel_size, dw.stride, dw.dilation, dw.padding) == (4, (5, 5), (2, 2), (2, 2), (4, 4))
    assert pw.kernel_size == (1, 1) and pw.out_channels == 6 and dw.bias is None and pw.bias is None
    assert bn.affine
    m = build("conv_bn", {"channels": 3, "relu": True, "affine": False}, [(4, 5, 5)])
    assert isinstance(m[0], torch.nn.Conv2d) and not m[1].affine and isinstance(m[2], torch.nn.ReLU)
    assert len(build("conv_bn", {"channels": 3}, [(4, 5, 5)])) == 2
    m = build("relu_conv_bn", {"channels": 3, "dilation": 2}, [(4, 5, 5)])
    assert isinstance(m[0], torch.nn.ReLU) and m[1].padding == (2, 2)


def test_function_op():
    x = torch.randn(1, 2, 5, 5)
    m = modules.FunctionOp(fn.max_pool, {"kernel": 3, "stride": 2, "padding": None})
    torch.testing.assert_close(m(x), torch.nn.functional.max_pool2d(x, 3, 2, 1))
    assert list(m.parameters()) == []
