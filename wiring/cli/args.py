"""Argument helpers shared by the commands: ``NAME=VALUE`` assignments, and the argparse types that refuse absurd
numbers (``--epochs 0``, ``--lr -1``, ``--data-fraction 2``) when the command line is parsed, before anything is
loaded or trained.

The types raise :class:`argparse.ArgumentTypeError`, which argparse reports as its own usage error, one line naming
the flag: ``wiring train: error: argument --epochs: must be an int >= 1, got 0``. The parser imports this module
for ``--help``, so it imports nothing of the library at module level.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any


def assignments(items: list[str], flag: str) -> dict[str, Any]:
    """``["k=4", "name=ws"]`` -> ``{"k": 4, "name": "ws"}`` (values read as JSON where they parse)."""
    from ..errors import GraphError  # deferred: the help imports this module, and nothing of the library

    parsed = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise GraphError(f"{flag} takes NAME=VALUE, got {item!r}")
        try:
            parsed[name] = json.loads(value)
        except ValueError:
            parsed[name] = value
    return parsed


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an int >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an int >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an int >= {low}, got {value}")
        return value
    parse.__name__ = f"int >= {low}"
    return parse


def real_in(low: float, high: float | None = None, *, include_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite real above ``low`` (or at it, with ``include_low``) and at most ``high``."""
    rule = f"{'>=' if include_low else '>'} {low:g}" if high is None else \
        f"in {'[' if include_low else '('}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value >= low if include_low else value > low
        if not (math.isfinite(value) and above and (high is None or value <= high)):
            raise argparse.ArgumentTypeError(f"must be a number {rule}, got {text!r}")
        return value
    parse.__name__ = f"number {rule}"
    return parse


POSITIVE = int_at_least(1)
"""An int >= 1: epochs, trials, graphs, nodes, batch sizes, workers."""
NON_NEGATIVE = int_at_least(0)
"""An int >= 0: optional extra epochs."""
CHANNELS = int_at_least(2)
"""RandWire's C: conv1 has C // 2 channels, so at least 2."""
POSITIVE_REAL = real_in(0)
"""A finite real > 0: learning rates, seconds."""
FRACTION = real_in(0, 1)
"""A finite real in (0, 1]: a fraction of a split."""
