"""Latency lookup tables, ProxylessNAS style: static cost's sibling, measured once per op on this machine.

A :class:`LatencyTable` maps each (op, params, input shapes) of a typed DAG's
nodes, keyed by :func:`node_key`, to its measured latency in milliseconds. A
graph's latency is the sum over its nodes; a ``subgraph`` node's latency is the
sum over its own nodes (expanded to the :func:`leaves`), and structural nodes
(``input``, ``output``, ``subgraph`` itself) cost nothing.

Per node: :meth:`LatencyTable.node_latencies` gives the latency of every
top-level node of a graph, :meth:`LatencyTable.node_latency` that of one
analysed node (:class:`wiring.analysis.NodeInfo`). A node without an entry
raises :class:`~wiring.GraphError` naming the node and its key.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch

from ops import Shape

from .analysis import Analysis, NodeInfo, analyse, input_shapes_arg
from .errors import GraphError

__all__ = ["LatencyTable", "leaves", "node_key"]


def node_key(info: NodeInfo) -> str:
    """The table key of an analysed node: JSON of its op name, params and input shapes."""
    return json.dumps([info.spec.name, info.params, [list(s) for s in info.in_shapes]], sort_keys=True, default=str)


def leaves(node: Analysis | NodeInfo) -> Iterator[NodeInfo]:
    """The nodes that cost time: every non-structural node of an analysis (or below one analysed node),
    nested subgraphs expanded, in stable topological order."""
    if isinstance(node, NodeInfo):
        if node.sub is not None:
            yield from leaves(node.sub)
        elif not node.spec.structural:
            yield node
        return
    for info in node.nodes.values():
        yield from leaves(info)


@dataclass
class LatencyTable:
    """Latency in milliseconds per (op, params, input shapes), ProxylessNAS style.

    Fill it with :meth:`measure` on this machine (batch 1, median of
    ``repeats`` timed calls) or give the entries yourself (keys from
    :func:`node_key`); :meth:`save` / :meth:`load` keep it as JSON.
    :meth:`latency` sums the entries of a graph's nodes, :meth:`node_latencies`
    gives them per node; a missing entry raises :class:`~wiring.GraphError`
    naming the node and its key.
    """

    entries: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"

    def node_latency(self, info: NodeInfo) -> float:
        """The latency of one analysed node: its entry, or for a ``subgraph`` node the sum over its leaves
        (0 for a structural node)."""
        return sum((self._entry(leaf, info) for leaf in leaves(info)), 0.0)

    def node_latencies(self, G: nx.DiGraph, input_shape: Shape | None = None) -> dict[Hashable, float]:
        """``{label: latency}`` of every top-level node of ``G`` in stable topological order, for
        ``input_shape`` (default: the graph's declared input shape); see :meth:`node_latency`."""
        analysis = analyse(G, input_shapes_arg(input_shape))
        return {label: self.node_latency(info) for label, info in analysis.nodes.items()}

    def latency(self, G: nx.DiGraph, input_shape: Shape | None = None) -> float:
        """Σ of the entries of ``G``'s nodes for ``input_shape`` (default: the graph's declared input shape)."""
        analysis = analyse(G, input_shapes_arg(input_shape))
        return sum((self._entry(leaf, info) for info in analysis.nodes.values() for leaf in leaves(info)), 0.0)

    def _entry(self, leaf: NodeInfo, top: NodeInfo) -> float:
        key = node_key(leaf)
        if key not in self.entries:
            where = "" if leaf is top else f" (inside {top.label!r})"
            raise GraphError(f"latency table has no entry for node {leaf.label!r}{where} ({key}); "
                             f"measure it with LatencyTable.measure")
        return self.entries[key]

    def measure(self, graphs: Iterable[nx.DiGraph], *, repeats: int = 10,
                input_shape: Shape | None = None) -> LatencyTable:
        """Time every (op, params, input shapes) of ``graphs`` not yet in the table; returns ``self``."""
        if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
            raise GraphError(f"repeats must be an int >= 1, got repeats={repeats!r}")
        device = torch.device(self.device)
        for G in graphs:
            for info in leaves(analyse(G, input_shapes_arg(input_shape))):
                key = node_key(info)
                if key not in self.entries:
                    self.entries[key] = _time_op(info, device, repeats)
        return self

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w") as file:
            json.dump({"device": self.device, "entries": self.entries}, file, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatencyTable:
        try:
            with open(path) as file:
                data = json.load(file)
            entries = {str(k): float(v) for k, v in data["entries"].items()}
            bad = [k for k, v in entries.items() if not (math.isfinite(v) and v >= 0)]
            if bad:
                raise ValueError(f"entry {bad[0]!r} is {entries[bad[0]]}, not a latency in ms")
            return cls(entries, str(data.get("device", "cpu")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise GraphError(f"{path}: not a latency table ({type(error).__name__}: {error})") from None


def _time_op(info: NodeInfo, device: torch.device, repeats: int) -> float:
    spec, params = info.spec, info.params
    inputs = [torch.randn(1, *shape, device=device) for shape in info.in_shapes]
    if info.alpha_key is not None:
        width = len(params["candidates"]) if spec.name == "choice" else len(inputs)
        inputs.append(torch.zeros(width, device=device))
    if spec.build is not None:
        module = spec.build(info.in_shapes, info.out_shape, params).to(device).eval()

        def call() -> Any:
            return module(*inputs)
    else:
        def call() -> Any:
            return spec.function(*inputs, **params)
    times = []
    with torch.no_grad():
        call()
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
