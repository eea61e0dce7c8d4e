"""Constraints on architectures, checked by static cost before anything is built.

``Constraint(max_params=…, max_macs=…, max_latency=…)`` admits a typed DAG when
its :func:`wiring.cost` (and, for latency, its :class:`wiring.LatencyTable`
estimate) stays within the limits. Latency follows ProxylessNAS: a lookup table
of the measured latency of each (op, params, input shapes), summed over the
nodes. The table lives in the core (:mod:`wiring.latency`); it is re-exported
here and as ``spaces.LatencyTable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

import wiring
from wiring.analysis import input_shapes_arg
from wiring.latency import LatencyTable, leaves, node_key

from .errors import SpaceError

__all__ = ["Constraint", "LatencyTable"]




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
