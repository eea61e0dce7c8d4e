"""The op registry: lookup, registration, param signatures and arity."""

from __future__ import annotations

import json
import math

import networkx as nx
import pytest
import torch

import ops
from ops import OpError, OpSpec, Param, registry
from ops.cost import Cost, batch_norm_cost, conv_cost, linear_cost

STRUCTURAL = {"input", "output", "subgraph"}


@pytest.fixture
def scratch():
    """Registry that forgets every op a test registers."""
    before = dict(registry._REGISTRY)
    yield
    for name in set(registry._REGISTRY) - set(before):
        del registry._REGISTRY[name]
    assert registry._REGISTRY == before


def _shape(s, p):
    return s[0]


def _cost(s, o, p):
    return Cost()


def _fn(x):
    return x


def spec(name="test_only_op", **kw):
    kw.setdefault("shape", _shape)
    kw.setdefault("cost", _cost)
    if "build" not in kw:
        kw.setdefault("function", _fn)
    return OpSpec(name, **kw)


# -- errors and lookup ---------------------------------------------------------


def test_op_error_is_value_error():
    assert issubclass(OpError, ValueError)
    assert ops.OpError is ops.errors.OpError


def test_names_sorted_and_structural_ops():
    names = ops.names()
    assert names == sorted(names) and len(names) == len(set(names))
    assert {n for n in names if ops.get(n).structural} == STRUCTURAL


def test_every_registered_op_is_well_formed():
    for name in ops.names():
        s = ops.get(name)
        assert s.name == name == ops.normalise(name)
        assert s.doc, name
        for pname, param in s.params.items():
            assert isinstance(param, Param), (name, pname)
            if param.default is not ops.REQUIRED:  # defaults pass their own checks
                assert param.check(name, pname, param.default) == param.default
        low, high = s.arity
        assert low >= 0 and (high is None or high >= low)
        if not s.structural:
            assert s.shape is not None and s.cost is not None
            assert (s.build is None) != (s.function is None), name


def test_unknown_name_lists_known_ops():
    with pytest.raises(OpError, match="unknown op 'no_such_op'") as info:
        ops.get("no_such_op")
    for name in ops.names():
        assert name in str(info.value)


@pytest.mark.parametrize("name", ["Sep-Conv", "sep conv", "  SEP_CONV ", "sep--conv", "Sep - Conv"])
def test_lookup_is_normalised(name):
    assert ops.get(name) is ops.get("sep_conv")


@pytest.mark.parametrize("name", [None, 3, b"sum", ["sum"]])
def test_non_string_name(name):
    with pytest.raises(OpError, match="string"):
        ops.get(name)


def test_normalise():
    assert ops.normalise("Max-Pool") == "max_pool"
    assert ops.normalise(" relu\tconv  bn ") == "relu_conv_bn"
    assert ops.normalise("already_fine") == "already_fine"


# -- registration ----------------------------------------------------------------


def test_register_and_lookup(scratch):
    s = spec("test_only_reg")
    assert ops.register(s) is s
    assert ops.get("Test-Only-Reg") is s
    assert "test_only_reg" in ops.names()


def test_register_same_spec_is_noop(scratch):
    s = spec("test_only_same")
    ops.register(s)
    before = dict(registry._REGISTRY)
    assert ops.register(s) is s
    twin = spec("test_only_same")  # equal fields, distinct object
    assert twin == s and ops.register(twin) == s
    assert registry._REGISTRY.keys() == before.keys()
    assert ops.get("test_only_same") == s


def test_reregister_builtin_is_noop():
    s = ops.get("sum")
    assert ops.register(s) is s
    assert ops.get("sum") is s


def test_different_spec_under_taken_name(scratch):
    ops.register(spec("test_only_taken"))
    with pytest.raises(OpError, match="'test_only_taken' is taken"):
        ops.register(spec("test_only_taken", params={"k": Param("int", 1)}))
    with pytest.raises(OpError, match="'sum' is taken"):
        ops.register(spec("sum"))
    assert ops.get("sum").function is ops.functional.sum_inputs


@pytest.mark.parametrize("name", ["Test-Only-Bad", "test only bad", "TEST_ONLY_BAD", " test_only_bad"])
def test_non_normalised_name_refused(scratch, name):
    with pytest.raises(OpError, match="'test_only_bad'"):
        ops.register(spec(name))
    assert "test_only_bad" not in ops.names()


@pytest.mark.parametrize("name", [None, 7, "", "   "])
def test_bad_name_refused(scratch, name):
    with pytest.raises(OpError, match="non-empty string"):
        ops.register(spec(name))


def test_register_needs_opspec():
    with pytest.raises(OpError, match="OpSpec"):
        ops.register({"name": "test_only_dict"})


def test_spec_missing_rules_refused(scratch):
    with pytest.raises(OpError, match="'test_only_norule' needs a build rule or a function"):
        ops.register(OpSpec("test_only_norule", shape=_shape, cost=_cost))
    with pytest.raises(OpError, match="'test_only_noshape' needs a shape rule"):
        ops.register(OpSpec("test_only_noshape", function=_fn, cost=_cost))
    with pytest.raises(OpError, match="'test_only_nocost' needs .*cost rule"):
        ops.register(OpSpec("test_only_nocost", function=_fn, shape=_shape))
    assert not [n for n in ops.names() if n.startswith("test_only")]


def test_structural_spec_needs_no_rules(scratch):
    s = ops.register(OpSpec("test_only_struct", structural=True, arity=(0, 0)))
    assert ops.get("test_only_struct") is s


def test_user_op_usable_as_choice_candidate(scratch):
    ops.register(spec("test_only_double", function=lambda x: 2 * x))
    choice = ops.get("choice")
    p = choice.resolve({"candidates": [{"op": "Test-Only-Double"}, {"op": "identity"}]})
    assert choice.shape([(3, 4, 4)], p) == (3, 4, 4)
    module = choice.build([(3, 4, 4)], (3, 4, 4), p)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(module(x, torch.zeros(2)), 1.5 * x)


def test_multi_input_op_refused_as_candidate(scratch):
    ops.register(spec("test_only_pair", arity=(2, 2)))
    choice = ops.get("choice")
    p = choice.resolve({"candidates": [{"op": "identity"}, {"op": "test_only_pair"}]})
    with pytest.raises(OpError, match=r"op 'choice': candidate 1 \('test_only_pair'\) cannot take a single input"):
        choice.shape([(3, 4, 4)], p)


# -- params ------------------------------------------------------------------------

KINDS = OpSpec("test_only_kinds", params={
    "n": Param("int", low=1),
    "x": Param("float", 0.5, low=0.0, high=1.0),
    "flag": Param("bool", False),
    "s": Param("str", "a", choices=("a", "b")),
    "sizes": Param("ints", [2, 2], low=1),
    "opt": Param("int", None, optional=True, low=0),
    "cands": Param("ops", [{"op": "identity"}]),
    "g": Param("graph", None, optional=True),
})


def test_param_kind_checked():
    with pytest.raises(OpError, match="kind='integer'"):
        Param("integer")


def test_resolve_fills_defaults():
    p = KINDS.resolve({"n": 3})
    assert p == {"n": 3, "x": 0.5, "flag": False, "s": "a", "sizes": [2, 2], "opt": None,
                 "cands": [{"op": "identity"}], "g": None}
    assert KINDS.resolve(p) == p  # idempotent
    assert ops.get("sep_conv").resolve({"channels": 8}) == {
        "channels": 8, "kernel": 3, "stride": 1, "padding": None, "dilation": 1, "affine": True}
    assert ops.get("identity").resolve(None) == {}


def test_resolve_accepts_valid_values():
    p = KINDS.resolve({"n": 1, "x": 1, "flag": True, "s": "b", "sizes": (1, 5), "opt": 0, "g": nx.DiGraph()})
    assert p["sizes"] == [1, 5] and isinstance(p["sizes"], list)
    assert p["x"] == 1 and p["opt"] == 0
    assert ops.get("subgraph").resolve({"graph": nx.DiGraph()})["graph"].number_of_nodes() == 0


def test_resolve_params_must_be_mapping():
    with pytest.raises(OpError, match="op 'test_only_kinds': params must be a dict, got"):
        KINDS.resolve([("n", 1)])


def test_unknown_param_named_with_accepted():
    with pytest.raises(OpError) as info:
        KINDS.resolve({"n": 1, "kernal": 3})
    msg = str(info.value)
    assert "'test_only_kinds'" in msg and "'kernal'" in msg
    for name in KINDS.params:
        assert name in msg
    with pytest.raises(OpError, match="unknown param 'k'.*no params"):
        ops.get("identity").resolve({"k": 1})


def test_missing_required_param():
    with pytest.raises(OpError, match="op 'test_only_kinds': missing required param 'n'"):
        KINDS.resolve({})
    with pytest.raises(OpError, match="op 'conv_bn': missing required param 'channels'"):
        ops.get("conv_bn").resolve({"kernel": 3})


@pytest.mark.parametrize("name,value", [
    ("n", True), ("n", "3"), ("n", 3.0), ("n", None), ("n", [3]),
    ("x", math.nan), ("x", math.inf), ("x", -math.inf), ("x", "0.5"), ("x", True), ("x", None),
    ("flag", 1), ("flag", "true"), ("flag", None),
    ("s", 3), ("s", None),
    ("sizes", [1, "2"]), ("sizes", [1, True]), ("sizes", [1.0]), ("sizes", 3), ("sizes", "12"), ("sizes", None),
    ("opt", "x"), ("opt", 1.5),
    ("cands", []), ("cands", [{"params": {}}]), ("cands", ["identity"]), ("cands", {"op": "identity"}),
    ("g", {"nodes": []}),
])
def test_wrong_type(name, value):
    given = {"n": 1, name: value}
    with pytest.raises(OpError) as info:
        KINDS.resolve(given)
    msg = str(info.value)
    assert "'test_only_kinds'" in msg and f"param {name!r}" in msg and repr(value) in msg


@pytest.mark.parametrize("name,value,bound", [
    ("n", 0, ">= 1"), ("n", -4, ">= 1"), ("x", -0.1, ">= 0"), ("x", 1.5, "<= 1"),
    ("sizes", [1, 0], ">= 1"), ("opt", -1, ">= 0"),
])
def test_bounds(name, value, bound):
    with pytest.raises(OpError, match=f"param '{name}' must be {bound}, got") as info:
        KINDS.resolve({"n": 1, name: value})
    assert repr(value) in str(info.value)


def test_choices():
    with pytest.raises(OpError, match=r"param 's' must be one of \['a', 'b'\], got 'c'"):
        KINDS.resolve({"n": 1, "s": "c"})


def test_builtin_param_errors_name_op_param_value():
    with pytest.raises(OpError, match=r"op 'sep_conv': param 'stride' must be >= 1, got 0"):
        ops.get("sep_conv").resolve({"channels": 4, "stride": 0})
    with pytest.raises(OpError, match=r"op 'head': param 'dropout' must be <= 1, got 1.5"):
        ops.get("head").resolve({"num_classes": 10, "dropout": 1.5})
    with pytest.raises(OpError, match=r"op 'max_pool': param 'padding' must be int or None, got '1'"):
        ops.get("max_pool").resolve({"padding": "1"})


INT_PARAMS = [(name, pname, param) for name in ops.names() for pname, param in ops.get(name).params.items()
              if param.kind in ("int", "ints")]
WINDOWS = ("kernel", "kernel_h", "kernel_w", "stride", "dilation")


@pytest.mark.parametrize("name, pname, param", INT_PARAMS, ids=[f"{n}.{p}" for n, p, _ in INT_PARAMS])
def test_every_int_param_is_bounded(name, pname, param):
    high = param.high if param.high is not None else ops.MAX_INT
    if param.choices is None:
        assert high <= (ops.MAX_WINDOW if pname in WINDOWS else ops.MAX_INT)
    spec = ops.get(name)
    required = {p: (q.choices[0] if q.choices else 4 if q.kind == "int" else [{"op": "identity"}])
                for p, q in spec.params.items() if q.default is ops.REQUIRED and p != pname}
    too_big = int(high) + 1 if param.kind == "int" else [int(high) + 1]
    with pytest.raises(OpError, match=f"op '{name}': param '{pname}' must be"):
        spec.resolve({**required, pname: too_big})


def test_an_absurd_int_is_named_not_printed_and_no_float_overflow_escapes():
    with pytest.raises(OpError, match=r"param 'channels' must be <= 1,048,576, got an int of 4001 digits") as info:
        ops.get("conv_bn").resolve({"channels": int("1" + "0" * 4000)})
    assert len(str(info.value)) < 200
    with pytest.raises(OpError, match=r"param 'dropout' must be <= 1, got an int of 401 digits"):
        ops.get("head").resolve({"num_classes": 10, "dropout": 10**400})


def test_resolved_params_are_json():
    for name in ops.names():
        s = ops.get(name)
        if all(p.default is not ops.REQUIRED for p in s.params.values()):
            json.dumps(s.resolve({}))


# -- arity ---------------------------------------------------------------------------


@pytest.mark.parametrize("arity,bad,expected", [
    ((1, 1), [0, 2], "exactly 1"),
    ((0, 0), [1], "exactly 0"),
    ((1, None), [0], "at least 1"),
    ((2, 4), [1, 5], "2 to 4"),
])
def test_check_arity(arity, bad, expected):
    s = spec("test_only_arity", arity=arity)
    for count in range(arity[0], (6 if arity[1] is None else arity[1]) + 1):
        s.check_arity(count)
    for count in bad:
        with pytest.raises(OpError, match=f"op 'test_only_arity' takes {expected} input\\(s\\), got {count}"):
            s.check_arity(count)


def test_builtin_arity():
    with pytest.raises(OpError, match="op 'sum' takes at least 1"):
        ops.get("sum").check_arity(0)
    with pytest.raises(OpError, match="op 'sep_conv' takes exactly 1 input\\(s\\), got 2"):
        ops.get("sep_conv").check_arity(2)
    with pytest.raises(OpError, match="op 'input' takes exactly 0"):
        ops.get("input").check_arity(1)
    ops.get("output").check_arity(3)


# -- cost helpers ------------------------------------------------------------------


def test_cost_helpers():
    assert Cost() + Cost(1, 2) + Cost(3, 4) == Cost(4, 6)
    assert conv_cost(4, (8, 5, 5), 3) == Cost(288, 288 * 25)
    assert conv_cost(4, (8, 5, 5), (3, 1), bias=True) == Cost(96 + 8, 96 * 25)
    assert conv_cost(4, (4, 2, 2), 3, groups=4) == Cost(36, 36 * 4)
    assert batch_norm_cost(6) == Cost(12, 0) and batch_norm_cost(6, affine=False) == Cost()
    assert linear_cost(5, 3) == Cost(18, 15) and linear_cost(5, 3, bias=False) == Cost(15, 15)
