"""Static cost of a typed DAG: parameters and multiply-adds, without building anything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ops import Cost, Shape

from .analysis import analyse, check_input_count, input_shapes_arg


def cost(G: Any, input_shape: Shape | Sequence[Shape] | None = None) -> Cost:
    """Parameters and multiply-adds of ``G`` for one sample of ``input_shape`` (default: the declared shapes).

    ``params`` equals the compiled module's parameter count (α included, shared
    α once); ``macs`` counts convolutions and fully connected layers, equal to
    ``torch.utils.flop_counter.FlopCounterMode`` FLOPs / 2. ``input_shape`` has
    no batch dimension, e.g. ``(3, 32, 32)``; a list of shapes feeds several inputs.
    """
    shapes = input_shapes_arg(input_shape)
    analysis = analyse(G, shapes)
    check_input_count(analysis, shapes)
    alpha = sum(rows * width for rows, width in analysis.alphas.values())
    return analysis.cost + Cost(alpha, 0)
