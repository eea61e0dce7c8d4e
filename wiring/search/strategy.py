"""The ask/tell interface every black-box strategy follows (maximisation).

``arch = strategy.ask()`` proposes an architecture of the space;
``strategy.tell(arch, value)`` reports its score (higher is better) or ``None``
for a failed trial. Several asks may be pending at once. A strategy owns a
``random.Random`` seeded from ``seed`` and touches no global RNG, so the same
seed and the same told values give the same trajectory: the runner relies on
this to resume a search by replaying its recorded asks and tells.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Hashable
from typing import Any

from ..errors import WiringError


class SearchError(WiringError):
    """A bad argument to a strategy or the runner, or a misuse of ask/tell.

    A sibling of :class:`~wiring.GraphError` (not a kind of it): both derive from :class:`~wiring.WiringError`.
    """


class Strategy(ABC):
    """Base of black-box strategies over any object following the space protocol."""

    def __init__(self, space: Any, *, seed: int | None = None) -> None:
        for method in ("sample", "mutate", "encode", "decode"):
            if not callable(getattr(space, method, None)):
                raise SearchError(f"space must follow the space protocol (no {method}()), got {space!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise SearchError(f"seed must be an int or None, got seed={seed!r}")
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)
        self.pending: list[Hashable] = []
        self.history: list[tuple[Hashable, float | None]] = []

    def ask(self) -> Hashable:
        """The next architecture to evaluate."""
        arch = self._ask()
        self.pending.append(arch)
        return arch

    def tell(self, arch: Hashable, value: float | None) -> None:
        """Report the score of an asked architecture (``None``: the trial failed)."""
        if arch not in self.pending:
            raise SearchError(f"tell() for an architecture that is not pending: {self.space.encode(arch)!r}")
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise SearchError(f"value must be a number or None, got {value!r}")
            value = float(value)
        self.pending.remove(arch)
        self.history.append((arch, value))
        self._tell(arch, value)

    @property
    def best(self) -> tuple[Hashable, float] | None:
        """The best (architecture, value) told so far, or None."""
        scored = [(a, v) for a, v in self.history if v is not None]
        return max(scored, key=lambda item: item[1]) if scored else None

    @abstractmethod
    def _ask(self) -> Hashable:
        """Propose an architecture (``self.pending`` and ``self.history`` are up to date)."""

    def _tell(self, arch: Hashable, value: float | None) -> None:
        """Learn from one result; ``self.history`` already holds it."""

    def _unseen(self, draw: Any, asked: set[str], tries: int) -> Hashable:
        """``draw()`` redrawn up to ``tries`` times while its encoding is in ``asked`` (the last draw wins); the
        result's encoding is added to ``asked``."""
        for _ in range(tries):
            arch = draw()
            key = self.space.encode(arch)
            if key not in asked:
                break
        asked.add(key)
        return arch


class RandomSearch(Strategy):
    """Uniform samples from the space (its constraint applies)."""

    def _ask(self) -> Hashable:
        return self.space.sample(self.rng)
