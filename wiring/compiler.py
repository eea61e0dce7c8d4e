"""The compiler: a typed DAG becomes a ``torch.fx.GraphModule`` with plain generated code.

One placeholder per input (``x``, or ``x0, x1, …``), ``call_module`` for every
node with parameters or state, ``call_function`` for parameter-free ops, one
output. Submodules are named ``n<i>`` by the stable topological index of their
node (:func:`~wiring.analysis.stable_order`), never by graph label, so
state_dicts are stable; ``module.node_names`` maps names back to labels.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.fx as fx
from torch import nn

import ops

from . import supernet
from .analysis import Analysis, analyse
from .errors import GraphError

class CompiledGraph(fx.GraphModule):
    """A compiled typed DAG. ``print(model.code)`` shows its ``forward``."""

    node_names: dict[str, Hashable]
    """Submodule name (``n<i>``) -> graph node label, for nodes of this graph."""

    def alphas_by_key(self) -> dict[str, nn.Parameter]:
        """Architecture parameters by α key (see :mod:`wiring.supernet`)."""
        return supernet.alphas(self)

    def arch_parameters(self) -> list[nn.Parameter]:
        """Architecture parameters α (one per key)."""
        return list(supernet.alphas(self).values())

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an α: the network's weights."""
        return [p for name, p in self.named_parameters() if not supernet.is_alpha(name)]

    def _recompile_submodules(self) -> list:
        # fx regenerates every child GraphModule's code whenever the parent
        # compiles; a nested CompiledGraph generated its own when it was built.
        return [(name, child.recompile()) for name, child in self.named_children()
                if isinstance(child, fx.GraphModule) and not isinstance(child, CompiledGraph)]

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledGraph:
        # GraphModule.__deepcopy__ re-runs __init__ and keeps only its own attributes.
        copied = super().__deepcopy__(memo)
        copied.node_names = copy.deepcopy(self.node_names, memo)
        return copied


def compile(G: Any, *, seed: int | None = None, mode: str | None = None) -> CompiledGraph:
    """Compile the typed DAG ``G`` into a ``torch.fx.GraphModule``.

    Parameters
    ----------
    G : networkx.DiGraph
        A typed DAG; it is validated first (:class:`GraphError` on any defect).
    seed : int, optional
        Makes weight (and α) initialisation reproducible without touching the
        caller's global torch RNG.
    mode : str, optional
        Weighting of ``choice``/``select`` nodes (``softmax`` by default, see
        ``ops.modes()``).
    """
    mode = ops.DEFAULT_MODE if mode is None else mode
    if mode not in ops.modes():
        raise GraphError(f"unknown mode {mode!r}; known modes: {', '.join(ops.modes())}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not -2**63 <= seed < 2**64):
        raise GraphError(f"seed must be an int in [-2**63, 2**64) or None, got {seed!r}")
    analysis = analyse(G)
    with _seeded(seed):
        alphas = {key: nn.Parameter(1e-3 * torch.randn(*shape)) for key, shape in analysis.alphas.items()}
        return _build(analysis, mode, supernet.Alphas(alphas, mode) if alphas else None)


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _keys(analysis: Analysis) -> list[str]:
    """The α keys read by ``analysis``' graph and its subgraphs, sorted."""
    keys = {info.alpha_key for info in analysis.nodes.values() if info.alpha_key is not None}
    for info in analysis.nodes.values():
        if info.sub is not None:
            keys.update(_keys(info.sub))
    return sorted(keys)


def _build(analysis: Analysis, mode: str, alphas: supernet.Alphas | None, nested: bool = False) -> CompiledGraph:
    graph = fx.Graph()
    root: dict[str, Any] = {}
    values: dict[Hashable, fx.Node] = {}
    single_input = len(analysis.inputs) == 1
    for label in analysis.inputs:
        index = analysis.nodes[label].params["index"]
        values[label] = graph.placeholder("x" if single_input else f"x{index}")
    # One relaxation per α key per forward: drawn at the top, passed down to nested graphs.
    draws: dict[str, fx.Node] = {}
    for key in _keys(analysis):
        if nested:
            draws[key] = graph.placeholder(f"relax_{key}")
        else:
            root[supernet.ALPHAS] = alphas
            draws[key] = graph.create_node("call_module", supernet.ALPHAS, (key,), name=f"relax_{key}")
    for label, info in analysis.nodes.items():
        spec, args = info.spec, tuple(values[p] for p in info.inputs)
        if spec.name == "input":
            continue
        if spec.name == "output":
            graph.output(args[0] if len(args) == 1 else args)
            continue
        if info.alpha_key is not None:
            row = graph.call_function(operator.getitem, (draws[info.alpha_key], info.params["index"]))
            args = (*args, row)
        if spec.function is not None:
            values[label] = graph.create_node("call_function", spec.function, args, dict(info.params), name=info.name)
            continue
        if spec.name == "subgraph":
            module = _build(info.sub, mode, alphas, nested=True)
            args = (*args, *(draws[key] for key in _keys(info.sub)))
        else:
            module = spec.build(info.in_shapes, info.out_shape, info.params)
            if isinstance(module, ops.modules.Relaxed):
                module.mode = mode
                module.decision, module.key, module.row = info.decision, info.alpha_key, info.params["index"]
                module.choices = supernet.choice_names(spec.name, info.params, info.inputs)
        root[info.name] = module
        values[label] = graph.call_module(info.name, args)
    graph.lint()
    compiled = CompiledGraph(root, graph, class_name="CompiledGraph")
    compiled.node_names = {info.name: label for label, info in analysis.nodes.items() if info.name in root}
    return compiled
