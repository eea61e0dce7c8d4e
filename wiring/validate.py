"""Validation of typed DAGs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ops import Shape

from .analysis import analyse, check_input_count, input_shapes_arg


def validate(G: Any, input_shape: Shape | Sequence[Shape] | None = None) -> None:
    """Return None if ``G`` is a well-formed typed DAG, else raise :class:`GraphError` naming the culprit.

    Checks: a ``networkx.DiGraph``; no self-loop or cycle; every node has a
    registered ``op`` and params matching its signature; arity and ``slot``\\ s;
    exactly one ``output`` and inputs indexed 0..k-1; every node reachable from
    an input and reaching the output; shapes agree everywhere (with the inputs'
    declared shapes, or ``input_shape``); nested subgraphs recursively; nodes
    sharing an α ``key`` agree on its width.
    """
    shapes = input_shapes_arg(input_shape)
    check_input_count(analyse(G, shapes), shapes)
