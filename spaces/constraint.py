"""Constraints on architectures, checked by static cost before anything is built.

``Constraint(max_params=…, max_macs=…, max_latency=…)`` admits a typed DAG when
its :func:`wiring.cost` (and, for latency, its :class:`LatencyTable` estimate)
stays within the limits. Latency follows ProxylessNAS: a lookup table of the
measured latency of each (op, params, input shapes), summed over the nodes.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch

import wiring
from ops import Shape
from wiring.analysis import Analysis, NodeInfo, analyse, input_shapes_arg

from .errors import SpaceError


def _key(info: NodeInfo) -> str:
    return json.dumps([info.spec.name, info.params, [list(s) for s in info.in_shapes]], sort_keys=True, default=str)


def _leaves(analysis: Analysis) -> Iterator[NodeInfo]:
    """Every non-structural node, nested subgraphs expanded."""
    for info in analysis.nodes.values():
        if info.sub is not None:
            yield from _leaves(info.sub)
        elif not info.spec.structural:
            yield info


@dataclass
class LatencyTable:
    """Latency in milliseconds per (op, params, input shapes), ProxylessNAS style.

    Fill it with :meth:`measure` on this machine (batch 1, median of
    ``repeats`` timed calls) or give the entries yourself; :meth:`save` /
    :meth:`load` keep it as JSON. :meth:`latency` sums the entries of a
    graph's nodes and raises :class:`SpaceError` naming a missing entry.
    """

    entries: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"

    def latency(self, G: nx.DiGraph, input_shape: Shape | None = None) -> float:
        """Σ of the entries of ``G``'s nodes for ``input_shape`` (default: the graph's declared input shape)."""
        total = 0.0
        for info in _leaves(analyse(G, input_shapes_arg(input_shape))):
            key = _key(info)
            if key not in self.entries:
                raise SpaceError(f"latency table has no entry for node {info.label!r} ({key}); "
                                 f"measure it with LatencyTable.measure")
            total += self.entries[key]
        return total

    def measure(self, graphs: Iterable[nx.DiGraph], *, repeats: int = 10,
                input_shape: Shape | None = None) -> LatencyTable:
        """Time every (op, params, input shapes) of ``graphs`` not yet in the table; returns ``self``."""
        if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
            raise SpaceError(f"repeats must be an int >= 1, got repeats={repeats!r}")
        device = torch.device(self.device)
        for G in graphs:
            for info in _leaves(analyse(G, input_shapes_arg(input_shape))):
                key = _key(info)
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
            raise SpaceError(f"{path}: not a latency table ({type(error).__name__}: {error})") from None


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


@dataclass(frozen=True)
class Constraint:
    """Upper limits on parameters, multiply-adds and latency (ms); ``None`` means no limit.

    ``input_shape`` (without batch) is the input costs and latency are computed
    for; by default the graph's declared input shape. ``max_latency`` needs ``latency``,
    a :class:`LatencyTable`.
    """

    max_params: int | None = None
    max_macs: int | None = None
    max_latency: float | None = None
    latency: LatencyTable | None = None
    input_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("max_params", "max_macs", "max_latency"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise SpaceError(f"{name} must be a positive number or None, got {name}={value!r}")
        if self.max_latency is not None and not isinstance(self.latency, LatencyTable):
            raise SpaceError(f"max_latency needs latency=LatencyTable(...), got latency={self.latency!r}")
        try:
            input_shapes_arg(self.input_shape)
        except wiring.GraphError as error:
            raise SpaceError(f"input_shape: {error}") from None

    def violations(self, G: nx.DiGraph) -> list[str]:
        """Which limits ``G`` exceeds, as readable lines (empty when admitted)."""
        found = []
        if self.max_params is not None or self.max_macs is not None:
            cost = wiring.cost(G, self.input_shape)
            if self.max_params is not None and cost.params > self.max_params:
                found.append(f"params {cost.params:,} > {self.max_params:,}")
            if self.max_macs is not None and cost.macs > self.max_macs:
                found.append(f"multiply-adds {cost.macs:,} > {self.max_macs:,}")
        if self.max_latency is not None:
            latency = self.latency.latency(G, self.input_shape)
            if latency > self.max_latency:
                found.append(f"latency {latency:.3f} ms > {self.max_latency} ms")
        return found

    def admits(self, G: nx.DiGraph) -> bool:
        return not self.violations(G)

    def __str__(self) -> str:
        limits = [f"{n}={getattr(self, n)}" for n in ("max_params", "max_macs", "max_latency")
                  if getattr(self, n) is not None]
        return f"Constraint({', '.join(limits)})"
