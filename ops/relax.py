"""Weighting modes of relaxed ops (``choice``, ``select``): α -> weights per candidate.

A mode is chosen at compile time (``wiring.compile(G, mode=...)``). Modes that
sample paths (Gumbel, binarised gates, single path) arrive with the one-shot
strategies; each is registered here under its name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from .errors import OpError

Weighting = Callable[[torch.Tensor], torch.Tensor]

DEFAULT_MODE = "softmax"

_MODES: dict[str, Weighting] = {
    "softmax": partial(torch.softmax, dim=-1),  # DARTS
    "sigmoid": torch.sigmoid,  # Fair DARTS: candidates do not compete
}


def weighting(mode: str) -> Weighting:
    """The weighting function of ``mode``; an unknown mode lists the known ones."""
    try:
        return _MODES[mode]
    except (KeyError, TypeError):
        raise OpError(f"unknown relaxation mode {mode!r}; known modes: {', '.join(sorted(_MODES))}") from None


def modes() -> list[str]:
    return sorted(_MODES)
