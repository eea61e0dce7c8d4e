"""Hypothesis strategies for property tests of typed DAGs, generators and compiled modules.

Like hypothesis' own ``extra`` modules, every strategy checks its arguments when
it is created (a bad value raises :class:`wiring.GraphError`, a ``ValueError``,
naming it), and draws its examples constructively so that they shrink well:
DAGs are drawn edge by edge forward (``i < j``), never by filtering.

Strategies
----------
- :func:`dags`: topology DAGs (nodes ``0..n-1``, edges ``i -> j`` with ``i < j``),
  the shape every generator returns.
- :func:`generator_params` and :func:`generated_graphs`: a generator's name with
  parameters it accepts, or the DAG it generates from a drawn int seed.
- :func:`typed_graphs`: valid typed DAGs (ops on nodes, shapes that agree) that
  :func:`wiring.validate` accepts, :func:`wiring.compile` builds and the module runs;
  :func:`example_inputs` makes tensors to run them on.

Profiles: :func:`register_profiles` registers ``"ci"`` (no deadline,
derandomised, 25 examples) and ``"dev"`` (no deadline, 50 examples);
:func:`load_profile` loads ``"ci"`` when the ``CI`` environment variable is set,
else ``$HYPOTHESIS_PROFILE``, else ``"dev"``.

This module needs ``hypothesis``, a dependency of the plain install; ``import wiring``
does not import it.

Example
-------
In ``conftest.py``::

    from wiring import testing
    testing.load_profile()

In a test::

    import torch
    from hypothesis import given
    import wiring
    from wiring.testing import example_inputs, typed_graphs

    @given(typed_graphs(max_nodes=6, channels=(4, 8), size=8))
    def test_my_pass_keeps_graphs_runnable(G):
        H = my_pass(G)          # the transformation under test
        wiring.validate(H)
        model = wiring.compile(H, seed=0).eval()
        with torch.no_grad():
            model(*example_inputs(H))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import generators
from generators.checks import int_at_least

from .analysis import SCHEMA_VERSION, analyse
from .errors import GraphError

__all__ = ["GENERATORS", "PROFILES", "TYPED_OPS", "dags", "example_inputs", "generated_graphs", "generator_params",
           "load_profile", "register_profiles", "typed_graphs"]

# -- argument checks ------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(low_name: str, low: Any, high_name: str, high: Any, minimum: int) -> None:
    int_at_least(low_name, low, minimum, error=GraphError)
    int_at_least(high_name, high, minimum, error=GraphError)
    if low > high:
        raise GraphError(f"{low_name} must be <= {high_name}, got {low_name}={low}, {high_name}={high}")


# -- topology DAGs ----------------------------------------------------------------


def dags(*, min_nodes: int = 1, max_nodes: int = 12, max_in_degree: int | None = None) -> st.SearchStrategy[nx.DiGraph]:
    """Topology DAGs: nodes ``0..n-1``, ``min_nodes <= n <= max_nodes``, edges ``i -> j`` with ``i < j``.

    Edges are drawn forward, one boolean per pair ``(i, j)`` (``j`` outer, ``i``
    inner), so a failing example shrinks towards fewer nodes and fewer, earlier
    edges. ``max_in_degree`` caps the in-degree of every node (``None``: no cap);
    once a node has that many in-edges no further pair is drawn for it.
    Isolated nodes occur, as in the generators' graphs.

    Raises
    ------
    GraphError
        At once, if ``min_nodes`` or ``max_nodes`` is not an int ``>= 1``,
        ``min_nodes > max_nodes``, or ``max_in_degree`` is not None or an int ``>= 0``.
    """
    _check_range("min_nodes", min_nodes, "max_nodes", max_nodes, 1)
    if max_in_degree is not None:
        int_at_least("max_in_degree", max_in_degree, 0, error=GraphError)
    return _dags(min_nodes, max_nodes, max_in_degree)


@st.composite
def _dags(draw: st.DrawFn, min_nodes: int, max_nodes: int, max_in_degree: int | None) -> nx.DiGraph:
    n = draw(st.integers(min_nodes, max_nodes))
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    for j in range(n):
        for i in range(j):
            if max_in_degree is not None and G.in_degree(j) >= max_in_degree:
                break
            if draw(st.booleans()):
                G.add_edge(i, j)
    return G


# -- generators ---------------------------------------------------------------------

GENERATORS: dict[str, int] = {"erdos_renyi": 1, "barabasi_albert": 2, "watts_strogatz": 3, "ws_flex": 3}
"""Generator names :func:`generator_params` knows, with the fewest nodes each accepts."""


def generator_params(*, names: Sequence[str] = tuple(GENERATORS), min_nodes: int = 1,
                     max_nodes: int = 24) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """``(name, params)`` pairs that ``getattr(generators, name)(**params, seed=...)`` accepts.

    ``name`` is drawn from ``names``; ``params["n"]`` lies in ``[min_nodes,
    max_nodes]`` (raised to the generator's own minimum: 2 for Barabási–Albert,
    3 for the Watts–Strogatz models) and the other parameters respect each
    generator's constraints: ER ``0 <= p <= 1``; BA ``1 <= m < n``; WS ``k`` even,
    ``0 < k < n``; WS-flex real ``2 <= k <= n - 1``.

    Raises
    ------
    GraphError
        At once, if ``names`` is empty, a string, or holds an unknown name (the
        message lists the known ones); if ``min_nodes``/``max_nodes`` are not ints
        ``>= 1`` in order; or if ``max_nodes`` is below a named generator's minimum.
    """
    names = _check_names(names)
    _check_range("min_nodes", min_nodes, "max_nodes", max_nodes, 1)
    for name in names:
        if max_nodes < GENERATORS[name]:
            raise GraphError(f"{name} needs at least {GENERATORS[name]} nodes, got max_nodes={max_nodes}")
    return st.sampled_from(names).flatmap(lambda name: _PARAMS[name](max(min_nodes, GENERATORS[name]), max_nodes))


def generated_graphs(*, names: Sequence[str] = tuple(GENERATORS), min_nodes: int = 1,
                     max_nodes: int = 24) -> st.SearchStrategy[nx.DiGraph]:
    """Topology DAGs from the generators: :func:`generator_params` called with a drawn int seed.

    The graph records its provenance in ``G.graph["generator"]`` as every
    generator does. Arguments as for :func:`generator_params` (checked at once).
    """
    return st.tuples(generator_params(names=names, min_nodes=min_nodes, max_nodes=max_nodes),
                     st.integers(0, 2**32 - 1)).map(_generate)


def _generate(drawn: tuple[tuple[str, dict[str, Any]], int]) -> nx.DiGraph:
    (name, params), seed = drawn
    return getattr(generators, name)(**params, seed=seed)


def _check_names(names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise GraphError(f"names must be a sequence of generator names, got names={names!r}")
    names = tuple(names)
    if not names:
        raise GraphError(f"names must name at least one generator of {sorted(GENERATORS)}, got names=()")
    for name in names:
        if name not in GENERATORS:
            raise GraphError(f"unknown generator {name!r} in names; known generators: {', '.join(GENERATORS)}")
    return names


_PROBABILITIES = st.floats(0.0, 1.0)


def _er_params(low: int, high: int) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.builds(lambda n, p: ("erdos_renyi", {"n": n, "p": p}), st.integers(low, high), _PROBABILITIES)


def _ba_params(low: int, high: int) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.integers(low, high).flatmap(
        lambda n: st.builds(lambda m: ("barabasi_albert", {"n": n, "m": m}), st.integers(1, n - 1)))


def _ws_params(low: int, high: int) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.integers(low, high).flatmap(lambda n: st.builds(
        lambda half, p: ("watts_strogatz", {"n": n, "k": 2 * half, "p": p}),
        st.integers(1, (n - 1) // 2), _PROBABILITIES))


def _ws_flex_params(low: int, high: int) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.integers(low, high).flatmap(lambda n: st.builds(
        lambda k, p: ("ws_flex", {"n": n, "k": k, "p": p}), st.floats(2.0, n - 1.0), _PROBABILITIES))


_PARAMS: dict[str, Callable[[int, int], st.SearchStrategy[tuple[str, dict[str, Any]]]]] = {
    "erdos_renyi": _er_params, "barabasi_albert": _ba_params, "watts_strogatz": _ws_params,
    "ws_flex": _ws_flex_params,
}

# -- typed DAGs -----------------------------------------------------------------------

_CONVS = ("conv_bn", "relu_conv_bn", "sep_conv", "rw_node")
_SAME_SHAPE = ("identity", "zero", "max_pool", "avg_pool")
_AGGREGATIONS = ("sum", "mean", "weighted_sum", "select", "rw_node")
TYPED_OPS: tuple[str, ...] = ("identity", "sum", "mean", "weighted_sum", "zero", "max_pool", "avg_pool", "conv_bn",
                              "relu_conv_bn", "sep_conv", "rw_node", "select", "choice", "subgraph", "head")
"""Ops :func:`typed_graphs` can place (its default ``ops``), simplest first: examples shrink towards them."""
_CANDIDATES = ("identity", "zero", "max_pool", "avg_pool", "conv_bn", "relu_conv_bn", "sep_conv", "rw_node")
"""Ops a ``choice`` node may mix."""


@dataclass(frozen=True)
class _Config:
    max_nodes: int
    channels: tuple[int, ...]
    size: tuple[int, int]
    ops: tuple[str, ...]
    max_depth: int

    @property
    def can_change(self) -> bool:
        """Some op can change the channel count."""
        return any(op in self.ops for op in _CONVS)

    @property
    def can_stride(self) -> bool:
        """Some op can down-sample."""
        return any(op in self.ops for op in (*_CONVS, "zero", "max_pool", "avg_pool"))


def typed_graphs(*, max_nodes: int = 8, channels: int | Sequence[int] = (4, 8), size: int | Sequence[int] = 8,
                 ops: Collection[str] = TYPED_OPS, max_depth: int = 1) -> st.SearchStrategy[nx.DiGraph]:
    """Valid typed DAGs: they validate, compile and run on inputs of their declared shapes.

    Each graph wires a drawn topology (:func:`dags` with ``1..max_nodes`` nodes)
    the way a RandWire stage does: one or two ``input`` nodes (index 0, 1) feed
    the topology's sources, which may change the channel count (from the inputs'
    ``c_in`` to the graph's ``C``, both drawn from ``channels``) and down-sample
    by a drawn stride of 1 or 2; every other node keeps ``(C, H, W)``. Each node
    gets an op drawn from ``ops`` among those that fit its inputs: convolutions
    (``conv_bn``, ``relu_conv_bn``, ``sep_conv`` with drawn kernel, dilation and
    affine), ``rw_node``, pools, ``identity``, ``zero``, the aggregations ``sum``,
    ``mean``, ``weighted_sum`` and ``select`` (multi-input nodes take one of
    those or ``rw_node``), ``choice`` over 2–3 candidates, and ``subgraph``, a
    nested graph built the same way (at most ``max_depth`` levels deep). Relaxed
    nodes sometimes share an α ``key`` (``"w<width>"``) with a drawn row
    ``index``. Several sinks are gathered by an aggregation node, or occasionally
    returned together by the ``output`` as a tuple; a ``head`` (global pool and
    classifier) may end the graph. Multi-input nodes sometimes carry edge
    ``slot``\\ s in a drawn order (always, for ordered ops).

    Node labels are the topology's ints plus the strings ``"input"`` (or
    ``"input0"``, ``"input1"``), ``"gather"``, ``"head"`` and ``"output"``; the
    graph attributes hold ``schema`` only.

    Parameters
    ----------
    max_nodes : int
        Most topology nodes of the outer graph (nested graphs take at most 3).
    channels : int or sequence of int
        Channel counts to draw ``c_in`` and ``C`` from.
    size : int or (int, int)
        Spatial size ``(H, W)`` of the inputs.
    ops : collection of str
        The ops to place, a subset of :data:`TYPED_OPS`. It must hold an
        aggregation (``sum``, ``mean``, ``weighted_sum``, ``select`` or
        ``rw_node``), and ``choice`` needs a candidate op beside it. Without a
        convolution, ``c_in == C``; without any down-sampling op, stride 1.
    max_depth : int
        Deepest nesting of ``subgraph`` nodes (0: none).

    Raises
    ------
    GraphError
        At once, naming the bad argument.
    """
    int_at_least("max_nodes", max_nodes, 1, error=GraphError)
    int_at_least("max_depth", max_depth, 0, error=GraphError)
    chosen = _check_channels(channels)
    hw = _check_size(size)
    if isinstance(ops, str) or not isinstance(ops, Iterable):
        raise GraphError(f"ops must be a collection of op names, got ops={ops!r}")
    ops = tuple(ops)
    unknown = [op for op in ops if op not in TYPED_OPS]
    if unknown:
        raise GraphError(f"typed_graphs cannot place op {unknown[0]!r}; choose ops among {', '.join(TYPED_OPS)}")
    if not any(op in ops for op in _AGGREGATIONS):
        raise GraphError(f"ops must hold an aggregation ({', '.join(_AGGREGATIONS)}) for nodes with several "
                         f"inputs, got ops={ops!r}")
    if "choice" in ops and not any(op in ops for op in _CANDIDATES):
        raise GraphError(f"'choice' needs a candidate op among {', '.join(_CANDIDATES)} in ops, got ops={ops!r}")
    ordered = tuple(op for op in TYPED_OPS if op in ops)
    return _typed_graphs(_Config(max_nodes, chosen, hw, ordered, max_depth))


def _check_channels(channels: Any) -> tuple[int, ...]:
    values = (channels,) if _is_int(channels) else channels
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise GraphError(f"channels must be a positive int or a sequence of them, got channels={channels!r}")
    values = tuple(values)
    if not values or not all(_is_int(c) and c >= 1 for c in values):
        raise GraphError(f"channels must be a positive int or a non-empty sequence of them, got channels={channels!r}")
    return values


def _check_size(size: Any) -> tuple[int, int]:
    values = (size, size) if _is_int(size) else size
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise GraphError(f"size must be a positive int or a pair (H, W) of them, got size={size!r}")
    values = tuple(values)
    if len(values) != 2 or not all(_is_int(s) and s >= 1 for s in values):
        raise GraphError(f"size must be a positive int or a pair (H, W) of them, got size={size!r}")
    return values


def _sometimes(draw: st.DrawFn, odds: int = 4) -> bool:
    """True about once in ``odds`` draws; shrinks to False."""
    return draw(st.integers(0, odds - 1)) == odds - 1


@st.composite
def _typed_graphs(draw: st.DrawFn, cfg: _Config) -> nx.DiGraph:
    C = draw(st.sampled_from(cfg.channels))
    c_in = draw(st.sampled_from(cfg.channels)) if cfg.can_change else C
    stride = draw(st.sampled_from((1, 2))) if cfg.can_stride else 1
    return _graph(draw, cfg, depth=0, c_in=c_in, C=C, stride=stride, size=cfg.size)


def _graph(draw: st.DrawFn, cfg: _Config, *, depth: int, c_in: int, C: int, stride: int,
           size: tuple[int, int]) -> nx.DiGraph:
    """A typed DAG from ``(c_in, *size)`` to ``(C, *size / stride)``; the outer one (depth 0) may do more."""
    top = depth == 0
    topology = draw(dags(max_nodes=cfg.max_nodes if top else min(cfg.max_nodes, 3)))
    G = nx.DiGraph(schema=SCHEMA_VERSION)
    sources = [j for j in topology if topology.in_degree(j) == 0]
    inputs = ["input0", "input1"] if top and len(sources) >= 2 and _sometimes(draw) else ["input"]
    for index, label in enumerate(inputs):
        G.add_node(label, op="input", params={"index": index, "channels": c_in, "size": list(size)})
    # every input feeds at least one source; each source is fed by one input
    feeds = {source: inputs[k] if k < len(inputs) else draw(st.sampled_from(inputs))
             for k, source in enumerate(sources)}
    inner = ((size[0] - 1) // stride + 1, (size[1] - 1) // stride + 1)
    for j in topology:
        if j in feeds:
            preds: list[Hashable] = [feeds[j]]
            op, params = _node_op(draw, cfg, depth, 1, c_in, C, stride, size)
        else:
            preds = sorted(topology.predecessors(j))
            op, params = _node_op(draw, cfg, depth, len(preds), C, C, 1, inner)
        G.add_node(j, op=op, params=params)
        _add_in_edges(draw, G, preds, j, ordered=op in ("select", "subgraph"))
    sinks = [j for j in topology if topology.out_degree(j) == 0]
    if top and len(sinks) > 1 and _sometimes(draw, 5):  # the output returns a tuple
        G.add_node("output", op="output")
        _add_in_edges(draw, G, sinks, "output", ordered=True)
        return G
    last: Hashable = sinks[0]
    if len(sinks) > 1:
        op, params = _node_op(draw, cfg, depth, len(sinks), C, C, 1, inner)
        G.add_node("gather", op=op, params=params)
        _add_in_edges(draw, G, sinks, "gather", ordered=op == "select")
        last = "gather"
    if top and "head" in cfg.ops and draw(st.booleans()):
        G.add_node("head", op="head", params={"num_classes": draw(st.integers(2, 5)),
                                              "dropout": draw(st.sampled_from((0.0, 0.25)))})
        G.add_edge(last, "head")
        last = "head"
    G.add_node("output", op="output")
    G.add_edge(last, "output")
    return G


def _add_in_edges(draw: st.DrawFn, G: nx.DiGraph, preds: list[Hashable], node: Hashable, *, ordered: bool) -> None:
    """Edges ``pred -> node``; several of them carry ``slot``\\ s in a drawn order when ordered, or sometimes."""
    if len(preds) > 1 and (ordered or draw(st.booleans())):
        for pred, slot in zip(preds, draw(st.permutations(range(len(preds))))):
            G.add_edge(pred, node, slot=slot)
    else:
        G.add_edges_from((pred, node) for pred in preds)


def _fits(op: str, inputs: int, change: bool, strided: bool) -> bool:
    """Whether ``op`` takes ``inputs`` inputs and can change channels / down-sample as asked."""
    if op == "rw_node":
        return True
    if op in ("sum", "mean", "weighted_sum", "select"):
        return not change and not strided
    if inputs != 1 or op == "head":
        return False
    if op in ("conv_bn", "relu_conv_bn", "sep_conv", "choice", "subgraph"):
        return True
    if op == "identity":
        return not change and not strided
    return not change  # zero and pools keep the channels but may down-sample


def _node_op(draw: st.DrawFn, cfg: _Config, depth: int, inputs: int, c: int, C: int, stride: int,
             size: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    """An op from ``cfg.ops`` taking ``inputs`` tensors ``(c, *size)`` to ``(C, *size / stride)``, with params."""
    change, strided = c != C, stride != 1
    fitting = [op for op in cfg.ops if _fits(op, inputs, change, strided)]
    if depth >= cfg.max_depth and "subgraph" in fitting:
        fitting.remove("subgraph")
    if "choice" in fitting and not any(_fits(op, 1, change, strided) for op in cfg.ops if op in _CANDIDATES):
        fitting.remove("choice")
    nested = [op for op in fitting if op in ("choice", "subgraph")]
    plain = [op for op in fitting if op not in nested]
    # one node in four, if it can, mixes candidates or nests a graph: these exercise the most machinery
    op = draw(st.sampled_from(nested if nested and (not plain or _sometimes(draw)) else plain))
    if op == "choice":
        candidates = [op for op in cfg.ops if op in _CANDIDATES and _fits(op, 1, change, strided)]
        count = draw(st.integers(2, 3))
        chosen = [draw(st.sampled_from(candidates)) for _ in range(count)]
        params: dict[str, Any] = {"candidates": [{"op": name, "params": _params(draw, name, C, stride)}
                                                 for name in chosen]}
        return op, {**params, **_alpha(draw, count)}
    if op == "select":
        return op, _alpha(draw, inputs)
    if op == "subgraph":
        return op, {"graph": _graph(draw, cfg, depth=depth + 1, c_in=c, C=C, stride=stride, size=size)}
    return op, _params(draw, op, C, stride)


def _alpha(draw: st.DrawFn, width: int) -> dict[str, Any]:
    """Sometimes a shared α: key ``w<width>`` (so widths agree) and a drawn row."""
    if _sometimes(draw, 3):
        return {"key": f"w{width}", "index": draw(st.integers(0, 2))}
    return {}


def _params(draw: st.DrawFn, op: str, C: int, stride: int) -> dict[str, Any]:
    """Params of a one-input op taking ``(c, H, W)`` to ``(C, H/stride, W/stride)``: odd kernels, 'same' padding."""
    if op == "rw_node":
        return {"channels": C, "stride": stride}
    if op == "zero":
        return {"stride": stride}
    if op in ("max_pool", "avg_pool"):
        params = {"kernel": draw(st.sampled_from((3, 1, 5))), "stride": stride}
        if op == "avg_pool":
            params["count_include_pad"] = draw(st.booleans())
        return params
    if op in ("conv_bn", "relu_conv_bn", "sep_conv"):
        kernels = (3, 5) if op == "sep_conv" else (3, 1, 5)
        params = {"channels": C, "kernel": draw(st.sampled_from(kernels)), "stride": stride,
                  "affine": draw(st.booleans())}
        if op == "conv_bn":
            params["relu"] = draw(st.booleans())
        elif params["kernel"] == 3 and _sometimes(draw):
            params["dilation"] = 2
        return params
    return {}  # identity, sum, mean, weighted_sum


def example_inputs(G: nx.DiGraph, *, batch: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """Random tensors for the ``input`` nodes of ``G``, in ``index`` order, shaped ``(batch, channels, *size)``.

    Drawn from ``torch.randn`` with its own generator seeded by ``seed`` (the
    global RNG is untouched), so the same call gives the same tensors.

    Raises
    ------
    GraphError
        If ``batch`` is not an int ``>= 1`` or ``seed`` not an int; a malformed
        ``G`` raises as :func:`wiring.validate` does.
    """
    int_at_least("batch", batch, 1, error=GraphError)
    if not _is_int(seed):
        raise GraphError(f"seed must be an int, got seed={seed!r}")
    analysis = analyse(G)
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, *analysis.nodes[label].out_shape, generator=generator) for label in analysis.inputs]


# -- profiles ---------------------------------------------------------------------------

PROFILES = ("ci", "dev")


def register_profiles() -> None:
    """Register the hypothesis profiles ``"ci"`` and ``"dev"`` (idempotent).

    ``ci``: no deadline, derandomised (the same examples every run, no example
    database), 25 examples, failing examples printed with a reproduction blob,
    the ``too_slow`` health check off (compiling modules is slow by hypothesis'
    standards). ``dev``: no deadline, 50 examples, random, with the database.
    """
    base = settings.get_profile("default")  # not the loaded profile: "dev" must not inherit "ci"
    settings.register_profile("ci", base, deadline=None, derandomize=True, database=None, max_examples=25,
                              print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", base, deadline=None, max_examples=50)


def load_profile(name: str | None = None) -> str:
    """Load and return a hypothesis profile, registering this module's profiles first.

    ``name`` if given; else ``"ci"`` when the environment variable ``CI`` is set
    (to anything but ``""``, ``0``, ``false`` or ``no``); else
    ``$HYPOTHESIS_PROFILE``; else ``"dev"``. Hypothesis raises for an unknown name.
    """
    register_profiles()
    if name is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            name = "ci"
        else:
            name = os.environ.get("HYPOTHESIS_PROFILE") or "dev"
    settings.load_profile(name)
    return name

