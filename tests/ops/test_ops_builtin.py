"""Every registered op, parametrised (timm-style): shape rule, build, run, static cost."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import ops
from ops import OpError
from ops.builtin import conv_padding

STRUCTURAL = {"input", "output", "subgraph"}

IMG = (4, 8, 8)

# op name -> [(params, in_shapes)], shapes without batch.
EXAMPLES: dict[str, list[tuple[dict, list[tuple[int, ...]]]]] = {
    "sum": [({}, [IMG]), ({}, [IMG] * 3), ({}, [(6,), (6,)])],
    "mean": [({}, [IMG]), ({}, [IMG] * 3), ({}, [(6,), (6,)])],
    "concat": [({}, [(2, 5, 5), (3, 5, 5), (1, 5, 5)]), ({}, [(4,), (2,)]), ({}, [IMG])],
    "weighted_sum": [({}, [IMG]), ({}, [IMG] * 3)],
    "identity": [({}, [IMG]), ({}, [(7,)])],
    "zero": [({}, [(3, 5, 5)]), ({"stride": 2}, [(3, 5, 7)]), ({"stride": 3}, [(3, 8, 8)])],
    "relu_conv_bn": [
        ({"channels": 6}, [IMG]),
        ({"channels": 6, "stride": 2}, [IMG]),
        ({"channels": 5, "kernel": 3, "dilation": 2}, [IMG]),
        ({"channels": 3, "kernel": 5, "stride": 2, "padding": 1, "affine": False}, [(4, 9, 9)]),
        ({"channels": 4, "kernel": 1, "padding": 0}, [IMG]),
    ],
    "conv_bn": [
        ({"channels": 6}, [IMG]),
        ({"channels": 6, "kernel": 1, "stride": 2, "relu": True}, [IMG]),
        ({"channels": 2, "kernel": 5, "padding": 0, "affine": False}, [(3, 7, 9)]),
        ({"channels": 2, "kernel": 2, "stride": 2, "padding": 1, "relu": True}, [(3, 7, 7)]),
    ],
    "sep_conv": [
        ({"channels": 6}, [IMG]),
        ({"channels": 8, "kernel": 5, "stride": 2}, [IMG]),
        ({"channels": 4, "kernel": 3, "dilation": 2, "stride": 2, "affine": False}, [(4, 9, 9)]),
        ({"channels": 3, "kernel": 3, "padding": 0}, [(4, 6, 6)]),
    ],
    "rw_node": [
        ({"channels": 6}, [IMG]),
        ({"channels": 6, "stride": 2}, [IMG] * 3),
        ({"channels": 4, "stride": 2}, [(4, 7, 7), (4, 7, 7)]),
    ],
    "max_pool": [
        ({}, [IMG]),
        ({"stride": 2}, [(4, 7, 7)]),
        ({"kernel": 2, "stride": 2, "padding": 1}, [IMG]),
        ({"kernel": 5, "padding": 0}, [IMG]),
    ],
    "avg_pool": [
        ({}, [IMG]),
        ({"stride": 2, "count_include_pad": True}, [(4, 7, 7)]),
        ({"kernel": 2, "stride": 2, "padding": 0}, [IMG]),
    ],
    "global_pool": [({}, [IMG]), ({}, [(3, 1, 1)])],
    "linear": [({"features": 5}, [(7,)]), ({"features": 3, "bias": False}, [(4,)])],
    "head": [({"num_classes": 10}, [IMG]), ({"num_classes": 3, "dropout": 0.5}, [(8, 3, 3)])],
    "choice": [
        ({"candidates": [{"op": "sep_conv", "params": {"channels": 4}}, {"op": "max_pool"}, {"op": "zero"},
                         {"op": "identity"}, {"op": "relu_conv_bn", "params": {"channels": 4, "kernel": 1}}]},
         [IMG]),
        ({"candidates": [{"op": "sep_conv", "params": {"channels": 6, "stride": 2}},
                         {"op": "avg_pool", "params": {"stride": 2}},
                         {"op": "zero", "params": {"stride": 2}}],
          "key": "reduce", "index": 2},
         [(6, 7, 7)]),
        ({"candidates": [{"op": "linear", "params": {"features": 5}}, {"op": "Linear", "params": {"features": 5, "bias": False}}]}, [(9,)]),
    ],
    "select": [({}, [IMG] * 3), ({"key": "x", "index": 1}, [IMG])],
}


def _family_examples() -> None:
    """Merge ``EXAMPLES`` of every ``examples_<family>.py`` beside this file (one per ops module of a space family)."""
    for path in sorted(pathlib.Path(__file__).parent.glob("examples_*.py")):
        spec = importlib.util.spec_from_file_location(f"ops_{path.stem}", path)
        family = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(family)
        clash = set(family.EXAMPLES) & set(EXAMPLES)
        assert not clash, f"{path.name} repeats examples of {clash}"
        EXAMPLES.update(family.EXAMPLES)


_family_examples()


def cases() -> list:
    return [pytest.param(name, params, shapes, id=f"{name}-{i}")
            for name, examples in sorted(EXAMPLES.items()) for i, (params, shapes) in enumerate(examples)]


def test_every_op_has_an_example():
    """A newly registered op without an example fails here."""
    registered = set(ops.names())
    assert {n for n in registered if ops.get(n).structural} == STRUCTURAL
    assert set(EXAMPLES) == registered - STRUCTURAL
    assert all(EXAMPLES.values())


def make(name, params, shapes):
    """(spec, resolved params, out shape, module or None)."""
    spec = ops.get(name)
    p = spec.resolve(params)
    spec.check_arity(len(shapes))
    out = spec.shape(shapes, p)
    assert isinstance(out, tuple) and all(isinstance(d, int) and d > 0 for d in out)
    module = spec.build(shapes, out, p) if spec.build is not None else None
    return spec, p, out, module


def alpha_for(name, p, shapes):
    if name == "choice":
        return [torch.randn(len(p["candidates"]))]
    if name == "select":
        return [torch.randn(len(shapes))]
    return []


def run(spec, p, module, inputs, alpha):
    if module is not None:
        return module(*inputs, *alpha)
    return spec.function(*inputs, **p)


@pytest.mark.parametrize("name,params,shapes", cases())
def test_op_runs_with_predicted_shape(name, params, shapes):
    spec, p, out, module = make(name, params, shapes)
    inputs = [torch.randn(2, *s) for s in shapes]
    y = run(spec, p, module, inputs, alpha_for(name, p, shapes))
    assert tuple(y.shape) == (2, *out)
    assert torch.isfinite(y).all()
    weights = dict(module.named_parameters()) if module is not None else {}
    if weights:  # gradients reach every weight
        y.sum().backward()
        for pname, param in weights.items():
            assert param.grad is not None, pname


@pytest.mark.parametrize("name,params,shapes", cases())
def test_cost_matches_module(name, params, shapes):
    spec, p, out, module = make(name, params, shapes)
    cost = spec.cost(shapes, out, p)
    assert isinstance(cost, ops.Cost)
    n_params = 0 if module is None else sum(t.numel() for t in module.parameters())
    assert cost.params == n_params
    if module is not None:
        module.eval()
    inputs = [torch.randn(1, *s) for s in shapes]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        run(spec, p, module, inputs, alpha_for(name, p, shapes))
    assert 2 * cost.macs == fc.get_total_flops()


@pytest.mark.parametrize("name,params,shapes", cases())
def test_rules_do_not_mutate_params(name, params, shapes):
    spec = ops.get(name)
    p = spec.resolve(params)
    snapshot = repr(p)
    out = spec.shape(shapes, p)
    spec.cost(shapes, out, p)
    if spec.build is not None:
        spec.build(shapes, out, p)
    assert repr(p) == snapshot and spec.resolve(p) == p


# -- shape-rule errors -----------------------------------------------------------------

SEP = {"op": "sep_conv", "params": {"channels": 4}}

BAD: list[tuple[str, dict, list, str]] = [
    # (op, params, in_shapes, text the message must contain besides the op's name)
    ("sum", {}, [IMG, (4, 8, 7)], "equal shape"),
    ("sum", {}, [IMG, IMG, (3, 8, 8)], "input 2"),
    ("mean", {}, [IMG, (4,)], "equal shape"),
    ("weighted_sum", {}, [IMG, (5, 8, 8)], "equal shape"),
    ("rw_node", {"channels": 4}, [IMG, (5, 8, 8)], "equal shape"),
    ("select", {}, [IMG, (4, 4, 4)], "equal shape"),
    ("concat", {}, [(2, 5, 5), (3, 4, 5)], "channels only"),
    ("concat", {}, [(2, 5, 5), (3,)], "channels only"),
    ("concat", {}, [(2,), ()], "channels only"),
    ("relu_conv_bn", {"channels": 4}, [(8,)], "image inputs"),
    ("conv_bn", {"channels": 4}, [(3, 8)], "image inputs"),
    ("sep_conv", {"channels": 4}, [(3, 8, 8, 8)], "image inputs"),
    ("rw_node", {"channels": 4}, [(8,)], "image inputs"),
    ("max_pool", {}, [(8,)], "image inputs"),
    ("avg_pool", {}, [(8,)], "image inputs"),
    ("global_pool", {}, [(8,)], "image inputs"),
    ("zero", {"stride": 2}, [(8,)], "image inputs"),
    ("head", {"num_classes": 3}, [(8,)], "image inputs"),
    ("linear", {"features": 3}, [IMG], "flat feature"),
    ("relu_conv_bn", {"channels": 4, "kernel": 7, "padding": 0}, [(3, 4, 4)], "leaves no output"),
    ("conv_bn", {"channels": 4, "kernel": 5, "padding": 0}, [(3, 8, 3)], "leaves no output"),
    ("sep_conv", {"channels": 4, "dilation": 3, "padding": 0}, [(3, 6, 6)], "leaves no output"),
    ("max_pool", {"kernel": 5, "padding": 0}, [(3, 3, 3)], "leaves no output"),
    ("avg_pool", {"kernel": 4, "padding": 0}, [(3, 3, 3)], "leaves no output"),
    ("max_pool", {"kernel": 3, "padding": 2}, [IMG], "padding 2 exceeds half of kernel 3"),
    ("avg_pool", {"kernel": 2, "padding": 2}, [IMG], "padding 2 exceeds half of kernel 2"),
    ("choice", {"candidates": [{"op": "identity"}, {"op": "zero", "params": {"stride": 2}}]}, [IMG],
     "agree on their output shape"),
    ("choice", {"candidates": [{"op": "identity"}, {"op": "sep_conv", "params": {"channels": 8}}]}, [IMG],
     "(8, 8, 8) (candidate 1)"),
    ("choice", {"candidates": [SEP, {"op": "input", "params": {"channels": 4}}]}, [IMG], "candidate 1 ('input')"),
    ("choice", {"candidates": [{"op": "output"}]}, [IMG], "candidate 0 ('output')"),
    ("choice", {"candidates": [SEP, {"op": "subgraph"}]}, [IMG], "candidate 1 ('subgraph')"),
    ("choice", {"candidates": [SEP, {"op": "select"}]}, [IMG], "candidate 1 ('select') is itself relaxed"),
    ("choice", {"candidates": [{"op": "choice", "params": {"candidates": [SEP]}}]}, [IMG], "is itself relaxed"),
    ("choice", {"candidates": [SEP, {"op": "identity", "param": {}}]}, [IMG], "unknown keys ['param']"),
]


@pytest.mark.parametrize("name,params,shapes,text", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_shape_rule_errors(name, params, shapes, text):
    spec = ops.get(name)
    p = spec.resolve(params)
    with pytest.raises(OpError) as info:
        spec.shape(shapes, p)
    msg = str(info.value)
    assert f"op {name!r}" in msg and text in msg


def test_choice_unknown_candidate_lists_known_ops():
    spec = ops.get("choice")
    p = spec.resolve({"candidates": [SEP, {"op": "sep_konv"}]})
    with pytest.raises(OpError, match="unknown op 'sep_konv'; known ops: ") as info:
        spec.shape([IMG], p)
    assert "sep_conv" in str(info.value)


def test_choice_candidate_errors_name_the_candidate():
    spec = ops.get("choice")
    p = spec.resolve({"candidates": [{"op": "sep_conv"}]})
    with pytest.raises(OpError, match="op 'sep_conv': missing required param 'channels'"):
        spec.shape([IMG], p)
    p = spec.resolve({"candidates": [{"op": "sep_conv", "params": {"channels": 4, "stride": 0}}]})
    with pytest.raises(OpError, match="op 'sep_conv': param 'stride' must be >= 1"):
        spec.shape([IMG], p)
    p = spec.resolve({"candidates": [{"op": "linear", "params": {"features": 3}}]})
    with pytest.raises(OpError, match="op 'linear' takes flat feature"):
        spec.shape([IMG], p)


def test_bad_candidates_param():
    with pytest.raises(OpError, match="op 'choice': missing required param 'candidates'"):
        ops.get("choice").resolve({})
    with pytest.raises(OpError, match="op 'choice': param 'candidates' must be ops, got \\[\\]"):
        ops.get("choice").resolve({"candidates": []})


# -- property: conv-like shape and cost rules agree with torch --------------------------

CONV_LIKE = ["relu_conv_bn", "conv_bn", "sep_conv", "rw_node", "max_pool", "avg_pool"]


@st.composite
def conv_cases(draw):
    name = draw(st.sampled_from(CONV_LIKE))
    spec = ops.get(name)
    params = {}
    if "channels" in spec.params:
        params["channels"] = draw(st.integers(1, 4))
    if "kernel" in spec.params:
        params["kernel"] = draw(st.sampled_from([1, 3, 5, 7]))
    params["stride"] = draw(st.integers(1, 3))
    if "dilation" in spec.params:
        params["dilation"] = draw(st.integers(1, 2))
    if "padding" in spec.params:
        params["padding"] = draw(st.none() | st.integers(0, 3))
    c_in = draw(st.integers(1, 4))
    size = (c_in, draw(st.integers(5, 20)), draw(st.integers(5, 20)))
    inputs = draw(st.integers(1, 3)) if name == "rw_node" else 1
    return name, params, [size] * inputs


@settings(max_examples=30, deadline=None)
@given(conv_cases())
def test_conv_like_rules_agree_with_torch(case):
    name, params, shapes = case
    spec = ops.get(name)
    p = spec.resolve(params)
    inputs = [torch.randn(1, *s) for s in shapes]
    try:
        out = spec.shape(shapes, p)
    except OpError as error:
        assert f"op {name!r}" in str(error)
        if "padding only" in str(error):  # stricter than torch, on purpose: no output may see padding only
            assert conv_padding(p) > p.get("dilation", 1) * (p["kernel"] - 1)
            return
        with pytest.raises(RuntimeError):  # torch refuses too (or would give an empty output)
            module = spec.build(shapes, shapes[0], p) if spec.build is not None else None
            y = run(spec, p, module, inputs, [])
            if y.numel() == 0:
                raise RuntimeError("empty output")
        return
    module = spec.build(shapes, out, p) if spec.build is not None else None
    if module is not None:
        module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        y = run(spec, p, module, inputs, [])
    assert tuple(y.shape) == (1, *out)
    cost = spec.cost(shapes, out, p)
    assert cost.params == (0 if module is None else sum(t.numel() for t in module.parameters()))
    assert 2 * cost.macs == fc.get_total_flops()


@pytest.mark.parametrize("name, params", [
    ("conv_bn", {"channels": 4, "kernel": 1, "padding": 1}),
    ("sep_conv", {"channels": 4, "kernel": 3, "padding": 3}),
    ("relu_conv_bn", {"channels": 4, "kernel": 3, "dilation": 2, "padding": 5}),
])
def test_padding_that_leaves_outputs_seeing_only_padding_is_refused(name, params):
    spec = ops.get(name)
    with pytest.raises(OpError, match=f"op '{name}': padding {params['padding']} exceeds dilation·\\(kernel−1\\)"):
        spec.shape([(4, 8, 8)], spec.resolve(params))
    spec.shape([(4, 8, 8)], spec.resolve({**params, "padding": params.get("dilation", 1) * (params["kernel"] - 1)}))
