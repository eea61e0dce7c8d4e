"""Fuzz every registered op with hostile params and inputs (issue 11).

For each op, hypothesis draws params from its signature and well beyond it
(absurd ints, wrong kinds, NaN, huge kernels and paddings) and an input shape.
The promise checked: ``validate`` either refuses the graph with a
:class:`wiring.GraphError` that names a node, or accepts it, and then the graph
compiles and runs a forward pass. The limits of :mod:`wiring.limits` are
lowered for the test, so an accepted graph stays small and nothing allocates
beyond them; :func:`bounded` fails a call that hangs.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ops
import wiring
from ops import REQUIRED, Param

from graphs import nested

# Small enough that any accepted graph compiles and runs in milliseconds.
SMALL_LIMITS = {"MAX_MACS": 10**7, "MAX_TENSOR_BYTES": 2**22, "MAX_WEIGHT_BYTES": 2**24}
ABSURD_INTS = [-1, 0, 2**20, 2**20 + 1, 2**31 + 1, 2**62 + 1, 10**30, int("1" + "0" * 4000)]
OPS = [name for name in ops.names() if not ops.get(name).structural]
SHAPE_KEEPING = ["identity", "max_pool", "avg_pool", "zero", "sep_conv_3x3", "skip_connect", "none", "drop_path"]


@contextmanager
def small_limits() -> Iterator[None]:
    saved = {name: getattr(wiring.limits, name) for name in SMALL_LIMITS}
    for name, value in SMALL_LIMITS.items():
        setattr(wiring.limits, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(wiring.limits, name, value)


@contextmanager
def bounded(seconds: int = 60) -> Iterator[None]:
    """Fail (not hang) if the body runs longer than ``seconds``: a bound, not a speed assertion."""
    def expire(signum: int, frame: Any) -> None:
        raise AssertionError(f"the call did not return within {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_within_limits(model: torch.nn.Module, outputs: tuple[torch.Tensor, ...]) -> None:
    """What was built stays under the (lowered) caps that validate promised."""
    assert 4 * sum(p.numel() for p in model.parameters()) <= SMALL_LIMITS["MAX_WEIGHT_BYTES"]
    assert all(4 * y[0].numel() <= SMALL_LIMITS["MAX_TENSOR_BYTES"] for y in outputs)


def refused_or_run(G: nx.DiGraph) -> tuple[torch.nn.Module, Any] | None:
    """Under the small limits and a time bound: None if ``validate`` refuses ``G`` naming one of its nodes, else
    the compiled module and its output on a batch of 2 (which must not raise)."""
    with small_limits(), bounded():
        try:
            wiring.validate(G)
        except wiring.GraphError as error:
            assert names_a_node(G, error), f"the error names no node: {error}"
            return None
        model = wiring.compile(G, seed=0).eval()
        with torch.no_grad():
            return model, model(*wiring.testing.example_inputs(G, batch=2))


def names_a_node(G: nx.DiGraph, error: Exception) -> bool:
    return any(repr(label) in str(error) for label in G)


JUNK = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                 st.lists(st.integers(-2, 4), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(),
                                                                           max_size=1))
HOSTILE = st.one_of(st.sampled_from(ABSURD_INTS), st.integers(), JUNK)
MODES = st.sampled_from(["sane"] * 8 + ["bound", "hostile"])
"""How a value is drawn: inside its bounds and small, at its bounds (``MAX_INT``, ``MAX_WINDOW``...), or anything."""


def _sane_int(param: Param) -> st.SearchStrategy[int]:
    if param.choices:
        return st.sampled_from(param.choices)
    low = 0 if param.low is None else int(param.low)
    return st.integers(low, low + 8)


def _bound_int(param: Param) -> st.SearchStrategy[int]:
    high = ops.MAX_INT if param.high is None else int(param.high)
    low = 0 if param.low is None else int(param.low)
    return st.sampled_from([low, high, high // 2, min(high, 255), min(high, 4096)])


def value_for(param: Param, mode: str) -> st.SearchStrategy[Any]:
    """A value for ``param`` drawn as ``mode`` says (see :data:`MODES`)."""
    if mode == "hostile":
        return HOSTILE
    if param.kind == "int":
        return _sane_int(param) if mode == "sane" else _bound_int(param)
    if param.kind == "float":
        low = -2.0 if param.low is None else param.low
        high = 2.0 if param.high is None else param.high
        return st.floats(low, high) if mode == "sane" else st.sampled_from([low, high])
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "str":
        return st.sampled_from(param.choices) if param.choices else st.text(max_size=6)
    if param.kind == "ints":
        item = _sane_int(param) if mode == "sane" else _bound_int(param)
        return st.lists(item, min_size=0, max_size=3)
    if param.kind == "ops":
        names = st.sampled_from(SHAPE_KEEPING if mode == "sane" else OPS)
        candidate = st.fixed_dictionaries({"op": names},
                                          optional={"params": st.dictionaries(
                                              st.sampled_from(["channels", "kernel", "stride", "padding"]),
                                              st.integers(1, 5) if mode == "sane" else HOSTILE, max_size=2)})
        return st.lists(candidate, min_size=1, max_size=3)
    return st.just(param.default)  # "graph": nested DAGs are fuzzed by the corruption tests


@st.composite
def hostile_graphs(draw: st.DrawFn, name: str) -> nx.DiGraph:
    """input -> (fan-out copies) -> op ``name`` -> output, with params and an input shape drawn by :data:`MODES`."""
    spec = ops.get(name)
    params = {}
    for pname, param in spec.params.items():
        if pname == "edges":  # an edge input needs int edge indices, which random inputs are not
            params[pname] = False
        elif param.default is REQUIRED or draw(st.booleans()):
            params[pname] = draw(value_for(param, draw(MODES)))
    mode = draw(MODES)
    channels = draw(st.integers(1, 8) if mode == "sane" else st.sampled_from(ABSURD_INTS))
    side = st.sampled_from([8, 16, 6, 3, 1]) if mode == "sane" else st.sampled_from([1, 2**20, 2**31 + 1])
    size = [] if draw(st.integers(0, 3)) == 0 else draw(st.lists(side, min_size=2, max_size=2))
    low, high = spec.arity
    fan = draw(st.integers(low, min(high if high is not None else 3, 3)))
    G = nx.DiGraph()
    G.add_node("x", op="input", params={"channels": channels, "size": size})
    G.add_node("a", op=name, params=params)
    G.add_node("y", op="output")
    G.add_edge("a", "y")
    for i in range(fan):
        G.add_node(f"copy{i}", op="identity")
        G.add_edge("x", f"copy{i}")
        G.add_edge(f"copy{i}", "a", slot=i)
    return G


@pytest.mark.parametrize("name", OPS)
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_an_op_with_hostile_params_is_refused_naming_the_node_or_runs(name, data):
    G = data.draw(hostile_graphs(name))
    ran = refused_or_run(G)
    if ran is not None:
        model, out = ran
        assert isinstance(out, torch.Tensor) and out.shape[0] == 2
        assert_within_limits(model, (out,))


@pytest.mark.parametrize("limit, value, graph, needle", [
    ("MAX_MACS", 10**5, {"channels": 64, "kernel": 3}, "multiply-adds"),
    ("MAX_WEIGHT_BYTES", 2**14, {"channels": 512, "kernel": 3}, "weights take"),
    ("MAX_TENSOR_BYTES", 2**12, {"channels": 64, "kernel": 1}, "per sample"),
])
def test_a_graph_over_a_limit_is_refused_before_compiling_and_the_message_says_how_to_raise_it(
        monkeypatch, limit, value, graph, needle):
    G = nx.DiGraph()
    G.add_node("x", op="input", params={"channels": 3, "size": [16, 16]})
    G.add_node("conv", op="conv_bn", params=graph)
    G.add_node("y", op="output")
    G.add_edges_from([("x", "conv"), ("conv", "y")])
    wiring.validate(G)
    monkeypatch.setattr(wiring.limits, limit, value)

    def allocate(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a convolution was built for a graph over the limit")
    monkeypatch.setattr(torch.nn.Conv2d, "__init__", allocate)
    for call in (wiring.validate, wiring.cost, wiring.compile):
        with pytest.raises(wiring.GraphError, match=f"{needle}.*node 'conv'|node 'conv'.*{needle}") as caught:
            call(G)
        assert f"wiring.limits.{limit}" in str(caught.value)


LARGE = {"kernel": [1, 2, 7, 31, ops.MAX_WINDOW], "dilation": [1, 2, 31, ops.MAX_WINDOW],
         "padding": [None, 0, 1, 31, ops.MAX_WINDOW], "stride": [1, 2, 3, ops.MAX_WINDOW],
         "channels": [1, 2, 255, 1024], "num_classes": [1, 1000, ops.MAX_INT], "index": [0, 1, 255]}


@st.composite
def graphs_with_large_params(draw: st.DrawFn, channels: tuple[int, ...], size: int) -> nx.DiGraph:
    """A :func:`wiring.testing.typed_graphs` graph, some of whose int params are set to large values."""
    G = draw(wiring.testing.typed_graphs(max_nodes=5, channels=channels, size=size))
    for label in draw(st.lists(st.sampled_from(sorted(G, key=str)), max_size=3, unique=True)):
        params = G.nodes[label].get("params") or {}
        for name in [n for n in ops.get(G.nodes[label]["op"]).params if n in LARGE]:
            if draw(st.booleans()):
                params[name] = draw(st.sampled_from(LARGE[name]))
        G.nodes[label]["params"] = params
    return G


@pytest.mark.parametrize("channels, size", [((1, 3), 17), ((64, 1024), 1), ((2, 255), 4)])
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_graph_that_validate_accepts_compiles_and_runs_a_forward(channels, size, data):
    ran = refused_or_run(data.draw(graphs_with_large_params(channels, size)))
    if ran is not None:
        model, out = ran
        outputs = out if isinstance(out, tuple) else (out,)
        assert all(y.shape[0] == 2 and torch.isfinite(y).all() for y in outputs)
        assert_within_limits(model, outputs)


def _levels(G: nx.DiGraph) -> list[nx.DiGraph]:
    """The graphs of a :func:`graphs.nested` chain, outermost first."""
    found = [G]
    while any(d["op"] == "subgraph" for _, d in found[-1].nodes(data=True)):
        found.append(next(d["params"]["graph"] for _, d in found[-1].nodes(data=True) if d["op"] == "subgraph"))
    return found


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(0, 3 * 64), loop=st.none() | st.tuples(st.integers(0, 200), st.integers(0, 200)))
def test_nesting_at_any_depth_is_refused_past_the_limit_or_by_a_loop_and_never_recurses_out(depth, loop):
    """Depths around and past MAX_NESTING, and a level made to hold itself or an outer level, anywhere."""
    G = nested(depth)
    levels = _levels(G)  # levels[i] holds levels[i + 1]; the last holds no subgraph
    looped = loop is not None and depth > 0
    if looped:
        holder = loop[0] % depth
        target = loop[1] % (holder + 1)  # the holder itself or a level outside it
        label = next(n for n, d in levels[holder].nodes(data=True) if d["op"] == "subgraph")
        levels[holder].nodes[label]["params"]["graph"] = levels[target]
    with bounded():
        try:
            wiring.validate(G)
        except wiring.GraphError as error:
            assert len(str(error)) < 500
            if looped and holder < wiring.limits.MAX_NESTING:
                assert "cannot hold itself" in str(error)
            elif not looped:
                assert depth > wiring.limits.MAX_NESTING
                assert f"deeper than {wiring.limits.MAX_NESTING} levels" in str(error)
            return
    assert not looped and depth <= wiring.limits.MAX_NESTING
