"""The ask/tell interface every black-box strategy follows (maximisation).

``arch = strategy.ask()`` proposes an architecture of the space;
``strategy.tell(arch, value)`` reports its score (higher is better) or ``None``
for a failed trial. A strategy with ``multi_objective = True`` (NSGA-II, random
search) also takes a tuple of values, every one of them to maximise (the runner
negates the objectives to minimise). ``tell(..., violation=v)`` reports how far
a trial breaks its constraints (0: feasible): strategies rank infeasible
trials after every feasible one, the less violating first. Several asks may
be pending at once. A strategy owns a ``random.Random`` seeded from ``seed``
and touches no global RNG, so the same seed and the same told values give the
same trajectory: the runner relies on this to resume a search by replaying
its recorded asks and tells.
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
        self.history: list[tuple[Hashable, Any]] = []
        self.violations: dict[str, float] = {}
        """Constraint violation told for each encoding (absent: 0, feasible)."""

    def ask(self) -> Hashable:
        """The next architecture to evaluate."""
        arch = self._ask()
        self.pending.append(arch)
        return arch

    multi_objective = False
    """Whether :meth:`tell` takes a tuple of values (every one to maximise) besides a single number."""

    def tell(self, arch: Hashable, value: float | tuple[float, ...] | None, *, violation: float = 0.0) -> None:
        """Report the score of an asked architecture (``None``: the trial failed) and its constraint violation."""
        if arch not in self.pending:
            raise SearchError(f"tell() for an architecture that is not pending: {self.space.encode(arch)!r}")
        if value is not None:
            value = self._checked_value(value)
        if isinstance(violation, bool) or not isinstance(violation, (int, float)) or not violation >= 0 \
                or math.isinf(violation):
            raise SearchError(f"violation must be a finite number >= 0 (0: feasible), got {violation!r}")
        self.pending.remove(arch)
        self.history.append((arch, value))
        if violation:
            self.violations[self.space.encode(arch)] = float(violation)
        self._tell(arch, value)

    def _checked_value(self, value: Any) -> float | tuple[float, ...]:
        if isinstance(value, tuple) and self.multi_objective:
            if not value or not all(_is_number(v) for v in value):
                raise SearchError(f"values must be a non-empty tuple of numbers, got {value!r}")
            return tuple(float(v) for v in value)
        if not _is_number(value):
            many = " or a tuple of numbers" if self.multi_objective else ""
            raise SearchError(f"value must be a number{many} or None, got {value!r}")
        return float(value)

    def violation(self, arch: Hashable) -> float:
        """The constraint violation told for ``arch`` (0 when feasible or not told)."""
        return self.violations.get(self.space.encode(arch), 0.0) if self.violations else 0.0

    def rank_key(self, arch: Hashable, value: float) -> tuple[float, float]:
        """Sort key of a told single-objective result, higher is better: feasible before infeasible (the less
        violating first), then by value."""
        return (-self.violation(arch), value)

    @property
    def best(self) -> tuple[Hashable, float] | None:
        """The best single-number (architecture, value) told so far (feasible first), or None; tuples of
        several objectives have no single best (``NSGA2.front`` and ``SearchResult.front`` give the front)."""
        scored = [(a, v) for a, v in self.history if v is not None and not isinstance(v, tuple)]
        return max(scored, key=lambda item: self.rank_key(*item)) if scored else None

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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


class RandomSearch(Strategy):
    """Uniform samples from the space (its constraint applies); any number of objectives."""

    multi_objective = True

    def _ask(self) -> Hashable:
        return self.space.sample(self.rng)
